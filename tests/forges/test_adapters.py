"""The forge adapters against local servers that check each request against the documented API.

Each fake forge is a real HTTP server on 127.0.0.1 (:mod:`tests.support.receivers`) that
keeps the merge request's comments and the commit statuses, answers in the forge's
documented shapes, and refuses (404, 401) any method, path or header the documentation
does not give. A comment with truenorth's marker written by somebody else is there from
the start: it must be left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import receivers
from truenorth.forges import comments, protocol, transport

pytestmark = pytest.mark.slow

TOKEN = "tok-6c1d0e3b5a7f9e21"
SHA = "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e"


@dataclass(frozen=True)
class Api:
    """One forge's documented REST API, as the fake checks it."""

    kind: str
    prefix: str
    auth: tuple[str, str]
    user_key: str
    author_key: str
    comments: str  # the comments collection of merge request 7
    edit_method: str
    edit: str  # one comment, {id}
    status: str
    status_fields: frozenset[str]
    extra_headers: tuple[tuple[str, str], ...] = ()


APIS = {
    "github": Api(
        kind="github",
        prefix="",
        auth=("authorization", f"Bearer {TOKEN}"),
        user_key="login",
        author_key="user",
        comments="/repos/org/infra/issues/7/comments",
        edit_method="PATCH",
        edit="/repos/org/infra/issues/comments/{id}",
        status=f"/repos/org/infra/statuses/{SHA}",
        status_fields=frozenset({"state", "target_url", "description", "context"}),
        extra_headers=(("accept", "application/vnd.github+json"), ("x-github-api-version", "2022-11-28")),
    ),
    "gitlab": Api(
        kind="gitlab",
        prefix="/api/v4",
        auth=("private-token", TOKEN),
        user_key="username",
        author_key="author",
        comments="/api/v4/projects/org%2Finfra/merge_requests/7/notes",
        edit_method="PUT",
        edit="/api/v4/projects/org%2Finfra/merge_requests/7/notes/{id}",
        status=f"/api/v4/projects/org%2Finfra/statuses/{SHA}",
        status_fields=frozenset({"state", "target_url", "description", "name"}),
    ),
    "gitea": Api(
        kind="gitea",
        prefix="/api/v1",
        auth=("authorization", f"token {TOKEN}"),
        user_key="login",
        author_key="user",
        comments="/api/v1/repos/org/infra/issues/7/comments",
        edit_method="PATCH",
        edit="/api/v1/repos/org/infra/issues/comments/{id}",
        status=f"/api/v1/repos/org/infra/statuses/{SHA}",
        status_fields=frozenset({"state", "target_url", "description", "context"}),
    ),
}


