"""A merge request against a running controller: one comment, statuses, the apply after the merge.

A real ``truenorth serve`` process tracks a real Git repository with one Terraform stack
and a ``forge`` table pointing at a fake GitHub (a real HTTP server on 127.0.0.1 that
checks each request against GitHub's documented REST API and keeps comments and
statuses). Signed ``pull_request`` webhooks drive it: opened gives one comment and a
``truenorth/plan`` status pending then success; a new push edits the same comment; the
merge gives the apply result in that comment and ``truenorth/apply`` on the merge commit.
A fork's merge request is not planned until an allowed user comments ``/truenorth plan``.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import ADMIN, WEBHOOK_SECRET
from tests.server.processes import ServerProcess, wait_for
from tests.server.test_process import NETWORK_TF, Servers, one_stack_repo
from tests.support import receivers
from truenorth.server import signatures

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("server")]

TOKEN = "ghp-fake-token-3b9d0c1e"
REPO = "/repos/org/infra"


class FakeGitHub:
    """Issue comments and commit statuses of ``org/infra``, as GitHub's REST API documents them."""

    def __init__(self) -> None:
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.statuses: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.next_id = 1000

    def respond(self, request: receivers.Request) -> receivers.Answer:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return receivers.Answer(401, {"message": "Bad credentials"})
        if request.headers.get("x-github-api-version") != "2022-11-28":
            return receivers.Answer(400, {"message": "missing X-GitHub-Api-Version"})
        path = request.path.partition("?")[0]
        with self.lock:
            if request.method == "GET" and path == "/user":
                return receivers.Answer(200, {"login": "truenorth-bot", "id": 1})
            found = re.fullmatch(rf"{REPO}/issues/([0-9]+)/comments", path)
            if found:
                items = self.comments.setdefault(int(found[1]), [])
                if request.method == "GET":
                    return receivers.Answer(200, items)
                if request.method == "POST" and set(request.json()) == {"body"}:
                    self.next_id += 1
                    made = {
                        "id": self.next_id,
                        "body": request.json()["body"],
                        "user": {"login": "truenorth-bot"},
                    }
                    items.append(made)
                    return receivers.Answer(201, made)
            found = re.fullmatch(rf"{REPO}/issues/comments/([0-9]+)", path)
            if found and request.method == "PATCH" and set(request.json()) == {"body"}:
                for items in self.comments.values():
                    for item in items:
                        if item["id"] == int(found[1]):
                            item["body"] = request.json()["body"]
                            return receivers.Answer(200, item)
                return receivers.Answer(404, {"message": "Not Found"})
            found = re.fullmatch(rf"{REPO}/statuses/([0-9a-f]{{40}})", path)
            if found and request.method == "POST":
                body = request.json()
                assert set(body) <= {"state", "target_url", "description", "context"}, body
                assert body["state"] in ("pending", "success", "failure", "error"), body
                self.statuses.append((found[1], body))
                return receivers.Answer(201, {"id": len(self.statuses), **body})
        return receivers.Answer(404, {"message": f"Not Found: {request.method} {path}"})

    def states(self, sha: str, context: str) -> list[str]:
        with self.lock:
            return [
                body["state"] for found, body in self.statuses if found == sha and body["context"] == context
            ]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    found = Servers(tmp_path)
    yield found
    found.close()


def pull_request(
    action: str, *, head: str, number: int = 7, fork: bool = False, **extra: Any
) -> dict[str, Any]:
    pull = {
        "number": number,
        "title": "Widen the VPC",
        "html_url": f"https://github.com/org/infra/pull/{number}",
        "user": {"login": "mallory" if fork else "ada"},
        "author_association": "CONTRIBUTOR" if fork else "MEMBER",
        "merged": False,
        "head": {
            "sha": head,
            "ref": "feature",
            "repo": {"full_name": "mallory/infra" if fork else "org/infra"},
        },
        "base": {"ref": "main", "repo": {"full_name": "org/infra"}},
        **extra,
    }
    return {
        "action": action,
        "number": number,
        "pull_request": pull,
        "repository": {"full_name": "org/infra"},
    }


def send(server: ServerProcess, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": f"d-{uuid.uuid4()}",  # each delivery its own (redeliveries are ignored)
        "X-Hub-Signature-256": "sha256=" + signatures.sign(WEBHOOK_SECRET, raw),
    }
    answer = httpx.post(
        f"{server.url}/api/v1/webhooks/merge-requests/github", content=raw, headers=headers, timeout=30
    )
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def start(servers: Servers, tmp_path: Path, repo_url: str, github: str) -> ServerProcess:
    config = tmp_path / "truenorth.toml"
    config.write_text(
        f"""\
listen = "127.0.0.1:0"
data_dir = "{tmp_path / "data"}"
public_url = "https://tn.example.com"

[webhooks]
secret_env = "TN_WEBHOOK_SECRET"

[[repositories]]
name = "infra"
url = "{repo_url}"
branch = "main"
poll_interval = "1h"

[repositories.forge]
kind = "github"
project = "org/infra"
api_url = "{github}"
token_env = "TN_GITHUB_TOKEN"
"""
    )
    env = servers.env(TRUENORTH_TOKEN=ADMIN, TN_WEBHOOK_SECRET=WEBHOOK_SECRET, TN_GITHUB_TOKEN=TOKEN)
    return servers._start(ServerProcess(["--config", str(config)], env=env, log=tmp_path / "server.log"))


