"""A plan approved on another replica is planned again here and applied only if it is the same plan.

Two in-process controllers (replicas ``a`` and ``b``, each with its own data dir) on one
throwaway PostgreSQL store. A saved plan file lives on the disk of the replica that made
it, so the replica that applies a stored plan made elsewhere plans the stack again, at
the stored plan's revision and with its inputs, and applies the new plan only if it is
the same plan (:mod:`truenorth.core.meanings`); otherwise the action is refused (409)
naming what differs and the new plan, which is the one to review.

The real-Terraform tests keep the stack's state in the ``pg`` backend in a database of
their own (declared in the stack, as ``test_replicas.py`` does); a ``local-exec``
provisioner appends to a file outside the repository, which counts the applies. Replica
``b`` takes the repository over after ``a`` leaves, and its first pass is held at a
``gate`` stack the approved stack depends on, so the approval reaches ``b`` while the
stored plan is still ``a``'s. The fake-engine tests check the same rule in a second.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.controller.conftest import DEADLINE, POLL, Harness
from tests.controller.engines import STATE_FILE
from tests.controller.test_sharing import owner_and_other, pair  # noqa: F401
from tests.support.gitrepos import GitRepo
from tests.support.postgres import PostgresServer, postgres_server, postgres_url  # noqa: F401
from truenorth import config
from truenorth.controller import errors
from truenorth.controller.actions import facade
from truenorth.controller.loop import operating
from truenorth.controller.runs import registry
from truenorth.core import plans
from truenorth.engines import protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.terraform.engine import TerraformEngine
from truenorth.store import urls

pytestmark = [pytest.mark.postgres]

LEASE = 2.0
ELSEWHERE = f"{'f' * 32}/elsewhere:1"


def made_elsewhere(store_url: str, run_id: int) -> None:
    """Record run ``run_id`` as made by another replica's data dir (one that left)."""
    engine = sa.create_engine(urls.database_url(store_url))
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE runs SET holder = :holder WHERE id = :id"), {"holder": ELSEWHERE, "id": run_id}
        )
    engine.dispose()


# ---------------------------------------------------------------------- the rule, with the fake engine


