"""Case 16 at the front door: a hostile ``truenorth serve --branch`` is refused or harmless.

The branch reaches ``git ls-remote`` and ``git fetch``; an option lookalike
(``--upload-pack=...``) or a shell construct must never run anything. Each value starts
a real server on a ``file://`` repository: either it refuses to start with a clear error,
or it serves and shows the repository's source error, and in both cases no ``PWNED``
file appears and nothing is deployed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.security.canaries import CANARIES
from tests.security.recording import Exchange, RecordingServer
from tests.server.processes import wait_for
from tests.support.gitrepos import GitRepo

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("security")]

D = CANARIES["D"].value
SPEC = "stacks:\n  - {name: net, engine: terraform, path: net, auto_apply: true}\n"

#: name -> (branch, what the repository's source error says)
BRANCHES = {
    "upload-pack option": ("--upload-pack=touch {marks}/PWNED_upload", "starts with '-'"),
    "config option": ("-c core.sshCommand=touch {marks}/PWNED_config", "starts with '-'"),
    "command substitution": ("$(touch {marks}/PWNED_dollar)", "whitespace or control characters"),
    "newline": ("main\ntouch {marks}/PWNED_newline", "whitespace or control characters"),
    "semicolon": ("main;touch${{IFS}}{marks}/PWNED_semi", "no branch"),
    "backticks": ("`touch${{IFS}}{marks}/PWNED_tick`", "no branch"),
}


@pytest.mark.parametrize("name", list(BRANCHES))
def test_a_hostile_branch_is_refused_or_harmless(tmp_path: Path, name: str) -> None:
    marks = tmp_path / "marks"
    workdir = tmp_path / "cwd"
    for folder in (marks, workdir):
        folder.mkdir()
    template, reason = BRANCHES[name]
    branch = template.format(marks=marks)
    repo = GitRepo(tmp_path / "repo")
    repo.commit("one stack", {"truenorth.yaml": SPEC, "net/main.tf": 'resource "terraform_data" "x" {}\n'})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUENORTH_")}
    env["TRUENORTH_TOKEN"] = D
    book: list[Exchange] = []
    args = ["--repo", repo.url, "--listen", "127.0.0.1:0", "--poll-interval", "1h"]
    args += [f"--branch={branch}", "--data-dir", str(tmp_path / "data")]
    server = RecordingServer(
        args,
        env=env,
        log=tmp_path / "server.log",
        book=book,
    )
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        try:
            server.start()
        except AssertionError:
            refused = True
        else:
            refused = False
    finally:
        os.chdir(previous)
    try:
        if refused:
            assert server.process is not None and server.process.wait(timeout=30) != 0
            assert "branch" in server.logs().lower() or "ref" in server.logs().lower(), server.logs()
        else:
            wait_for(lambda: server.request("GET", "/readyz").status_code == 200, what="/readyz", deadline=60)
            (repository,) = server.get_json("/api/v1/repositories", token=D)["items"]
            assert repository["branch"] == branch
            assert reason in str(repository["source_error"]), repository
            assert repository["revision"] is None
            assert server.get_json("/api/v1/stacks", token=D)["items"] == []
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()
    assert list(marks.iterdir()) == []
    assert list(workdir.iterdir()) == []
    assert not list((tmp_path / "data" / "state").glob("*/net/terraform.tfstate"))
