"""What truenorth tells people about: the events, and one notice as it is sent.

A :class:`Notice` is built by the controller from core data it already holds (the
stack, its revision and commit, a plan's headline, a run's error) and handed to
:class:`~truenorth.notify.delivering.Notifier`, which sends it to every subscription
whose filters match (:mod:`truenorth.notify.subscriptions`). The eight
:class:`Event` names are the words of the configuration (``events = [...]``), of the
JSON webhook body and of the delivery records.

Every text of a notice is written by somebody else: a commit subject and an author by
whoever pushed, an error by an engine. :meth:`Notice.redacted` is the one door a notice
passes before it is sent or recorded: every text goes through the run's
:class:`~truenorth.core.redaction.Redactor` (known secrets, URL credentials), is
bounded, and has its control characters escaped. Pure: no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from truenorth import texts

__all__ = ["Event", "Notice", "Severity"]

_MAX_TEXT = 200
_MAX_SUMMARY = 2000
_MAX_LINK = 2048


class Event(enum.StrEnum):
    """Something happened to a stack (or a repository) that people may want to hear of."""

    SYNC_SUCCEEDED = "sync-succeeded"
    SYNC_FAILED = "sync-failed"
    DRIFT_DETECTED = "drift-detected"
    DRIFT_RESOLVED = "drift-resolved"
    HEALTH_DEGRADED = "health-degraded"
    APPROVAL_REQUIRED = "approval-required"
    SOURCE_ERROR = "source-error"
    PREVIEW_READY = "preview-ready"

    @property
    def severity(self) -> Severity:
        """How loud the event is (Apprise's notification types have the same four)."""
        return _SEVERITIES[self]


class Severity(enum.StrEnum):
    """Apprise's ``NotifyType`` values, so a chat shows the right colour or icon."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


_SEVERITIES = {
    Event.SYNC_SUCCEEDED: Severity.SUCCESS,
    Event.SYNC_FAILED: Severity.FAILURE,
    Event.DRIFT_DETECTED: Severity.WARNING,
    Event.DRIFT_RESOLVED: Severity.SUCCESS,
    Event.HEALTH_DEGRADED: Severity.FAILURE,
    Event.APPROVAL_REQUIRED: Severity.INFO,
    Event.SOURCE_ERROR: Severity.FAILURE,
    Event.PREVIEW_READY: Severity.INFO,
}


@dataclass(frozen=True)
class Notice:
    """One event about one stack (``stack`` None: about the whole repository, as a source error).

    ``revision`` is the commit the event is about; ``author`` and ``subject`` are that
    commit's; ``summary`` says what happened in a line or a few (a plan's headline, an
    error); ``link`` points at the stack in the web UI.
    """

    event: Event
    repository: str
    at: datetime
    stack: str | None = None
    revision: str | None = None
    author: str | None = None
    subject: str | None = None
    summary: str = ""
    link: str | None = None

    def redacted(self, redact: Callable[[str], str]) -> Notice:
        """This notice with every text masked by ``redact``, bounded and terminal-safe."""

        def clean(text: str | None, limit: int = _MAX_TEXT) -> str | None:
            if text is None:
                return None
            return texts.escape_controls(texts.bound(redact(text), limit))

        def line(text: str | None) -> str | None:
            cleaned = clean(text)
            return None if cleaned is None else cleaned.replace("\n", "\\n")

        link = clean(self.link, _MAX_LINK)
        if link is not None and not link.startswith(("https://", "http://")):
            link = None  # only a web link is a link: never javascript: or data:
        return replace(
            self,
            repository=line(self.repository) or "",
            stack=line(self.stack),
            revision=line(self.revision),
            author=line(self.author),
            subject=line(self.subject),
            summary=clean(self.summary, _MAX_SUMMARY) or "",
            link=link,
        )

    @property
    def where(self) -> str:
        """``repository/stack`` (or the repository alone)."""
        return f"{self.repository}/{self.stack}" if self.stack else self.repository

    def title(self) -> str:
        """One line: ``[truenorth] sync-failed: infra/network``."""
        return f"[truenorth] {self.event.value}: {self.where}"

    def body(self) -> str:
        """The text a chat or a mail shows: what happened, where, at which commit, and a link."""
        lines = [self.summary] if self.summary else []
        if self.revision:
            commit = f"Revision {self.revision[:12]}"
            if self.subject:
                commit += f": {self.subject}"
            if self.author:
                commit += f" (by {self.author})"
            lines.append(commit)
        if self.link:
            lines.append(self.link)
        return "\n".join(lines) or self.title()

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the generic webhook (stable; documented in docs/notifications.md)."""
        return {
            "event": self.event.value,
            "severity": self.event.severity.value,
            "repository": self.repository,
            "stack": self.stack,
            "revision": self.revision,
            "author": self.author,
            "subject": self.subject,
            "summary": self.summary,
            "link": self.link,
            "at": self.at.isoformat(),
        }
