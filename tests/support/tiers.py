"""The two test tiers: which tests are unit tests, and the guard that keeps them pure.

A **unit** test checks pure code: no subprocess (so no git, no engine), no socket (so no
network, no test server), no database. It runs in milliseconds; ``make test-unit`` runs
only these, with a 2 s timeout per test. Everything else is an **integration** test. Both
markers are set at collection (``tests/conftest.py``), never by hand:

- a test is ``unit`` when its module (or folder, or the test function itself) is in
  :data:`UNIT_MODULES`, it carries none of :data:`INTEGRATION_MARKERS`, it is not a
  property test (hypothesis: hundreds of examples) and not in :data:`PURE_BUT_SLOW`;
- every other test is ``integration``.

So a listed module may hold a few ``slow`` tests, and a new module joins the unit tier
only by being listed here. The list cannot rot silently, either way:

- an entry that names nothing (a module moved, a test renamed) stops the run
  (:func:`check_listed`);
- a unit test that tries to start a process, open a socket or a database fails
  (:func:`guard`): the attempt raises :class:`ImpureUnitTest`, a ``BaseException`` that
  an ``except Exception`` in the code under test cannot swallow, and the test fails at
  teardown even if something caught it.
"""

from __future__ import annotations

import _posixsubprocess
import ast
import os
import socket
import sqlite3
import sqlite3.dbapi2
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "INTEGRATION_MARKERS",
    "PURE_BUT_SLOW",
    "TESTS",
    "UNIT_MODULES",
    "ImpureUnitTest",
    "check_listed",
    "guard",
    "is_unit",
    "may_hold_unit_tests",
]

TESTS = Path(__file__).resolve().parents[1]

#: What is pure, relative to ``tests/``: a folder (``core/``), a module (``test_x.py``) or
#: one test function of a module, all its parameters included (``test_x.py::test_y``;
#: top-level functions only). Keep it sorted; list a module once all its unmarked tests
#: are pure, else list its pure functions.
UNIT_MODULES: tuple[str, ...] = (
    "cli/test_exits.py",
    "cli/test_json_schemas.py::test_the_documented_plan_example_matches_the_schema",
    "cli/test_usage_errors.py",
    "cli/test_validate.py",
    "controller/test_config.py",
    "core/",
    "deploy/test_kubernetes.py::test_the_containerfile_pins_every_tool_and_runs_as_the_deployments_user",
    "engines/ansible/test_readers.py",
    "engines/kubernetes/test_fixtures.py::test_diff",
    "engines/kubernetes/test_fixtures.py::test_health",
    "engines/kubernetes/test_fixtures.py::test_health_rolls_up_to_the_worst",
    "engines/kubernetes/test_fixtures.py::test_normalize",
    "engines/kubernetes/test_fixtures.py::test_ordering",
    "engines/kubernetes/test_incluster.py::test_missing_credentials_are_named_and_the_token_never_shown",
    "engines/kubernetes/test_incluster.py::test_the_in_cluster_table_is_parsed_and_handed_to_the_engine",
    "engines/kubernetes/test_incluster.py::test_the_server_comes_from_the_pods_environment",
    "engines/kubernetes/test_kubeconfigs.py",
    "engines/terraform/test_configs.py",
    "engines/terraform/test_pgstate.py::test_schema_names_are_safe_bounded_stable_and_distinct",
    "engines/terraform/test_pgstate.py::test_the_connection_string_goes_only_into_the_environment",
    "engines/terraform/test_plans.py",
    "engines/terraform/test_renderings.py",
    "engines/terraform/test_staleness.py",
    "engines/terraform/test_variables.py",
    "engines/terraform/test_versions.py",
    "engines/terraform/test_workdirs.py",
    "forges/test_comments.py",
    "forges/test_hooks.py",
    "forges/test_preview_rules.py",
    "git/test_urls.py",
    "notify/test_config.py",
    "notify/test_rules.py",
    "server/test_deliveries.py",
    "server/test_limits.py",
    "server/test_logs.py",
    "server/test_pushes.py",
    "server/test_signatures.py",
    "server/test_webhook_properties.py",
    "store/test_errors.py::test_database_url_maps_postgres_to_psycopg_and_keeps_sqlite",
    "store/test_errors.py::test_redact_url_masks_every_credential",
    "store/test_errors.py::test_scrub_masks_known_secrets_urls_and_password_settings",
    "store/test_errors.py::test_unusable_urls_are_refused_without_the_password",
    "store/test_migrations.py::test_head_constant_matches_the_migration_scripts",
    "store/test_publications.py::test_publications_describe_running_controllers_and_are_not_copied",
    "store/test_publications.py::test_the_limit_is_the_spec_parsers_own",
    "tables/test_diffs.py",
    "tables/test_plan_text.py",
    "tables/test_snapshot_files.py",
    "tables/test_status_tables.py",
    "test_paths.py",
    "test_tiers.py",
)

#: Pure tests in listed modules that are too slow for the unit tier's 2 s per test,
#: each with the reason; they stay integration tests. (Property tests, hypothesis's
#: ``@given``, are never unit tests: hundreds of examples each.)
PURE_BUT_SLOW: dict[str, str] = {
    "core/test_specs.py::test_a_long_dependency_cycle_is_a_spec_error": "a 3000-stack spec: over 2 s on a busy machine",
    "core/test_specs.py::test_a_long_depends_on_chain_is_ordered": "a 3000-stack spec: over 2 s on a busy machine",
    "core/test_yamls.py::test_counting_nodes_never_recurses": "a deeply nested document: ~2 s on a busy machine",
}

