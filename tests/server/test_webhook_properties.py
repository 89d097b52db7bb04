"""Property tests: the webhook checks answer every input with their one documented error.

Anyone can send a webhook. Whatever the headers and the body, :func:`signatures.verify`
and :func:`pushes.parse` either accept or raise ``RejectedError`` (a 4xx); no input
makes them raise anything else (which would be a 500), and whatever a parsed delivery
keeps is short and free of control characters. Bodies are drawn both as raw bytes and
as JSON shaped like each forge's payload, with real payloads mutated field by field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truenorth.server import pushes, rejections, signatures

DATA = Path(__file__).parent.parent / "data" / "webhooks"
SECRET = "tn-webhook-secret-9f8e7d6c"
SETTINGS = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
PROVIDERS = st.sampled_from(signatures.PROVIDERS)
HEADER_NAMES = (
    "x-hub-signature-256", "x-gitlab-token", "x-gitea-signature", "x-forgejo-signature", "authorization",
    "x-truenorth-signature", "x-github-event", "x-gitlab-event", "x-gitea-event", "x-forgejo-event",
    "x-github-delivery", "x-gitlab-event-uuid", "idempotency-key", "x-gitea-delivery", "x-truenorth-delivery",
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["push", "ping", "Push Hook", "System Hook", "sha256=", "Bearer ", SECRET, "sha256=" + "0" * 64]
    ),
    st.text(alphabet="0123456789abcdefABCDEF", min_size=64, max_size=64).map(lambda h: "sha256=" + h),
)
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=8)
json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40),
        st.sampled_from(["refs/heads/main", "https://git.example.com/org/repo.git", "push", "\x1b[2J"]),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
FIELDS = (
    "ref",
    "repository",
    "project",
    "commits",
    "head_commit",
    "object_kind",
    "clone_url",
    "git_http_url",
)


def _payload(provider: str) -> dict[str, Any]:
    name = {"github": "github-push.json", "gitlab": "gitlab-push.json", "gitea": "gitea-push.json"}
    if provider not in name:
        return {"repository": "https://git.example.com/org/repo.git", "ref": "refs/heads/main"}
    document: dict[str, Any] = json.loads((DATA / name[provider]).read_text())
    return document


@st.composite
def bodies(draw: st.DrawFn, provider: str) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    document = _payload(provider)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = document
        section = draw(st.sampled_from(["repository", "project", None]))
        if section and isinstance(document.get(section), dict):
            target = document[section]
        target[draw(st.sampled_from(FIELDS))] = draw(json_values)
    return json.dumps(document).encode()


def _event_headers(provider: str) -> dict[str, str]:
    return {
        "github": {"x-github-event": "push"},
        "gitlab": {"x-gitlab-event": "Push Hook"},
        "gitea": {"x-gitea-event": "push"},
        "generic": {},
    }[provider]


@SETTINGS
@given(st.data(), PROVIDERS, headers, st.one_of(st.none(), st.text(max_size=30), st.just(SECRET)))
def test_verify_accepts_or_rejects_and_never_crashes(
    data: st.DataObject, provider: str, sent: dict[str, str], secret: str | None
) -> None:
    body = data.draw(bodies(provider))
    try:
        signatures.verify(provider, sent, body, secret=secret)
    except rejections.RejectedError as refused:
        assert 400 <= refused.status < 500 and refused.message
    else:  # Only the right secret opens the door.
        assert secret


@SETTINGS
@given(st.data(), PROVIDERS, headers)
def test_parse_answers_a_delivery_or_a_4xx(data: st.DataObject, provider: str, sent: dict[str, str]) -> None:
    body = data.draw(bodies(provider))
    try:
        delivery = pushes.parse(provider, {**_event_headers(provider), **sent}, body)
    except rejections.RejectedError as refused:
        assert 400 <= refused.status < 500 and refused.message
        return
    shown = [delivery.event, delivery.delivery_id or ""]
    if delivery.push is not None:
        shown += [delivery.push.ref, *delivery.push.urls]
    for text in shown:
        assert len(text) <= 2048 and text.isprintable(), text


@SETTINGS
@given(PROVIDERS, st.binary(max_size=300))
def test_a_correct_signature_over_any_body_verifies(provider: str, body: bytes) -> None:
    digest = signatures.sign(SECRET, body)
    sent = {
        "github": {"x-hub-signature-256": f"sha256={digest}"},
        "gitlab": {"x-gitlab-token": SECRET},
        "gitea": {"x-gitea-signature": digest},
        "generic": {"x-truenorth-signature": f"sha256={digest.upper()}"},
    }[provider]
    signatures.verify(provider, sent, body, secret=SECRET)


def test_a_secret_that_is_not_utf8_is_compared_not_crashed() -> None:
    # An environment variable holding bytes that are not UTF-8 decodes to lone surrogates.
    secret = b"tn-\xff-secret".decode("utf-8", "surrogateescape")
    body = b"{}"
    signatures.verify("gitlab", {"x-gitlab-token": "tn-\xff-secret"}, body, secret=secret)
    digest = signatures.sign(secret, body)
    signatures.verify("github", {"x-hub-signature-256": f"sha256={digest}"}, body, secret=secret)
    try:
        signatures.verify("gitlab", {"x-gitlab-token": "\ud800"}, body, secret=secret)
    except rejections.RejectedError as refused:
        assert refused.status == 401


def test_an_event_name_is_cut_and_escaped() -> None:
    body = json.dumps({"object_kind": "\x1b]0;pwned\x07\u202e" + "x" * 100_000}).encode()
    delivery = pushes.parse("gitlab", {"x-gitlab-event": "Push Hook"}, body)
    assert delivery.push is None and delivery.event.startswith("\\x1b]0;pwned\\x07\\u202e")
    assert delivery.event.isprintable() and delivery.event.endswith("more bytes)")
    assert len(delivery.event) < 200
