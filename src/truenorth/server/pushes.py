"""What a verified webhook says: which event, which delivery, and for a push, where to.

Each forge shapes its push payload differently; this module reads the few fields the
controller needs (the repository's clone, SSH and web URLs and the pushed ref) and
nothing else, so that unknown fields and future additions never matter. It is strict
about the shape of what it reads: a body that is not a JSON object, a ``repository``
that is ``null`` or an array, a missing ``ref``, or ``commits`` that is not an array of
objects is refused with a 4xx :class:`~truenorth.server.rejections.RejectedError`, never an
exception that would turn into a 500. ``commits: []`` is a valid push (a force push to
an existing commit or a branch created at one sends no commits) and still triggers.

Pure: headers (lower-case names) and raw bytes in, a :class:`Delivery` out; for any
input the only exception is ``RejectedError``. Every field kept is bounded (URLs, the
ref, the delivery id) or cut (an event name), and refused or escaped when it holds
control characters, so nothing a sender writes reaches a log or a terminal raw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from truenorth import texts
from truenorth.server import rejections

__all__ = ["Delivery", "Push", "delivery_id", "parse"]

_MAX_URL = 2048
_MAX_REF = 1024
_MAX_DELIVERY_ID = 200
_MAX_EVENT = 64
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_URL_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "github": {"repository": ("clone_url", "ssh_url", "html_url", "git_url", "svn_url", "url")},
    "gitlab": {
        "project": ("git_http_url", "git_ssh_url", "web_url", "http_url", "ssh_url", "url"),
        "repository": ("git_http_url", "git_ssh_url", "homepage", "url"),
    },
    "gitea": {"repository": ("clone_url", "ssh_url", "html_url")},
}
_DELIVERY_HEADERS = {
    "github": ("x-github-delivery",),
    "gitlab": ("idempotency-key", "x-gitlab-event-uuid", "x-gitlab-webhook-uuid"),
    "gitea": ("x-gitea-delivery", "x-forgejo-delivery"),
    "generic": ("x-truenorth-delivery", "idempotency-key"),
}


@dataclass(frozen=True)
class Push:
    """A branch moved: any of ``urls`` names the repository, ``ref`` what moved.

    ``sha`` is the commit the branch moved to when the payload names one (GitHub and
    Gitea ``after``, GitLab ``checkout_sha`` or ``after``, a generic ``after``): a full,
    lower-case SHA, never the all-zero one of a deleted branch. It only spares the
    controller a question to the remote when its mirror already has the branch there;
    what is deployed is always what the remote says the branch is.
    """

    urls: tuple[str, ...]
    ref: str
    sha: str | None = None


@dataclass(frozen=True)
class Delivery:
    """One parsed webhook. ``push`` is None for events that trigger nothing."""

    provider: str
    event: str
    delivery_id: str | None
    push: Push | None

    @property
    def is_ping(self) -> bool:
        """True for a forge's "is this hook set up right?" event."""
        return self.event == "ping"


def parse(provider: str, headers: Mapping[str, str], body: bytes) -> Delivery:
    """Read a verified delivery; raise ``RejectedError`` (4xx) for anything malformed."""
    found_id = delivery_id(provider, headers)
    event = _event(provider, headers)
    if event is None or event == "ping":
        return Delivery(provider, event or "unknown", found_id, None)
    document = _json_object(body)
    if provider == "gitlab" and document.get("object_kind", "push") != "push":
        return Delivery(provider, _event_name(document.get("object_kind")), found_id, None)
    if provider == "generic":
        push = _generic_push(document)
    else:
        _check_commits(document)
        push = Push(urls=_urls(provider, document), ref=_ref(document), sha=_sha(provider, document))
    return Delivery(provider, "push", found_id, push)


