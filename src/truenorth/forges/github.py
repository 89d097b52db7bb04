"""GitHub's REST API (and GitHub Enterprise's, under ``https://HOST/api/v3``).

A pull request is an issue for comments: ``GET|POST /repos/{owner}/{repo}/issues/{number}/comments``,
``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}``; a commit status is
``POST /repos/{owner}/{repo}/statuses/{sha}`` with ``state``, ``target_url``,
``description``, ``context``. Authenticated with ``Authorization: Bearer TOKEN``, with
``Accept: application/vnd.github+json`` and ``X-GitHub-Api-Version: 2022-11-28`` as
GitHub's documentation asks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from truenorth.forges import commenting, comments, protocol, transport

__all__ = ["API_URL", "GitHub", "connect"]

API_URL = "https://api.github.com"


def connect(settings: protocol.ForgeSettings) -> GitHub:
    """The adapter for ``settings`` (``project`` is ``owner/repo``)."""
    http = transport.Transport(
        settings.api_url or API_URL,
        forge="github",
        secret=settings.token,
        headers={
            "Authorization": f"Bearer {settings.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    return GitHub(settings, http)


class GitHub(commenting.Adapter):
    """Comments and statuses on GitHub."""

    limit = comments.LIMITS["github"]

    @property
    def _repo(self) -> str:
        owner, _, name = self.settings.project.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    async def list_comments(self, number: int, page: int) -> Any:
        return await self.http.request(
            "GET",
            f"{self._repo}/issues/{int(number)}/comments",
            params={"per_page": commenting.PER_PAGE, "page": page},
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
