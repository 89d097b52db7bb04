"""One store write per state change: nobody reading the store sees a state in between.

A drift check used to write ``synced`` and then put the previous state back (the API,
the UI and the metrics could read the wrong state in between), and to write
``out-of-sync`` twice when it found drift. Every ``upsert_stack`` the controller makes is
watched here through the store it uses.
"""

from __future__ import annotations

import json
from typing import Any

from tests.controller.conftest import POLL, Harness
from tests.controller.engines import STATE_FILE

#: The default drift interval.
DRIFT_INTERVAL = 600


def watch_writes(harness: Harness) -> list[tuple[str, dict[str, Any]]]:
    """Every stack write from now on, as (stack, fields)."""
    assert harness.ctl is not None
    store = harness.ctl.store
    seen: list[tuple[str, dict[str, Any]]] = []
    upsert = store.upsert_stack

    def recording(*, repository: str, name: str, **fields: Any) -> Any:
        seen.append((name, fields))
        return upsert(repository=repository, name=name, **fields)

    store.upsert_stack = recording  # type: ignore[method-assign]
    return seen


async def test_a_drift_check_without_drift_writes_once_and_keeps_a_pending_approval(harness: Harness) -> None:
    ctl = await harness.start()
    await ctl.approve("manual", actor="alice")
    await harness.settle()
    harness.repo.commit("manual v2", {"stacks/manual/main.txt": "manual v2\n"})
    await harness.advance(POLL)
    assert harness.view("manual").sync_state == "pending-approval"
    checked_before = len(harness.runs("manual", kind="drift"))
    writes = watch_writes(harness)

    await harness.advance(DRIFT_INTERVAL)

    assert len(harness.runs("manual", kind="drift")) == checked_before + 1
    manual = [fields for name, fields in writes if name == "manual"]
    assert len(manual) == 1, manual
    assert "sync_state" not in manual[0]  # the state stays: nothing to write, nothing to restore
    assert harness.view("manual").sync_state == "pending-approval"
    for name in ("network", "app"):  # in sync, no drift: one write each, saying so
        assert [fields.get("sync_state") for stack, fields in writes if stack == name] == ["synced"]


async def test_a_drift_check_that_finds_drift_writes_out_of_sync_once(harness: Harness) -> None:
    await harness.start()
    (harness.state("network") / STATE_FILE).write_text(json.dumps({"digest": "edited outside truenorth"}))
    writes = watch_writes(harness)

    await harness.advance(DRIFT_INTERVAL)

    network = [fields.get("sync_state") for name, fields in writes if name == "network"]
    assert network == ["out-of-sync"]
    view = harness.view("network")
    assert (view.sync_state, view.drift) == ("out-of-sync", True)
