"""Webhook authenticity per provider (case 13): every bad signature is refused."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from truenorth.server import rejections, signatures

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
GITHUB_VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_documented_test_vector() -> None:
    assert "sha256=" + signatures.sign(SECRET, BODY) == GITHUB_VECTOR
    signatures.verify("github", {"x-hub-signature-256": GITHUB_VECTOR}, BODY, secret=SECRET)


def good_headers(provider: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = signatures.sign(secret, body)
    return {
        "github": {"x-hub-signature-256": f"sha256={digest}"},
        "gitlab": {"x-gitlab-token": secret},
        "gitea": {"x-gitea-signature": digest},
        "generic": {"x-truenorth-signature": f"sha256={digest}"},
    }[provider]


@pytest.mark.parametrize("provider", signatures.PROVIDERS)
def test_valid_deliveries_pass(provider: str) -> None:
    signatures.verify(provider, good_headers(provider, BODY), BODY, secret=SECRET)


def test_generic_bearer_and_forgejo_header_pass() -> None:
    signatures.verify("generic", {"authorization": f"Bearer {SECRET}"}, BODY, secret=SECRET)
    digest = signatures.sign(SECRET, BODY)
    signatures.verify("gitea", {"x-forgejo-signature": digest}, BODY, secret=SECRET)
    # Upper-case hex is the same digest.
    signatures.verify("gitea", {"x-gitea-signature": digest.upper()}, BODY, secret=SECRET)


def _sha1(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()


PAYLOAD = {"ref": "refs/heads/main", "repository": {"clone_url": "https://example.com/a.git"}}
RAW = b'{"ref":  "refs/heads/main",\n "repository": {"clone_url": "https://example.com/a.git"}}'
RESERIALISED = json.dumps(PAYLOAD).encode()

# (provider, headers, body) that must each give 401.
BAD: list[tuple[str, str, dict[str, str], bytes]] = [
    ("github missing header", "github", {}, RAW),
    ("github sha1 only", "github", {"x-hub-signature": "sha1=" + _sha1(RAW)}, RAW),
    ("github sha1= in the sha256 header", "github", {"x-hub-signature-256": "sha1=" + _sha1(RAW)}, RAW),
    ("github no prefix", "github", {"x-hub-signature-256": signatures.sign(SECRET, RAW)}, RAW),
    ("github bad hex", "github", {"x-hub-signature-256": "sha256=" + "zz" * 32}, RAW),
    (
        "github short hex",
        "github",
        {"x-hub-signature-256": "sha256=" + signatures.sign(SECRET, RAW)[:-2]},
        RAW,
    ),
    ("github empty", "github", {"x-hub-signature-256": ""}, RAW),
    (
        "github re-serialised",
        "github",
        {"x-hub-signature-256": "sha256=" + signatures.sign(SECRET, RESERIALISED)},
        RAW,
    ),
    (
        "github wrong secret",
        "github",
        {"x-hub-signature-256": "sha256=" + signatures.sign("other", RAW)},
        RAW,
    ),
    ("gitlab missing", "gitlab", {}, RAW),
    ("gitlab empty", "gitlab", {"x-gitlab-token": ""}, RAW),
    ("gitlab wrong token", "gitlab", {"x-gitlab-token": SECRET + "x"}, RAW),
    ("gitlab prefix of token", "gitlab", {"x-gitlab-token": SECRET[:-1]}, RAW),
    ("gitlab signature instead of token", "gitlab", {"x-gitlab-token": signatures.sign(SECRET, RAW)}, RAW),
    ("gitea missing", "gitea", {}, RAW),
    ("gitea sha256= prefix", "gitea", {"x-gitea-signature": "sha256=" + signatures.sign(SECRET, RAW)}, RAW),
    ("gitea sha1", "gitea", {"x-gitea-signature": _sha1(RAW)}, RAW),
    ("gitea bad hex", "gitea", {"x-gitea-signature": "g" * 64}, RAW),
    ("gitea re-serialised", "gitea", {"x-gitea-signature": signatures.sign(SECRET, RESERIALISED)}, RAW),
    ("generic missing", "generic", {}, RAW),
    ("generic basic auth", "generic", {"authorization": "Basic " + SECRET}, RAW),
    ("generic empty bearer", "generic", {"authorization": "Bearer "}, RAW),
    ("generic wrong bearer", "generic", {"authorization": "Bearer not-the-secret"}, RAW),
    ("generic sha1", "generic", {"x-truenorth-signature": "sha1=" + _sha1(RAW)}, RAW),
    ("generic bad hex", "generic", {"x-truenorth-signature": "sha256=xyz"}, RAW),
    (
        "generic re-serialised",
        "generic",
        {"x-truenorth-signature": "sha256=" + signatures.sign(SECRET, RESERIALISED)},
        RAW,
    ),
]


@pytest.mark.parametrize(("provider", "headers", "body"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_signatures_are_401(provider: str, headers: dict[str, str], body: bytes) -> None:
    with pytest.raises(rejections.RejectedError) as caught:
        signatures.verify(provider, headers, body, secret=SECRET)
    assert caught.value.status == 401
    assert caught.value.outcome == "unauthorized"
    assert SECRET not in caught.value.message


@pytest.mark.parametrize("provider", signatures.PROVIDERS)
@pytest.mark.parametrize("configured", [None, ""])
def test_unconfigured_or_empty_secret_refuses_everything(provider: str, configured: str | None) -> None:
    # Even a "signature" made with the empty secret must not pass.
    headers = good_headers(provider, RAW, secret="")
    with pytest.raises(rejections.RejectedError) as caught:
        signatures.verify(provider, headers, RAW, secret=configured)
    assert caught.value.status == 403
    assert caught.value.message == "webhook secret not configured"


def test_comparisons_are_constant_time_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every provider's check goes through hmac.compare_digest, never ==."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signatures.hmac, "compare_digest", spy)
    for provider in signatures.PROVIDERS:
        signatures.verify(provider, good_headers(provider, RAW), RAW, secret=SECRET)
    signatures.verify("generic", {"authorization": f"Bearer {SECRET}"}, RAW, secret=SECRET)
    assert len(calls) == 5
