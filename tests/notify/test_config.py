"""The ``[[notifications]]`` section, ``public_url`` and ``--notify``: parsed exactly, or refused by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from truenorth import config
from truenorth.config import notifications
from truenorth.notify import events, subscriptions

SECRET = "tok-3b8f0e2a91c4"


def parse(
    raw: dict[str, Any], env: dict[str, str] | None = None, **kwargs: Any
) -> subscriptions.NotificationSettings:
    return notifications.parse(raw, env or {}, **kwargs)


def test_an_entry_with_filters_and_urls_by_reference(tmp_path: Path) -> None:
    listed = tmp_path / "urls"
    listed.write_text(f"slack://{SECRET}/B/C\nmailto://u:{SECRET}@mail.example.com\n")
    settings = parse(
        {
            "public_url": "https://tn.example.com",
            "notifications": [
                {
                    "name": "ops",
                    "events": ["sync-failed", "drift-detected"],
                    "repository": "infra",
                    "stacks": ["network"],
                    "urls": ["json://hooks.example.com/tn"],
                    "urls_file": str(listed),
                },
                {"webhook": "https://audit.example.com/h", "secret_env": "AUDIT"},
            ],
        },
        {"AUDIT": SECRET},
        repositories=["infra"],
    )
    ops, audit = settings.subscriptions
    assert ops.events == {events.Event.SYNC_FAILED, events.Event.DRIFT_DETECTED}
    assert ops.repository == "infra" and ops.stacks == {"network"}
    assert ops.urls == (
        "json://hooks.example.com/tn",
        f"slack://{SECRET}/B/C",
        f"mailto://u:{SECRET}@mail.example.com",
    )
    assert audit.name == "notifications-1" and audit.events == subscriptions.ALL_EVENTS
    assert audit.webhook == "https://audit.example.com/h" and audit.secret == SECRET
    assert settings.public_url == "https://tn.example.com"
    assert SECRET not in repr(settings)


def test_notify_flags_subscribe_to_everything_and_are_masked_in_logs() -> None:
    loaded = config.load_config(
        environ={}, overrides={"repo": "https://git.example.com/r.git", "notify": [f"json://h/{SECRET}"]}
    )
    (item,) = loaded.notifications.subscriptions
    assert item.name == "--notify" and item.events == subscriptions.ALL_EVENTS
    assert f"json://h/{SECRET}" in loaded.secret_values()


def test_the_file_reads_the_section(tmp_path: Path) -> None:
    path = tmp_path / "truenorth.toml"
    path.write_text(
        'public_url = "https://tn.example.com"\n'
        '[[repositories]]\nname = "infra"\nurl = "https://git.example.com/infra.git"\n'
        '[[notifications]]\nname = "chat"\nrepository = "infra"\nurls = ["json://h/x"]\n'
    )
    loaded = config.load_config(path, environ={"TRUENORTH_PUBLIC_URL": "https://other.example.com"})
    assert loaded.notifications.subscriptions[0].repository == "infra"
    assert loaded.notifications.public_url == "https://other.example.com", "the variable wins"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"urls": ["json://h/x"], "events": ["sync-done"]},
            r"notifications\[0\]\.events: unknown event 'sync-done'",
        ),
        ({"urls": ["json://h/x"], "events": []}, r"events: empty"),
        ({"urls": "json://h/x"}, r"urls: must be a list"),
        ({"urls": [f"mailto://u:{SECRET}@h"]}, r"urls\[0\]: this URL holds a credential"),
        ({"urls": [f"json://{SECRET}@h/x"]}, None),  # a user name on json:// is not a credential
        ({"urls": ["not a url"]}, r"an entry is not a URL"),
        ({"webhook": "https://h/x"}, r"a webhook needs secret_env or secret_file"),
        ({"webhook": "https://h/x", "secret": SECRET}, r"never inline"),
        ({"webhook": "ftp://h/x", "secret_env": "S"}, r"webhook: must be an http\(s\) URL"),
        ({"urls": ["json://h/x"], "secret_env": "S"}, r"add webhook = URL"),
        ({"name": "x"}, r"give urls, urls_env, urls_file or webhook"),
        ({"urls": ["json://h/x"], "repository": "apps"}, r"no repository named 'apps'"),
        ({"urls": ["json://h/x"], "stacks": "network"}, r"stacks: must be a list of names"),
        ({"urls": ["json://h/x"], "evnts": []}, r"unknown setting\(s\): evnts"),
        ({"urls_env": "MISSING"}, r"urls_env: environment variable MISSING is not set"),
    ],
)
def test_bad_entries_are_refused_by_name(entry: dict[str, Any], message: str | None) -> None:
    raw = {"notifications": [entry]}
    if message is None:
        parse(raw, {"S": SECRET}, repositories=["infra"])
        return
    with pytest.raises(config.ConfigError, match=message) as raised:
        parse(raw, {"S": SECRET}, repositories=["infra"])
    assert SECRET not in str(raised.value)


def test_names_are_unique_and_public_url_is_a_web_url() -> None:
    with pytest.raises(config.ConfigError, match="names must be unique"):
        parse(
            {"notifications": [{"name": "a", "urls": ["json://h/x"]}, {"name": "a", "urls": ["json://h/y"]}]}
        )
    with pytest.raises(config.ConfigError, match="public_url: must be an http"):
        parse({"public_url": "javascript:alert(1)"})