def test_a_pull_request_is_previewed_commented_once_and_reported_after_the_merge(
    tmp_path: Path, servers: Servers
) -> None:
    repo = one_stack_repo(tmp_path / "repo")
    fake = FakeGitHub()
    with receivers.receiver(fake.respond) as github:
        server = start(servers, tmp_path, repo.url, github.url)
        server.wait_synced("network", repo.head(), token=ADMIN)
        repo.git("checkout", "-q", "-b", "feature")
        first = repo.commit(
            "widen the VPC", {"stacks/network/main.tf": NETWORK_TF.format(cidr="10.1.0.0/16")}
        )

        assert send(server, "pull_request", pull_request("opened", head=first))["result"] == "previewing"
        wait_for(lambda: fake.states(first, "truenorth/plan")[-1:] == ["success"], what="the plan status")
        assert fake.states(first, "truenorth/plan") == ["pending", "success"]
        (comment,) = fake.comments[7]
        assert comment["body"].startswith("<!-- truenorth:plan -->")
        assert "| network | terraform | 0 to add, 1 to change, 0 to destroy | changes |" in comment["body"]
        assert "10.1.0.0/16" in comment["body"] and TOKEN not in comment["body"]
        status = [body for sha, body in fake.statuses if sha == first][-1]
        assert status["target_url"] == "https://tn.example.com/"
        # The preview changed nothing of main: the stack is still synced at main's commit.
        assert server.stack("network", token=ADMIN)["sync_state"] == "synced"

        second = repo.commit("and wider", {"stacks/network/main.tf": NETWORK_TF.format(cidr="10.2.0.0/16")})
        send(server, "pull_request", pull_request("synchronize", head=second))
        wait_for(lambda: fake.states(second, "truenorth/plan")[-1:] == ["success"], what="the second status")
        (comment,) = fake.comments[7]  # the same comment, edited
        assert "10.2.0.0/16" in comment["body"] and "10.1.0.0/16 " not in comment["body"]

        repo.git("checkout", "-q", "main")
        repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request 7", "feature")
        merge = repo.head()
        closed = pull_request("closed", head=second, merged=True, merge_commit_sha=merge)
        assert send(server, "pull_request", closed)["result"] == "watching the merge"
        wait_for(lambda: fake.states(merge, "truenorth/apply")[-1:] == ["success"], what="the apply status")
        assert fake.states(merge, "truenorth/apply") == ["pending", "success"]
        (comment,) = fake.comments[7]
        assert "### truenorth apply: infra" in comment["body"]
        assert f"| network | synced | `{merge[:12]}` |" in comment["body"]
        server.wait_synced("network", merge, token=ADMIN)


def test_a_fork_waits_for_a_maintainer_to_ask(tmp_path: Path, servers: Servers) -> None:
    repo = one_stack_repo(tmp_path / "repo")
    fake = FakeGitHub()
    with receivers.receiver(fake.respond) as github:
        server = start(servers, tmp_path, repo.url, github.url)
        server.wait_synced("network", repo.head(), token=ADMIN)
        repo.git("checkout", "-q", "-b", "feature")
        head = repo.commit("from a fork", {"stacks/network/main.tf": NETWORK_TF.format(cidr="10.9.0.0/16")})
        repo.git("checkout", "-q", "main")

        result = send(server, "pull_request", pull_request("opened", head=head, number=8, fork=True))
        assert result["result"] == "not previewed: it comes from a fork"
        wait_for(lambda: fake.comments.get(8), what="the comment asking for a maintainer")
        assert "A maintainer must comment `/truenorth plan`" in fake.comments[8][0]["body"]
        assert fake.states(head, "truenorth/plan") == []

        def comment(author: str, association: str) -> dict[str, Any]:
            return {
                "action": "created",
                "issue": {"number": 8, "pull_request": {"url": "https://api.github.com/..."}},
                "comment": {
                    "body": "/truenorth plan",
                    "user": {"login": author},
                    "author_association": association,
                },
                "repository": {"full_name": "org/infra"},
            }

        assert send(server, "issue_comment", comment("mallory", "CONTRIBUTOR"))["result"].startswith(
            "ignored"
        )
        assert send(server, "issue_comment", comment("grace", "OWNER"))["result"] == "previewing"
        wait_for(lambda: fake.states(head, "truenorth/plan")[-1:] == ["success"], what="the plan status")
        (only,) = fake.comments[8]
        assert "10.9.0.0/16" in only["body"]
