"""The CLI keeps records per (repository, branch): ``--ref BRANCH`` names its own.

``plan``/``apply REPO --ref REF`` key runs, stack states and engine state by the branch
REF names; a tag or a commit is kept with the default branch. ``sync``/``approve``/
``rollback --repo REPO --branch BRANCH`` and ``drift --ref BRANCH`` read that branch's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Invoke
from tests.support.gitrepos import GitRepo
from tests.support.layouts import state_dir

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("terraform-cli")]


def cidr(data_dir: Path, repo: GitRepo, branch: str) -> str:
    path = state_dir(data_dir, repo.url, "network", branch=branch) / "terraform.tfstate"
    return str(json.loads(path.read_text())["outputs"]["cidr"]["value"])


def test_each_branch_has_its_own_records_and_terraform_state(
    tf_repo: GitRepo, invoke: Invoke, data_dir: Path
) -> None:
    main = tf_repo.head()
    network_tf = tf_repo.path / "stacks/network/main.tf"
    tf_repo.git("checkout", "-q", "-b", "staging")
    staging = tf_repo.commit(
        "staging cidr",
        {"stacks/network/main.tf": network_tf.read_text().replace("10.0.0.0/16", "10.7.0.0/16")},
    )
    tf_repo.git("tag", "staging-1")
    tf_repo.git("checkout", "-q", "main")

    assert invoke("apply", tf_repo.url, "--yes").exit_code == 0
    applied = invoke("apply", tf_repo.url, "--ref", "staging", "--yes", "-o", "json")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    document = json.loads(applied.stdout)
    assert (document["branch"], document["ref"], document["revision"]) == ("staging", "staging", staging)
    # Staging's stacks were created in their own state, not changed over main's.
    assert document["summary"]["add"] == 3 and document["summary"]["change"] == 0
    assert (cidr(data_dir, tf_repo, "main"), cidr(data_dir, tf_repo, "staging")) == (
        "10.0.0.0/16",
        "10.7.0.0/16",
    )

    stacks = json.loads(invoke("status", "-o", "json").stdout)["stacks"]
    assert {(s["branch"], s["name"], s["applied_revision"]) for s in stacks} == {
        ("main", "network", main),
        ("main", "app", main),
        ("staging", "network", staging),
        ("staging", "app", staging),
    }
    assert {s["repository"] for s in stacks} == {str(tf_repo.path.resolve())}

    # A tag is kept with the default branch: against main's state, staging's cidr is a change.
    tagged = invoke("plan", tf_repo.url, "--ref", "staging-1", "--stack", "network", "-o", "json")
    assert tagged.exit_code == 2, tagged.stdout + tagged.stderr
    assert json.loads(tagged.stdout)["branch"] == "main"
    # The branch itself is up to date in its own state.
    assert invoke("plan", tf_repo.url, "--ref", "staging", "--stack", "network").exit_code == 0

    drifted = json.loads(invoke("drift", tf_repo.url, "--ref", "staging", "-o", "json").stdout)
    assert drifted["branch"] == "staging"
    assert {s["name"]: (s["status"], s["revision"]) for s in drifted["stacks"]}["network"] == (
        "checked",
        staging,
    )


def test_local_sync_uses_the_plan_stored_for_the_branch(
    tf_repo: GitRepo, invoke: Invoke, data_dir: Path
) -> None:
    tf_repo.git("checkout", "-q", "-b", "staging")
    staging = tf_repo.commit("staging", {"notes.txt": "staging\n"})
    tf_repo.git("checkout", "-q", "main")
    assert invoke("plan", tf_repo.url, "--ref", "staging", "--stack", "network").exit_code == 2
    # The default branch has no stored plan: the staging one is not main's to apply.
    missing = invoke("sync", "network", "--repo", tf_repo.url)
    assert missing.exit_code == 1 and "no stored plan" in missing.stderr
    synced = invoke("sync", "network", "--repo", tf_repo.url, "--branch", "staging")
    assert synced.exit_code == 0, synced.stdout + synced.stderr
    runs = json.loads(invoke("history", "--stack", "network", "-o", "json").stdout)["runs"]
    assert (runs[0]["kind"], runs[0]["status"], runs[0]["branch"], runs[0]["revision"]) == (
        "apply",
        "succeeded",
        "staging",
        staging,
    )
    assert not (state_dir(data_dir, tf_repo.url, "network") / "terraform.tfstate").exists()
