"""The test tiers themselves: every test is unit or integration, and unit tests stay pure.

These run as unit tests (this module is listed in :mod:`tests.support.tiers`), so they
also check that the guard is on around a real unit test.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import tiers

ORIGINAL_POPEN_INIT = subprocess.Popen.__init__
ORIGINAL_CONNECT = socket.socket.connect
ORIGINAL_SQLITE_CONNECT = sqlite3.connect


def test_this_test_is_a_unit_test_under_the_guard(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None
    assert subprocess.Popen.__init__ is not ORIGINAL_POPEN_INIT
    assert socket.socket.connect is not ORIGINAL_CONNECT
    assert sqlite3.connect is not ORIGINAL_SQLITE_CONNECT


def test_every_collected_test_is_in_exactly_one_tier(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    assert items
    for item in items:
        unit = item.get_closest_marker("unit") is not None
        integration = item.get_closest_marker("integration") is not None
        assert unit != integration, item.nodeid
        if unit:
            assert not any(item.get_closest_marker(name) for name in tiers.INTEGRATION_MARKERS), item.nodeid
            assert not getattr(getattr(item, "obj", None), "is_hypothesis_test", False), item.nodeid


def test_starting_a_process_fails_even_where_exceptions_are_swallowed() -> None:
    with tiers.guard() as attempts:
        with pytest.raises(tiers.ImpureUnitTest, match=r"subprocess\.Popen"):
            subprocess.run(["git", "--version"], check=False)
        try:
            subprocess.run(["true"], check=False)
        except Exception:  # what careless code under test might do
            pytest.fail("the guard's error must not be an Exception")
        except tiers.ImpureUnitTest:
            pass
    assert attempts == ["subprocess.Popen(['git', '--version'])", "subprocess.Popen(['true'])"]


def test_processes_of_every_kind_are_refused() -> None:
    async def spawn() -> None:
        await asyncio.create_subprocess_exec("true")

    with tiers.guard() as attempts:
        with pytest.raises(tiers.ImpureUnitTest):
            asyncio.run(spawn())
        with pytest.raises(tiers.ImpureUnitTest):
            os.system("true")
    assert [attempt.split("(")[0] for attempt in attempts] == ["subprocess.Popen", "os.system"]


def test_sockets_and_databases_are_refused() -> None:
    with tiers.guard() as attempts:
        with socket.socket() as sock, pytest.raises(tiers.ImpureUnitTest):
            sock.connect(("127.0.0.1", 9))
        with socket.socket() as sock, pytest.raises(tiers.ImpureUnitTest):
            sock.bind(("127.0.0.1", 0))
        with pytest.raises(tiers.ImpureUnitTest):
            socket.getaddrinfo("example.test", 443)
        with pytest.raises(tiers.ImpureUnitTest):
            sqlite3.connect(":memory:")
    assert [attempt.split("(")[0] for attempt in attempts] == [
        "socket.connect",
        "socket.bind",
        "socket.getaddrinfo",
        "sqlite3.connect",
    ]


def test_the_guard_is_lifted_afterwards() -> None:
    before = subprocess.Popen.__init__
    with tiers.guard():
        assert subprocess.Popen.__init__ is not before
    assert subprocess.Popen.__init__ is before


@pytest.mark.parametrize(
    "entry",
    ["core/test_no_such_module.py", "no_such_folder/", "core/test_plans.py::test_no_such_test"],
)
def test_a_list_entry_naming_nothing_stops_the_run(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setattr(tiers, "UNIT_MODULES", (*tiers.UNIT_MODULES, entry))
    with pytest.raises(pytest.UsageError, match="do not exist"):
        tiers.check_listed()


def test_every_list_entry_names_a_test() -> None:
    tiers.check_listed()


@pytest.mark.parametrize(
    ("path", "reached"),
    [
        ("core", True),
        ("core/test_plans.py", True),
        ("engines", True),
        ("engines/kubernetes/test_fixtures.py", True),
        ("engines/kubernetes/test_engine.py", False),
        ("security", False),
        ("support", False),
    ],
)
def test_a_unit_run_skips_folders_and_modules_without_unit_tests(path: str, reached: bool) -> None:
    assert tiers.may_hold_unit_tests(tiers.TESTS / path) is reached


def test_a_path_outside_the_tests_is_never_skipped(tmp_path: Path) -> None:
    assert tiers.may_hold_unit_tests(tmp_path)


@pytest.fixture(scope="module")
def earlier_thread() -> Iterator[ThreadPoolExecutor]:
    """A thread started before the test's guard, like a server an earlier test left."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: None).result()
        yield pool


def _bind() -> str:
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
    except tiers.ImpureUnitTest:
        return "refused"
    return "bound"


def test_threads_started_by_the_test_are_guarded_and_earlier_ones_are_not(
    earlier_thread: ThreadPoolExecutor,
) -> None:
    with tiers.guard() as attempts:
        assert earlier_thread.submit(_bind).result() == "bound"
        with ThreadPoolExecutor(max_workers=1) as pool:
            assert pool.submit(_bind).result() == "refused"
    assert attempts == ["socket.bind(('127.0.0.1', 0))"]
