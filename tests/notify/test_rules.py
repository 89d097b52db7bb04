"""The pure parts of notifications: drift once until resolved, filters, redaction, signatures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from truenorth.core import redaction
from truenorth.notify import drifts, events, signatures, subscriptions

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
CANARY = "canary-5f1e9c2d-secret"


def notice(event: events.Event = events.Event.SYNC_FAILED, **changes: object) -> events.Notice:
    fields: dict[str, object] = {
        "event": event,
        "repository": "infra",
        "at": AT,
        "stack": "network",
        "revision": "4f2c9e1a7b3d5c6e8f9a0b1c2d3e4f5a6b7c8d9e",
        "author": "Ada",
        "subject": "Add a subnet",
        "summary": "1 to add, 0 to change, 0 to destroy",
        "link": "https://truenorth.example.com/?repository=infra&stack=network",
    }
    fields.update(changes)
    return events.Notice(**fields)  # type: ignore[arg-type]


def test_drift_is_announced_once_until_it_is_resolved() -> None:
    state = drifts.Drifts()
    key = ("infra", "network")
    said = []
    for drifted in (False, True, True, True, False, False, True):
        state, event = state.observe(key, drifted=drifted)
        said.append(event)
    assert said == [
        None,
        events.Event.DRIFT_DETECTED,
        None,
        None,
        events.Event.DRIFT_RESOLVED,
        None,
        events.Event.DRIFT_DETECTED,
    ]


def test_drift_of_one_stack_does_not_silence_another() -> None:
    state, first = drifts.Drifts().observe(("infra", "network"), drifted=True)
    state, second = state.observe(("infra", "hosts"), drifted=True)
    assert first is second is events.Event.DRIFT_DETECTED
    assert state.announced == {("infra", "network"), ("infra", "hosts")}


def test_filters_by_event_repository_and_stack() -> None:
    every = subscriptions.Subscription(name="all", urls=("json://h/x",))
    failures = subscriptions.Subscription(
        name="f", events=frozenset({events.Event.SYNC_FAILED}), repository="infra", stacks=frozenset({"db"})
    )
    assert every.matches(notice())
    assert every.matches(notice(events.Event.SOURCE_ERROR, stack=None))
    assert not failures.matches(notice())  # another stack
    assert failures.matches(notice(stack="db"))
    assert not failures.matches(notice(events.Event.SYNC_SUCCEEDED, stack="db"))
    assert not failures.matches(notice(stack="db", repository="apps"))
    assert not failures.matches(notice(events.Event.SYNC_FAILED, stack=None)), "names stacks: no repo-wide"


def test_targets_are_named_by_scheme_only_and_urls_stay_out_of_repr() -> None:
    item = subscriptions.Subscription(
        name="chat", urls=(f"slack://{CANARY}/B/C",), webhook="https://h/x", secret=CANARY
    )
    assert [name for name, _ in item.targets()] == ["chat: slack://", "chat: webhook https://"]
    assert CANARY not in repr(item)
    assert CANARY not in repr(subscriptions.NotificationSettings((item,)))


def test_a_redacted_notice_holds_no_secret_and_no_control_characters() -> None:
    hostile = notice(
        subject=f"leak {CANARY} \x1b[31m\nline",
        summary=f"error: token {CANARY} at https://user:{CANARY}x@git.example.com/r.git",
        author="x" * 5000,
        link="javascript:alert(1)",
    )
    clean = hostile.redacted(redaction.Redactor([CANARY]))
    text = repr(clean.to_dict()) + clean.title() + clean.body()
    assert CANARY not in text
    assert "\x1b" not in text and "\\x1b" in clean.subject  # type: ignore[operator]
    assert "\n" not in (clean.subject or ""), "one-line fields stay one line"
    assert len(clean.author or "") < 300, "bounded"
    assert clean.link is None, "only http(s) links are links"


def test_body_says_what_where_which_commit_and_links() -> None:
    body = notice().body()
    assert body.splitlines() == [
        "1 to add, 0 to change, 0 to destroy",
        "Revision 4f2c9e1a7b3d: Add a subnet (by Ada)",
        "https://truenorth.example.com/?repository=infra&stack=network",
    ]
    assert notice().title() == "[truenorth] sync-failed: infra/network"


def test_the_ui_link_escapes_names() -> None:
    settings = subscriptions.NotificationSettings(public_url="https://tn.example.com/")
    assert settings.link("a&b", "x y") == "https://tn.example.com/#/stacks/a%26b/x%20y"
    assert subscriptions.NotificationSettings().link("infra", "network") is None


def test_a_signature_verifies_and_every_tampering_is_refused() -> None:
    body = b'{"event":"sync-failed"}'
    stamp = 1_700_000_000
    good = {
        "x-truenorth-signature": signatures.sign("s3cret", stamp, body),
        "x-truenorth-timestamp": str(stamp),
    }
    signatures.verify("s3cret", good, body, now=stamp + 10)
    cases = {
        "another body": (good, body + b" ", stamp),
        "another secret": (good, body, stamp),
        "a replay an hour later": (good, body, stamp + 3600),
        "no signature": ({"x-truenorth-timestamp": str(stamp)}, body, stamp),
        "no timestamp": ({"x-truenorth-signature": good["x-truenorth-signature"]}, body, stamp),
        "sha1": ({**good, "x-truenorth-signature": "sha1=" + "0" * 40}, body, stamp),
        "a moved timestamp": ({**good, "x-truenorth-timestamp": str(stamp + 1)}, body, stamp),
    }
    for name, (headers, sent, now) in cases.items():
        secret = "other" if name == "another secret" else "s3cret"
        with pytest.raises(signatures.SignatureError):
            signatures.verify(secret, headers, sent, now=now)
    with pytest.raises(signatures.SignatureError):
        signatures.verify("", good, body, now=stamp)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"key", b"1700000000.hello", hashlib.sha256).hexdigest()
    assert signatures.sign("key", 1_700_000_000, b"hello") == f"sha256={expected}"
