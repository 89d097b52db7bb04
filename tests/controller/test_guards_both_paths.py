"""The CLI's local actions and the controller's refuse the same things, with the same words.

Each case runs through both paths over the same repository and the same in-test engine:
the controller's API actions (:class:`~truenorth.controller.actions.facade.Controller`)
and the CLI's ``sync``/``approve``/``rollback --repo`` (:mod:`truenorth.controller.local.approving`
on a local data dir, with stored plans from ``truenorth plan``'s
:func:`~truenorth.controller.local.orchestrating.plan_revision`). Both must refuse with the
message :mod:`truenorth.core.guards` gives, before anything runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import FakeEngine
from tests.support.gitrepos import GitRepo
from truenorth.controller.actions import facade
from truenorth.controller.errors import ControllerError
from truenorth.controller.local import approving, orchestrating
from truenorth.controller.runs import registry, runtime, validating
from truenorth.core import guards, states
from truenorth.store import database


@dataclass(frozen=True)
class Refused:
    """What a path answered: the message, and the kind where the path has one."""

    message: str
    kind: str | None


class LocalPath:
    """The CLI's one-shot path on a local data dir (no controller)."""

    name = "local"

    def __init__(self, repo: GitRepo, data_dir: Path) -> None:
        self.repo = repo
        self.rt = runtime.open_runtime(data_dir, engines=registry.EngineRegistry({"terraform": FakeEngine()}))

    @property
    def store(self) -> database.Store:
        return self.rt.store

    @property
    def key(self) -> str:
        return self.rt.sources.key(self.repo.url)

    async def start(self) -> None:
        """As ``truenorth plan`` at the head, then ``sync`` of the auto_apply stacks."""
        await self.observe()
        for name in ("network", "app"):
            await self.sync(name)

    async def observe(self) -> None:
        self.plan_at(None)

    def plan_at(self, ref: str | None) -> None:
        revision = self.rt.sources.checkout(self.repo.url, ref=ref)
        spec = validating.validate_checkout(revision.checkout)
        orchestrating.plan_revision(self.rt, revision, spec.order())

    async def hold_older_plan(self, name: str, *, sha: str, run_id: int) -> None:
        """``truenorth plan --ref SHA``: stores a plan of an older revision for the stack."""
        del run_id
        self.plan_at(sha)

    async def approve(self, name: str) -> None:
        outcome = approving.apply_stored_plan(self.rt, self.repo.url, name, actor="alice", approval=True)
        assert outcome.result.ok, outcome.result.error

    async def sync(self, name: str) -> None:
        outcome = approving.apply_stored_plan(self.rt, self.repo.url, name, actor="alice")
        assert outcome.result.ok, outcome.result.error

    async def refused(self, action: str, name: str, **options: str) -> Refused:
        with pytest.raises(approving.ActionError) as caught:
            if action == "rollback":
                approving.roll_back(self.rt, self.repo.url, name, actor="carol", **options)
            else:
                approving.apply_stored_plan(
                    self.rt, self.repo.url, name, actor="alice", approval=action == "approve"
                )
        return Refused(str(caught.value), None)

    async def settle(self) -> None:
        pass  # nothing runs in the background

    async def stop(self) -> None:
        self.rt.close()


