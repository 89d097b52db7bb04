"""End to end through the CLI: a Git commit becomes applied Terraform stacks.

Real git repositories, the real terraform binary, the real SQLite store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import CANARY, Invoke
from tests.support.gitrepos import GitRepo
from tests.support.layouts import state_dir

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("terraform-cli")]


def scan_for_canary(data_dir: Path) -> list[str]:
    """Every stored file that holds the canary, except the repository's own copies and
    Terraform's own state and saved-plan files."""
    hits = []
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        relative = path.relative_to(data_dir).as_posix()
        if relative.startswith("git/") or "/work/" in relative or "/.terraform" in relative:
            continue  # the repository itself (mirror, snapshots, the engine's working copy)
        if path.name.startswith("terraform.tfstate") or path.suffix == ".tfplan":
            continue  # Terraform's own artifacts (0600)
        if CANARY.encode() in path.read_bytes():
            hits.append(relative)
    return hits


def database_rows(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "truenorth.db") as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master where type='table'")]
        return "\n".join(repr(row) for table in tables for row in db.execute(f"select * from {table}"))


def test_plan_apply_replan_and_no_canary(tf_repo: GitRepo, invoke: Invoke, data_dir: Path) -> None:
    planned = invoke("plan", tf_repo.url)
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    assert "terraform_data.vpc will be created" in planned.stdout
    assert "terraform_data.service will be created" in planned.stdout
    assert "2 stacks, 2 with changes" in planned.stdout

    as_json = invoke("plan", tf_repo.url, "-o", "json")
    assert as_json.exit_code == 2
    document = json.loads(as_json.stdout)
    assert document["revision"] == tf_repo.head()
    network = next(s for s in document["stacks"] if s["name"] == "network")
    actions = {c["address"]: c["action"] for c in network["changes"]}
    assert actions["terraform_data.vpc"] == "create"
    assert actions["terraform_data.secret"] == "create"
    assert network["summary"]["add"] == 2

    applied = invoke("apply", tf_repo.url, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert "network: apply succeeded" in applied.stdout
    assert "app: apply succeeded" in applied.stdout

    again = invoke("plan", tf_repo.url)
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout

    status = invoke("status", "-o", "json")
    stacks = {s["name"]: s for s in json.loads(status.stdout)["stacks"]}
    assert stacks["network"]["applied_revision"] == tf_repo.head()
    assert stacks["app"]["sync_state"] == "synced"

    history = invoke("history", "-o", "json")
    kinds = [(r["stack"], r["kind"], r["status"]) for r in json.loads(history.stdout)["runs"]]
    assert ("network", "apply", "succeeded") in kinds and ("app", "apply", "succeeded") in kinds

    everything = (
        planned.stdout + as_json.stdout + applied.stdout + again.stdout + status.stdout + history.stdout
    )
    assert CANARY not in everything
    assert "(sensitive value)" in as_json.stdout
    assert CANARY not in database_rows(data_dir)
    assert scan_for_canary(data_dir) == []


def test_new_commit_is_planned_as_an_update(tf_repo: GitRepo, invoke: Invoke) -> None:
    assert invoke("apply", tf_repo.url, "--yes").exit_code == 0
    tf_repo.commit(
        "new cidr",
        {
            "stacks/network/main.tf": (tf_repo.path / "stacks/network/main.tf")
            .read_text()
            .replace("10.0.0.0/16", "10.1.0.0/16")
        },
    )
    planned = invoke("plan", tf_repo.url, "--stack", "network", "-o", "json")
    assert planned.exit_code == 2
    changes = {c["address"]: c["action"] for c in json.loads(planned.stdout)["stacks"][0]["changes"]}
    assert changes["terraform_data.vpc"] == "update"
    applied = invoke("apply", tf_repo.url, "--yes")
    assert applied.exit_code == 0, applied.stdout
    # app read network's new cidr output: it was planned again and applied.
    assert "planned again" in applied.stdout
    assert invoke("plan", tf_repo.url).exit_code == 0


def test_failed_stack_skips_its_dependents(tf_repo: GitRepo, invoke: Invoke) -> None:
    failing = (tf_repo.path / "stacks/network/main.tf").read_text() + (
        '\nresource "terraform_data" "boom" {\n  provisioner "local-exec" {\n    command = "exit 3"\n  }\n}\n'
    )
    tf_repo.commit("a failing provisioner", {"stacks/network/main.tf": failing})
    applied = invoke("apply", tf_repo.url, "--yes", "-o", "json")
    assert applied.exit_code == 1
    results = {a["stack"]: a for a in json.loads(applied.stdout)["applies"]}
    assert results["network"]["status"] == "failed"
    assert results["app"]["status"] == "skipped"
    assert "network" in results["app"]["error"]


def test_invalid_revision_applies_nothing_and_is_recorded(
    tf_repo: GitRepo, invoke: Invoke, data_dir: Path
) -> None:
    tf_repo.commit(
        "cycle",
        {
            "truenorth.yaml": "stacks:\n  - {name: a, engine: terraform, path: stacks/app, depends_on: [b]}\n  - {name: b, engine: terraform, path: stacks/network, depends_on: [a]}\n"
        },
    )
    result = invoke("apply", tf_repo.url, "--yes")
    assert result.exit_code == 1
    assert "cycle" in result.stderr and "a -> b -> a" in result.stderr
    history = json.loads(invoke("history", "-o", "json").stdout)["runs"]
    assert [(r["stack"], r["status"]) for r in history] == [("*", "failed")]
    assert "cycle" in history[0]["error"]
    assert not state_dir(data_dir, tf_repo.url, "a").exists()


def test_unknown_stack_and_bad_refs(tf_repo: GitRepo, invoke: Invoke, tmp_path: Path) -> None:
    assert "no such stack: nope" in invoke("plan", tf_repo.url, "--stack", "nope").stderr
    marker = tmp_path / "pwned"
    for ref in ("-rf", f"$(touch {marker})", "main;touch x", "no-such-branch"):
        result = invoke("plan", tf_repo.url, "--ref", ref)
        assert result.exit_code == 1, ref
        assert "Error" in result.stderr
    assert not marker.exists()


def test_credentials_in_url_never_shown(invoke: Invoke, data_dir: Path) -> None:
    result = invoke("plan", f"http://deploy:{CANARY}@127.0.0.1:9/nothing.git")
    assert result.exit_code == 1
    assert CANARY not in result.stdout + result.stderr
    assert "127.0.0.1" in result.stderr and "deploy:" not in result.stderr
    assert CANARY not in database_rows(data_dir)


def test_missing_terraform_binary_fails_that_stack_clearly(
    tf_repo: GitRepo, data_dir: Path, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("git") or "/usr/bin/git", bin_dir / "git")
    env = {**os.environ, "PATH": str(bin_dir)}
    exe = Path(sys.executable).parent / "truenorth"
    done = subprocess.run(
        [str(exe), "plan", tf_repo.url, "--data-dir", str(data_dir), "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    stacks = json.loads(done.stdout)["stacks"]
    assert all(s["status"] == "failed" for s in stacks)
    assert "terraform" in stacks[0]["error"] and (
        "not installed" in stacks[0]["error"] or "not found" in stacks[0]["error"]
    )


def test_drift_through_remote_state_is_reported(tf_repo: GitRepo, invoke: Invoke, data_dir: Path) -> None:
    assert (
        json.loads(invoke("drift", tf_repo.url, "-o", "json").stdout)["stacks"][0]["status"] == "not-applied"
    )
    assert invoke("apply", tf_repo.url, "--yes").exit_code == 0
    clean = invoke("drift", tf_repo.url)
    assert clean.exit_code == 0, clean.stdout + clean.stderr
    assert "No drift" in clean.stdout

    # Outside truenorth: the network's state (read by app through terraform_remote_state) changes.
    state_file = state_dir(data_dir, tf_repo.url, "network") / "terraform.tfstate"
    state = json.loads(state_file.read_text())
    state["outputs"]["cidr"]["value"] = "172.16.0.0/12"
    state["serial"] += 1
    state_file.write_text(json.dumps(state))

    drifted = invoke("drift", tf_repo.url, "--stack", "app", "-o", "json")
    assert drifted.exit_code == 2, drifted.stdout + drifted.stderr
    (report,) = json.loads(drifted.stdout)["stacks"]
    assert report["drift"] is True and report["revision"] == tf_repo.head()
    assert {c["address"]: c["action"] for c in report["changes"]}["terraform_data.service"] == "update"
    history = json.loads(invoke("history", "--stack", "app", "-o", "json").stdout)["runs"]
    assert history[0]["kind"] == "drift"


def test_local_sync_approve_and_rollback(tf_repo: GitRepo, invoke: Invoke, data_dir: Path) -> None:
    missing = invoke("sync", "network", "--repo", tf_repo.url)
    assert missing.exit_code == 1 and "no stored plan" in missing.stderr
    first = tf_repo.head()
    assert invoke("plan", tf_repo.url).exit_code == 2
    synced = invoke("sync", "network", "--repo", tf_repo.url)
    assert synced.exit_code == 0, synced.stdout + synced.stderr
    approved = invoke("approve", "app", "--repo", tf_repo.url)
    assert approved.exit_code == 0, approved.stdout + approved.stderr
    stacks = {s["name"]: s for s in json.loads(invoke("status", "-o", "json").stdout)["stacks"]}
    assert stacks["network"]["applied_revision"] == first and stacks["app"]["applied_revision"] == first
    again = invoke("sync", "network", "--repo", tf_repo.url)
    assert again.exit_code == 1 and "no stored plan" in again.stderr

    network_tf = tf_repo.path / "stacks/network/main.tf"
    second = tf_repo.commit(
        "wider", {"stacks/network/main.tf": network_tf.read_text().replace("10.0.0.0/16", "10.9.0.0/16")}
    )
    assert invoke("apply", tf_repo.url, "--yes").exit_code == 0
    unknown = tf_repo.commit("never applied", {"notes.txt": "x"})
    refused = invoke("rollback", "network", "--revision", unknown, "--reason", "try", "--repo", tf_repo.url)
    assert refused.exit_code == 1 and "never applied" in refused.stderr
    rolled = invoke("rollback", "network", "--revision", first, "--reason", "bad cidr", "--repo", tf_repo.url)
    assert rolled.exit_code == 0, rolled.stdout + rolled.stderr
    state = json.loads((state_dir(data_dir, tf_repo.url, "network") / "terraform.tfstate").read_text())
    assert state["outputs"]["cidr"]["value"] == "10.0.0.0/16"
    latest = json.loads(invoke("history", "--stack", "network", "-o", "json").stdout)["runs"][0]
    assert (latest["kind"], latest["status"], latest["revision"]) == ("apply", "succeeded", first)
    assert latest["reason"] == "rollback: bad cidr" and latest["actor"].startswith("local:")
    assert second != first


def _run_in_terminal(argv: list[str], answer: str) -> tuple[int, str]:
    """Run ``argv`` on a real pseudo-terminal, type ``answer`` at the prompt, return (code, screen)."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: become the CLI
        os.execv(argv[0], argv)
    screen = b""
    answered = False
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            os.kill(pid, 9)
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
        if not answered and b"Enter a value" in screen:
            os.write(fd, answer.encode() + b"\r")
            answered = True
    _, status = os.waitpid(pid, 0)
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", screen.decode(errors="replace"))  # colours off
    return os.waitstatus_to_exitcode(status), text.replace("\r\n", "\n")


@pytest.mark.parametrize(("answer", "applied"), [("no", False), ("yes", True)])
def test_apply_asks_on_a_terminal(tf_repo: GitRepo, data_dir: Path, answer: str, applied: bool) -> None:
    exe = str(Path(sys.executable).parent / "truenorth")
    code, screen = _run_in_terminal([exe, "apply", tf_repo.url, "--data-dir", str(data_dir)], answer)
    assert "Do you want to apply these changes?" in screen
    assert "terraform_data.vpc will be created" in screen
    state = state_dir(data_dir, tf_repo.url, "network") / "terraform.tfstate"
    resources = json.loads(state.read_text())["resources"] if state.exists() else []
    if applied:
        assert code == 0, screen
        assert "Apply complete" in screen and resources
    else:
        assert code == 1, screen
        assert "Apply cancelled" in screen and not resources


def test_apply_without_a_terminal_and_without_yes_applies_nothing(
    tf_repo: GitRepo, invoke: Invoke, data_dir: Path
) -> None:
    result = invoke("apply", tf_repo.url)
    assert result.exit_code == 1
    assert "Pass --yes" in result.stderr
    assert not json.loads((state_dir(data_dir, tf_repo.url, "network") / "terraform.tfstate").read_text())[
        "resources"
    ]


def test_secret_env_passes_a_referenced_secret_to_terraform(
    tmp_path: Path, invoke: Invoke, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tn-secret-env-canary-55e1"
    repo = GitRepo(tmp_path / "secret-repo")
    repo.commit(
        "a stack fed by a secret reference",
        {
            "truenorth.yaml": "stacks:\n  - name: db\n    engine: terraform\n    path: db\n"
            "    secret_env: {TF_VAR_password: db-password}\n",
            "db/main.tf": 'variable "password" {\n  type      = string\n  sensitive = true\n}\n'
            'resource "terraform_data" "user" {\n  input = { password = var.password }\n}\n',
        },
    )
    unresolved = invoke("plan", repo.url, "-o", "json")
    assert unresolved.exit_code == 1
    assert (
        "'db-password' (for TF_VAR_password) is not provided"
        in json.loads(unresolved.stdout)["stacks"][0]["error"]
    )

    monkeypatch.setenv("TRUENORTH_SECRET_DB_PASSWORD", secret)
    planned = invoke("plan", repo.url, "-o", "json")
    assert planned.exit_code == 2, planned.stdout
    applied = invoke("apply", repo.url, "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    # Terraform received it: its own state (the one place it rests in clear) holds it.
    assert secret in (state_dir(data_dir, repo.url, "db") / "terraform.tfstate").read_text()
    assert secret not in planned.stdout + applied.stdout + applied.stderr
    assert secret not in database_rows(data_dir)
    assert all(secret.encode() not in p.read_bytes() for p in (data_dir / "runs").rglob("*") if p.is_file())
