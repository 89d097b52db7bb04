"""Commands import only what they use: ``truenorth --help`` never loads the server or the store.

Every CLI call pays for its imports before it does anything (FastAPI, SQLAlchemy and the
server cost about 1.9 s, against the 0.3 s goal of issue 16's start-up benchmark). Each
case runs a real ``truenorth`` command in a fresh interpreter and checks ``sys.modules``
afterwards: what a command does not need must not have been imported. This pins the
import structure, not a timing (timings are ``make bench``'s job).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a Python process per case

#: What only ``serve``, a command on the local data dir, or an engine needs.
SERVER_AND_STORE = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "truenorth.server",
    "truenorth.store",
    "truenorth.controller.actions",
    "truenorth.controller.loop",
)
#: The HTTP and engine libraries: only ``--server`` commands, or an engine run, need them.
CLIENTS_AND_ENGINES = ("httpx", "lightkube", "ansible_runner", "truenorth.engines.kubernetes.client")

#: Runs one command as the console script does, then prints the names of every module it
#: imported on a last line of its own (after whatever the command wrote).
SCRIPT = """
import json, sys
from truenorth.cli import main
try:
    main.app(sys.argv[1:], prog_name="truenorth")
except SystemExit:
    pass
sys.stdout.flush()
sys.stdout.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""


def imported_by(*args: str, cwd: Path) -> tuple[set[str], str]:
    """The modules ``truenorth ARGS`` imported, and what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output, _, modules = done.stdout.rpartition("\nMODULES ")
    return set(json.loads(modules)), output + done.stderr


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(name for name in modules if any(name == p or name.startswith(p + ".") for p in packages))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "infra").mkdir(parents=True)
    (root / "infra" / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (root / "truenorth.yaml").write_text(
        "stacks:\n"
        "  - {name: network, engine: terraform, path: infra}\n"
        "  - {name: hosts, engine: ansible, path: infra, playbook: site.yml, depends_on: [network]}\n"
    )
    return root


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("version",),
        ("plan", "--help"),
        ("apply", "--help"),
        ("status", "--help"),
        ("history", "--help"),
        ("serve", "--help"),
        ("sync", "--help"),
        ("validate", "."),
        ("validate", ".", "-o", "json"),
    ],
    ids=lambda args: " ".join(args),
)
def test_commands_that_need_neither_server_store_nor_clients_import_none(
    args: tuple[str, ...], tree: Path
) -> None:
    modules, output = imported_by(*args, cwd=tree)
    assert "Usage" in output or "truenorth" in output or "valid" in output, output
    assert loaded(modules, SERVER_AND_STORE + CLIENTS_AND_ENGINES) == []


def test_validate_still_checks_the_tree(tree: Path) -> None:
    modules, output = imported_by("validate", ".", "-o", "json", cwd=tree)
    assert json.loads(output) == {"format_version": "1", "valid": True, "stacks": ["network", "hosts"]}
    assert "truenorth.controller.runs.validating" in modules


def test_status_against_a_server_imports_the_client_but_no_server_or_store(tree: Path) -> None:
    # Port 1 on the loopback: nobody listens, the connection is refused at once.
    modules, output = imported_by("status", "--server", "http://127.0.0.1:1", cwd=tree)
    assert "Error" in output
    assert "httpx" in modules
    assert loaded(modules, SERVER_AND_STORE) == []


def test_status_on_a_local_data_dir_opens_the_store_without_server_migrations_or_postgresql(
    tree: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    # The first command on a new data dir creates the database: that one runs the migrations.
    first, _ = imported_by("status", "--data-dir", str(data), cwd=tree)
    assert "alembic" in first
    modules, output = imported_by("status", "--data-dir", str(data), cwd=tree)
    assert "No stacks recorded yet" in output, output
    assert "truenorth.store.database" in modules and "sqlalchemy" in modules
    # The schema is at head (one plain query says so): alembic stays unloaded, and an
    # SQLite store never loads SQLAlchemy's PostgreSQL dialect.
    assert loaded(modules, ("alembic", "sqlalchemy.dialects.postgresql", "psycopg")) == []
    assert loaded(modules, ("fastapi", "starlette", "uvicorn", "httpx", "truenorth.server")) == []


@pytest.mark.parametrize(
    ("module", "unwanted"),
    [
        # The controller's error mapping names the store's errors, not the store.
        ("truenorth.controller.errors", ("sqlalchemy", "truenorth.store.database")),
        ("truenorth.store.errors", ("sqlalchemy", "truenorth.store.database")),
        # URL handling (``validate`` checks sources) without the mirrors and their archives.
        ("truenorth.git.urls", ("truenorth.git.mirrors", "tarfile")),
    ],
)
def test_light_modules_do_not_import_their_package_s_heavy_neighbours(
    module: str, unwanted: tuple[str, ...]
) -> None:
    script = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert loaded(set(json.loads(done.stdout)), unwanted) == []


def test_the_lazy_names_of_store_and_git_still_resolve() -> None:
    script = (
        "from truenorth.store import Store, StoreError, RunRecord, sqlite_url; "
        "from truenorth.git import MirrorCache, GitError, Commit; "
        "import truenorth.store as s; print(Store.__module__, MirrorCache.__module__, hasattr(s, 'nope'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["truenorth.store.database", "truenorth.git.mirrors", "False"]
