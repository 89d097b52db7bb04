"""The commit a push names reaches the controller, as a hint only (a full SHA, never zeros)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truenorth.server import pushes

DATA = Path(__file__).parents[1] / "data" / "webhooks"
HEADERS = {
    "github": {"x-github-event": "push"},
    "gitlab": {"x-gitlab-event": "Push Hook"},
    "gitea": {"x-gitea-event": "push"},
}
NAMED = {
    "github": "59b20b8d5c6ff8d09518454d4dd8b7a4d1f3b4e1",
    "gitlab": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
    "gitea": "bffeb74224043ba2feb48d137756c8a9331c449a",
}


def body(provider: str, **changes: object) -> bytes:
    document = json.loads((DATA / f"{provider}-push.json").read_text())
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize("provider", list(HEADERS))
def test_each_forge_names_the_pushed_commit(provider: str) -> None:
    delivery = pushes.parse(provider, HEADERS[provider], body(provider))
    assert delivery.push is not None and delivery.push.sha == NAMED[provider]


def test_gitlab_prefers_checkout_sha_and_falls_back_to_after() -> None:
    other = "1" * 40
    found = pushes.parse("gitlab", HEADERS["gitlab"], body("gitlab", checkout_sha=other))
    assert found.push is not None and found.push.sha == other
    found = pushes.parse("gitlab", HEADERS["gitlab"], body("gitlab", checkout_sha=None))
    assert found.push is not None and found.push.sha == NAMED["gitlab"]


@pytest.mark.parametrize("value", ["0" * 40, "ABC" + "0" * 37, "abc", 42, None, "g" * 40, "a" * 41])
def test_no_usable_sha_still_triggers_without_one(value: object) -> None:
    found = pushes.parse("github", HEADERS["github"], body("github", after=value))
    assert found.push is not None and found.push.sha is None and found.push.ref == "refs/heads/main"


def test_a_generic_push_may_name_its_commit() -> None:
    document = {"repository": "https://example.com/a.git", "ref": "refs/heads/main", "after": "2" * 64}
    found = pushes.parse("generic", {}, json.dumps(document).encode())
    assert found.push is not None and found.push.sha == "2" * 64
