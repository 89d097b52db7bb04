"""Three controller replicas on one PostgreSQL store share three repositories.

Real ``truenorth serve`` processes, each with its own data dir and the same outputs key,
on a throwaway PostgreSQL, with a 3 s lease. Each repository has one Terraform stack
that declares no backend: the replicas keep its state in that database themselves (the
``pg`` backend, one schema per stack, reached through the database's Unix socket, which
the engine binds into the sandbox). Its ``local-exec`` provisioner writes ``start REPO
GEN``, waits for a gate file, and writes ``end REPO GEN`` to a log outside the
repositories. The test

1. pushes commits to the three repositories with webhooks sent to random replicas (so
   most reach a replica that does not own the repository and are routed through the
   database): every commit is applied exactly once, in order;
2. SIGKILLs the replica that is applying, while its provisioner waits: another replica
   takes the repository over within the lease time + 10 s, ends only that replica's run
   as interrupted, plans again (Terraform finished the apply by itself: nothing to
   change) and records the commit as applied; the provisioner never runs twice;
3. stops the database and starts it again: every replica reports not ready meanwhile,
   and works again without a restart.

Every wait polls the store or the replicas with a generous deadline. The number of
pushes and kills is the issue's, 50 and 10 (about 3 minutes on 2 busy cores);
``TRUENORTH_REPLICA_PUSHES`` and ``TRUENORTH_REPLICA_KILLS`` make a quicker run.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.server.processes import ServerProcess, github_push, wait_for
from tests.support.gitrepos import GitRepo
from tests.support.postgres import PostgresServer, postgres_server, postgres_url  # noqa: F401
from truenorth.controller.loop import repositories
from truenorth.engines.terraform import pgstate
from truenorth.store import database, records, sealing

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.xdist_group("replicas")]

TOKEN = "tn-replica-admin-token-0123456789ab"
WEBHOOK_SECRET = "tn-replica-webhook-secret-0123456789"
LEASE = 3.0
REPLICAS = 3
NAMES = ("alpha", "beta", "gamma")
PUSHES = int(os.environ.get("TRUENORTH_REPLICA_PUSHES", "50"))
KILLS = int(os.environ.get("TRUENORTH_REPLICA_KILLS", "10"))
PUSH = Path(__file__).parent.parent / "data" / "webhooks" / "github-push.json"
SPEC = """\
stacks:
  - name: counter
    engine: terraform
    path: stacks/counter
    auto_apply: true
"""
COUNTER_TF = """\
resource "terraform_data" "count" {{
  triggers_replace = "{generation}"
  provisioner "local-exec" {{
    command = "echo start {name} {generation} >> {log}; while [ ! -e {gates}/{name}-{generation} ]; do sleep 0.05; done; echo end {name} {generation} >> {log}"
  }}
}}
"""


class Cluster:
    """Three replicas on one store; each restarts on its own config and data dir."""

    def __init__(self, tmp_path: Path, server: PostgresServer, url: str) -> None:
        self.tmp_path = tmp_path
        self.url = url
        self.out, self.gates = tmp_path / "out", tmp_path / "gates"
        self.out.mkdir()
        self.gates.mkdir()
        self.log = self.out / "provisioner.log"
        self.repos = {name: GitRepo(tmp_path / "repos" / name) for name in NAMES}
        self.keys = {name: repositories.store_key(repo.url, "main") for name, repo in self.repos.items()}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
        self.env.update(
            TN_TOKEN=TOKEN, TN_WEBHOOK_SECRET=WEBHOOK_SECRET, TRUENORTH_OUTPUTS_KEY=sealing.new_key()
        )
        self.configs = [self._config(index, server) for index in range(REPLICAS)]
        self.replicas: list[ServerProcess | None] = [None] * REPLICAS
        #: Every replica process ever started (killed ones too), for the cleanup.
        self.started: list[ServerProcess] = []
        self.generation = dict.fromkeys(NAMES, 0)
        self.store = database.Store.open(url)

    def _config(self, index: int, server: PostgresServer) -> Path:
        entries = "".join(
            f"""
[[repositories]]
name = "{name}"
url = "{repo.url}"
branch = "main"
poll_interval = "1h"
# The provisioner's log and gates (the engine itself binds the database's socket).
sandbox_writable = ["{self.out}", "{self.gates}"]
"""
            for name, repo in self.repos.items()
        )
        config = self.tmp_path / f"replica-{index}.toml"
        config.write_text(
            f"""\
listen = "127.0.0.1:0"
data_dir = "{self.tmp_path / f"data-{index}"}"
store_url = "{self.url}"
lease_seconds = {LEASE}

[retry]
initial = "1s"
maximum = "2s"
tries = 100

[webhooks]
secret_env = "TN_WEBHOOK_SECRET"

