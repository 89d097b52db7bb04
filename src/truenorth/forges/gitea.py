"""Gitea's and Forgejo's REST API (``https://HOST/api/v1``).

Comments: ``GET|POST /repos/{owner}/{repo}/issues/{index}/comments``, ``PATCH
/repos/{owner}/{repo}/issues/comments/{id}``; a commit status: ``POST
/repos/{owner}/{repo}/statuses/{sha}`` with ``state``, ``target_url``, ``description``,
``context``. Authenticated with ``Authorization: token TOKEN``. The comment list takes
``page`` and ``limit`` on current versions (older ones ignore them and answer all).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from truenorth.forges import commenting, comments, protocol, transport

__all__ = ["Gitea", "connect"]


def connect(settings: protocol.ForgeSettings) -> Gitea:
    """The adapter for ``settings`` (``api_url`` ends in ``/api/v1``; ``project`` is ``owner/repo``)."""
    http = transport.Transport(
        settings.api_url,
        forge="gitea",
        secret=settings.token,
        headers={"Authorization": f"token {settings.token}", "Accept": "application/json"},
    )
    return Gitea(settings, http)


class Gitea(commenting.Adapter):
    """Comments and statuses on Gitea and Forgejo."""

    limit = comments.LIMITS["gitea"]

    @property
    def _repo(self) -> str:
        owner, _, name = self.settings.project.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    async def list_comments(self, number: int, page: int) -> Any:
        return await self.http.request(
            "GET",
            f"{self._repo}/issues/{int(number)}/comments",
            params={"page": page, "limit": commenting.PER_PAGE},
        )

    async def create_comment(self, number: int, body: str) -> Any:
        return await self.http.request(
            "POST", f"{self._repo}/issues/{int(number)}/comments", body={"body": body}
        )

    async def edit_comment(self, number: int, comment: int, body: str) -> Any:
        del number
        return await self.http.request(
            "PATCH", f"{self._repo}/issues/comments/{int(comment)}", body={"body": body}
        )

    async def post_status(self, sha: str, status: protocol.CommitStatus) -> Any:
        body: dict[str, Any] = {
            "state": status.state.value,
            "context": status.context,
            "description": status.shown_description(),
        }
        if status.link():
            body["target_url"] = status.link()
        return await self.http.request("POST", f"{self._repo}/statuses/{sha}", body=body)
