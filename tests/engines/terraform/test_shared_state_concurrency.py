"""Replicas: first runs of many new stacks at once never fail on Terraform's ``pg`` backend.

Terraform's ``pg`` backend creates ``public.global_states_id_seq`` (one sequence for every
schema) on each ``init``, and guards the creation of a workspace with ONE advisory lock
(id ``-1``) for the whole database, which the state lock of an existing workspace takes
too for an instant. So the first ``init`` of stacks on several replicas races on the
sequence, and their first ``state pull``/``plan`` (which create the workspace) race on
that lock: "Already locked for workspace creation". The engine tries exactly those
transient failures again (:func:`truenorth.engines.terraform.sharing.transient_failure`),
and a failure that is not one of them (a wrong password) fails at once, masked.

Real ``terraform`` in the bubblewrap sandbox against the throwaway PostgreSQL: each
thread is a replica of its own (its own data dir and plugin cache, so nothing of one
process serialises them), all released at once by a barrier. Every Terraform command is
a process of its own and the locks are the database's, so threads stand for replicas
as well as processes would. The retry loop itself is checked with a real program that
prints the backend's errors.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from tests.engines.terraform.conftest import Lab, stack
from tests.support.postgres import PostgresServer, postgres_server, postgres_url  # noqa: F401
from truenorth.core import plans as core_plans
from truenorth.engines import processes, protocol
from truenorth.engines.terraform import TerraformEngine, invoking, pgstate, sharing

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = "https://git.example/team/many.git#main"
STACKS = 8
MAIN_TF = """\
resource "terraform_data" "thing" {
  input = "x"
}
"""


def _files(count: int) -> dict[str, str]:
    names = [f"s{index}" for index in range(count)]
    spec = "stacks:\n" + "".join(
        f"  - name: {name}\n    engine: terraform\n    path: stacks/{name}\n" for name in names
    )
    return {"truenorth.yaml": spec, **{f"stacks/{name}/main.tf": MAIN_TF for name in names}}


def _replica_ctx(
    lab: Lab, name: str, checkout: Path, *, lines: list[str], **extra: Any
) -> protocol.StackContext:
    """``name``'s context on a replica of its own: its own data dir and plugin cache."""
    root = lab.root / f"replica-{name}"
    ctx = lab.ctx(stack(name), checkout, on_output=lines.append, **extra)
    return dataclasses.replace(
        ctx, state_dir=root / "state" / name, run_dir=root / "runs" / name, cache_dir=root / "cache"
    )