def _event(provider: str, headers: Mapping[str, str]) -> str | None:
    """``"push"``, ``"ping"``, or None for an event that triggers nothing."""
    if provider == "github":
        name = _required_header(headers, "x-github-event", "X-GitHub-Event")
        return name if name in ("push", "ping") else None
    if provider == "gitlab":
        name = _required_header(headers, "x-gitlab-event", "X-Gitlab-Event")
        return "push" if name in ("Push Hook", "System Hook") else None
    if provider == "gitea":
        gitea = headers.get("x-gitea-event") or headers.get("x-forgejo-event")
        if gitea is None:
            raise rejections.RejectedError(400, "missing X-Gitea-Event header", outcome="malformed")
        return gitea if gitea in ("push", "ping") else None
    return "push"


def _event_name(value: Any) -> str:
    """A sender's name for an event, safe to show: a short string, control characters escaped."""
    if not isinstance(value, str) or not value:
        return "unknown"
    return texts.escape_controls(texts.bound(value, _MAX_EVENT), keep_newlines=False)


def _required_header(headers: Mapping[str, str], key: str, shown: str) -> str:
    value = headers.get(key)
    if not value:
        raise rejections.RejectedError(400, f"missing {shown} header", outcome="malformed")
    return value.strip()


def delivery_id(provider: str, headers: Mapping[str, str]) -> str | None:
    """The forge's id of this delivery (the same on a redelivery); None when it sends none."""
    for key in _DELIVERY_HEADERS.get(provider, ()):
        value = (headers.get(key) or "").strip()
        if value:
            if len(value) > _MAX_DELIVERY_ID or not value.isprintable():
                raise rejections.RejectedError(
                    400, "delivery id is too long or not printable", outcome="malformed"
                )
            return value
    return None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise rejections.RejectedError(400, "body is not valid JSON", outcome="malformed") from None
    if not isinstance(document, dict):
        raise rejections.RejectedError(422, "body must be a JSON object", outcome="malformed")
    return document


def _ref(document: Mapping[str, Any]) -> str:
    ref = document.get("ref")
    if not isinstance(ref, str) or not ref.strip():
        raise _invalid("ref: missing or not a string")
    if len(ref) > _MAX_REF or not ref.isprintable():
        raise _invalid("ref: too long or not printable")
    return ref.strip()


def _urls(provider: str, document: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for section, fields in _URL_FIELDS[provider].items():
        value = document.get(section)
        if value is None and section != "repository":
            continue
        if not isinstance(value, dict):
            raise _invalid(f"{section}: missing or not an object")
        for name in fields:
            url = value.get(name)
            if url is None:
                continue
            found.append(_url(url, f"{section}.{name}"))
    if not found:
        raise _invalid("no repository URL in the payload")
    return tuple(dict.fromkeys(found))


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{where}: not a string")
    if len(value) > _MAX_URL or not value.isprintable():
        raise _invalid(f"{where}: too long or not printable")
    return value.strip()


def _check_commits(document: Mapping[str, Any]) -> None:
    commits = document.get("commits")
    if commits is not None and (
        not isinstance(commits, list) or not all(isinstance(item, dict) for item in commits)
    ):
        raise _invalid("commits: must be an array of objects")
    head = document.get("head_commit")
    if head is not None and not isinstance(head, dict):
        raise _invalid("head_commit: must be an object or null")


def _generic_push(document: Mapping[str, Any]) -> Push:
    return Push(
        urls=(_url(document.get("repository"), "repository"),),
        ref=_ref(document),
        sha=_sha("generic", document),
    )


def _sha(provider: str, document: Mapping[str, Any]) -> str | None:
    """The commit the push names, or None (missing, not a SHA, or a deleted branch's zeros).

    Never refused: the SHA is only a hint, and a push without a usable one still triggers.
    """
    for field in ("checkout_sha", "after") if provider == "gitlab" else ("after",):
        value = document.get(field)
        if isinstance(value, str) and _SHA.fullmatch(value) and value.strip("0"):
            return value
    return None


def _invalid(message: str) -> rejections.RejectedError:
    return rejections.RejectedError(422, message, outcome="malformed")