[[tokens]]
name = "admin"
role = "admin"
token_env = "TN_TOKEN"
{entries}"""
        )
        return config

    def start(self, index: int) -> ServerProcess:
        server = ServerProcess(
            ["--config", str(self.configs[index])], env=self.env, log=self.tmp_path / f"replica-{index}.log"
        )
        self.replicas[index] = server
        self.started.append(server)
        return server.start(deadline=120)

    def live(self) -> list[ServerProcess]:
        return [
            r for r in self.replicas if r is not None and r.process is not None and r.process.poll() is None
        ]

    def close(self) -> None:
        """Leave nothing behind, even after a failure: open every gate (a provisioner a killed
        replica left waiting ends), kill each replica's process group, close the store."""
        try:
            for name in NAMES:
                for generation in range(1, self.generation[name] + 1):
                    (self.gates / f"{name}-{generation}").touch()
            for replica in self.started:
                process = replica.process
                if process is None or process.poll() is not None:
                    continue  # reaped: its pid (and group id) may belong to another process now
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session (start_new_session)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
        finally:
            self.store.close()

    # ------------------------------------------------------------------ the repositories

    def tf(self, name: str, generation: int) -> dict[str, str]:
        text = COUNTER_TF.format(name=name, generation=generation, log=self.log, gates=self.gates)
        return {"truenorth.yaml": SPEC, "stacks/counter/main.tf": text}

    def commit(self, name: str, *, gated: bool = False) -> str:
        self.generation[name] += 1
        generation = self.generation[name]
        if not gated:
            (self.gates / f"{name}-{generation}").touch()
        return self.repos[name].commit(f"{name} {generation}", self.tf(name, generation))

    def push(self, name: str, replica: ServerProcess, delivery: str) -> None:
        repo = self.repos[name]
        body: dict[str, Any] = json.loads(PUSH.read_text())
        body.update(ref="refs/heads/main", after=repo.head())
        body["repository"]["clone_url"] = repo.url
        raw, headers = github_push(body, secret=WEBHOOK_SECRET, delivery=delivery)
        answer = httpx.post(f"{replica.url}/api/v1/webhooks/github", content=raw, headers=headers, timeout=30)
        assert answer.status_code == 202, answer.text

    # ------------------------------------------------------------------ the store

    def holder(self, name: str) -> str:
        found = self.store.leases(repositories=[self.keys[name]])
        if not found:
            return ""
        lease = found[0]
        return lease.holder if lease.expires_at > self.store.database_time() else ""

    def replica_of(self, holder: str) -> int | None:
        for index, replica in enumerate(self.replicas):
            if (
                replica is not None
                and replica.process is not None
                and holder.endswith(f":{replica.process.pid}")
            ):
                return index
        return None

    def converged(self, name: str, sha: str) -> bool:
        key = self.keys[name]
        stack = self.store.get_stack(repository=key, name="counter")
        if stack is None or stack.applied_revision != sha or stack.sync_state != "synced":
            return False
        return not self.store.list_runs(repository=key, status=records.ACTIVE_STATUSES, limit=10)

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def ready(self, replica: ServerProcess) -> bool:
        try:
            return replica.request("GET", "/readyz").status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def cluster(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[Cluster]:  # noqa: F811
    found = Cluster(tmp_path, postgres_server, postgres_url)
    yield found
    found.close()


def test_three_replicas_share_three_repositories_apply_every_commit_once_and_survive_kills(
    cluster: Cluster,
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    shas = {name: cluster.commit(name) for name in NAMES}
    for index in range(REPLICAS):
        cluster.start(index)

    def all_converged() -> bool:
        return all(cluster.converged(name, shas[name]) for name in NAMES)

    def fail(what: str) -> AssertionError:
        logs = "\n".join(f"--- replica {i} ---\n{r.logs()[-3000:]}" for i, r in enumerate(cluster.live()))
        return AssertionError(f"{what}\n{logs}")

    try:
        wait_for(all_converged, deadline=240, what="the first applies", interval=0.2)
    except AssertionError as exc:
        raise fail(str(exc)) from None

    def balanced() -> bool:  # one repository each, once the last replica to start has joined
        holders = {cluster.holder(name) for name in NAMES}
        return "" not in holders and len(holders) == REPLICAS

    wait_for(balanced, deadline=60, what="one repository per replica", interval=0.2)

    # 1. Pushes, webhooks to random replicas.
    chooser = random.Random(14)
    latencies: list[float] = []
    pushed = 0
    began = time.monotonic()
    while pushed < PUSHES:
        batch = NAMES[: min(len(NAMES), PUSHES - pushed)]
        sent: dict[str, tuple[float, bool]] = {}
        for name in batch:
            shas[name] = cluster.commit(name)
            target = chooser.randrange(REPLICAS)
            replica = cluster.replicas[target]
            assert replica is not None
            routed = cluster.replica_of(cluster.holder(name)) != target
            sent[name] = (time.time(), routed)
            cluster.push(name, replica, delivery=f"{name}-{cluster.generation[name]}")
            pushed += 1
        try:
            wait_for(
                lambda batch=batch: all(cluster.converged(n, shas[n]) for n in batch),
                deadline=240,
                what="a round",
            )
        except AssertionError as exc:
            raise fail(str(exc)) from None
        for name, (at, routed) in sent.items():
            if routed:
                runs = cluster.store.list_runs(repository=cluster.keys[name], kind="plan", limit=5)
                first = min(r.started_at.timestamp() for r in runs if r.revision == shas[name])
                latencies.append(first - at)
    pushing = time.monotonic() - began

    # 2. SIGKILL the replica that is applying, while its provisioner waits.
    takeovers: list[float] = []
    for kill in range(KILLS):
        name = NAMES[kill % len(NAMES)]
        sha = shas[name] = cluster.commit(name, gated=True)
        generation = cluster.generation[name]
        target = cluster.replicas[chooser.randrange(REPLICAS)]
        assert target is not None
        cluster.push(name, target, delivery=f"{name}-{generation}")
        try:
            wait_for(
                lambda name=name, generation=generation: f"start {name} {generation}" in cluster.lines(),
                what=f"provisioner {name} {generation}",
            )
        except AssertionError as exc:
            raise fail(str(exc)) from None
        victim = cluster.replica_of(cluster.holder(name))
        assert victim is not None, "the applying replica holds the lease"
        killed = cluster.replicas[victim]
        assert killed is not None
        killed.kill()
        at = time.monotonic()
        (cluster.gates / f"{name}-{generation}").touch()  # the orphaned apply finishes by itself
        try:
            wait_for(
                lambda name=name, victim=victim: (
                    cluster.replica_of(cluster.holder(name)) not in (None, victim)
                ),
                deadline=LEASE + 60,
                what=f"a takeover of {name}",
                interval=0.05,
            )
        except AssertionError as exc:
            raise fail(str(exc)) from None
        takeovers.append(time.monotonic() - at)
        try:
            wait_for(
                lambda name=name, sha=sha: cluster.converged(name, sha),
                deadline=240,
                what=f"{name} {generation} after the kill",
            )
        except AssertionError as exc:
            raise fail(str(exc)) from None
        cluster.start(victim)  # back to three replicas

    # 3. The database goes away and comes back: no replica restarts.
    postgres_server.pause()
    try:
        wait_for(lambda: not any(cluster.ready(r) for r in cluster.live()), deadline=60, what="not ready")
    finally:
        postgres_server.resume()
    try:
        wait_for(lambda: all(cluster.ready(r) for r in cluster.live()), deadline=120, what="ready again")
    except AssertionError as exc:
        raise fail(str(exc)) from None
    for name in NAMES:
        shas[name] = cluster.commit(name)
        replica = cluster.live()[chooser.randrange(len(cluster.live()))]
        cluster.push(name, replica, delivery=f"{name}-{cluster.generation[name]}-after-outage")
    try:
        wait_for(all_converged, deadline=240, what="the pushes after the outage")
    except AssertionError as exc:
        raise fail(str(exc)) from None

    # Every commit applied exactly once, in order; nothing left running.
    ends = collections.Counter(tuple(line.split()[1:]) for line in cluster.lines() if line.startswith("end "))
    expected = {(name, str(g)) for name in NAMES for g in range(1, cluster.generation[name] + 1)}
    assert set(ends) == expected, sorted(set(ends) ^ expected)
    assert [key for key, count in ends.items() if count != 1] == []
    for name in NAMES:
        order = [int(line.split()[2]) for line in cluster.lines() if line.startswith(f"end {name} ")]
        assert order == sorted(order), (name, order)
    active = cluster.store.list_runs(status=records.ACTIVE_STATUSES, limit=100)
    assert active == []
    # The state is in each stack's pgstate schema, at the last generation; in no data dir.
    with psycopg.connect(cluster.url) as conn:
        for name in NAMES:
            schema = pgstate.schema_name(cluster.keys[name], "counter")
            row = conn.execute(f'SELECT data FROM "{schema}".states WHERE name = %s', ("default",)).fetchone()
            assert row is not None, schema
            (instance,) = json.loads(row[0])["resources"][0]["instances"]
            assert instance["attributes"]["triggers_replace"]["value"] == str(cluster.generation[name])
    local = [p for p in cluster.tmp_path.glob("data-*/**/terraform.tfstate") if p.parent.name != "data"]
    assert local == []  # (data/terraform.tfstate is Terraform's record of the backend it uses)
    assert all(seconds <= LEASE + 10 for seconds in takeovers), takeovers
    for replica in cluster.live():
        assert replica.terminate(deadline=120) in (0, -15)  # a graceful stop, on a busy machine
    assert all(lease.holder == "" for lease in cluster.store.leases())  # released on SIGTERM
    print(
        f"{PUSHES} pushes in {pushing:.0f}s; webhook via a non-owner to plan start: "
        f"median {statistics.median(latencies) if latencies else float('nan'):.2f}s "
        f"(n={len(latencies)}, max {max(latencies, default=float('nan')):.2f}s); "
        f"takeovers after SIGKILL: {', '.join(f'{t:.1f}s' for t in takeovers)}"
    )
