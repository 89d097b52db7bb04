"""Merge-request webhooks of the three forges: verified by the server's check, read into one event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from truenorth.forges import hooks
from truenorth.server import rejections, signatures

SECRET = "hook-secret-1f2e3d"
HEAD = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"
MERGE = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"


def github(action: str = "opened", *, head_repo: str = "org/infra", merged: bool = False) -> dict[str, Any]:
    return {
        "action": action,
        "number": 7,
        "pull_request": {
            "number": 7,
            "title": "Add a subnet",
            "html_url": "https://github.com/org/infra/pull/7",
            "user": {"login": "ada"},
            "author_association": "CONTRIBUTOR",
            "merged": merged,
            "merge_commit_sha": MERGE,
            "head": {"sha": HEAD, "ref": "feature", "repo": {"full_name": head_repo}},
            "base": {"sha": MERGE, "ref": "main", "repo": {"full_name": "org/infra"}},
        },
        "repository": {"full_name": "org/infra"},
    }


def gitea(action: str = "opened", *, merged: bool = False) -> dict[str, Any]:
    payload = github(action, merged=merged)
    payload["pull_request"].pop("author_association")
    return payload


def gitlab(action: str = "open", **extra: Any) -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "event_type": "merge_request",
        "user": {"username": "ada"},
        "project": {"path_with_namespace": "org/infra"},
        "object_attributes": {
            "iid": 7,
            "action": action,
            "title": "Add a subnet",
            "url": "https://gitlab.example.com/org/infra/-/merge_requests/7",
            "source_branch": "feature",
            "target_branch": "main",
            "source": {"path_with_namespace": "ada/infra"},
            "target": {"path_with_namespace": "org/infra"},
            "last_commit": {"id": HEAD},
            "merge_commit_sha": MERGE,
            **extra,
        },
    }


def deliver(
    forge: str, payload: Any, *, headers: dict[str, str] | None = None
) -> hooks.MergeRequestEvent | None:
    """What the server does: verify over the raw bytes, then read."""
    body = json.dumps(payload).encode()
    if headers is None:
        digest = signatures.sign(SECRET, body)
        headers = {
            "github": {"x-hub-signature-256": f"sha256={digest}", "x-github-event": "pull_request"},
            "gitlab": {"x-gitlab-token": SECRET, "x-gitlab-event": "Merge Request Hook"},
            "gitea": {"x-gitea-signature": digest, "x-gitea-event": "pull_request"},
        }[forge]
    signatures.verify(forge, headers, body, secret=SECRET)
    event = (
        headers.get("x-github-event") or headers.get("x-gitlab-event") or headers.get("x-gitea-event") or ""
    )
    return hooks.parse(forge, event, body)


def test_github_pull_request_opened_from_the_repository() -> None:
    event = deliver("github", github())
    assert event == hooks.MergeRequestEvent(
        forge="github",
        action=hooks.MergeAction.OPENED,
        number=7,
        head_sha=HEAD,
        head_ref="feature",
        base_ref="main",
        base_repo="org/infra",
        head_repo="org/infra",
        author="ada",
        title="Add a subnet",
        url="https://github.com/org/infra/pull/7",
        author_association="CONTRIBUTOR",
    )
    assert not event.from_fork


@pytest.mark.parametrize(
    ("forge", "payload", "action"),
    [
        ("github", github("synchronize"), hooks.MergeAction.UPDATED),
        ("github", github("reopened"), hooks.MergeAction.REOPENED),
        ("github", github("closed"), hooks.MergeAction.CLOSED),
        ("github", github("closed", merged=True), hooks.MergeAction.MERGED),
        ("gitea", gitea("synchronized"), hooks.MergeAction.UPDATED),
        ("gitea", gitea("closed", merged=True), hooks.MergeAction.MERGED),
        ("gitlab", gitlab("open"), hooks.MergeAction.OPENED),
        ("gitlab", gitlab("update", oldrev=MERGE), hooks.MergeAction.UPDATED),
        ("gitlab", gitlab("reopen"), hooks.MergeAction.REOPENED),
        ("gitlab", gitlab("close"), hooks.MergeAction.CLOSED),
        ("gitlab", gitlab("merge"), hooks.MergeAction.MERGED),
    ],
)
def test_every_forges_actions_read_the_same(forge: str, payload: Any, action: hooks.MergeAction) -> None:
    event = deliver(forge, payload)
    assert event is not None and event.action is action and event.forge == forge
    assert (event.number, event.head_sha, event.head_ref, event.base_ref) == (7, HEAD, "feature", "main")
    assert event.merge_sha == (MERGE if action is hooks.MergeAction.MERGED else None)


def test_forks_are_told_apart_on_every_forge() -> None:
    assert deliver("github", github(head_repo="mallory/infra")).from_fork  # type: ignore[union-attr]
    assert deliver("gitlab", gitlab()).from_fork  # type: ignore[union-attr]
    deleted = github()
    deleted["pull_request"]["head"]["repo"] = None
    assert deliver("github", deleted).from_fork, "a deleted fork is a fork"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("forge", "payload"),
    [
        ("github", github("labeled")),
        ("gitea", gitea("label_updated")),
        ("gitlab", gitlab("update")),
        ("gitlab", gitlab("approved")),
    ],
)
def test_events_that_ask_for_nothing_read_as_none(forge: str, payload: Any) -> None:
    assert deliver(forge, payload) is None


def test_other_event_types_read_as_none() -> None:
    assert hooks.parse("github", "push", b"{}") is None
    assert hooks.parse("gitlab", "Push Hook", b"{}") is None


def test_a_forged_or_resigned_delivery_never_reaches_the_reader() -> None:
    body = json.dumps(github()).encode()
    reserialised = json.dumps(json.loads(body), indent=1).encode()
    for headers in (
        {"x-hub-signature-256": f"sha256={signatures.sign(SECRET, reserialised)}"},
        {"x-hub-signature-256": f"sha1={signatures.sign(SECRET, body)[:40]}"},
        {},
    ):
        with pytest.raises(rejections.RejectedError):
            signatures.verify("github", headers, body, secret=SECRET)
    with pytest.raises(rejections.RejectedError):
        signatures.verify("gitlab", {"x-gitlab-token": "guess"}, body, secret=SECRET)


def _broken(path: list[str], value: Any) -> dict[str, Any]:
    payload = github()
    item: Any = payload
    for key in path[:-1]:
        item = item[key]
    item[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"null",
        json.dumps(_broken(["pull_request"], None)).encode(),
        json.dumps(_broken(["pull_request", "head"], [])).encode(),
        json.dumps(_broken(["pull_request", "head", "sha"], "--upload-pack=evil")).encode(),
        json.dumps(_broken(["pull_request", "number"], True)).encode(),
        json.dumps(_broken(["pull_request", "base", "repo"], None)).encode(),
        json.dumps(_broken(["pull_request", "user"], "ada")).encode(),
        json.dumps(_broken(["action"], 3)).encode(),
        b"[" * 100_000,
    ],
)
def test_wrong_shapes_are_a_hook_error_never_a_crash(body: bytes) -> None:
    with pytest.raises(hooks.HookError):
        hooks.parse("github", "pull_request", body)


def test_gitlab_needs_its_object_kind_and_bodies_are_bounded() -> None:
    with pytest.raises(hooks.HookError, match="object_kind"):
        hooks.parse("gitlab", "Merge Request Hook", json.dumps({"object_kind": "push"}).encode())
    with pytest.raises(hooks.HookError, match="body over"):
        hooks.parse("github", "pull_request", b" " * (hooks.MAX_BODY + 1))


def test_texts_are_bounded_and_one_line() -> None:
    payload = github()
    payload["pull_request"]["title"] = "evil\x1b[31m\ntitle" + "x" * 5000
    event = deliver("github", payload)
    assert event is not None and "\x1b" not in event.title and "\n" not in event.title
    assert len(event.title) < 1200
