"""A read-only plan (a merge request's preview) never touches the stack's state dir.

A preview runs without the stack's lock, so it may plan a stack while that stack's
apply runs. It must not delete or replace the apply's working copy, rewrite ``data/``
or a pending plan file, nor wait for (or make fail) the state's lock: it works in an
area of its own and reads a copy of the state (:mod:`truenorth.engines.terraform.preparing`).
The apply here is held mid-way by a ``local-exec`` provisioner that waits for a file the
test creates, once the apply's output says it is waiting (an event, not a sleep).
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from tests.engines.terraform.conftest import Lab, stack, tree_digest
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.core import plans as core_plans
from truenorth.core import runs
from truenorth.engines import protocol, sandbox
from truenorth.engines.protocol import EngineError
from truenorth.engines.terraform import TerraformEngine, preparing

pytestmark = pytest.mark.slow

REV1 = "1" * 40
REV2 = "2" * 40
REV3 = "3" * 40
#: Generous: an event ends the wait; this only bounds a broken run on a busy machine.
WAIT_SECONDS = 600.0

BASE = """
resource "terraform_data" "base" {
  input = "one"
}

output "base" {
  value = terraform_data.base.output
}
"""

EXTRA = """
resource "terraform_data" "extra" {
  input = terraform_data.base.output
}
"""


def gated(gate: Path) -> str:
    """A resource whose creation waits until ``gate/go`` exists (at most ten minutes)."""
    return f"""
