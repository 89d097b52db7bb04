"""The real ``truenorth serve`` process, for process-level tests.

:class:`ServerProcess` starts ``truenorth serve`` in its own session on
``127.0.0.1:0``, reads the announced URL from stdout, and waits for ``/healthz`` by
polling with a deadline (never a fixed sleep). Tests talk to it over real HTTP with
httpx and raw sockets, and stop it with SIGTERM or SIGKILL. Its stderr (the logs) goes to
a file that failures print.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

# Runs the CLI's `serve` as the `truenorth` console script does. Until the lead registers
# `serve` in truenorth.cli.main, it is registered here on the same Typer app.
BOOT = """
import sys
from truenorth.cli import main
sys.argv[0] = "truenorth"
main.app()
"""

#: Upper bound of every wait here. Generous: the waits poll for an event, so a long bound
#: costs nothing when things work, and a machine busy with other work may need minutes to
#: start Python and converge a real Terraform stack.
DEFAULT_DEADLINE = 180.0


def wait_for(
    check: Callable[[], T | None], *, deadline: float = DEFAULT_DEADLINE, what: str, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy, or fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what} (last: {last!r})")


class ServerProcess:
    """One ``truenorth serve`` process."""

    def __init__(self, args: list[str], *, env: Mapping[str, str], log: Path) -> None:
        self.args = args
        self.env = dict(env)
        self.log_path = log
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self, *, deadline: float = DEFAULT_DEADLINE) -> ServerProcess:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-c", BOOT, "serve", *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        log.close()
        stdout = self.process.stdout
        assert stdout is not None

        def read() -> None:
            for line in stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        end = time.monotonic() + deadline
        while not self.url:
            try:
                line = self._lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"server did not announce its URL in {deadline}s\n{self.logs()}"
                ) from None
            if line is None:
                raise AssertionError(f"server exited with {self.process.wait()}\n{self.logs()}")
            if line.startswith("truenorth serving "):
                self.url = line.split()[2]
        wait_for(self._healthy, deadline=deadline, what="/healthz")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}\n{self.logs()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def get_json(self, path: str, *, token: str) -> Any:
        response = self.request("GET", path, token=token)
        assert response.status_code == 200, response.text
        return response.json()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one series on /metrics (0 when absent)."""
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(prefix):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stack(self, name: str, *, token: str) -> dict[str, Any]:
        found: dict[str, Any] = self.get_json(f"/api/v1/stacks/{name}", token=token)
        return found

    def wait_synced(
        self, name: str, sha: str, *, token: str, deadline: float = DEFAULT_DEADLINE
    ) -> dict[str, Any]:
        def synced() -> dict[str, Any] | None:
            response = self.request("GET", f"/api/v1/stacks/{name}", token=token)
            if response.status_code == 404:  # not known until the first revision is read
                return None
            assert response.status_code == 200, response.text
            view: dict[str, Any] = response.json()
            return view if view["sync_state"] == "synced" and view["applied_revision"] == sha else None

        try:
            return wait_for(synced, deadline=deadline, what=f"{name} synced at {sha[:12]}", interval=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- server log ---\n{self.logs()[-6000:]}") from None

    def terminate(self, *, deadline: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=deadline)

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


def github_push(body: Mapping[str, Any], *, secret: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={signature}",
    }
