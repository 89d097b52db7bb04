"""Who hears of what: subscriptions, each a list of targets with filters.

A :class:`Subscription` is one ``[[notifications]]`` entry of the controller's
configuration (parsed by :mod:`truenorth.config.notifications`): where to send
(Apprise URLs, or one generic JSON webhook signed with a secret) and what to send there
(event names, optionally one repository and some of its stacks). ``truenorth serve
--notify URL`` adds a subscription to every event of every stack.

Apprise URLs often hold tokens (``slack://T000/B000/XXXX``, ``mailto://user:pass@host``),
so they are treated as secrets: kept out of ``repr``, registered with the redactor
(:meth:`Subscription.secret_values`), and named in delivery records only by their
scheme (:meth:`Subscription.targets`). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from truenorth.notify import events as notices

__all__ = ["ALL_EVENTS", "NotificationSettings", "Subscription", "scheme_of"]

#: Every event: a subscription without ``events`` hears all of them.
ALL_EVENTS = frozenset(notices.Event)


def scheme_of(url: str) -> str:
    """``json://...`` -> ``json://``: how a target is named where its URL may not be shown."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme.replace("+", "").replace("-", "").isalnum() or len(scheme) > 32:
        return "(not a URL)"
    return f"{scheme.lower()}://"


@dataclass(frozen=True)
class Subscription:
    """One entry: targets (``urls`` for Apprise, or a ``webhook`` with its ``secret``) and filters.

    ``repository`` (a configured repository's name) and ``stacks`` narrow which notices
    match; None and empty match all. A repository-wide notice (a source error, with no
    stack) matches a subscription that names stacks only if it names no stacks.
    """

    name: str
    events: frozenset[notices.Event] = ALL_EVENTS
    repository: str | None = None
    stacks: frozenset[str] = frozenset()
    urls: tuple[str, ...] = field(default=(), repr=False)
    webhook: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)

    def matches(self, notice: notices.Notice) -> bool:
        """Whether ``notice`` is for this subscription."""
        if notice.event not in self.events:
            return False
        if self.repository is not None and notice.repository != self.repository:
            return False
        if self.stacks:
            return notice.stack is not None and notice.stack in self.stacks
        return True

    def targets(self) -> tuple[tuple[str, str], ...]:
        """``(target name, URL)`` for each target; the name shows only the scheme."""
        found = [(f"{self.name}: {scheme_of(url)}", url) for url in self.urls]
        if self.webhook:
            found.append((f"{self.name}: webhook {scheme_of(self.webhook)}", self.webhook))
        return tuple(found)

    def secret_values(self) -> list[str]:
        """Every URL and the webhook secret, for the redactor of logs and errors."""
        found = list(self.urls)
        if self.webhook:
            found.append(self.webhook)
        if self.secret:
            found.append(self.secret)
        return found


@dataclass(frozen=True)
class NotificationSettings:
    """Every subscription, and the web UI's public URL that notices link to (None: no links)."""

    subscriptions: tuple[Subscription, ...] = ()
    public_url: str | None = None

    def secret_values(self) -> list[str]:
        """What the redactor must mask: every subscription's URLs and secrets."""
        return [value for item in self.subscriptions for value in item.secret_values()]

    def link(self, repository: str, stack: str | None) -> str | None:
        """The web UI's page for a stack (or the overview), when a public URL is configured."""
        if not self.public_url:
            return None
        base = self.public_url.rstrip("/")
        if stack is None:
            return f"{base}/"
        # The web UI's own route for a stack page (server/static/app.js: #/stacks/REPO/NAME).
        return f"{base}/#/stacks/{quote(repository, safe='')}/{quote(stack, safe='')}"