#: Markers that make a test an integration test wherever it lives.
INTEGRATION_MARKERS = frozenset({"slow", "postgres", "ssh", "k8s_e2e"})


class ImpureUnitTest(BaseException):
    """A unit test reached for a process, a socket or a database."""


def check_listed() -> None:
    """Stop the run when an entry of :data:`UNIT_MODULES` or :data:`PURE_BUT_SLOW` names
    nothing: a module or folder that moved, a test function that was renamed."""
    missing = [entry for entry in (*UNIT_MODULES, *PURE_BUT_SLOW) if not _exists(entry)]
    if missing:
        raise pytest.UsageError(f"tests/support/tiers.py names tests that do not exist: {', '.join(missing)}")


def _exists(entry: str) -> bool:
    path, _, function = entry.partition("::")
    if not (TESTS / path).exists():
        return False
    if not function:
        return True
    tree = ast.parse((TESTS / path).read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        for node in tree.body
    )


def is_unit(item: pytest.Item) -> bool:
    """True when ``item`` is a unit test: listed, not a property test, not too slow."""
    try:
        relative = item.path.resolve().relative_to(TESTS).as_posix()
    except ValueError:
        return False
    function = f"{relative}::{getattr(item, 'originalname', item.name)}"
    if function in PURE_BUT_SLOW or getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
        return False
    return any(
        relative.startswith(entry) if entry.endswith("/") else entry in (relative, function)
        for entry in UNIT_MODULES
    )


def may_hold_unit_tests(path: Path) -> bool:
    """False for a test folder or module that no entry of :data:`UNIT_MODULES` reaches, so
    a unit-only run (``-m unit``) need not import it."""
    try:
        relative = path.resolve().relative_to(TESTS).as_posix()
    except ValueError:
        return True
    if relative == ".":
        return True
    listed = [entry.partition("::")[0] for entry in UNIT_MODULES]
    if path.is_dir():
        folder = relative + "/"
        return any(entry.startswith(folder) or folder.startswith(entry) for entry in listed if entry)
    return any(relative.startswith(entry) if entry.endswith("/") else relative == entry for entry in listed)


def _blocked(
    original: Callable[..., Any],
    what: str,
    attempts: list[str],
    *,
    method: bool,
    bystanders: frozenset[threading.Thread],
) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() in bystanders:
            return original(*args, **kwargs)  # a thread an earlier test left running
        shown = ", ".join(repr(item) for item in args[1 if method else 0 :][:2])
        attempt = f"{what}({shown[:200]})"
        attempts.append(attempt)
        raise ImpureUnitTest(
            f"unit test tried {attempt}: a unit test is pure code (no process, socket or database); "
            "mark it @pytest.mark.slow, or take it off the list in tests/support/tiers.py"
        )

    return refuse


@contextmanager
def guard() -> Iterator[list[str]]:
    """While active, starting a process, opening a socket or a database raises
    :class:`ImpureUnitTest`; yields the list of attempts (empty for a pure test).

    Processes: :mod:`subprocess` (so asyncio's too), ``os.system``/``fork``/``posix_spawn``/
    ``exec*``, and the ``fork_exec`` under :mod:`multiprocessing`. Sockets: connecting,
    binding, sending, resolving names. Databases: :mod:`sqlite3` (files and ``:memory:``)
    and, once imported, ``psycopg.connect`` (libpq opens its own sockets).
    """
    attempts: list[str] = []
    blocked: list[tuple[object, str, str]] = [
        (subprocess.Popen, "__init__", "subprocess.Popen"),
        (_posixsubprocess, "fork_exec", "_posixsubprocess.fork_exec"),
        (os, "system", "os.system"),
        (os, "fork", "os.fork"),
        (os, "forkpty", "os.forkpty"),
        (os, "posix_spawn", "os.posix_spawn"),
        (os, "posix_spawnp", "os.posix_spawnp"),
        (os, "execv", "os.execv"),
        (os, "execve", "os.execve"),
        (socket.socket, "connect", "socket.connect"),
        (socket.socket, "connect_ex", "socket.connect_ex"),
        (socket.socket, "bind", "socket.bind"),
        (socket.socket, "sendto", "socket.sendto"),
        (socket, "getaddrinfo", "socket.getaddrinfo"),
        (socket, "gethostbyname", "socket.gethostbyname"),
        (sqlite3, "connect", "sqlite3.connect"),
        (sqlite3.dbapi2, "connect", "sqlite3.connect"),
    ]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        blocked.append((psycopg, "connect", "psycopg.connect"))
    # Threads already running (a server an earlier test left, say) keep working: the
    # guard is for the test's own thread and the threads it starts.
    bystanders = frozenset(threading.enumerate()) - {threading.current_thread()}
    patch = pytest.MonkeyPatch()
    try:
        for owner, name, what in blocked:
            original = getattr(owner, name, None)
            if original is not None:
                refuse = _blocked(
                    original, what, attempts, method=isinstance(owner, type), bystanders=bystanders
                )
                patch.setattr(owner, name, refuse)
        yield attempts
    finally:
        patch.undo()
