"""Suite-wide fixtures and hooks: a clean environment for every test, and the test tiers.

Every test is either ``unit`` or ``integration``, set here at collection from the list in
:mod:`tests.support.tiers`; a unit test runs under that module's purity guard.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support import tiers


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a tier list naming a test that does not exist (moved, renamed)."""
    del config
    tiers.check_listed()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In a unit-only run (``-m unit``, as ``make test-unit``), skip importing what holds no
    unit test: the same tests run, without importing the whole suite first."""
    if config.getoption("markexpr", "").strip() != "unit":
        return None
    if collection_path.is_file() and not collection_path.name.startswith("test_"):
        return None
    return None if tiers.may_hold_unit_tests(collection_path) else True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test ``unit`` or ``integration`` (see :mod:`tests.support.tiers`)."""
    del config
    for item in items:
        integration = any(item.get_closest_marker(name) for name in tiers.INTEGRATION_MARKERS)
        unit = not integration and tiers.is_unit(item)
        item.add_marker(pytest.mark.unit if unit else pytest.mark.integration)


@pytest.fixture(autouse=True)
def _unit_purity(request: pytest.FixtureRequest) -> Iterator[None]:
    """A unit test that starts a process or opens a socket or a database fails, even when
    the code under test caught the error."""
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    with tiers.guard() as attempts:
        yield
    if attempts and request.node.stash.get(_CALL_PASSED, False):
        pytest.fail(f"a unit test must stay pure; it tried: {'; '.join(attempts)}", pytrace=False)


_CALL_PASSED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test itself passed: a unit test that caught the guard's error
    then fails at teardown (one failed pure test counts once)."""
    report = yield
    if call.when == "call":
        item.stash[_CALL_PASSED] = report.passed
    return report


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the user's truenorth settings and git/terraform config out of tests."""
    for key in list(os.environ):
        if key.startswith("TRUENORTH_"):
            monkeypatch.delenv(key, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.test")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.test")


@pytest.fixture(scope="session")
def bwrap() -> None:
    """Fail, never skip, when bubblewrap cannot sandbox here: `make test` installs it
    (scripts/install-system-deps.sh), so a sandbox test that cannot run is a broken setup."""
    from truenorth.engines import sandbox

    support = sandbox.probe()
    if not support.works:
        pytest.fail(
            f"bubblewrap does not work here ({support.reason}); `make test` installs it "
            "(scripts/install-system-deps.sh test)",
            pytrace=False,
        )
