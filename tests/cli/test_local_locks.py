"""Local commands hold the stacks they work on (:mod:`truenorth.controller.local.holding`).

* Two local commands on one stack at once (SQLite): a real ``truenorth apply`` process is
  held mid-apply by a ``local-exec`` provisioner that waits for a file the test creates
  (the provisioner says it waits by writing a file: an event, not a sleep); a second
  real process, ``truenorth plan`` of the same stack, is refused at once, busy, and
  records nothing.
* On a PostgreSQL store replicas serve: a stack whose database lock another session
  holds (a replica, here the test through ``Store.stack_lock``) is refused at once with
  the same clear message; and a local ``apply`` of a Terraform stack that declares no
  backend keeps its state in the stack's ``pg`` schema, as the replicas do, never in the
  data dir.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.cli.conftest import Invoke
from tests.server.processes import BOOT
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.controller.local import holding
from truenorth.engines.terraform import pgstate
from truenorth.git import urls
from truenorth.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("terraform-cli")]

#: Generous: each wait ends on an event; this only bounds a broken run on a busy machine.
DEADLINE = 600.0

SPEC = """\
stacks:
  - name: app
    engine: terraform
    path: stacks/app
"""


def gated(gate: Path) -> str:
    """A resource whose creation says it waits (``gate/waiting``), then waits for ``gate/go``."""
    return f"""
resource "terraform_data" "slow" {{
  input = "one"
  provisioner "local-exec" {{
    command = "touch {gate}/waiting; i=0; while [ ! -e {gate}/go ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done"
  }}
}}
"""


PLAIN_TF = """\
resource "terraform_data" "app" {
  input = "one"
}
"""


def key_of(repo: GitRepo) -> str:
    """The repository key local commands record ``repo`` under (its default branch)."""
    return urls.repository_key(urls.to_url(repo.url), "main")


def truenorth(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", BOOT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def wait_until(check: Callable[[], bool], *, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the process ended (exit {process.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_a_second_local_command_on_a_busy_stack_is_refused_at_once(tmp_path: Path, data_dir: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit("gated stack", {"truenorth.yaml": SPEC, "stacks/app/main.tf": gated(gate)})
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRUENORTH_")}
    env["TRUENORTH_SANDBOX_WRITABLE"] = str(gate)  # the provisioner's files, inside its sandbox

    applying = truenorth("apply", repo.url, "--yes", "--data-dir", str(data_dir), env=env)
    try:
        wait_until(
            lambda: (gate / "waiting").exists(), what="the apply to reach its provisioner", process=applying
        )

        planning = truenorth("plan", repo.url, "--data-dir", str(data_dir), env=env)
        out, err = planning.communicate(timeout=DEADLINE)
        assert planning.returncode == 1, out + err
        assert "stack 'app' is busy: another truenorth command on this data dir is working on it" in err
        assert "truenorth apply, pid " in err and "try again when it is done" in err
        assert applying.poll() is None  # the apply was left alone
    finally:
        (gate / "go").touch()
        out, err = applying.communicate(timeout=DEADLINE)
    assert applying.returncode == 0, out + err
    assert "app: apply succeeded" in out

    # The refused plan recorded nothing: the apply's plan and apply are the only runs.
    with Store.open(f"sqlite:///{data_dir / 'truenorth.db'}") as store:
        recorded = [(run.kind, run.status) for run in store.list_runs(stack="app", limit=10)]
    assert sorted(recorded) == [("apply", "succeeded"), ("plan", "succeeded")]

    again = truenorth("plan", repo.url, "--data-dir", str(data_dir), env=env)
    out, err = again.communicate(timeout=DEADLINE)
    assert again.returncode == 0, out + err  # free again, and nothing left to change


@pytest.mark.postgres
def test_a_stack_a_replica_holds_is_refused_at_once(
    tmp_path: Path,
    invoke: Invoke,
    postgres_url: str,  # noqa: F811
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("one stack", {"truenorth.yaml": SPEC, "stacks/app/main.tf": PLAIN_TF})
    with Store.open(postgres_url) as store, store.stack_lock(key_of(repo), "app"):  # a replica at work
        planned = invoke("plan", repo.url, "--store", postgres_url)
        synced = invoke("sync", "app", "--repo", repo.url, "--store", postgres_url)
        recorded = store.list_runs(stack="app", limit=10)

    for refused in (planned, synced):
        assert refused.exit_code == 1, refused.stdout + refused.stderr
        assert "stack 'app' of " in refused.stderr
        assert "is busy on another controller" in refused.stderr
        assert "--server URL" in refused.stderr
    assert recorded == []  # refused before anything was recorded


@pytest.mark.postgres
def test_a_local_apply_on_postgresql_keeps_terraform_state_in_the_pg_schema(
    tmp_path: Path,
    invoke: Invoke,
    data_dir: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("one stack", {"truenorth.yaml": SPEC, "stacks/app/main.tf": PLAIN_TF})

    applied = invoke("apply", repo.url, "--yes", "--store", postgres_url)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "app: apply succeeded" in applied.stdout

    schema = pgstate.schema_name(key_of(repo), "app")
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(f'SELECT data FROM "{schema}".states WHERE name = %s', ("default",)).fetchone()
    assert row is not None and '"terraform_data"' in row[0]
    # Not in the data dir (data/terraform.tfstate is Terraform's record of the backend it uses).
    local = [p for p in data_dir.rglob("terraform.tfstate") if p.parent.name != "data"]
    assert local == []

    again = invoke("plan", repo.url, "--store", postgres_url)
    assert again.exit_code == 0, again.stdout + again.stderr  # it reads the shared state back


def test_shared_state_is_postgresql_only_and_the_variable_wins() -> None:
    store = "postgresql+psycopg://truenorth@db/truenorth"
    assert holding.shared_state_url(None, {}) is None
    assert holding.shared_state_url("sqlite:////var/lib/truenorth/truenorth.db", {}) is None
    assert holding.shared_state_url(store, {}) == "postgresql://truenorth@db/truenorth"
    own = {holding.STATE_URL_VARIABLE: "postgresql://states@db/tfstate"}
    assert holding.shared_state_url(store, own) == "postgresql://states@db/tfstate"
    with pytest.raises(holding.SettingError) as refused:
        holding.shared_state_url(store, {holding.STATE_URL_VARIABLE: "mysql://user:hunter2@db/x"})
    assert "must be a postgresql:// URL" in str(refused.value) and "hunter2" not in str(refused.value)