class ControllerPath:
    """The controller's API actions, on a fake clock."""

    name = "controller"

    def __init__(self, repo: GitRepo, data_dir: Path) -> None:
        self.harness = Harness(repo=repo, data_dir=data_dir, engine=FakeEngine())

    @property
    def store(self) -> database.Store:
        assert self.harness.ctl is not None
        return self.harness.ctl.store

    @property
    def key(self) -> str:
        assert self.harness.ctl is not None
        return self.harness.ctl.runtime.sources.key(self.harness.repo.url)

    async def start(self) -> None:
        await self.harness.start()

    async def observe(self) -> None:
        await self.harness.advance(POLL)

    async def hold_older_plan(self, name: str, *, sha: str, run_id: int) -> None:
        """The stack's stored plan is one of an older revision (as a CLI plan at an older
        ref leaves it; the controller itself never plans one)."""
        run = self.store.get_run(run_id)
        assert run is not None and run.revision == sha
        self.store.upsert_stack(
            repository=self.key, name=name, sync_state="pending-approval", pending_plan_id=run_id
        )

    async def approve(self, name: str) -> None:
        await self._done(await self._ctl().approve(name, actor="alice"))

    async def sync(self, name: str) -> None:
        await self._done(await self._ctl().sync(name, actor="alice"))

    async def refused(self, action: str, name: str, **options: str) -> Refused:
        ctl = self._ctl()
        with pytest.raises(ControllerError) as caught:
            if action == "rollback":
                await ctl.rollback(name, actor="carol", **options)
            elif action == "approve":
                await ctl.approve(name, actor="alice")
            else:
                await ctl.sync(name, actor="alice")
        return Refused(caught.value.message, caught.value.kind)

    async def stop(self) -> None:
        await self.harness.stop()

    async def settle(self) -> None:
        await self.harness.settle()

    def _ctl(self) -> facade.Controller:
        assert self.harness.ctl is not None
        return self.harness.ctl

    async def _done(self, run_id: int) -> None:
        await self.harness.settle()
        run = self.store.get_run(run_id)
        assert run is not None and run.status == "succeeded", run


AnyPath = LocalPath | ControllerPath


@dataclass(frozen=True)
class Ask:
    """What a case asks of a path once the stage is set, and what the guards answer to it."""

    action: str
    stack: str
    expected: guards.Refusal | str | None
    options: dict[str, str] = field(default_factory=dict)


#: A case sets the stage on a path and says what to ask.
Case = Callable[[AnyPath, GitRepo], Awaitable[Ask]]


async def approve_not_pending(path: AnyPath, repo: GitRepo) -> Ask:
    await path.start()
    await path.approve("manual")
    return Ask("approve", "manual", guards.check_approval(stack="manual", state=states.SyncState.SYNCED))


async def sync_without_a_stored_plan(path: AnyPath, repo: GitRepo) -> Ask:
    await path.start()
    await path.approve("manual")
    return Ask("sync", "manual", guards.check_stored_plan(stack="manual", plan=None))


async def approve_an_older_stored_plan(path: AnyPath, repo: GitRepo) -> Ask:
    await path.start()
    first = repo.head()
    record = path.store.get_stack(repository=path.key, name="manual")
    assert record is not None and record.pending_plan_id is not None
    older_plan = record.pending_plan_id
    second = repo.commit("manual v2", {"stacks/manual/main.txt": "manual v2\n"})
    await path.observe()
    await path.approve("manual")
    await path.hold_older_plan("manual", sha=first, run_id=older_plan)
    expected = guards.check_apply_direction(direction=guards.Direction.OLDER, target=first, applied=second)
    return Ask("approve", "manual", expected)


async def rollback_auto_apply(path: AnyPath, repo: GitRepo) -> Ask:
    await path.start()
    head = repo.head()
    expected = guards.check_rollback(
        stack="network", auto_apply=True, reason="bad", wanted=head, applied_revisions=[head]
    )
    return Ask("rollback", "network", expected, {"revision": head, "reason": "bad"})


async def rollback_never_applied(path: AnyPath, repo: GitRepo) -> Ask:
    await path.start()
    await path.approve("manual")
    never = repo.commit("unrelated", {"README.md": "x\n"})
    expected = guards.check_rollback(
        stack="manual", auto_apply=False, reason="bad", wanted=never, applied_revisions=[]
    )
    return Ask("rollback", "manual", expected, {"revision": never, "reason": "bad"})


