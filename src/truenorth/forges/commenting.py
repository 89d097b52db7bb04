"""One comment per merge request, the same way on every forge: find it by its marker, edit it.

:class:`Adapter` holds what the three forges share. To keep ONE comment, it lists the
merge request's comments (page by page, at most :data:`MAX_PAGES` pages), takes the
first whose body starts with :data:`~truenorth.forges.comments.MARKER` *and* whose author
is the token's own user (asked once from the forge), and edits it; only when there is
none does it add one. Checking the author matters: anybody can write the marker in a
comment of their own, and a token allowed to edit other people's comments must not
overwrite theirs. When the forge will not say who the token is (a GitHub App's
installation token cannot read ``/user``), the marker alone decides.

A subclass gives the forge's paths and field names (:mod:`~truenorth.forges.github`,
:mod:`~truenorth.forges.gitlab`, :mod:`~truenorth.forges.gitea`).
"""

from __future__ import annotations

import abc
from typing import Any

from truenorth.forges import comments, protocol, transport

__all__ = ["MAX_PAGES", "PER_PAGE", "Adapter"]

PER_PAGE = 100
MAX_PAGES = 50
_UNKNOWN = object()


class Adapter(abc.ABC):
    """The shared part of a forge adapter; subclasses fill in the forge's REST API."""

    limit: int = comments.LIMITS["github"]
    #: The path that says who the token is.
    identity_path: str = "/user"

    def __init__(self, settings: protocol.ForgeSettings, http: transport.Transport) -> None:
        self.settings = settings
        self.http = http
        self._me: object = _UNKNOWN

    async def upsert_comment(self, number: int, body: str) -> int:
        """Edit truenorth's comment on merge request ``number``, or add it; its id."""
        if not body.startswith(comments.MARKER):
            body = f"{comments.MARKER}\n{body}"
        if len(body) > self.limit:
            raise transport.ForgeError(f"the comment is over this forge's limit of {self.limit:,} characters")
        found = await self._find(number)
        if found is None:
            return _id(await self.create_comment(number, body))
        await self.edit_comment(number, found, body)
        return found

    async def set_status(self, sha: str, status: protocol.CommitStatus) -> None:
        """Set ``status`` on commit ``sha`` (a full hex SHA)."""
        if not (7 <= len(sha) <= 64 and all(char in "0123456789abcdefABCDEF" for char in sha)):
            raise transport.ForgeError("a commit status needs a hex commit SHA")
        await self.post_status(sha, status)

    async def close(self) -> None:
        """Release the HTTP client."""
        await self.http.close()

    async def _find(self, number: int) -> int | None:
        me = await self._identity()
        for page in range(1, MAX_PAGES + 1):
            items = await self.list_comments(number, page)
            if not isinstance(items, list):
                raise transport.ForgeError(f"{self.settings.kind}: the comment list is not a list")
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("body"), str):
                    continue
                if item["body"].startswith(comments.MARKER) and (me is None or self.author(item) == me):
                    return _id(item)
            if len(items) < PER_PAGE:
                return None
        return None

    async def _identity(self) -> str | None:
        if self._me is _UNKNOWN:
            try:
                answer = await self.http.request("GET", self.identity_path)
            except transport.ForgeError as exc:
                if exc.status not in (401, 403, 404):
                    raise
                answer = None
            self._me = self.login(answer) if isinstance(answer, dict) else None
        return self._me if isinstance(self._me, str) else None

    # The forge's REST API, by the subclass.
    @abc.abstractmethod
    async def list_comments(self, number: int, page: int) -> Any:
        """One page of the merge request's comments, oldest first."""

    @abc.abstractmethod
    async def create_comment(self, number: int, body: str) -> Any:
        """Add a comment; the forge's answer (with ``id``)."""

    @abc.abstractmethod
    async def edit_comment(self, number: int, comment: int, body: str) -> Any:
        """Replace comment ``comment``'s body."""

    @abc.abstractmethod
    async def post_status(self, sha: str, status: protocol.CommitStatus) -> Any:
        """Set a commit status."""

    def login(self, user: dict[str, Any]) -> str | None:
        """The user name in the identity answer."""
        name = user.get("login")
        return name if isinstance(name, str) else None

    def author(self, comment: dict[str, Any]) -> str | None:
        """The user name of a comment's author."""
        user = comment.get("user")
        return self.login(user) if isinstance(user, dict) else None


def _id(item: Any) -> int:
    value = item.get("id") if isinstance(item, dict) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise transport.ForgeError("the forge's answer has no comment id")
    return value