async def test_a_plan_made_by_another_replica_is_planned_again_and_applied_when_the_same(
    pair: tuple[Harness, Harness],  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:
    for harness in pair:
        await harness.start()
    owner, _ = await owner_and_other(pair)
    assert owner.ctl is not None
    key = owner.ctl.sharing._repos["infra"].key
    pending = owner.ctl.store.get_stack(repository=key, name="manual")
    assert pending is not None and pending.pending_plan_id is not None
    approved = pending.pending_plan_id
    made_elsewhere(postgres_url, approved)

    run_id = await owner.ctl.approve("manual", actor="alice")
    await owner.until(lambda: owner.ctl is not None and owner.ctl.store.run_status(run_id) == "succeeded")
    applied = owner.ctl.store.get_run(run_id)
    assert applied is not None and applied.kind == "apply" and applied.actor == "alice"
    assert applied.plan_id is not None and applied.plan_id != approved  # the new plan, never the old one
    replanned = owner.ctl.store.get_run(applied.plan_id)
    assert replanned is not None and replanned.kind == "plan" and replanned.holder == owner.ctl.holder
    assert replanned.actor == "alice" and f"run {approved} planned again" in str(replanned.reason)
    assert applied.summary["meta"][operating.REPLANNED_FROM] == approved
    _, first = owner.ctl.store.read_log(run_id)[0]
    assert f"the plan of run {approved} was made on another replica" in first
    assert f"planned again here as run {replanned.id}: the same plan" in first
    assert [kind for stack, kind in owner.engine.kinds("manual")].count("apply") == 1
    assert owner.view("manual").sync_state == "synced"


async def test_a_plan_made_by_another_replica_that_changed_is_refused_and_the_new_one_waits(
    pair: tuple[Harness, Harness],  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:
    for harness in pair:
        await harness.start()
    owner, _ = await owner_and_other(pair)
    assert owner.ctl is not None
    key = owner.ctl.sharing._repos["infra"].key
    pending = owner.ctl.store.get_stack(repository=key, name="manual")
    assert pending is not None and pending.pending_plan_id is not None
    approved = pending.pending_plan_id
    made_elsewhere(postgres_url, approved)

    state = owner.state("manual") / STATE_FILE
    for action, exists in ((owner.ctl.approve, True), (owner.ctl.sync, False)):
        # The live system changed since the plan was made: the stack was created (an update
        # now, not a create), then removed again (a create, not an update).
        if exists:
            state.write_text(json.dumps({"digest": "elsewhere", "revision": "x"}))
        else:
            state.unlink()
        with pytest.raises(errors.ControllerError) as refused:
            await action("manual", actor="alice")
        assert refused.value.kind == errors.CONFLICT
        record = owner.ctl.store.get_stack(repository=key, name="manual")
        assert record is not None and record.pending_plan_id is not None
        new = record.pending_plan_id
        verb = "approved" if action == owner.ctl.approve else "planned"
        then = "review and approve it" if action == owner.ctl.approve else "review it and sync again"
        assert refused.value.message == (
            f"stack 'manual''s plan changed since run {approved} was {verb}: 1 change differs (fake.manual); "
            f"the new plan is run {new}: {then}"
        )
        made_elsewhere(postgres_url, new)
        approved = new
    assert "apply" not in [kind for _, kind in owner.engine.kinds("manual")]
    assert owner.view("manual").sync_state == "pending-approval"


# ---------------------------------------------------------------------- real Terraform, two replicas

SPEC = """\
stacks:
  - name: gate
    engine: terraform
    path: stacks/gate
    auto_apply: true
  - name: manual
    engine: terraform
    path: stacks/manual
    depends_on: [gate]
"""
GATE_TF = 'locals {\n  nothing = "here"\n}\n'
MANUAL_TF = """\
terraform {{
  backend "pg" {{
    conn_str    = "{conn_str}"
    schema_name = "approval"
  }}
}}

resource "terraform_data" "count" {{
  input = trimspace(file("{out}/value.txt"))
  provisioner "local-exec" {{
    command = "echo applied >> {out}/count.log"
  }}
}}
"""


class GatedTerraform:
    """The real Terraform engine, whose plans of stack ``gate`` wait until :attr:`opened`."""

    name = "terraform"

    def __init__(self) -> None:
        self.inner = TerraformEngine()
        self.planning = threading.Event()
        self.opened = threading.Event()

    def plan(self, ctx: protocol.StackContext) -> plans.Plan:
        if ctx.stack.name == "gate":
            self.planning.set()
            self.opened.wait(DEADLINE)
        return self.inner.plan(ctx)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Replica(Harness):
    """A harness whose repository lets the sandbox reach the state database and the count."""

    writable: tuple[Path, ...] = ()
    engines: Any = None
    built: list[facade.Controller] = field(default_factory=list)

    def build(self) -> facade.Controller:
        settings = config.ControllerConfig(
            repositories=(
                config.RepositoryConfig(
                    name="infra",
                    url=self.repo.url,
                    poll_interval=POLL,
                    sandbox=sandboxing.Policy(writable=self.writable),
                ),
            ),
            data_dir=self.data_dir,
            store_url=self.store_url,
            workers=self.workers,
        )
        ctl = facade.Controller(settings, clock=self.clock, engines=registry.EngineRegistry(self.engines))
        ctl.sharing.lease = LEASE
        self.ctl = ctl
        return ctl


@dataclass
class Setup:
    repo: GitRepo
    out: Path
    tmp_path: Path
    store_url: str
    writable: tuple[Path, ...]

    def replica(self, name: str, engine: object) -> Replica:
        return Replica(
            repo=self.repo,
            data_dir=self.tmp_path / name,
            engine=None,  # type: ignore[arg-type]
            store_url=self.store_url,
            writable=self.writable,
            engines={"terraform": engine},
        )

    def applies(self) -> int:
        count = self.out / "count.log"
        return len(count.read_text().splitlines()) if count.exists() else 0


@pytest.fixture
def setup(tmp_path: Path, postgres_server: PostgresServer, postgres_url: str) -> Iterator[Setup]:  # noqa: F811
    state_db = postgres_server.create_database()  # Terraform's state: a database of its own
    try:
        out = tmp_path / "out"
        out.mkdir()
        (out / "value.txt").write_text("v1\n")
        conn_str = f"{postgres_server.url(state_db)}&sslmode=disable"
        repo = GitRepo(tmp_path / "source")
        repo.commit(
            "gate and manual",
            {
                "truenorth.yaml": SPEC,
                "stacks/gate/main.tf": GATE_TF,
                "stacks/manual/main.tf": MANUAL_TF.format(conn_str=conn_str, out=out),
            },
        )
        yield Setup(
            repo=repo,
            out=out,
            tmp_path=tmp_path,
            store_url=postgres_url,
            writable=(out, postgres_server.socket_dir),
        )
    finally:
        postgres_server.drop_database(state_db)


@pytest.fixture
async def replicas(setup: Setup) -> AsyncIterator[tuple[Replica, Replica, GatedTerraform]]:
    gated = GatedTerraform()
    a, b = setup.replica("a", TerraformEngine()), setup.replica("b", gated)
    try:
        yield a, b, gated
    finally:
        gated.opened.set()
        for harness in (a, b):
            await harness.stop()


async def planned_on_a_then_taken_by_b(
    a: Replica, b: Replica, gated: GatedTerraform
) -> tuple[facade.Controller, int]:
    """``a`` plans ``manual`` (held for approval) and leaves; ``b`` takes the repository
    over, its first pass held at ``gate``. Returns ``b`` and the plan run ``a`` made."""
    ctl_a = a.build()
    await ctl_a.start()
    key = ctl_a.sharing._repos["infra"].key

    def held() -> bool:
        record = ctl_a.store.get_stack(repository=key, name="manual")
        return record is not None and record.sync_state == "pending-approval"

    await a.until(held)
    await a.settle()
    record = ctl_a.store.get_stack(repository=key, name="manual")
    assert record is not None and record.pending_plan_id is not None
    approved = record.pending_plan_id
    await a.stop()  # leaves: releases its lease at once

    ctl_b = b.build()
    await ctl_b.start()
    assert await asyncio.to_thread(gated.planning.wait, DEADLINE), "b never planned the gate"
    assert ctl_b.sharing.owns("infra")
    record = ctl_b.store.get_run(approved)
    assert record is not None and record.holder == ctl_a.holder  # still a's plan
    return ctl_b, int(approved)


@pytest.mark.slow
async def test_approving_on_the_new_owner_plans_again_and_applies_once(
    replicas: tuple[Replica, Replica, GatedTerraform], setup: Setup
) -> None:
    a, b, gated = replicas
    ctl, approved = await planned_on_a_then_taken_by_b(a, b, gated)

    run_id = await ctl.approve("manual", actor="alice")
    await b.until(lambda: ctl.store.run_status(run_id) not in ("pending", "running"))
    applied = ctl.store.get_run(run_id)
    assert applied is not None and applied.status == "succeeded", applied
    assert applied.actor == "alice" and applied.holder == ctl.holder
    assert applied.plan_id is not None and applied.plan_id != approved
    assert applied.summary["meta"][operating.REPLANNED_FROM] == approved
    log = [line for _, line in ctl.store.read_log(run_id)]
    assert log[0] == (
        f"truenorth: the plan of run {approved} was made on another replica; planned again here as run "
        f"{applied.plan_id}: the same plan, applied for alice"
    )
    assert setup.applies() == 1

    gated.opened.set()  # b's first pass goes on: manual is applied, nothing to change
    await b.settle()
    assert b.view("manual").sync_state == "synced"
    assert setup.applies() == 1


@pytest.mark.slow
async def test_approving_on_the_new_owner_refuses_a_plan_the_live_state_changed(
    replicas: tuple[Replica, Replica, GatedTerraform], setup: Setup
) -> None:
    a, b, gated = replicas
    ctl, approved = await planned_on_a_then_taken_by_b(a, b, gated)
    (setup.out / "value.txt").write_text("v2\n")  # what the resource reads changed since the approval

    with pytest.raises(errors.ControllerError) as refused:
        await ctl.approve("manual", actor="alice")
    assert refused.value.kind == errors.CONFLICT
    view = ctl.stack("manual")
    new = view.pending_plan_run_id
    assert new is not None and new != approved
    assert refused.value.message == (
        f"stack 'manual''s plan changed since run {approved} was approved: 1 change differs "
        f"(terraform_data.count); the new plan is run {new}: review and approve it"
    )
    assert view.sync_state == "pending-approval"
    assert setup.applies() == 0
    assert not ctl.store.list_runs(stack="manual", kind="apply")

    # The new plan is b's own: approving it applies it, once.
    run_id = await ctl.approve("manual", actor="alice")
    await b.until(lambda: ctl.store.run_status(run_id) not in ("pending", "running"))
    applied = ctl.store.get_run(run_id)
    assert applied is not None and applied.status == "succeeded" and applied.plan_id == new
    assert setup.applies() == 1
