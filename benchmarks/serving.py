"""A real ``truenorth serve`` process for the controller benchmarks, and Git repositories to feed it.

:class:`Controller` writes a TOML configuration (repositories, a viewer token, the webhook
secret, from the environment as an operator would), starts ``truenorth serve --config``
as its own process on ``127.0.0.1:0``, and talks to it over real HTTP like a forge and a
dashboard do: push webhooks (the generic provider), ``/api/v1`` reads, ``/metrics``. Its
CPU time and resident memory come from ``/proc/<pid>``: the controller's own (every
thread of the process) apart from its child processes' (git, the engines, bubblewrap).

:class:`GitTree` is a working repository the benchmarks commit to, as a user pushes.
Every wait here polls for an event with a deadline, never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.measuring import GIT_IDENTITY

__all__ = [
    "Controller",
    "Cpu",
    "GitTree",
    "RepositorySetting",
    "finished_at",
    "running",
    "started_at",
    "wait_for",
]

T = TypeVar("T")

TOKEN = "tn-bench-viewer-0123456789abcdef"  # noqa: S105 (throwaway, this process only)
WEBHOOK_SECRET = "tn-bench-webhook-0123456789abcdef"  # noqa: S105
#: Upper bound of every wait: generous, as a shared machine may be slow; waits poll an event.
DEADLINE = 3600.0
_TICK = os.sysconf("SC_CLK_TCK")


def wait_for(
    check: Callable[[], T | None], *, what: str, deadline: float = DEADLINE, interval: float = 0.02
) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise RuntimeError(f"timed out after {deadline:.0f}s waiting for {what}")


class GitTree:
    """A Git repository on disk that a benchmark commits to, as a user pushes to a forge."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._env = {**os.environ, **GIT_IDENTITY}
        self.git("init", "-q", "-b", "main")

    @property
    def url(self) -> str:
        return self.path.resolve().as_uri()

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=self._env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    def commit(self, message: str, files: Mapping[str, str]) -> str:
        """Write ``files`` (paths relative to the root), commit everything, return the new SHA."""
        for relative, text in files.items():
            target = self.path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@dataclass(frozen=True)
