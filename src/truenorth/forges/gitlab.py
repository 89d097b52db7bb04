"""GitLab's REST API (``https://HOST/api/v4``).

Comments on a merge request are notes: ``GET|POST /projects/:id/merge_requests/:iid/notes``,
``PUT /projects/:id/merge_requests/:iid/notes/:note_id``; system notes ("added 1
commit") are skipped. A commit status is ``POST /projects/:id/statuses/:sha`` with
``state`` (``pending``, ``success``, ``failed``), ``name``, ``target_url``,
``description``. ``:id`` is the project's numeric id or its URL-encoded path
(``group%2Fproject``). Authenticated with ``PRIVATE-TOKEN: TOKEN``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from truenorth.forges import commenting, comments, protocol, transport

__all__ = ["API_URL", "GitLab", "connect"]

API_URL = "https://gitlab.com/api/v4"
_STATES = {
    protocol.CommitState.PENDING: "pending",
    protocol.CommitState.SUCCESS: "success",
    protocol.CommitState.FAILURE: "failed",
    protocol.CommitState.ERROR: "failed",
}


def connect(settings: protocol.ForgeSettings) -> GitLab:
    """The adapter for ``settings`` (``project`` is ``group/project`` or a numeric id)."""
    http = transport.Transport(
        settings.api_url or API_URL,
        forge="gitlab",
        secret=settings.token,
        headers={"PRIVATE-TOKEN": settings.token, "Accept": "application/json"},
    )
    return GitLab(settings, http)


class GitLab(commenting.Adapter):
    """Notes and statuses on GitLab."""

    limit = comments.LIMITS["gitlab"]

    @property
    def _project(self) -> str:
        return f"/projects/{quote(self.settings.project, safe='')}"

    async def list_comments(self, number: int, page: int) -> Any:
        answer = await self.http.request(
            "GET",
            f"{self._project}/merge_requests/{int(number)}/notes",
            params={"per_page": commenting.PER_PAGE, "page": page, "sort": "asc", "order_by": "created_at"},
        )
        if isinstance(answer, list):  # system notes cannot be edited: never ours
            return [item if not (isinstance(item, dict) and item.get("system")) else {} for item in answer]
        return answer

    async def create_comment(self, number: int, body: str) -> Any:
        return await self.http.request(
            "POST", f"{self._project}/merge_requests/{int(number)}/notes", body={"body": body}
        )

    async def edit_comment(self, number: int, comment: int, body: str) -> Any:
        return await self.http.request(
            "PUT", f"{self._project}/merge_requests/{int(number)}/notes/{int(comment)}", body={"body": body}
        )

    async def post_status(self, sha: str, status: protocol.CommitStatus) -> Any:
        body: dict[str, Any] = {
            "state": _STATES[status.state],
            "name": status.context,
            "description": status.shown_description(),
        }
        if status.link():
            body["target_url"] = status.link()
        return await self.http.request("POST", f"{self._project}/statuses/{sha}", body=body)

    def login(self, user: dict[str, Any]) -> str | None:
        name = user.get("username")
        return name if isinstance(name, str) else None

    def author(self, comment: dict[str, Any]) -> str | None:
        user = comment.get("author")
        return self.login(user) if isinstance(user, dict) else None