async def rollback_without_a_reason(path: AnyPath, repo: GitRepo) -> Ask:
    await path.start()
    await path.approve("manual")
    head = repo.head()
    expected = guards.check_rollback(
        stack="manual", auto_apply=False, reason=" ", wanted=head, applied_revisions=[head]
    )
    return Ask("rollback", "manual", expected, {"revision": head, "reason": "  "})


CASES: list[Case] = [
    approve_not_pending,
    sync_without_a_stored_plan,
    approve_an_older_stored_plan,
    rollback_auto_apply,
    rollback_never_applied,
    rollback_without_a_reason,
]


@pytest.mark.parametrize("path_type", [LocalPath, ControllerPath], ids=["local", "controller"])
@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
async def test_both_paths_refuse_the_same_things(
    case: Case, path_type: type[AnyPath], repo: GitRepo, tmp_path: Path
) -> None:
    path = path_type(repo, tmp_path / "data")
    try:
        ask = await case(path, repo)
        assert isinstance(ask.expected, guards.Refusal)
        await path.settle()
        runs_before = path.store.list_runs(limit=1000)
        stacks_before = path.store.list_stacks()

        answer = await path.refused(ask.action, ask.stack, **ask.options)

        assert answer.message == ask.expected.message
        if answer.kind is not None:  # the controller's answer carries the HTTP-facing kind
            assert answer.kind == ask.expected.kind.value
        # Refused before anything ran: no run recorded, no stack changed.
        await path.settle()
        assert path.store.list_runs(limit=1000) == runs_before
        assert path.store.list_stacks() == stacks_before
    finally:
        await path.stop()


def test_the_one_shot_apply_never_takes_a_stack_back(repo: GitRepo, tmp_path: Path) -> None:
    """``truenorth apply --ref OLDER`` asks the guard the controller asks after a force-push."""
    local = LocalPath(repo, tmp_path / "data")
    try:

        def apply_at(ref: str | None) -> list[str]:
            revision = local.rt.sources.checkout(repo.url, ref=ref)
            spec = validating.validate_checkout(revision.checkout)
            _, applied = orchestrating.apply_revision(
                local.rt, revision, spec, spec.order(), confirm=lambda outcomes: True
            )
            return [f"{o.result.stack} {o.result.status.value}" for o in applied]

        first = repo.head()
        assert apply_at(None) == ["network succeeded", "app succeeded", "manual succeeded"]
        second = repo.commit("network v2", {"stacks/network/main.txt": "network v2\n"})
        assert apply_at(None) == ["network succeeded"]

        assert apply_at(first) == ["network skipped"]

        record = local.store.get_stack(repository=local.key, name="network")
        assert record is not None and record.applied_revision == second
        expected = guards.check_apply_direction(
            direction=guards.Direction.OLDER, target=first, applied=second
        )
        assert expected is not None
        assert (record.sync_state, record.error) == ("out-of-sync", f"not applied: {expected.message}")
        (skipped,) = local.store.list_runs(stack="network", kind="apply", status=["skipped"])
        assert skipped.revision == first
    finally:
        local.rt.close()


def test_the_one_shot_apply_skips_the_dependents_of_a_failed_stack(repo: GitRepo, tmp_path: Path) -> None:
    """The walk the controller takes: a failed stack's dependents are skipped, others go on."""
    repo.commit("network fails", {"stacks/network/FAIL_APPLY": "x"})
    local = LocalPath(repo, tmp_path / "data")
    try:
        revision = local.rt.sources.checkout(repo.url)
        spec = validating.validate_checkout(revision.checkout)
        _, applied = orchestrating.apply_revision(
            local.rt, revision, spec, spec.order(), confirm=lambda outcomes: True
        )
        assert [(o.result.stack, o.result.status.value) for o in applied] == [
            ("network", "failed"),
            ("app", "skipped"),
            ("manual", "succeeded"),
        ]
        assert applied[1].result.error == "not applied: dependency network failed"
    finally:
        local.rt.close()
