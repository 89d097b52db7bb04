"""``truenorth store migrate --to postgresql://...``: a data dir's SQLite store moved to PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.controller.runs import ownership
from truenorth.store import Store, sqlite_url

REPO = "https://git.example/team/infra.git#main"


@pytest.mark.postgres
def test_store_migrate_copies_the_data_dirs_store_once(
    invoke: Invoke,
    data_dir: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    with Store.open(sqlite_url(data_dir)) as store:
        run_id = store.record_run(
            stack="web", repository=REPO, revision="a" * 40, kind="plan", status="succeeded"
        )
    # Refused while a controller holds the data dir: it would write during the copy.
    held = ownership.claim(data_dir, command="truenorth serve")
    try:
        busy = invoke("store", "migrate", "--data-dir", str(data_dir), "--to", postgres_url)
    finally:
        held.release()
    assert busy.exit_code == 1 and "in use by a running controller" in busy.stderr

    done = invoke("store", "migrate", "--data-dir", str(data_dir), "--to", postgres_url)
    assert done.exit_code == 0, done.stderr
    assert "copied 1 runs, 0 run logs, 0 stacks, 0 stack outputs" in done.stdout
    with Store.open(postgres_url) as target:
        copied = target.get_run(run_id)
    assert copied is not None and copied.stack == "web"

    again = invoke("store", "migrate", "--data-dir", str(data_dir), "--to", postgres_url)
    assert again.exit_code == 1 and "already holds runs" in again.stderr


def test_store_migrate_copies_only_into_postgresql(invoke: Invoke, data_dir: Path, tmp_path: Path) -> None:
    result = invoke("store", "migrate", "--data-dir", str(data_dir), "--to", f"sqlite:///{tmp_path}/x.db")
    assert result.exit_code == 1 and "must be a postgresql:// URL" in result.stderr
