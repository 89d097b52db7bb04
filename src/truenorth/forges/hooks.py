"""Merge-request webhooks of GitHub, GitLab and Gitea/Forgejo, read into one event type.

Verify first, then read: the signature or token of a delivery is checked over the raw
bytes by :func:`truenorth.server.signatures.verify` (GitHub ``X-Hub-Signature-256``,
GitLab ``X-Gitlab-Token``, Gitea ``X-Gitea-Signature``: the one home of that rule),
and only a verified body reaches :func:`parse` here. :func:`parse` reads the few fields
a preview needs into a :class:`MergeRequestEvent`: the action (opened, updated,
reopened, closed, merged), the number, the head commit and branch, the base branch, the
base and head repositories (they differ for a fork), the author, and the author's
standing when the payload says (GitHub's ``author_association``). An event that asks
for nothing (a label added, a GitLab ``update`` without new commits, another event
type) reads as None.

Pure and strict about shapes: bytes in, an event, None or a :class:`HookError` (a 4xx
for the server) out, whatever the bytes; every text kept is bounded and a SHA must be
hex.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any

from truenorth import texts

__all__ = [
    "COMMAND",
    "MAX_BODY",
    "HookError",
    "MergeAction",
    "MergeRequestEvent",
    "PlanCommand",
    "parse",
    "parse_comment",
]

#: The comment a maintainer writes on a merge request to have it previewed.
COMMAND = "/truenorth plan"

#: The largest webhook body read (Flux's receiver's limit; forges send far less).
MAX_BODY = 3 * 1024 * 1024
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_MAX_TEXT = 1024


class MergeAction(enum.StrEnum):
    """What happened to the merge request."""

    OPENED = "opened"
    UPDATED = "updated"
    REOPENED = "reopened"
    CLOSED = "closed"
    MERGED = "merged"


class HookError(ValueError):
    """The delivery is not a well-formed merge-request event (answer 400)."""


@dataclass(frozen=True)
class MergeRequestEvent:
    """One merge-request event, whichever forge sent it."""

    forge: str
    action: MergeAction
    number: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_repo: str
    #: Empty when the forge no longer knows it (a deleted fork).
    head_repo: str
    author: str
    title: str = ""
    url: str = ""
    #: The author's standing on the base repository when the payload says
    #: (GitHub: ``OWNER``, ``MEMBER``, ``COLLABORATOR``, ``CONTRIBUTOR``, ...); else None.
    author_association: str | None = None
    #: The merge commit, for ``merged`` when the payload gives it.
    merge_sha: str | None = None

    @property
    def from_fork(self) -> bool:
        """True when the head branch lives in another repository than the base (or in none known)."""
        return self.head_repo.lower() != self.base_repo.lower()


def parse(forge: str, event: str, body: bytes) -> MergeRequestEvent | None:
    """The merge-request event in a verified delivery (``event``: the forge's event header)."""
    if len(body) > MAX_BODY:
        raise HookError(f"body over {MAX_BODY} bytes")
    if forge == "github":
        return _github(event, _object(body)) if event == "pull_request" else None
    if forge == "gitlab":
        return _gitlab(_object(body)) if event == "Merge Request Hook" else None
    if forge == "gitea":
        return _gitea(event, _object(body)) if event == "pull_request" else None
    raise HookError(f"unknown forge {texts.bound(forge, 40)!r}")


def _github(event: str, payload: dict[str, Any]) -> MergeRequestEvent | None:
    del event
    return _pull_request("github", payload, updated="synchronize")


def _gitea(event: str, payload: dict[str, Any]) -> MergeRequestEvent | None:
    del event
    return _pull_request("gitea", payload, updated="synchronized")


def _pull_request(forge: str, payload: dict[str, Any], *, updated: str) -> MergeRequestEvent | None:
    """A ``pull_request`` delivery of GitHub or Gitea (Gitea mirrors GitHub's payload; its
    new-commits action is ``synchronized`` and it sends no ``author_association``)."""
    pull = _field(payload, "pull_request", dict)
    action = _field(payload, "action", str)
    merged = pull.get("merged") is True
    mapped = {
        "opened": MergeAction.OPENED,
        updated: MergeAction.UPDATED,
        "reopened": MergeAction.REOPENED,
        "closed": MergeAction.MERGED if merged else MergeAction.CLOSED,
    }.get(action)
    if mapped is None:
        return None
    head = _field(pull, "head", dict)
    base = _field(pull, "base", dict)
    association = pull.get("author_association") if forge == "github" else None
    return MergeRequestEvent(
        forge=forge,
        action=mapped,
        number=_number(pull, "number"),
        head_sha=_sha(head, "sha"),
        head_ref=_text(head, "ref"),
        base_ref=_text(base, "ref"),
        base_repo=_required(_repo_name(base.get("repo"), "full_name"), "base.repo.full_name"),
        head_repo=_repo_name(head.get("repo"), "full_name"),
        author=_text(_field(pull, "user", dict), "login"),
        title=_text(pull, "title", required=False),
        url=_text(pull, "html_url", required=False),
        author_association=texts.bound(association, 40) if isinstance(association, str) else None,
        merge_sha=_optional_sha(pull, "merge_commit_sha") if merged else None,
    )


def _gitlab(payload: dict[str, Any]) -> MergeRequestEvent | None:
    if payload.get("object_kind") != "merge_request":
        raise HookError("object_kind: expected 'merge_request'")
    attributes = _field(payload, "object_attributes", dict)
    action = attributes.get("action")
    if action == "update" and "oldrev" not in attributes:
        return None  # a title, a label, an assignee: no new commit to plan
    mapped = {
        "open": MergeAction.OPENED,
        "update": MergeAction.UPDATED,
        "reopen": MergeAction.REOPENED,
        "close": MergeAction.CLOSED,
        "merge": MergeAction.MERGED,
    }.get(action if isinstance(action, str) else "")
    if mapped is None:
        return None
    last = _field(attributes, "last_commit", dict)
    return MergeRequestEvent(
        forge="gitlab",
        action=mapped,
        number=_number(attributes, "iid"),
        head_sha=_sha(last, "id"),
        head_ref=_text(attributes, "source_branch"),
        base_ref=_text(attributes, "target_branch"),
        base_repo=_required(
            _repo_name(attributes.get("target"), "path_with_namespace"), "target.path_with_namespace"
        ),
        head_repo=_repo_name(attributes.get("source"), "path_with_namespace"),
        author=_text(_field(payload, "user", dict), "username"),
        title=_text(attributes, "title", required=False),
        url=_text(attributes, "url", required=False),
        merge_sha=_optional_sha(attributes, "merge_commit_sha") if mapped is MergeAction.MERGED else None,
    )


@dataclass(frozen=True)
class PlanCommand:
    """A ``/truenorth plan`` comment on merge request ``number`` of ``base_repo`` by ``author``."""

    forge: str
    number: int
    base_repo: str
    author: str
    #: The commenter's standing on the repository when the payload says (GitHub); else None.
    author_association: str | None = None


def parse_comment(forge: str, event: str, body: bytes) -> PlanCommand | None:
    """A verified comment delivery: the ``/truenorth plan`` command it holds, or None.

    Only a new comment whose first line is exactly :data:`COMMAND` on a merge request
    counts (an edit, a comment on an issue, a quote of the command in a sentence: None).
    """
    if len(body) > MAX_BODY:
        raise HookError(f"body over {MAX_BODY} bytes")
    if forge in ("github", "gitea") and event == "issue_comment":
        payload = _object(body)
        if payload.get("action") != "created":
            return None
        issue = _field(payload, "issue", dict)
        comment = _field(payload, "comment", dict)
        if not issue.get("pull_request") or not _is_command(comment.get("body")):
            return None
        association = comment.get("author_association")
        user = comment.get("user") if isinstance(comment.get("user"), dict) else payload.get("sender")
        return PlanCommand(
            forge=forge,
            number=_number(issue, "number"),
            base_repo=_required(_repo_name(payload.get("repository"), "full_name"), "repository.full_name"),
            author=_text(user if isinstance(user, dict) else {}, "login"),
            author_association=texts.bound(association, 40) if isinstance(association, str) else None,
        )
    if forge == "gitlab" and event == "Note Hook":
        payload = _object(body)
        note = _field(payload, "object_attributes", dict)
        if note.get("noteable_type") != "MergeRequest" or not _is_command(note.get("note")):
            return None
        return PlanCommand(
            forge=forge,
            number=_number(_field(payload, "merge_request", dict), "iid"),
            base_repo=_required(
                _repo_name(payload.get("project"), "path_with_namespace"), "project.path_with_namespace"
            ),
            author=_text(_field(payload, "user", dict), "username"),
        )
    return None


def _is_command(text: Any) -> bool:
    if not isinstance(text, str):
        return False
    first = text[:200].lstrip().split("\n", 1)[0]
    return first.strip() == COMMAND


def _object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise HookError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise HookError("the body is not a JSON object")
    return payload


def _field(item: dict[str, Any], key: str, kind: type) -> Any:
    value = item.get(key)
    if not isinstance(value, kind):
        raise HookError(f"{key}: missing or not a{'n object' if kind is dict else ' ' + kind.__name__}")
    return value


def _text(item: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = item.get(key)
    if not isinstance(value, str) or (required and not value):
        if required:
            raise HookError(f"{key}: missing or not text")
        return ""
    return texts.escape_controls(texts.bound(value, _MAX_TEXT), keep_newlines=False)


def _number(item: dict[str, Any], key: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**53:
        raise HookError(f"{key}: missing or not a positive number")
    return value


def _sha(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise HookError(f"{key}: missing or not a commit SHA")
    return value


def _optional_sha(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    return value if isinstance(value, str) and _SHA.fullmatch(value) else None


def _required(value: str, where: str) -> str:
    if not value:
        raise HookError(f"{where}: missing")
    return value


def _repo_name(repo: Any, key: str) -> str:
    if repo is None:
        return ""
    if not isinstance(repo, dict):
        raise HookError("repo: not an object")
    return _text(repo, key, required=False)
