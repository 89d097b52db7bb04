"""Requests that must be refused: wrong API tokens and forged or malformed webhooks.

Each is built from the suite's canaries where a careless answer or log line could echo
it (a token one character off, the webhook secret with a suffix, the API token offered
as a webhook secret), so that the leak checks also cover what the refusals say.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from tests.security.canaries import CANARIES
from tests.server.test_process import push_body
from tests.support.gitrepos import GitRepo

__all__ = ["hostile_tokens", "malformed_webhooks"]

D, E, F, G = (CANARIES[k].value for k in "DEFG")


def hostile_tokens() -> dict[str, dict[str, str]]:
    """Authorization headers that must all get 401 (and never be echoed)."""
    basic = base64.b64encode(f"admin:{D}".encode()).decode()
    return {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer"},
        "token minus a character": {"Authorization": f"Bearer {D[:-1]}"},
        "token plus a character": {"Authorization": f"Bearer {D}x"},
        "token in Basic auth": {"Authorization": f"Basic {basic}"},
        "token without scheme": {"Authorization": D},
        "webhook secret as token": {"Authorization": f"Bearer {E}"},
        "git credential as token": {"Authorization": f"Bearer {G}"},
        "vault password as token": {"Authorization": f"Bearer {F}"},
        "html token": {"Authorization": "Bearer <script>alert(1)</script>"},
    }


def malformed_webhooks(
    *, branch: str, url: str, repo: GitRepo
) -> dict[str, tuple[str, bytes, dict[str, str]]]:
    """(provider, body, headers) that must all get a 4xx: forged, malformed, too large."""

    def sign(body: bytes, secret: str = E) -> str:
        return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    good = push_body(repo, ref=f"refs/heads/{branch}")
    good["repository"]["clone_url"] = url
    raw = json.dumps(good).encode()

    def github(body: bytes, signature: str | None, delivery: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
        }
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        return headers

    def signed(document: Any, delivery: str) -> tuple[str, bytes, dict[str, str]]:
        body = json.dumps(document).encode()
        return "github", body, github(body, f"sha256={sign(body)}", delivery)

    null_repository = {**good, "repository": None}
    no_ref = {k: v for k, v in good.items() if k != "ref"}
    not_json = b"{not json" + E.encode()
    reserialized = json.dumps(good, indent=2).encode()
    return {
        "github without signature": ("github", raw, github(raw, None, "m1")),
        "github sha1 signature": ("github", raw, github(raw, f"sha1={sign(raw)[:40]}", "m2")),
        "github bad hex": ("github", raw, github(raw, "sha256=zz" + sign(raw)[2:], "m3")),
        "github signed with another secret": (
            "github",
            raw,
            github(raw, f"sha256={sign(raw, E + 'x')}", "m4"),
        ),
        "github signature over re-serialised JSON": (
            "github",
            raw,
            github(raw, f"sha256={sign(reserialized)}", "m5"),
        ),
        "github repository null": signed(null_repository, "m6"),
        "github ref missing": signed(no_ref, "m7"),
        "github array body": signed([good], "m8"),
        "github commits not objects": signed({**good, "commits": [1, "x", None]}, "m9"),
        "github not JSON": ("github", not_json, github(not_json, f"sha256={sign(not_json)}", "m10")),
        "gitlab wrong token": (
            "gitlab",
            raw,
            {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": f"{E}-wrong", "X-Gitlab-Event-UUID": "m11"},
        ),
        "gitea wrong signature": (
            "gitea",
            raw,
            {"X-Gitea-Event": "push", "X-Gitea-Delivery": "m12", "X-Gitea-Signature": sign(raw, D)},
        ),
        "generic with the API token": ("generic", raw, {"Authorization": f"Bearer {D}"}),
        "generic with the git credential": ("generic", raw, {"Authorization": f"Bearer {G}"}),
        "unknown provider": ("<script>alert(1)</script>", raw, github(raw, f"sha256={sign(raw)}", "m13")),
        "one byte over the limit": (
            "github",
            b" " * (1024 * 1024 + 1),
            github(b"", f"sha256={sign(b'')}", "m14"),
        ),
    }