class RepositorySetting:
    """One ``[[repositories]]`` entry of the configuration."""

    name: str
    url: str
    poll_interval: str = "1h"
    writable: tuple[Path, ...] = ()

    def toml(self) -> str:
        lines = [
            "[[repositories]]",
            f"name = {json.dumps(self.name)}",
            f"url = {json.dumps(self.url)}",
            'branch = "main"',
            f"poll_interval = {json.dumps(self.poll_interval)}",
        ]
        if self.writable:
            lines.append(f"sandbox_writable = {json.dumps([str(p) for p in self.writable])}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Cpu:
    """CPU seconds from ``/proc/<pid>/stat``: the process's own, and its waited-for children's."""

    own: float
    children: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(own=self.own - other.own, children=self.children - other.children)


class Controller:
    """One ``truenorth serve`` process over the given repositories."""

    def __init__(
        self,
        work: Path,
        repositories: Sequence[RepositorySetting],
        *,
        workers: int | None = None,
        store_url: str | None = None,
        lease_seconds: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``store_url`` (a shared PostgreSQL store: a replica), ``lease_seconds`` and ``env``
        (``TRUENORTH_OUTPUTS_KEY``, which replicas share) are set as an operator would set them."""
        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.config = work / "truenorth.toml"
        lines = ['listen = "127.0.0.1:0"', f"data_dir = {json.dumps(str(work / 'data'))}"]
        if workers is not None:
            lines.append(f"workers = {workers}")
        if store_url is not None:
            lines.append(f"store_url = {json.dumps(store_url)}")
        if lease_seconds is not None:
            lines.append(f"lease_seconds = {lease_seconds:g}")
        self._env = dict(env or {})
        lines += ["", "[webhooks]", 'secret_env = "TN_BENCH_WEBHOOK_SECRET"', ""]
        lines += ["[[tokens]]", 'name = "bench"', 'role = "viewer"', 'token_env = "TN_BENCH_TOKEN"', ""]
        self.config.write_text("\n".join(lines) + "\n" + "\n".join(r.toml() for r in repositories))
        self.log = work / "serve.log"
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        import httpx  # the benchmarks' client, as a dashboard or a forge would connect

        self._http = httpx.Client(timeout=60)

    def start(self) -> Controller:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
        env.update(TN_BENCH_WEBHOOK_SECRET=WEBHOOK_SECRET, TN_BENCH_TOKEN=TOKEN, CHECKPOINT_DISABLE="1")
        env.update(self._env)
        truenorth = str(Path(sys.executable).parent / "truenorth")
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [truenorth, "serve", "--config", str(self.config)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=env,
                start_new_session=True,
            )
        lines: queue.Queue[str | None] = queue.Queue()
        stdout = self.process.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        while not self.url:
            try:
                line = lines.get(timeout=300)
            except queue.Empty:
                raise RuntimeError(f"truenorth serve did not start:\n{self.logs()}") from None
            if line is None:
                raise RuntimeError(f"truenorth serve exited {self.process.wait()}:\n{self.logs()}")
            if line.startswith("truenorth serving "):
                self.url = line.split()[2]
        return self

    def logs(self) -> str:
        return self.log.read_text()[-6000:] if self.log.exists() else ""

    def stop(self) -> None:
        self._http.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=60)

    # ------------------------------------------------------------------ HTTP

    def get(self, path: str) -> Any:
        answer = self._http.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def push(self, url: str) -> float:
        """Send the push webhook a forge sends for ``main`` of ``url``; the wall-clock time it was sent."""
        body = json.dumps({"repository": url, "ref": "refs/heads/main"}).encode()
        headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"}
        sent = time.time()
        answer = self._http.post(f"{self.url}/api/v1/webhooks/generic", content=body, headers=headers)
        if answer.status_code != 202 or not answer.json().get("triggered"):
            raise RuntimeError(f"webhook: {answer.status_code} {answer.text[:500]}")
        return sent

    def stack(self, name: str, *, repository: str) -> dict[str, Any] | None:
        answer = self._http.get(
            f"{self.url}/api/v1/stacks/{name}?repository={repository}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise RuntimeError(f"stack {name}: {answer.status_code} {answer.text[:500]}")
        view: dict[str, Any] = answer.json()
        return view

    def wait_synced(self, name: str, sha: str, *, repository: str, interval: float = 0.02) -> dict[str, Any]:
        """The stack's view once it is applied at ``sha``; a failure of it stops the benchmark."""

        def synced() -> dict[str, Any] | None:
            view = self.stack(name, repository=repository)
            if view is None:
                return None
            if view["sync_state"] == "failed":
                raise RuntimeError(f"stack {name} failed: {view.get('error')}\n{self.logs()}")
            return view if view["sync_state"] == "synced" and view["applied_revision"] == sha else None

        return wait_for(synced, what=f"{name} synced at {sha[:12]}", interval=interval)

    def wait_all_synced(self, *, expected: int) -> None:
        """Until ``expected`` stacks (of every repository) are synced; any failure stops the benchmark."""

        def done() -> bool:
            counts = self.get("/api/v1/counts")
            failed = _count(counts, "failed")
            if failed:
                raise RuntimeError(f"{failed} stacks failed: {counts}\n{self.logs()}")
            return _count(counts, "synced") >= expected

        wait_for(done, what=f"{expected} stacks synced", interval=1.0)

    def runs(self, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in {"limit": "500", **params}.items())
        items: list[dict[str, Any]] = self.get(f"/api/v1/runs?{query}")["items"]
        return items

    def count_runs(self, **params: str) -> int:
        """How many runs match ``params`` (the page's ``total``)."""
        query = "&".join(f"{k}={v}" for k, v in {"limit": "1", **params}.items())
        return int(self.get(f"/api/v1/runs?{query}")["total"])

    def metric(self, name: str) -> float:
        """The sum of every series of ``name`` on ``/metrics``."""
        text = self._http.get(f"{self.url}/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " ")
        )

    def passes(self) -> float:
        """Reconcile passes ended so far, over every repository."""
        return self.metric("truenorth_reconcile_duration_seconds_count")

    def wait_pass(self, repository: str, *, sha: str, after: float) -> None:
        """Until ``repository`` is at ``sha`` and a reconcile pass ended since ``after`` passes."""
        wait_for(
            lambda: self.revision(repository) == sha and self.passes() > after,
            what=f"a pass of {repository} at {sha[:12]}",
            interval=0.05,
        )

    def revision(self, repository: str) -> str | None:
        for item in self.get("/api/v1/repositories")["items"]:
            if item["name"] == repository:
                found: str | None = item["revision"]
                return found
        return None

    # ------------------------------------------------------------------ the process

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu(self) -> Cpu:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        # After the command: state is field 3, so utime (14), stime (15), cutime (16), cstime (17).
        utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
        return Cpu(own=(utime + stime) / _TICK, children=(cutime + cstime) / _TICK)

    def memory_mb(self) -> tuple[float, float]:
        """Resident memory now and at its peak (VmRSS, VmHWM), in MB."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]


def _count(counts: Mapping[str, Any], state: str) -> int:
    """How many stacks ``GET /counts`` says are in sync state ``state``."""
    return int(counts["sync_state"].get(state, 0))


def finished_at(run: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(run["finished_at"]).timestamp()


def started_at(run: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(run["started_at"]).timestamp()


@contextmanager
def running(controller: Controller) -> Iterator[Controller]:
    """``controller`` started, and stopped (SIGTERM, then SIGKILL) whatever happens."""
    try:
        yield controller.start()
    finally:
        controller.stop()
