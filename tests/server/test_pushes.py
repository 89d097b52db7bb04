"""Parsing verified webhooks (case 12): real payloads parse, wrong shapes are 4xx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truenorth.server import pushes, rejections

DATA = Path(__file__).parent.parent / "data" / "webhooks"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / name).read_text())
    return document


EVENT_HEADERS = {
    "github": {"x-github-event": "push", "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
    "gitlab": {"x-gitlab-event": "Push Hook", "x-gitlab-event-uuid": "9cdb7ae2-4b1e-4d9b-8a3c-1f3c2b7a3f10"},
    "gitea": {"x-gitea-event": "push", "x-gitea-delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473"},
    "generic": {"x-truenorth-delivery": "build-4711"},
}
PAYLOAD_FILES = {"github": "github-push.json", "gitlab": "gitlab-push.json", "gitea": "gitea-push.json"}


def payload(provider: str) -> dict[str, Any]:
    if provider == "generic":
        return {"repository": "https://git.example.com/platform/infra.git", "ref": "refs/heads/main"}
    return load(PAYLOAD_FILES[provider])


def test_github_push() -> None:
    body = (DATA / "github-push.json").read_bytes()
    delivery = pushes.parse("github", EVENT_HEADERS["github"], body)
    assert delivery.event == "push"
    assert delivery.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert delivery.push is not None
    assert delivery.push.ref == "refs/heads/main"
    assert set(delivery.push.urls) >= {
        "https://github.com/example-org/infra.git",
        "git@github.com:example-org/infra.git",
        "https://github.com/example-org/infra",
        "git://github.com/example-org/infra.git",
    }


def test_gitlab_push_reads_project_and_repository_urls() -> None:
    body = (DATA / "gitlab-push.json").read_bytes()
    delivery = pushes.parse("gitlab", EVENT_HEADERS["gitlab"], body)
    assert delivery.push is not None
    assert delivery.delivery_id == "9cdb7ae2-4b1e-4d9b-8a3c-1f3c2b7a3f10"
    assert set(delivery.push.urls) >= {
        "https://gitlab.example.com/platform/infra.git",
        "git@gitlab.example.com:platform/infra.git",
        "https://gitlab.example.com/platform/infra",
    }


def test_a_gitlab_retry_keeps_its_idempotency_key_as_the_delivery_id() -> None:
    """GitLab sends ``Idempotency-Key`` unchanged on every retry of one event (gitlab#388692),
    while each request may carry a new event or webhook UUID: the key is what dedups."""
    body = (DATA / "gitlab-push.json").read_bytes()
    first = {"x-gitlab-event": "Push Hook", "idempotency-key": "908a6d9e", "x-gitlab-event-uuid": "u-1"}
    retry = {**first, "x-gitlab-event-uuid": "u-2", "x-gitlab-webhook-uuid": "w-2"}
    assert pushes.parse("gitlab", first, body).delivery_id == "908a6d9e"
    assert pushes.parse("gitlab", retry, body).delivery_id == "908a6d9e"


def test_gitea_push() -> None:
    body = (DATA / "gitea-push.json").read_bytes()
    delivery = pushes.parse("gitea", EVENT_HEADERS["gitea"], body)
    assert delivery.push is not None
    assert delivery.delivery_id == "f6266f16-1bf3-46a5-9ea4-602e06ead473"
    assert delivery.push.ref == "refs/heads/main"
    assert "ssh://git@gitea.example.com:2222/platform/infra.git" in delivery.push.urls


def test_generic_push() -> None:
    body = json.dumps(payload("generic")).encode()
    delivery = pushes.parse("generic", EVENT_HEADERS["generic"], body)
    assert delivery.push == pushes.Push(
        urls=("https://git.example.com/platform/infra.git",), ref="refs/heads/main"
    )
    assert delivery.delivery_id == "build-4711"


def test_github_ping_and_other_events_trigger_nothing() -> None:
    body = (DATA / "github-ping.json").read_bytes()
    ping = pushes.parse("github", {"x-github-event": "ping"}, body)
    assert ping.is_ping and ping.push is None
    issue = pushes.parse("github", {"x-github-event": "issues"}, b"{}")
    assert issue.push is None and issue.event == "unknown"
    tag = pushes.parse("gitlab", {"x-gitlab-event": "Tag Push Hook"}, b"{}")
    assert tag.push is None
    merge = pushes.parse("gitlab", {"x-gitlab-event": "System Hook"}, b'{"object_kind": "merge_request"}')
    assert merge.push is None
    pr = pushes.parse("gitea", {"x-gitea-event": "pull_request"}, b"[]")
    assert pr.push is None


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_empty_commits_is_still_a_push(provider: str) -> None:
    """A force push to an existing commit sends commits: [] and must still trigger."""
    document = payload(provider)
    document["commits"] = []
    document.pop("head_commit", None)
    delivery = pushes.parse(provider, EVENT_HEADERS[provider], json.dumps(document).encode())
    assert delivery.push is not None


def _mutations(provider: str) -> list[tuple[str, Any]]:
    """(label, body) pairs that must be refused with a 4xx for ``provider``."""
    repo_key = "repository"
    cases: list[tuple[str, Any]] = [
        ("not json", b"{not json"),
        ("truncated json", json.dumps(payload(provider)).encode()[:-5]),
        ("array body", b"[]"),
        ("string body", b'"push"'),
        ("null body", b"null"),
        ("empty body", b""),
        ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
    ]

    def mutate(label: str, change: Any) -> None:
        document = payload(provider)
        change(document)
        cases.append((label, json.dumps(document).encode()))

    mutate("repository null", lambda d: d.__setitem__(repo_key, None))
    mutate("repository missing", lambda d: d.pop(repo_key))
    mutate("repository array", lambda d: d.__setitem__(repo_key, [d[repo_key]]))
    mutate("repository number", lambda d: d.__setitem__(repo_key, 42))
    mutate("ref missing", lambda d: d.pop("ref"))
    mutate("ref null", lambda d: d.__setitem__("ref", None))
    mutate("ref array", lambda d: d.__setitem__("ref", ["refs/heads/main"]))
    mutate("ref empty", lambda d: d.__setitem__("ref", ""))
    mutate("ref with newline", lambda d: d.__setitem__("ref", "refs/heads/main\nx"))
    if provider == "generic":
        mutate("repository object", lambda d: d.__setitem__(repo_key, {"url": "x"}))
        return cases
    mutate("commits object", lambda d: d.__setitem__("commits", {"id": "abc"}))
    mutate("commits string", lambda d: d.__setitem__("commits", "abc"))
    mutate("commits of nulls", lambda d: d.__setitem__("commits", [None]))
    mutate("repository without urls", lambda d: d.update({repo_key: {"name": "infra"}, "project": {"id": 1}}))
    url_field = {"github": "clone_url", "gitlab": "git_http_url", "gitea": "clone_url"}[provider]
    mutate("url number", lambda d: d[repo_key].__setitem__(url_field, 7))
    mutate("url object", lambda d: d[repo_key].__setitem__(url_field, {"href": "x"}))
    mutate("url huge", lambda d: d[repo_key].__setitem__(url_field, "https://x/" + "a" * 5000))
    if provider == "gitlab":
        mutate("project array", lambda d: d.__setitem__("project", []))
        mutate("project string", lambda d: d.__setitem__("project", "infra"))
    else:
        mutate("head_commit array", lambda d: d.__setitem__("head_commit", []))
    return cases


ALL = [(p, label, body) for p in ("github", "gitlab", "gitea", "generic") for label, body in _mutations(p)]


@pytest.mark.parametrize(("provider", "label", "body"), ALL, ids=[f"{p}-{label}" for p, label, _ in ALL])
def test_malformed_payloads_are_4xx(provider: str, label: str, body: bytes) -> None:
    with pytest.raises(rejections.RejectedError) as caught:
        pushes.parse(provider, EVENT_HEADERS[provider], body)
    assert caught.value.status in (400, 422), label
    assert caught.value.outcome == "malformed"


@pytest.mark.parametrize(
    ("provider", "headers"),
    [
        ("github", {}),
        ("gitlab", {}),
        ("gitea", {}),
        ("github", {"x-github-event": "push", "x-github-delivery": "x" * 201}),
        ("github", {"x-github-event": "push", "x-github-delivery": "a\nb"}),
    ],
)
def test_missing_event_or_bad_delivery_id_is_400(provider: str, headers: dict[str, str]) -> None:
    body = json.dumps(payload(provider)).encode()
    with pytest.raises(rejections.RejectedError) as caught:
        pushes.parse(provider, headers, body)
    assert caught.value.status == 400
