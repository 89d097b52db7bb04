"""A store that cannot be used ends a command with its reason, never a traceback or a password.

The CLI never imports the store (an import-linter contract): the controller's boundary
(:func:`truenorth.controller.errors.store_unavailable`) turns a store failure into a
``ControllerError`` whose message says what failed, and every command prints it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo

pytestmark = pytest.mark.slow  # a database and a socket, however briefly

PASSWORD = "hunter2-tn-canary"
#: Nothing listens on port 1: the connection is refused at once.
REFUSING = f"postgresql+psycopg://truenorth:{PASSWORD}@127.0.0.1:1/truenorth"


def _not_a_database(tmp_path: Path) -> str:
    path = tmp_path / "not-a-database.db"
    path.write_text("just text\n" * 100)
    return f"sqlite:///{path}"


@pytest.mark.parametrize(
    "command", [("status",), ("history",), ("plan", "REPO"), ("sync", "network", "--repo", "REPO")]
)
def test_a_store_that_cannot_be_opened_is_one_line(
    invoke: Invoke, tf_repo: GitRepo, tmp_path: Path, command: tuple[str, ...]
) -> None:
    argv = [tf_repo.url if part == "REPO" else part for part in command]
    for store, reason in ((_not_a_database(tmp_path), "the file is not a SQLite database"),
                          (REFUSING, "cannot connect to the database server")):  # fmt: skip
        result = invoke(*argv, "--store", store)
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: state database: ") and reason in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert PASSWORD not in result.stderr + result.stdout


def test_serve_names_the_store_it_cannot_claim(invoke: Invoke, tf_repo: GitRepo, tmp_path: Path) -> None:
    result = invoke(
        "serve", "--repo", tf_repo.url, "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
        "--store", REFUSING,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot start the controller: state database: cannot claim the database" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
