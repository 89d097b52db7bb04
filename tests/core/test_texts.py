"""Untrusted text: the URL-credential policy, bounding, terminal escaping, and redaction's promises.

The table pins what counts as a credential in a URL (a password on any scheme, a token
on ``http(s)``; never an SSH user name); the Hypothesis properties check that redaction
never shows a registered secret, is idempotent, and keeps the policy for any text
around it. ``truenorth.texts`` sits below every layer; the Redactor is core's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truenorth import texts
from truenorth.core import redaction
from truenorth.git import credentials

SETTINGS = settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:token@host/x", "https://***@host/x"),
        ("https://token@host/x", "https://***@host/x"),
        ("HTTP://token@host/x", "HTTP://***@host/x"),
        ("git+https://token@host/x", "git+https://***@host/x"),
        ("https://user:p@ss@host/x", "https://***@host/x"),
        ("ssh://git@github.com/org/app.git", "ssh://git@github.com/org/app.git"),
        ("ssh://git:pw@github.com/org/app.git", "ssh://***@github.com/org/app.git"),
        ("postgres://app@db:5432/app", "postgres://app@db:5432/app"),
        ("postgres://app:secret@db:5432/app", "postgres://***@db:5432/app"),
        ("git@github.com:org/app.git", "git@github.com:org/app.git"),
        ("https://host/x?to=a@b#c@d and mail@example.com", "https://host/x?to=a@b#c@d and mail@example.com"),
        ("'https://u:t@h/r.git/': refused", "'https://***@h/r.git/': refused"),
        ("x://a@b://c:d@e/", "x://a@b://***@e/"),
        ("1https://t@h", "1https://***@h"),
        ("://t:p@h", "://***@h"),  # a password is masked even without a scheme
        ("no urls here", "no urls here"),
    ],
)
def test_what_a_url_credential_is(text: str, shown: str) -> None:
    assert texts.mask_url_credentials(text) == shown
    assert redaction.redact_url_credentials(text) == shown
    assert credentials.redact(text) == shown


def test_a_user_is_kept_where_asked() -> None:
    assert (
        texts.mask_url_credentials("postgresql://app:pw@db/x", keep_user=True) == "postgresql://app:***@db/x"
    )
    assert texts.mask_url_credentials("https://tok@h/x", keep_user=True) == "https://***@h/x"


def test_git_masks_the_parts_of_a_credential_but_not_an_ssh_user() -> None:
    assert credentials.secrets_in("https://deploy:t0ken-1@h/x") == ("t0ken-1", "deploy")
    assert credentials.secrets_in("https://t0ken-only@h/x") == ("t0ken-only",)
    assert credentials.secrets_in("ssh://deploy@h/x") == ()


def test_bound_cuts_with_a_visible_marker() -> None:
    assert texts.bound("short", 10) == "short"
    assert texts.bound("abcdef", 3) == "abc... (3 more bytes)"
    assert texts.bound("abé€", 2) == "ab... (5 more bytes)"
    with pytest.raises(ValueError, match="limit"):
        texts.bound("x", -1)


def test_control_characters_are_escaped() -> None:
    hostile = "ok\x1b[2J\x1b]0;pwned\x07\rfake\u202egnp.exe\u2066x\x9b1m\x7f\tend\nnext"
    assert texts.escape_controls(hostile) == (
        "ok\\x1b[2J\\x1b]0;pwned\\x07\\rfake\\u202egnp.exe\\u2066x\\x9b1m\\x7f\tend\nnext"
    )
    assert texts.escape_controls("a\nb", keep_newlines=False) == "a\\nb"
    assert texts.escape_controls("C:\\path and ü, 日本") == "C:\\path and ü, 日本"


# ------------------------------------------------------------------ properties

secrets = st.text(
    alphabet=st.characters(blacklist_characters="*", blacklist_categories=("Cs",)), min_size=4, max_size=20
)
noise = st.lists(
    st.sampled_from([*"ab:/@x.-_ \n\"'?#", "://", "https://", "ssh://", "tok:", "\x1b"]), max_size=30
).map("".join)


@SETTINGS
@given(st.lists(secrets, min_size=1, max_size=5), st.lists(st.one_of(noise, secrets), max_size=8))
def test_redaction_never_shows_a_registered_secret(registered: list[str], parts: list[str]) -> None:
    redact = redaction.Redactor(registered)
    text = "".join(parts + registered)
    out = redact(text)
    for secret in redact.secrets:
        assert secret not in out
    assert redact(out) == out, "redaction is idempotent"


@SETTINGS
@given(noise, st.sampled_from(["https", "http", "git+https"]), secrets, secrets)
def test_an_http_credential_never_shows(before: str, scheme: str, user: str, password: str) -> None:
    user = user.replace(":", "").replace("@", "") or "user"
    password = password.replace("@", "")
    for userinfo in (f"{user}:{password}", user):
        cleaned = "".join(ch for ch in userinfo if ch not in "/?#\\'\"<>`" and ch > " " and ch != "\x7f")
        if len(cleaned) < 4:
            continue
        out = texts.mask_url_credentials(f"{before} {scheme}://{cleaned}@host/path")
        assert f"{scheme}://***@host/path" in out
        assert f"://{cleaned}@" not in out


@SETTINGS
@given(noise, st.from_regex(r"[a-z][a-z0-9_.-]{0,15}", fullmatch=True))
def test_an_ssh_user_name_is_shown(before: str, user: str) -> None:
    text = f"{before} ssh://{user}@github.com/org/app.git"
    assert texts.mask_url_credentials(text).endswith(f"ssh://{user}@github.com/org/app.git")


@SETTINGS
@given(st.text(max_size=200), st.integers(min_value=0, max_value=50))
def test_bound_and_escape_keep_their_promises(text: str, limit: int) -> None:
    cut = texts.bound(text, limit)
    assert cut == text if len(text) <= limit else cut.startswith(text[:limit]) and cut.endswith("more bytes)")
    shown = texts.escape_controls(text, keep_newlines=False)
    assert not any(ch in shown for ch in "\x1b\r\n\x00\x9b\u202a\u202e\u2066\u2069")
    assert texts.escape_controls(shown) == shown
