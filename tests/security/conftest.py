"""The security scenario, run once per test session however the tests are distributed.

:func:`run_scenario` builds the hostile repository (:mod:`tests.security.hostile`),
serves it over HTTP behind ``TRUENORTH_GIT_TOKEN`` (:mod:`tests.security.gitserver`), and
runs ``truenorth serve`` twice on one data dir: with text logs, then with JSON logs
(:mod:`tests.security.driving`). Every process has ended when it returns; the tests only
judge what it recorded: every HTTP exchange, both log streams, the CLI's output, the
database and the data dir.

The tests share one ``xdist_group``, but pytest 9.2 with pytest-xdist 3.8 ignores groups
(pytest-xdist#1386), so the package fixture also guards the run with a file lock in the
session's shared temp dir: the first worker runs the scenario and pickles what it
recorded, any other worker waits and loads it. The run happens once either way.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from pathlib import Path

import pytest

from tests.security import driving, hostile
from tests.security.canaries import CANARIES
from tests.security.gitserver import TokenGitServer
from tests.security.recording import RecordingServer
from tests.support.gitrepos import GitRepo


def run_scenario(root: Path) -> driving.Scenario:
    """Both phases against one data dir under ``root``; every process stopped on return."""
    root.mkdir(parents=True)
    patch = pytest.MonkeyPatch()
    for key in list(os.environ):
        if key.startswith("TRUENORTH_"):
            patch.delenv(key)
    patch.setenv("GIT_CONFIG_GLOBAL", str(root / "gitconfig"))
    patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for kind in ("AUTHOR", "COMMITTER"):
        patch.setenv(f"GIT_{kind}_NAME", hostile.AUTHOR)
        patch.setenv(f"GIT_{kind}_EMAIL", "mallory@example.test")
    marks = root / "marks"
    sc = driving.Scenario(
        root=root,
        data_dir=root / "data",
        marks=marks,
        workdir=root / "cwd",
        base_dir=root / "hosts",
        branch=hostile.branch_name(marks),
    )
    for folder in (sc.marks, sc.workdir):
        folder.mkdir()
    servers: list[RecordingServer] = []
    git: TokenGitServer | None = None
    try:
        repo = GitRepo(root / "work", branch=sc.branch)
        sc.shas["first"] = repo.commit(hostile.FIRST_SUBJECT, hostile.first_files(base_dir=sc.base_dir))
        git = TokenGitServer(repo, root / "served", token=CANARIES["G"].value, branch=sc.branch)
        sc.git_url = git.url
        for log_format, phase in (("text", driving.first_phase), ("json", driving.second_phase)):
            server = driving.start(sc, log_format=log_format)
            servers.append(server)
            try:
                phase(driving.Driver(server, sc, repo), git)
            finally:
                driving.stop(server, sc, log_format=log_format)
        return sc
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                server.kill()
        if git is not None:
            git.close()
        patch.undo()


@pytest.fixture(scope="package")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> driving.Scenario:
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    recorded = shared / "security-scenario.pickle"
    with (shared / "security-scenario.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if recorded.exists():
            found: driving.Scenario = pickle.loads(recorded.read_bytes())
            return found
        sc = run_scenario(shared / "security-scenario")
        recorded.write_bytes(pickle.dumps(sc))
        return sc
