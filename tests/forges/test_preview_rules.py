"""The pure rules of merge-request previews: which stacks, who may, the ``forge`` table, the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truenorth import config
from truenorth.config import forges as forge_config
from truenorth.controller.loop import previewing
from truenorth.core import previews, specs
from truenorth.forges import hooks, protocol

HEAD = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"
SPEC = """\
stacks:
  - {name: network, engine: terraform, path: network}
  - name: hosts
    engine: ansible
    path: hosts
    inventory: inventory.yml
    inputs: {cidr: network.cidr}
  - {name: app, engine: terraform, path: app, depends_on: [hosts]}
  - {name: dns, engine: terraform, path: dns}
"""


def spec(text: str = SPEC) -> specs.RepoSpec:
    return specs.parse_spec(text)


# ---------------------------------------------------------------------- which stacks


def test_a_changed_stack_and_everything_downstream_of_it_are_planned() -> None:
    chosen = previews.select(base=spec(), head=spec(), changed_paths=["network/main.tf"])
    assert chosen.names == ("network", "hosts", "app")
    assert chosen.after == {"hosts": ("network",), "app": ("hosts",)}
    assert dict(chosen.planned)["network"] == ("network changed",)
    assert dict(chosen.planned)["hosts"] == ("downstream of network",)
    assert chosen.skipped == (("dns", previews.UNCHANGED),)


def test_a_leaf_change_plans_only_the_leaf_and_removed_stacks_are_named() -> None:
    head = spec(SPEC.replace("  - {name: dns, engine: terraform, path: dns}\n", ""))
    chosen = previews.select(base=spec(), head=head, changed_paths=["app/x.tf"])
    assert chosen.names == ("app",)
    assert ("dns", "removed from truenorth.yaml (its resources are not destroyed)") in chosen.skipped


def test_no_base_or_unknown_changes_plan_everything() -> None:
    assert previews.select(base=None, head=spec(), changed_paths=[]).names == (
        "network",
        "hosts",
        "app",
        "dns",
    )
    assert len(previews.select(base=spec(), head=spec(), changed_paths=None).names) == 4


# ---------------------------------------------------------------------- who may


def forge(**changes: object) -> config.ForgeConfig:
    settings = protocol.ForgeSettings(
        kind="github", api_url="https://api.github.com", project="org/infra", token="t"
    )
    return config.ForgeConfig(project=settings, **changes)  # type: ignore[arg-type]


def event(
    *, author: str = "ada", fork: bool = False, association: str | None = "CONTRIBUTOR"
) -> hooks.MergeRequestEvent:
    return hooks.MergeRequestEvent(
        forge="github",
        action=hooks.MergeAction.OPENED,
        number=7,
        head_sha=HEAD,
        head_ref="feature",
        base_ref="main",
        base_repo="org/infra",
        head_repo="mallory/infra" if fork else "org/infra",
        author=author,
        author_association=association,
    )


def test_branches_of_the_repository_itself_are_previewed_by_default() -> None:
    assert previewing.refusal(forge(), event()) is None


def test_forks_are_refused_unless_allowed_and_then_only_writers() -> None:
    assert previewing.refusal(forge(), event(fork=True, association="OWNER")) == "it comes from a fork"
    allowed = forge(preview_forks=True)
    assert previewing.refusal(allowed, event(fork=True, association="MEMBER")) is None
    assert "no write access" in (previewing.refusal(allowed, event(fork=True)) or "")


def test_an_allow_list_is_the_only_way_in() -> None:
    listed = forge(preview_authors=("grace",))
    assert "not in this repository's preview_authors" in (previewing.refusal(listed, event()) or "")
    assert previewing.refusal(listed, event(author="grace")) is None
    assert previewing.refusal(listed, event(author="grace", fork=True)) == "it comes from a fork"


def test_who_may_ask_with_a_comment() -> None:
    ask = hooks.PlanCommand(
        forge="github", number=7, base_repo="org/infra", author="grace", author_association="OWNER"
    )
    assert previewing.may_ask(forge(), ask)
    assert not previewing.may_ask(forge(), hooks.PlanCommand("github", 7, "org/infra", "mallory", "NONE"))
    assert not previewing.may_ask(forge(preview_authors=("ada",)), ask)
    # GitLab and Gitea do not say who writes: only the allow-list decides there.
    assert not previewing.may_ask(forge(), hooks.PlanCommand("gitlab", 7, "org/infra", "grace"))


# ---------------------------------------------------------------------- the command


def test_the_plan_command_is_read_from_new_comments_on_merge_requests_only() -> None:
    def github(body: str, *, action: str = "created", pull: bool = True) -> bytes:
        return json.dumps(
            {
                "action": action,
                "issue": {"number": 8, "pull_request": {"url": "x"} if pull else None},
                "comment": {"body": body, "user": {"login": "grace"}, "author_association": "OWNER"},
                "repository": {"full_name": "org/infra"},
            }
        ).encode()

    found = hooks.parse_comment("github", "issue_comment", github("/truenorth plan\nplease"))
    assert found == hooks.PlanCommand("github", 8, "org/infra", "grace", "OWNER")
    assert hooks.parse_comment("github", "issue_comment", github("please /truenorth plan")) is None
    assert hooks.parse_comment("github", "issue_comment", github("/truenorth plan", action="edited")) is None
    assert hooks.parse_comment("github", "issue_comment", github("/truenorth plan", pull=False)) is None
    gitlab = {
        "object_kind": "note",
        "user": {"username": "grace"},
        "project": {"path_with_namespace": "org/infra"},
        "object_attributes": {"noteable_type": "MergeRequest", "note": "/truenorth plan"},
        "merge_request": {"iid": 3},
    }
    assert hooks.parse_comment("gitlab", "Note Hook", json.dumps(gitlab).encode()) == hooks.PlanCommand(
        "gitlab", 3, "org/infra", "grace"
    )
    with pytest.raises(hooks.HookError):
        hooks.parse_comment("github", "issue_comment", b"[1]")


# ---------------------------------------------------------------------- the forge table


def test_the_forge_table_is_parsed_and_its_token_is_a_secret(tmp_path: Path) -> None:
    raw = {
        "repositories": [
            {
                "name": "infra",
                "url": "https://github.com/org/infra.git",
                "forge": {
                    "kind": "github",
                    "project": "org/infra",
                    "token_env": "GH",
                    "preview_authors": ["ada"],
                    "preview_forks": True,
                },
            },
            {"name": "other", "url": "https://example.com/x.git"},
        ]
    }
    found = forge_config.parse(raw, {"GH": "ghp-secret-token"})
    assert set(found) == {"infra"}
    infra = found["infra"]
    assert infra.project.api_url == "https://api.github.com" and infra.project.token == "ghp-secret-token"
    assert infra.preview_authors == ("ada",) and infra.preview_forks and not infra.preview_secrets
    assert "ghp-secret-token" not in repr(infra)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "bitbucket", "project": "o/r", "token_env": "GH"}, "kind: must be one of"),
        ({"kind": "github", "project": "o", "token_env": "GH"}, "expected owner/name"),
        ({"kind": "gitea", "project": "o/r", "token_env": "GH"}, "api_url: required for gitea"),
        ({"kind": "github", "project": "o/r"}, "give token_env or token_file"),
        ({"kind": "github", "project": "o/r", "token": "inline"}, "never inline"),
        ({"kind": "github", "project": "o/r", "token_env": "GH", "preview_forks": "yes"}, "true or false"),
        ({"kind": "github", "project": "o/r", "token_env": "GH", "extra": 1}, "extra"),
    ],
)
def test_a_bad_forge_table_is_a_clear_error(table: dict[str, object], message: str) -> None:
    raw = {"repositories": [{"name": "infra", "url": "https://x/y.git", "forge": table}]}
    with pytest.raises(config.ConfigError, match=message):
        forge_config.parse(raw, {"GH": "token"})
