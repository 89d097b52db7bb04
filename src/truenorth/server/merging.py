"""``POST /api/v1/webhooks/merge-requests/{forge}``: merge requests and ``/truenorth plan`` comments.

Point a forge's webhook for merge-request (GitHub: *Pull requests* and *Issue comments*;
GitLab: *Merge request events* and *Comments*; Gitea/Forgejo: *Pull Request* and *Issue
Comment*) at this path, with the same secret as the push webhook. Checks, each before
the next reads on: the body size and time (``limits``) → a webhook secret is configured
(403) → the signature or token over the raw bytes (:func:`.signatures.verify`, 401) →
the event read by :mod:`truenorth.forges.hooks` (a malformed payload is a 400, never a
500) → the delivery id was not seen before (a redelivery or a replay answers 202
``duplicate`` and does nothing; the ids are remembered as the push webhook's are,
:mod:`.deliveries`) → handed to the controller (:meth:`merge_request_received`), which
answers at once and previews, comments and sets statuses in the background. With
replicas the controller hands the event to the repository's owner through the database
and keeps the delivery id there, so a redelivery to another replica is a duplicate too;
a store that cannot record it is a 503 (deliver again later). Other events answer 202
``ignored``; pings 200.
"""

from __future__ import annotations

import logging
from typing import Annotated, Protocol, runtime_checkable

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import JSONResponse

from truenorth.controller import errors as controller_errors
from truenorth.forges import hooks
from truenorth.server import deliveries, pushes, rejections, signatures

__all__ = ["MergeRequestPort", "router"]

_log = logging.getLogger(__name__)
Forge = Annotated[str, Path(pattern="^(github|gitlab|gitea)$")]
_EVENT_HEADERS = {
    "github": ("x-github-event",),
    "gitlab": ("x-gitlab-event",),
    "gitea": ("x-gitea-event", "x-forgejo-event"),
}
_PINGS = {"ping", "System Hook"}


@runtime_checkable
class MergeRequestPort(Protocol):
    """The controller as this endpoint uses it."""

    async def merge_request_received(
        self, event: hooks.MergeRequestEvent | hooks.PlanCommand, *, delivery: str | None = None
    ) -> str:
        """Act on a verified event (at once; the work goes on in the background); what was done."""
        ...


def router(
    controller: MergeRequestPort, *, secret: str | None, seen: deliveries.Deliveries | None = None
) -> APIRouter:
    """The endpoint, checking against the webhook ``secret``; ``seen``: the delivery ids handled."""
    api = APIRouter()
    handled = seen if seen is not None else deliveries.Deliveries()

    @api.post("/webhooks/merge-requests/{forge}", status_code=status.HTTP_202_ACCEPTED, tags=["webhooks"])
    async def receive(forge: Forge, request: Request) -> JSONResponse:
        """A merge-request event or a ``/truenorth plan`` comment from GitHub, GitLab or Gitea/Forgejo."""
        body = await request.body()
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            signatures.verify(forge, headers, body, secret=secret)
        except rejections.RejectedError as refused:
            return JSONResponse({"detail": refused.message}, status_code=refused.status)
        kind = next((headers[name] for name in _EVENT_HEADERS[forge] if name in headers), "")[:64]
        if kind in _PINGS:
            return JSONResponse({"event": "ping"}, status_code=200)
        try:
            event: hooks.MergeRequestEvent | hooks.PlanCommand | None = hooks.parse(forge, kind, body)
            if event is None:
                event = hooks.parse_comment(forge, kind, body)
        except hooks.HookError as exc:
            return JSONResponse({"detail": f"malformed {forge} payload: {exc}"}, status_code=400)
        except Exception:  # a parsing bug is still the sender's 400, never a 500
            _log.exception("merge-request webhook from %s: unexpected error while parsing", forge)
            return JSONResponse({"detail": "payload could not be read"}, status_code=400)
        if event is None:
            return JSONResponse({"event": kind, "ignored": True}, status_code=202)
        try:
            delivery = pushes.delivery_id(forge, headers)
        except rejections.RejectedError as refused:
            return JSONResponse({"detail": refused.message}, status_code=refused.status)
        seen_as = f"{forge}:merge-request"
        if delivery is not None and not handled.first_time(seen_as, delivery):
            return JSONResponse({"event": kind, "duplicate": True}, status_code=202)
        try:
            done = await controller.merge_request_received(event, delivery=delivery)
        except controller_errors.ControllerError as exc:
            if delivery is not None:
                handled.forget(seen_as, delivery)
            if exc.kind != controller_errors.UNAVAILABLE:
                return JSONResponse({"detail": exc.message}, status_code=400)
            _log.warning("merge-request webhook from %s not recorded: %s", forge, exc.message)
            unavailable = "the event cannot be recorded now (state database unavailable); deliver it again"
            return JSONResponse({"detail": unavailable}, status_code=503)
        except Exception:
            if delivery is not None:
                handled.forget(seen_as, delivery)
            _log.exception("merge-request webhook from %s: the event could not be handled", forge)
            return JSONResponse({"detail": "the event could not be handled"}, status_code=400)
        return JSONResponse({"event": kind, "result": done}, status_code=202)

    return api