class FakeForge:
    """Comments and statuses of one merge request, served as ``api`` documents them."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.comments: list[dict[str, Any]] = [
            self._comment(1, "mallory", f"{comments.MARKER}\nnot truenorth's"),
            self._comment(2, "ada", "LGTM"),
        ]
        self.statuses: list[dict[str, Any]] = []

    def _comment(self, number: int, login: str, body: str) -> dict[str, Any]:
        return {"id": number, "body": body, self.api.author_key: {self.api.user_key: login}, "system": False}

    def respond(self, request: receivers.Request) -> receivers.Answer:
        api = self.api
        if request.headers.get(api.auth[0]) != api.auth[1]:
            return receivers.Answer(401, {"message": f"Bad credentials {request.headers.get(api.auth[0])}"})
        for key, value in api.extra_headers:
            if request.headers.get(key) != value:
                return receivers.Answer(400, {"message": f"missing header {key}"})
        path, _, query = request.path.partition("?")
        if request.method == "GET" and path == f"{api.prefix}/user":
            return receivers.Answer(200, {"id": 99, api.user_key: "truenorth-bot"})
        if request.method == "GET" and path == api.comments:
            assert re.search(r"(^|&)page=1(&|$)", query), query
            return receivers.Answer(200, self.comments)
        if request.method == "POST" and path == api.comments:
            assert set(request.json()) == {"body"}
            made = self._comment(100 + len(self.comments), "truenorth-bot", request.json()["body"])
            self.comments.append(made)
            return receivers.Answer(201, made)
        for item in self.comments:
            if request.method == api.edit_method and path == api.edit.format(id=item["id"]):
                if item[api.author_key][api.user_key] != "truenorth-bot":
                    return receivers.Answer(403, {"message": "not your comment"})
                assert set(request.json()) == {"body"}
                item["body"] = request.json()["body"]
                return receivers.Answer(200, item)
        if request.method == "POST" and path == api.status:
            body = request.json()
            assert set(body) <= api.status_fields and {"state", "description"} <= set(body), body
            self.statuses.append(body)
            return receivers.Answer(201, {"id": len(self.statuses), **body})
        return receivers.Answer(404, {"message": "Not Found"})


def connect(kind: str, url: str, token: str = TOKEN) -> protocol.Forge:
    return protocol.connect(
        protocol.ForgeSettings(kind=kind, api_url=url + APIS[kind].prefix, project="org/infra", token=token)
    )


@pytest.mark.parametrize("kind", sorted(APIS))
async def test_one_comment_per_merge_request_edited_on_the_next_push(kind: str) -> None:
    fake = FakeForge(APIS[kind])
    with receivers.receiver(fake.respond) as server:
        forge = connect(kind, server.url)
        first = await forge.upsert_comment(7, f"{comments.MARKER}\nplan at the first push")
        second = await forge.upsert_comment(7, f"{comments.MARKER}\nplan at the second push")
        await forge.close()
    assert first == second, "the second push edits the first comment"
    ours = [item for item in fake.comments if item["id"] == first]
    assert len(fake.comments) == 3 and ours[0]["body"].endswith("plan at the second push")
    assert fake.comments[0]["body"] == f"{comments.MARKER}\nnot truenorth's", "somebody else's is left alone"
    methods = [(r.method, r.path.partition("?")[0]) for r in server.requests]
    api = APIS[kind]
    assert methods == [
        ("GET", f"{api.prefix}/user"),
        ("GET", api.comments),
        ("POST", api.comments),
        ("GET", api.comments),
        (api.edit_method, api.edit.format(id=first)),
    ]
    for request in server.requests:
        assert request.headers.get(api.auth[0]) == api.auth[1]
        if request.method != "GET":
            assert request.headers["content-type"] == "application/json"


@pytest.mark.parametrize("kind", sorted(APIS))
async def test_commit_statuses_pending_then_success_or_failure(kind: str) -> None:
    fake = FakeForge(APIS[kind])
    with receivers.receiver(fake.respond) as server:
        forge = connect(kind, server.url)
        link = "https://tn.example.com/?repository=infra&stack=network"
        await forge.set_status(
            SHA,
            protocol.CommitStatus(
                protocol.CommitState.PENDING, target_url=link, description="planning 3 stacks"
            ),
        )
        await forge.set_status(
            SHA,
            protocol.CommitStatus(
                protocol.CommitState.FAILURE,
                description="x" * 500 + "\nline",
                target_url="javascript:alert(1)",
            ),
        )
        await forge.set_status(
            SHA, protocol.CommitStatus(protocol.CommitState.SUCCESS, context=protocol.APPLY_CONTEXT)
        )
        with pytest.raises(transport.ForgeError, match="hex commit SHA"):
            await forge.set_status("--upload-pack=x", protocol.CommitStatus(protocol.CommitState.SUCCESS))
        await forge.close()
    pending, failure, success = fake.statuses
    context = "name" if kind == "gitlab" else "context"
    assert pending == {
        "state": "pending",
        context: "truenorth/plan",
        "target_url": link,
        "description": "planning 3 stacks",
    }
    assert failure["state"] == ("failed" if kind == "gitlab" else "failure")
    assert "target_url" not in failure, "only a web link is sent"
    assert len(failure["description"]) == 140 and "\n" not in failure["description"]
    assert success["state"] == "success" and success[context] == "truenorth/apply"


@pytest.mark.parametrize("kind", sorted(APIS))
async def test_a_refused_token_is_a_clear_error_without_the_token(kind: str) -> None:
    wrong = "wrong-token-0123456789"
    with receivers.receiver(FakeForge(APIS[kind]).respond) as server:
        forge = connect(kind, server.url, token=wrong)
        with pytest.raises(transport.ForgeError) as raised:
            await forge.upsert_comment(7, "plan")
        await forge.close()
    message = str(raised.value)
    assert "HTTP 401" in message and "Bad credentials" in message
    assert wrong not in message and TOKEN not in message
    assert kind in message and ("/comments" in message or "/notes" in message)


async def test_an_answer_over_the_bound_is_not_read_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "MAX_ANSWER", 1000)
    big = [{"id": n, "body": "x" * 100, "user": {"login": "a"}} for n in range(50)]

    def respond(request: receivers.Request) -> receivers.Answer:
        return receivers.Answer(200, big if "comments" in request.path else {"login": "bot"})

    with receivers.receiver(respond) as server:
        forge = connect("github", server.url)
        with pytest.raises(transport.ForgeError, match="over 1000 bytes"):
            await forge.upsert_comment(7, "plan")
        await forge.close()


async def test_a_comment_over_the_forge_limit_is_refused_before_sending() -> None:
    with receivers.receiver(FakeForge(APIS["github"]).respond) as server:
        forge = connect("github", server.url)
        with pytest.raises(transport.ForgeError, match="65,536"):
            await forge.upsert_comment(7, "x" * 70_000)
        await forge.close()
    assert server.requests == []


def test_settings_keep_the_token_out_of_repr() -> None:
    settings = protocol.ForgeSettings(kind="github", api_url="", project="o/r", token=TOKEN)
    assert TOKEN not in repr(settings)
    with pytest.raises(ValueError, match="unknown forge"):
        protocol.connect(protocol.ForgeSettings(kind="bitbucket", api_url="", project="o/r", token=TOKEN))