def test_first_runs_of_many_new_stacks_at_once_all_succeed(
    lab: Lab,
    engine: TerraformEngine,
    postgres_url: str,  # noqa: F811
) -> None:
    shared = protocol.SharedState(repository=REPO, postgres_url=postgres_url)
    checkout = lab.checkout(_files(STACKS))
    names = [f"s{index}" for index in range(STACKS)]
    lines: dict[str, list[str]] = {name: [] for name in names}
    contexts = {
        name: _replica_ctx(lab, name, checkout, lines=lines[name], shared_state=shared) for name in names
    }
    start = threading.Barrier(STACKS)
    planned: dict[str, core_plans.Plan] = {}
    failed: dict[str, str] = {}

    def first_run(name: str) -> None:
        start.wait()
        try:
            planned[name] = engine.plan(contexts[name])
        except protocol.EngineError as exc:
            failed[name] = str(exc)

    threads = [threading.Thread(target=first_run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failed, f"{len(failed)} of {STACKS} first runs failed: {failed}"
    assert sorted(planned) == names
    for name in names:
        assert {item.action.value for item in planned[name].changed} == {"create"}
    retried = [line for name in names for line in lines[name] if "retrying:" in line]
    for line in retried:  # each retry says why, in words a user reads
        assert "Terraform's pg backend" in line
    # The first plan wrote each workspace's empty state: no apply holds the creation lock long.
    with psycopg.connect(postgres_url) as conn:
        for name in names:
            schema = pgstate.schema_name(REPO, name)
            query = sql.SQL("SELECT count(*) FROM {}.states").format(sql.Identifier(schema))
            assert conn.execute(query).fetchone() == (1,)
    # Applies of the stacks at once: their state locks all take the creation lock for an instant.
    applied: dict[str, bool] = {}
    start_apply = threading.Barrier(STACKS)

    def apply(name: str) -> None:
        start_apply.wait()
        result = engine.apply(contexts[name], planned[name])
        applied[name] = result.ok
        if not result.ok:
            failed[name] = result.error

    threads = [threading.Thread(target=apply, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failed, f"{len(failed)} of {STACKS} applies failed: {failed}"
    assert all(applied.values()) and len(applied) == STACKS
    # Each stack's workspace exists in its own schema.
    with psycopg.connect(postgres_url) as conn:
        for name in names:
            schema = pgstate.schema_name(REPO, name)
            query = sql.SQL("SELECT count(*) FROM {}.states").format(sql.Identifier(schema))
            assert conn.execute(query).fetchone() == (1,)


# ------------------------------------------------------------------ a wrong password

PASSWORD = "CANARY-right-pw-7310"
WRONG = "CANARY-wrong-pw-2291"


def test_a_wrong_password_is_not_retried_and_fails_at_once_masked(
    lab: Lab,
    engine: TerraformEngine,
    postgres_server: PostgresServer,  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:
    role = f"tn_pw_{uuid.uuid4().hex[:12]}"
    hba = postgres_server.data_dir / "pg_hba.conf"
    original = hba.read_text()
    database = postgres_url.partition("@/")[2].partition("?")[0]
    socket = str(postgres_server.socket_dir)
    with postgres_server.admin() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(PASSWORD))
        )
    try:
        # This role alone must give its password (the server trusts every other one).
        hba.write_text(f"local all {role} scram-sha-256\n{original}")
        with postgres_server.admin() as conn:
            conn.execute("SELECT pg_reload_conf()")
        _await_password_checked(socket=socket, database=database, role=role)
        url = f"postgresql://{role}:{WRONG}@{quote(socket, safe='')}/{database}"
        shared = protocol.SharedState(repository=REPO, postgres_url=url)
        checkout = lab.checkout(_files(1))
        lines: list[str] = []
        began = time.monotonic()
        ctx = _replica_ctx(lab, "s0", checkout, lines=lines, shared_state=shared)
        with pytest.raises(protocol.EngineError) as failed:
            engine.plan(ctx)
        took = time.monotonic() - began
    finally:
        hba.write_text(original)
        with postgres_server.admin() as conn:
            conn.execute("SELECT pg_reload_conf()")
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    message = str(failed.value)
    assert "init failed" in message and "password authentication failed" in message, message
    assert not any("retrying:" in line for line in lines), lines
    assert WRONG not in message and all(WRONG not in line for line in lines)
    assert WRONG not in ctx.redactor(f"conn {url}")  # masked wherever it would appear
    assert took < 60, took  # one init, no pauses (a retry would say so above)
    for path in lab.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert WRONG.encode() not in path.read_bytes(), path


def _await_password_checked(*, socket: str, database: str, role: str) -> None:
    """Wait until the reloaded server asks ``role`` for its password (a reload is asynchronous)."""
    for _ in range(200):
        try:
            psycopg.connect(host=socket, dbname=database, user=role, password=WRONG).close()
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                return
        threading.Event().wait(0.05)
    pytest.fail("the server never asked for the role's password after reloading pg_hba.conf")


# ------------------------------------------------------------------ the retry loop

LOCKED = "Error: Error acquiring the state lock\n\nError message: Cannot lock workspace; already locked for workspace creation:\ndefault\n"
CATALOG = 'Error: pq: duplicate key value violates unique constraint\n"pg_class_relname_nsp_index"\n'


def _result(argv: tuple[str, ...], stderr: str, returncode: int = 1) -> processes.ProcessResult:
    return processes.ProcessResult(argv=argv, returncode=returncode, stdout="", stderr=stderr)


def test_which_failures_are_transient() -> None:
    init, apply, plan = ("terraform", "init"), ("terraform", "apply"), ("terraform", "plan")
    creating = "Error: failed to lock state in Postgres: Already locked for workspace creation: default"
    assert sharing.transient_failure(init, _result(init, CATALOG))
    assert sharing.transient_failure(plan, _result(plan, creating))
    assert sharing.transient_failure(apply, _result(apply, LOCKED))  # before anything changed
    # An apply failing on such text elsewhere (a provider's error) may have changed things.
    assert sharing.transient_failure(apply, _result(apply, creating)) is None
    assert sharing.transient_failure(apply, _result(apply, CATALOG)) is None
    # Other catalog objects, other errors, other exit codes: not transient.
    other = 'Error: pq: duplicate key value violates unique constraint "users_pkey"'
    assert sharing.transient_failure(init, _result(init, other)) is None
    wrong = 'Error: pq: password authentication failed for user "tn"'
    assert sharing.transient_failure(init, _result(init, wrong)) is None
    assert sharing.transient_failure(plan, _result(plan, LOCKED, returncode=2)) is None


def _failing_program(tmp_path: Path, message: str, *, succeed_after: int = 1000) -> tuple[Path, Path]:
    """A real program printing ``message`` on stderr and exiting 1, until its ``succeed_after``-th run."""
    counter = tmp_path / "runs"
    script = tmp_path / "terraform-like"
    (tmp_path / "message").write_text(message)
    script.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{counter}"\n'
        f'if [ "$(wc -l < "{counter}")" -ge {succeed_after} ]; then exit 0; fi\n'
        f'cat "{tmp_path / "message"}" >&2\n'
        "exit 1\n"
    )
    script.chmod(0o755)
    return script, counter


def _invocation(lab: Lab, program: Path, lines: list[str], **extra: Any) -> invoking.Invocation:
    ctx = lab.ctx(stack("s0"), lab.root, on_output=lines.append, **extra)
    return invoking.Invocation(
        ctx=ctx,
        binary=str(program),
        cwd=lab.root,
        tree=lab.root,
        env={"PATH": "/usr/bin:/bin"},
        deadline=time.monotonic() + 120,
        retrying=invoking.Retrying(reason=sharing.transient_failure, first_pause=0.01),
    )


def _runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_a_transient_failure_is_run_again_a_bounded_number_of_times(lab: Lab, tmp_path: Path) -> None:
    program, counter = _failing_program(tmp_path, LOCKED, succeed_after=3)
    lines: list[str] = []
    _invocation(lab, program, lines).run([str(program), "apply"], what="apply")
    assert _runs(counter) == 3
    assert [line.split(";")[0] for line in lines if "retrying:" in line] == [
        "truenorth: retrying: apply failed on Terraform's pg backend lock for workspace creation, "
        "held by another stack's command (transient)"
    ] * 2
    # Never past the policy's tries: the last failure is the error.
    always = tmp_path / "always"
    always.mkdir()
    program, counter = _failing_program(always, CATALOG)
    lines.clear()
    with pytest.raises(protocol.EngineError, match="pg_class_relname_nsp_index"):
        _invocation(lab, program, lines).run([str(program), "init"], what="init")
    assert _runs(counter) == 5 and sum("retrying:" in line for line in lines) == 4


def test_other_failures_cancel_and_the_deadline_stop_the_retries(lab: Lab, tmp_path: Path) -> None:
    program, counter = _failing_program(tmp_path, 'Error: pq: password authentication failed for user "tn"')
    lines: list[str] = []
    with pytest.raises(protocol.EngineError, match="password authentication failed"):
        _invocation(lab, program, lines).run([str(program), "init"], what="init")
    assert _runs(counter) == 1 and not lines

    (tmp_path / "message").write_text(LOCKED)
    counter.unlink()
    cancel = threading.Event()
    cancelling: list[str] = []

    def hear(line: str) -> None:
        cancelling.append(line)
        cancel.set()  # cancelled while it waits to retry

    slow = dataclasses.replace(
        _invocation(lab, program, [], cancel=cancel),
        retrying=invoking.Retrying(reason=sharing.transient_failure, first_pause=60),
    )
    slow = dataclasses.replace(slow, ctx=dataclasses.replace(slow.ctx, on_output=hear))
    with pytest.raises(invoking.OperationCancelled):
        slow.run([str(program), "apply"], what="apply")
    assert _runs(counter) == 1 and len(cancelling) == 1

    counter.unlink()
    near = dataclasses.replace(_invocation(lab, program, lines), deadline=time.monotonic() + 5)
    near = dataclasses.replace(
        near, retrying=invoking.Retrying(reason=sharing.transient_failure, first_pause=30)
    )
    with pytest.raises(protocol.EngineError, match="Error acquiring the state lock"):
        near.run([str(program), "apply"], what="apply")
    assert _runs(counter) == 1  # a pause past the deadline is not taken