resource "terraform_data" "slow" {{
  input = "two"
  provisioner "local-exec" {{
    command = "echo waiting-now; i=0; while [ ! -e {gate}/go ] && [ $i -lt 6000 ]; do sleep 0.1; i=$((i+1)); done"
  }}
}}
"""


def _digests(state_dir: Path) -> dict[str, str]:
    return {name: tree_digest(state_dir / name) for name in ("work", "data", "plans")}


def _actions(plan: core_plans.Plan) -> dict[str, core_plans.Action]:
    return {item.address: item.action for item in plan.changes}


def _created(plan: core_plans.Plan) -> set[str]:
    return {item.address for item in plan.changes if item.action is core_plans.Action.CREATE}


def test_a_preview_beside_a_running_apply_leaves_it_alone(lab: Lab, engine: TerraformEngine) -> None:
    gate = lab.root / "gate"
    gate.mkdir()
    allowed = sandbox.Policy(writable=(gate,))
    spec = stack("app")
    rev1 = lab.checkout({"stacks/app/main.tf": BASE}, name="rev1")
    rev2 = lab.checkout({"stacks/app/main.tf": BASE + gated(gate)}, name="rev2")
    rev3 = lab.checkout({"stacks/app/main.tf": BASE + gated(gate) + EXTRA}, name="rev3")
    first = engine.plan(lab.ctx(spec, rev1, revision=REV1))
    assert engine.apply(lab.ctx(spec, rev1, revision=REV1), first).status is runs.RunStatus.SUCCEEDED
    pending = engine.plan(lab.ctx(spec, rev2, revision=REV2, sandbox=allowed))
    state_dir = lab.data / "state" / "app"
    plan_file = Path(str(pending.artifact))
    plan_bytes = plan_file.read_bytes()

    waiting = threading.Event()
    applied: list[runs.RunResult] = []

    def watch(line: str) -> None:
        if line.rstrip().endswith("(local-exec): waiting-now"):
            waiting.set()

    def apply() -> None:
        ctx = lab.ctx(spec, rev2, revision=REV2, sandbox=allowed, on_output=watch)
        applied.append(engine.apply(ctx, pending))

    worker = threading.Thread(target=apply)
    worker.start()
    try:
        assert waiting.wait(WAIT_SECONDS), "the apply never reached its provisioner"
        tree = state_dir / "work" / "tree"
        before = _digests(state_dir)
        assert (tree / "stacks/app/main.tf").is_file()  # the apply works in it now

        preview = engine.plan(lab.ctx(spec, rev3, revision=REV3, read_only=True))

        assert _digests(state_dir) == before  # its tree, data dir and plans untouched
        assert plan_file.read_bytes() == plan_bytes  # the plan being applied, untouched
        # It saw the current state (base exists) and planned what rev3 adds.
        assert "terraform_data.extra" in _created(preview)
        assert _actions(preview)["terraform_data.base"] is core_plans.Action.NOOP
        assert not Path(str(preview.artifact)).exists()  # its plan file went with its area
    finally:
        (gate / "go").touch()
        worker.join(WAIT_SECONDS)
    assert not worker.is_alive()
    assert applied[0].status is runs.RunStatus.SUCCEEDED, applied[0].error
    assert list((lab.cache_dir / preparing.PREVIEWS_DIR).iterdir()) == []


def test_a_preview_leaves_the_state_dir_byte_identical(lab: Lab, engine: TerraformEngine) -> None:
    spec = stack("app")
    rev1 = lab.checkout({"stacks/app/main.tf": BASE}, name="rev1")
    rev3 = lab.checkout({"stacks/app/main.tf": BASE + EXTRA}, name="rev3")
    first = engine.plan(lab.ctx(spec, rev1, revision=REV1))
    assert engine.apply(lab.ctx(spec, rev1, revision=REV1), first).status is runs.RunStatus.SUCCEEDED
    engine.plan(lab.ctx(spec, rev1, revision=REV2))  # a pending plan lies in plans/
    state_dir = lab.data / "state" / "app"
    before = tree_digest(state_dir)

    preview = engine.plan(lab.ctx(spec, rev3, revision=REV3, read_only=True))

    assert _created(preview) == {"terraform_data.extra"}  # it read the applied state
    assert tree_digest(state_dir) == before  # work/, data/, plans/ and the state itself
    assert list((lab.cache_dir / preparing.PREVIEWS_DIR).iterdir()) == []


def test_a_preview_of_a_never_applied_stack_in_a_workspace_writes_nothing(
    lab: Lab, engine: TerraformEngine
) -> None:
    spec = stack("app", workspace="blue")
    checkout = lab.checkout({"stacks/app/main.tf": BASE})
    state_dir = lab.data / "state" / "app"
    state_dir.mkdir(parents=True)  # as the controller makes it

    preview = engine.plan(lab.ctx(spec, checkout, revision=REV1, read_only=True))

    assert _created(preview) == {"terraform_data.base", "output.base"}
    assert list(state_dir.iterdir()) == []


def test_a_preview_at_the_pending_revision_leaves_the_pending_plan_applicable(
    lab: Lab, engine: TerraformEngine
) -> None:
    """The fast-forward case: the merge request's head is the revision already planned."""
    spec = stack("app")
    rev1 = lab.checkout({"stacks/app/main.tf": BASE}, name="rev1")
    rev2 = lab.checkout({"stacks/app/main.tf": BASE + EXTRA}, name="rev2")
    first = engine.plan(lab.ctx(spec, rev1, revision=REV1))
    assert engine.apply(lab.ctx(spec, rev1, revision=REV1), first).status is runs.RunStatus.SUCCEEDED
    pending = engine.plan(lab.ctx(spec, rev2, revision=REV2))

    preview = engine.plan(lab.ctx(spec, rev2, revision=REV2, read_only=True))
    assert _created(preview) == _created(pending) == {"terraform_data.extra"}

    result = engine.apply(lab.ctx(spec, rev2, revision=REV2), pending)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error


