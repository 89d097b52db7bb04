"""Gitea's and Forgejo's REST API (``https://HOST/api/v1``).

Comments: ``GET|POST /repos/{owner}/{repo}/issues/{index}/comments``, ``PATCH
/repos/{owner}/{repo}/issues/comments/{id}``; a commit status: ``POST
/repos/{owner}/{repo}/statuses/{sha}`` with ``state``, ``target_url``, ``description``,
``context``. Authenticated with ``Authorization: token TOKEN``. The comment list takes
``page`` and ``limit`` on current versions (older ones ignore them and answer all).
"""

from __future__ import annotations

from typing import Any

from truenorth.forges import commenting, comments, github, protocol, transport

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


class Gitea(github.GitHub):
    """Comments and statuses on Gitea and Forgejo: GitHub's paths and bodies (Gitea
    mirrors that API), its own comment limit and paging parameter."""

    limit = comments.LIMITS["gitea"]

    async def list_comments(self, number: int, page: int) -> Any:
        return await self.http.request(
            "GET",
            f"{self._repo}/issues/{int(number)}/comments",
            params={"page": page, "limit": commenting.PER_PAGE},
        )
