"""The ``[[notifications]]`` section, ``public_url``, and the ``--notify URL`` quick start.

Each entry subscribes targets to events::

    public_url = "https://truenorth.example.com"   # notices link to the web UI here

    [[notifications]]
    name = "ops-chat"
    events = ["sync-failed", "drift-detected", "health-degraded"]   # default: every event
    repository = "infra"            # default: every repository
    stacks = ["network", "db"]      # default: every stack
    urls = ["json://hooks.example.com/truenorth"]   # Apprise URLs holding no secret
    urls_env = "OPS_APPRISE_URLS"   # or urls_file: Apprise URLs holding tokens

    [[notifications]]
    name = "audit"
    webhook = "https://audit.example.com/hooks/truenorth"   # the signed JSON webhook
    secret_env = "AUDIT_WEBHOOK_SECRET"                     # or secret_file; required

Apprise URLs often carry tokens (``slack://T/B/XXXX``, ``mailto://user:pass@host``), so
the ones that do are given by reference like every secret (``urls_env`` /
``urls_file``: URLs separated by whitespace, commas or newlines); an inline URL with a
password or an ``http(s)`` token in it is refused. ``truenorth serve --notify URL``
(repeatable) adds a subscription named ``--notify`` to every event of every stack.
Every URL and secret is masked in logs and errors. ``TRUENORTH_PUBLIC_URL`` overrides
``public_url``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from truenorth import texts
from truenorth.config import settings, values
from truenorth.notify import events, subscriptions

__all__ = ["KEYS", "parse"]

#: The top-level settings this module reads.
KEYS = ("notifications", "public_url")
_ENTRY_KEYS = (
    "name", "events", "repository", "stacks", "urls", "urls_env", "urls_file",
    "webhook", "secret", "secret_env", "secret_file",
)  # fmt: skip
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_SPLIT = re.compile(r"[\s,]+")
_MAX_URLS = 50


def parse(
    raw: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    notify: Sequence[str] = (),
    repositories: Collection[str] | None = None,
) -> subscriptions.NotificationSettings:
    """The notification settings of the file, ``TRUENORTH_PUBLIC_URL`` and ``--notify`` URLs.

    ``repositories`` (the configured names) lets an entry's ``repository`` be checked.
    """
    entries = [
        _entry(item, env, index, repositories)
        for index, item in enumerate(values.array(raw, "notifications"))
    ]
    if notify:
        entries.append(subscriptions.Subscription(name="--notify", urls=_urls(list(notify), "--notify")))
    names = [item.name for item in entries]
    if len(set(names)) != len(names):
        raise settings.ConfigError("notifications: names must be unique")
    public = env.get("TRUENORTH_PUBLIC_URL") or raw.get("public_url")
    return subscriptions.NotificationSettings(
        subscriptions=tuple(entries), public_url=_web_url(public, "public_url") if public else None
    )


def _entry(
    item: Any, env: Mapping[str, str], index: int, repositories: Collection[str] | None
) -> subscriptions.Subscription:
    where = f"notifications[{index}]"
    if not isinstance(item, dict):
        raise settings.ConfigError(f"{where}: must be a table")
    values.known(item, _ENTRY_KEYS, where)
    name = item.get("name", f"notifications-{index}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise settings.ConfigError(f"{where}.name: not a simple name")
    repository = item.get("repository")
    if repository is not None:
        repository = values.text(repository, f"{where}.repository")
        if repositories is not None and repository not in repositories:
            raise settings.ConfigError(f"{where}.repository: no repository named {repository!r}")
    inline = item.get("urls", [])
    if not isinstance(inline, list):
        raise settings.ConfigError(f"{where}.urls: must be a list of Apprise URLs")
    for position, url in enumerate(inline):
        _refuse_credentials(values.text(url, f"{where}.urls[{position}]"), f"{where}.urls[{position}]")
    references = {key: item[key] for key in ("urls_env", "urls_file") if key in item}
    by_reference = values.secret(references, env, f"{where}.urls", prefix="urls")
    urls = _urls(list(inline) + (_SPLIT.split(by_reference.strip()) if by_reference else []), f"{where}.urls")
    webhook = item.get("webhook")
    secret = values.secret(item, env, f"{where}.secret", prefix="secret")
    if webhook is not None:
        webhook = _web_url(webhook, f"{where}.webhook")
        _refuse_credentials(webhook, f"{where}.webhook")
        if not secret:
            raise settings.ConfigError(
                f"{where}: a webhook needs secret_env or secret_file (it signs every body)"
            )
    elif secret is not None:
        raise settings.ConfigError(f"{where}: secret_env/secret_file sign a webhook; add webhook = URL")
    if not urls and webhook is None:
        raise settings.ConfigError(f"{where}: give urls, urls_env, urls_file or webhook")
    return subscriptions.Subscription(
        name=name,
        events=_events(item.get("events"), f"{where}.events"),
        repository=repository,
        stacks=frozenset(_names(item.get("stacks", []), f"{where}.stacks")),
        urls=urls,
        webhook=webhook,
        secret=secret,
    )


def _events(value: Any, where: str) -> frozenset[events.Event]:
    if value is None:
        return subscriptions.ALL_EVENTS
    known = {item.value: item for item in events.Event}
    chosen = set()
    for name in _names(value, where):
        if name not in known:
            raise settings.ConfigError(f"{where}: unknown event {name!r} (known: {', '.join(known)})")
        chosen.add(known[name])
    if not chosen:
        raise settings.ConfigError(f"{where}: empty; leave it out to hear every event")
    return frozenset(chosen)


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise settings.ConfigError(f"{where}: must be a list of names")
    return list(value)


def _urls(found: list[str], where: str) -> tuple[str, ...]:
    urls = tuple(url for url in found if url)
    if len(urls) > _MAX_URLS:
        raise settings.ConfigError(f"{where}: at most {_MAX_URLS} URLs")
    for url in urls:
        if subscriptions.scheme_of(url) == "(not a URL)":
            # The value may be a secret: name the setting, never the value.
            raise settings.ConfigError(f"{where}: an entry is not a URL (scheme://...)")
    return urls


def _web_url(value: Any, where: str) -> str:
    url = values.text(value, where)
    if not url.startswith(("https://", "http://")) or any(char.isspace() for char in url):
        raise settings.ConfigError(f"{where}: must be an http(s) URL")
    return url


def _refuse_credentials(url: str, where: str) -> None:
    found = texts.url_userinfo(url)
    if found is not None and texts.is_secret_userinfo(*found):
        raise settings.ConfigError(
            f"{where}: this URL holds a credential; give it by reference (urls_env or urls_file)"
        )
