"""One controller per data dir (and per PostgreSQL database); local commands refuse beside it.

The lock itself is checked in-process first (its messages, its release); then with real
``truenorth serve`` and ``truenorth`` processes, as an operator would meet it.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.processes import BOOT, ServerProcess
from tests.support.gitrepos import GitRepo
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.controller.runs import ownership

TOKEN = "tn-ownership-admin-token-0123456789"


# ----------------------------------------------------------------------------- the lock


def test_a_second_controller_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ownership.claim(data, command="truenorth serve") as first:
        first.describe(url="http://127.0.0.1:8080")
        with pytest.raises(ownership.DataDirBusy) as refused:
            ownership.claim(data, command="truenorth serve")
        message = str(refused.value)
        assert f"data dir {data} is in use by another controller" in message
        assert f"pid {os.getpid()}" in message and f"on host {socket.gethostname()}" in message
        assert "serving http://127.0.0.1:8080" in message
        assert stat.S_IMODE((data / ownership.LOCK_FILE).stat().st_mode) == 0o600
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
    # Released: the next controller gets it.
    ownership.claim(data, command="truenorth serve").release()


def test_local_commands_share_the_data_dir_but_never_with_a_controller(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with (
        ownership.share(data, command="truenorth apply"),
        ownership.share(data, command="truenorth plan"),
        pytest.raises(ownership.DataDirBusy, match="in use by a local truenorth command"),
    ):
        ownership.claim(data, command="truenorth serve")
    with ownership.claim(data, command="truenorth serve") as held:
        held.describe(url="http://127.0.0.1:9999")
        with (
            pytest.raises(ownership.DataDirBusy) as refused,
            ownership.share(data, command="truenorth apply"),
        ):
            pass
    message = str(refused.value)
    assert "in use by a running controller" in message and "`truenorth apply`" in message
    assert "--server http://127.0.0.1:9999" in message


def test_the_instance_id_is_made_once_and_names_the_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first = ownership.instance_id(data)
    assert ownership.instance_id(data) == first and len(first) == 32
    assert stat.S_IMODE((data / ownership.INSTANCE_FILE).stat().st_mode) == 0o600
    holder = ownership.holder(data)
    assert holder == f"{first}/{socket.gethostname()}:{os.getpid()}"
    assert ownership.instance_of(holder) == first
    assert ownership.instance_of("host-1:42:abcd") is None  # recorded before holders named a data dir
    assert ownership.instance_of(None) is None
    other = tmp_path / "other"
    other.mkdir()
    assert ownership.instance_id(other) != first

    (data / ownership.INSTANCE_FILE).write_text("not an id\n")
    with pytest.raises(OSError, match=r"instance id .* is damaged"):
        ownership.instance_id(data)


# ----------------------------------------------------------------------------- real processes


def empty_repo(path: Path) -> GitRepo:
    repo = GitRepo(path)
    repo.commit("nothing yet", {"truenorth.yaml": "stacks: []\n"})
    return repo


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
    env.update(TRUENORTH_TOKEN=TOKEN, **extra)
    return env


def serve_args(repo: GitRepo, data: Path, *extra: str) -> list[str]:
    return [
        "--repo",
        repo.url,
        "--listen",
        "127.0.0.1:0",
        "--poll-interval",
        "1h",
        "--data-dir",
        str(data),
        *extra,
    ]


def truenorth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOOT, *args],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=120,
        check=False,
    )


@pytest.fixture
def started() -> Iterator[list[ServerProcess]]:
    servers: list[ServerProcess] = []
    yield servers
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.mark.slow
@pytest.mark.xdist_group("server")
def test_two_controllers_on_one_data_dir_the_second_exits_naming_the_first(
    tmp_path: Path, started: list[ServerProcess]
) -> None:
    repo = empty_repo(tmp_path / "repo")
    data = tmp_path / "data"
    first = ServerProcess(serve_args(repo, data), env=environment(), log=tmp_path / "first.log")
    started.append(first)
    first.start()
    assert first.process is not None

    second = truenorth("serve", *serve_args(repo, data))
    assert second.returncode == 1
    assert f"data dir {data} is in use by another controller" in second.stderr
    assert f"pid {first.process.pid}" in second.stderr
    assert f"on host {socket.gethostname()}" in second.stderr and f"serving {first.url}" in second.stderr
    assert "truenorth serving" not in second.stdout  # it never started

    # Local commands that would run engines in the data dir refuse and point at the controller.
    for args in (
        ["apply", str(repo.path), "--yes"],
        ["plan", str(repo.path)],
        ["drift", str(repo.path)],
        ["sync", "network", "--repo", str(repo.path)],
        ["approve", "network", "--repo", str(repo.path)],
        ["rollback", "network", "--repo", str(repo.path), "--revision", "a" * 40, "--reason", "test"],
    ):
        refused = truenorth(*args, "--data-dir", str(data))
        assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
        assert "in use by a running controller" in refused.stderr, (args, refused.stderr)
        assert f"--server {first.url}" in refused.stderr and f"pid {first.process.pid}" in refused.stderr
    # Reading the record is fine.
    assert truenorth("history", "--data-dir", str(data)).returncode == 0

    # Once the first is gone (even killed), a controller starts on the data dir again.
    first.kill()
    again = ServerProcess(serve_args(repo, data), env=environment(), log=tmp_path / "again.log")
    started.append(again)
    again.start()
    assert again.terminate() in (0, -signal.SIGTERM)
    assert truenorth("plan", str(repo.path), "--data-dir", str(data)).returncode == 0


@pytest.mark.slow
@pytest.mark.xdist_group("server")
def test_a_controller_does_not_start_under_a_local_apply(tmp_path: Path) -> None:
    repo = empty_repo(tmp_path / "repo")
    data = tmp_path / "data"
    with ownership.share(data, command="truenorth apply"):  # this test process stands for the CLI
        refused = truenorth("serve", *serve_args(repo, data))
    assert refused.returncode == 1
    assert "in use by a local truenorth command" in refused.stderr
    assert f"pid {os.getpid()}" in refused.stderr


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.xdist_group("server")
def test_replicas_share_one_postgresql_database_but_a_copied_data_dir_is_refused(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    started: list[ServerProcess],
) -> None:
    repo = empty_repo(tmp_path / "repo")
    first = ServerProcess(
        serve_args(repo, tmp_path / "data-a", "--store", postgres_url),
        env=environment(),
        log=tmp_path / "first.log",
    )
    started.append(first)
    first.start()
    assert first.process is not None

    # Another data dir: a replica, it starts beside the first.
    second = ServerProcess(
        serve_args(repo, tmp_path / "data-b", "--store", postgres_url),
        env=environment(),
        log=tmp_path / "second.log",
    )
    started.append(second)
    second.start()

    # A copy of the first's data dir (its instance id) would end the first's runs: refused.
    copy = tmp_path / "data-copy"
    copy.mkdir(mode=0o700)
    (copy / ownership.INSTANCE_FILE).write_text((tmp_path / "data-a" / ownership.INSTANCE_FILE).read_text())
    refused = truenorth("serve", *serve_args(repo, copy, "--store", postgres_url))
    assert refused.returncode == 1
    assert "is in use by another controller with this data dir's instance id" in refused.stderr
    assert f"truenorth serve {socket.gethostname()}:{first.process.pid}"[:63] in refused.stderr
    assert "truenorth serving" not in refused.stdout

    first.kill()  # PostgreSQL ends the killed controller's session, and its lock with it
    again = ServerProcess(
        serve_args(repo, copy, "--store", postgres_url), env=environment(), log=tmp_path / "again.log"
    )
    started.append(again)
    again.start()
    assert again.terminate() in (0, -signal.SIGTERM)
    assert second.terminate() in (0, -signal.SIGTERM)