def test_an_init_waits_for_the_plugin_cache_held_by_another(lab: Lab, engine: TerraformEngine) -> None:
    """Every ``init`` holds the plugin cache's lock: one held elsewhere makes it wait (here,
    until its cancel), since Terraform's cache is unsafe for concurrent installs."""
    checkout = lab.checkout({"stacks/app/main.tf": BASE})
    cancel = threading.Event()
    cancel.set()
    fd = os.open(lab.cache_dir / preparing.PLUGIN_CACHE_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(EngineError, match="cancelled while waiting for the plugin cache"):
            engine.plan(lab.ctx(stack("app"), checkout, revision=REV1, read_only=True, cancel=cancel))
    finally:
        os.close(fd)
    assert list((lab.cache_dir / preparing.PREVIEWS_DIR).iterdir()) == []


SHARED_SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
  - name: app
    engine: terraform
    path: stacks/app
    depends_on: [network]
"""
APP = """
data "terraform_remote_state" "network" {
  backend = "local"
  config  = { path = ".truenorth/deps/network/terraform.tfstate" }
  defaults = { base = "none" }
}

resource "terraform_data" "app" {
  input = data.terraform_remote_state.network.outputs.base
}

output "seen" {
  value = data.terraform_remote_state.network.outputs.base
}
"""


@pytest.mark.postgres
def test_a_preview_with_state_shared_on_postgresql_writes_nothing_in_the_state_dir(
    lab: Lab,
    engine: TerraformEngine,
    postgres_url: str,  # noqa: F811
) -> None:
    shared = protocol.SharedState(repository="https://git.example/infra.git#main", postgres_url=postgres_url)
    checkout = lab.checkout(
        {"truenorth.yaml": SHARED_SPEC, "stacks/network/main.tf": BASE, "stacks/app/main.tf": APP}
    )
    network, app = stack("network"), stack("app", depends_on=["network"])
    for spec in (network, app):
        ctx = lab.ctx(spec, checkout, revision=REV1, shared_state=shared)
        assert engine.apply(ctx, engine.plan(ctx)).ok
    state_dir = lab.data / "state" / "app"
    before = tree_digest(state_dir)

    preview = engine.plan(lab.ctx(app, checkout, revision=REV2, shared_state=shared, read_only=True))

    assert not preview.has_changes, preview.output  # its state, and network's, from the schemas
    assert [(item.name, item.value) for item in preview.planned_outputs] == [("seen", "one")]
    assert tree_digest(state_dir) == before
    assert list((lab.cache_dir / preparing.PREVIEWS_DIR).iterdir()) == []

    # A local state not yet moved into the schema (only a plan or apply moves it): refused.
    local = lab.data / "state" / "network" / "terraform.tfstate"
    local.write_text(
        (lab.data / "state" / "app" / "deps" / "network" / "state" / "terraform.tfstate").read_text()
    )
    with pytest.raises(EngineError, match="not yet moved into PostgreSQL"):
        engine.plan(lab.ctx(network, checkout, shared_state=shared, read_only=True))
    assert local.is_file()


def test_a_preview_folder_a_dead_controller_left_is_swept_and_a_recent_one_kept(tmp_path: Path) -> None:
    """Folders older than any operation are removed (their plan files may hold secrets); never a link's target."""
    parent = tmp_path / preparing.PREVIEWS_DIR
    left = parent / "web-left"
    recent = parent / "web-recent"
    outside = tmp_path / "outside"
    for folder in (left / "plans", recent, outside):
        folder.mkdir(parents=True)
    (left / "plans" / "x.tfplan").write_bytes(b"secret plan")
    (outside / "keep").write_text("mine")
    (parent / "link-left").symlink_to(outside, target_is_directory=True)
    old = 3 * preparing.STALE_PREVIEW_SECONDS
    for path in (left, parent / "link-left"):
        stat = os.lstat(path)
        os.utime(path, (stat.st_atime - old, stat.st_mtime - old), follow_symlinks=False)

    preparing._sweep_left_areas(parent, older_than=preparing.STALE_PREVIEW_SECONDS)

    assert not left.exists()
    assert recent.is_dir()
    assert (outside / "keep").read_text() == "mine"
