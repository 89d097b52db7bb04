"""The last lines a tool prints before going quiet reach the run log without waiting for its next line.

Live output is written in batches (200 lines, or half a second after a batch's first
line). Before, a batch was written only when the *next* line came, so the tail of a
burst (Terraform prints "Still creating..." every 10 s) waited that long for the UI and
``logs --follow``, on every replica.
"""

from __future__ import annotations

import threading
import types

from truenorth.controller.runs import executing

WAIT = 30.0  # generous: a timer on a busy machine; the test waits on an event, never sleeps


class _Recorder:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.written = threading.Event()

    def append_log(self, run_id: int, lines: list[str]) -> None:
        assert run_id == 7
        self.batches.append(list(lines))
        self.written.set()


def test_the_tail_of_a_burst_is_written_while_the_tool_is_quiet() -> None:
    store = _Recorder()
    writer = executing._LogWriter(types.SimpleNamespace(store=store), 7)  # type: ignore[arg-type]

    for line in ("Plan: 1 to add", "terraform_data.x: Creating...", "terraform_data.x: Still creating..."):
        writer.write(line)

    assert store.written.wait(WAIT), "the lines stayed buffered while the tool printed nothing"
    assert [line for batch in store.batches for line in batch] == [
        "Plan: 1 to add",
        "terraform_data.x: Creating...",
        "terraform_data.x: Still creating...",
    ]
    writer.write("done")
    writer.flush()
    assert [line for batch in store.batches for line in batch][-1] == "done"
    assert sum(len(batch) for batch in store.batches) == 4  # nothing written twice
