"""Everything truenorth writes under the data dir is private: 0600 files, 0700 folders.

Real processes with the umask a login shell gives (022): ``truenorth apply`` twice (so
Terraform writes its state backup), then files left readable by an older version, then a
``truenorth serve`` that plans and applies; the data dir is walked while the controller
still runs, so SQLite's ``-wal`` and ``-shm`` files are there to be checked.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server.processes import BOOT, ServerProcess
from tests.support.gitrepos import GitRepo
from tests.support.layouts import state_dir

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("terraform-cli")]

TOKEN = "tn-file-modes-admin-token-0123456789"
SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
    auto_apply: true
"""
NETWORK_TF = """\
resource "terraform_data" "vpc" {{
  input = {{ generation = "{generation}" }}
}}
"""


def tf(generation: int) -> dict[str, str]:
    return {"stacks/network/main.tf": NETWORK_TF.format(generation=generation)}


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
    env["TRUENORTH_TOKEN"] = TOKEN
    return env


def truenorth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BOOT, *args],
        capture_output=True,
        text=True,
        env=environment(),
        timeout=300,
        check=False,
        umask=0o022,
    )


def readable_by_others(root: Path) -> list[str]:
    """Every file or folder under ``root`` (``root`` too) that group or others may use."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue  # a link's own mode is always 0777; what it points to is checked itself
        if mode & 0o077:
            found.append(f"{stat.filemode(mode)} {path.relative_to(root.parent)}")
    return found


def test_the_data_dir_is_private_after_cli_applies_and_a_controller_run(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("network", {"truenorth.yaml": SPEC, **tf(1)})
    data = tmp_path / "data"
    for generation in (1, 2):
        if generation > 1:
            repo.commit(f"generation {generation}", tf(generation))
        applied = truenorth("apply", repo.url, "--yes", "--data-dir", str(data))
        assert applied.returncode == 0, applied.stdout + applied.stderr
    state = state_dir(data, repo.url, "network")
    backup = state / "terraform.tfstate.backup"
    assert backup.is_file()  # Terraform writes it 0644 by itself
    assert readable_by_others(data) == []

    # An older truenorth left these readable: the next run makes them private again.
    for path in (data / "truenorth.db", state / "terraform.tfstate", backup):
        path.chmod(0o644)

    head = repo.commit("generation 3", tf(3))
    server = ServerProcess(
        ["--repo", repo.url, "--listen", "127.0.0.1:0", "--poll-interval", "1h", "--data-dir", str(data)],
        env=environment(),
        log=tmp_path / "server.log",
    )
    previous = os.umask(0o022)  # the server inherits it
    try:
        server.start()
    finally:
        os.umask(previous)
    try:
        server.wait_synced("network", head, token=TOKEN, deadline=120)
        present = {path.name for path in data.iterdir()}
        assert {
            "truenorth.db",
            "truenorth.db-wal",
            "truenorth.db-shm",
            "controller.lock",
            "instance-id",
        } <= present
        assert any((data / "runs").iterdir())
        assert readable_by_others(data) == []
    finally:
        server.terminate()
