"""``POST /api/v1/webhooks/{provider}``: from a forge's push to a reconcile, safely.

Order of checks, each answering before the next reads on: the body size and time
(``limits``, in front of the app) → a webhook secret is configured (403 if not) → the
signature or token over the raw bytes (401) → the event and payload shape (400/422;
anything unexpected while parsing is a 400, never a 500) → the delivery id was not
seen before (duplicates: 202 ``duplicate: true``, nothing triggered) → the push is
handed to :meth:`Controller.push_received`, which matches its URLs and ref against the
tracked repositories and coalesces bursts into one fetch. Pings answer 200; events
other than pushes 202 ``ignored``. Every outcome is counted in
``truenorth_webhooks_total``.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse

from truenorth.controller import errors as controller_errors
from truenorth.git import errors as git_errors
from truenorth.git import urls as git_urls
from truenorth.server import deliveries, metrics, ports, pushes, rejections, schemas, signatures

__all__ = ["router"]

_log = logging.getLogger(__name__)
Provider = Annotated[str, Path(pattern="^(github|gitlab|gitea|generic)$")]
_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": schemas.Error, "description": text}
    for code, text in (
        (400, "Malformed payload or headers."),
        (401, "Missing or wrong signature or token."),
        (403, "No webhook secret is configured."),
        (413, "Body over 1 MiB."),
        (422, "Payload of the wrong shape."),
    )
}


def router(
    controller: ports.ControllerPort,
    *,
    secret: str | None,
    seen: deliveries.Deliveries,
    counter: metrics.WebhookCounter,
) -> APIRouter:
    """The webhook endpoints, checking against ``secret``."""
    api = APIRouter()

    @api.post(
        "/webhooks/{provider}",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=schemas.WebhookResult,
        responses={200: {"model": schemas.WebhookResult, "description": "A ping."}, **_RESPONSES},
        tags=["webhooks"],
    )
    async def receive(provider: Provider, request: Request) -> JSONResponse:
        """Receive a push from GitHub, GitLab, Gitea/Forgejo, or anything (generic)."""
        body = await request.body()
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            signatures.verify(provider, headers, body, secret=secret)
            delivery = _parse(provider, headers, body)
        except rejections.RejectedError as refused:
            counter(provider, refused.outcome)
            return JSONResponse({"detail": refused.message}, status_code=refused.status)
        if delivery.is_ping:
            counter(provider, "ping")
            return _answer(200, schemas.WebhookResult(event="ping"))
        if delivery.push is None:
            counter(provider, "ignored")
            return _answer(202, schemas.WebhookResult(event=delivery.event, ignored=True))
        if delivery.delivery_id is not None and not seen.first_time(provider, delivery.delivery_id):
            counter(provider, "duplicate")
            return _answer(202, schemas.WebhookResult(event="push", duplicate=True))
        try:
            triggered = controller.push_received(
                repository_urls=_usable(delivery.push.urls), ref=delivery.push.ref, sha=delivery.push.sha
            )
        except controller_errors.ControllerError as exc:
            _forget(seen, provider, delivery.delivery_id)
            counter(provider, "error")
            code = 503 if exc.kind == controller_errors.UNAVAILABLE else 400
            raise HTTPException(code, exc.message) from None
        except Exception:
            _forget(seen, provider, delivery.delivery_id)
            counter(provider, "error")
            _log.exception("webhook from %s: the push could not be handled", provider)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the push could not be handled") from None
        counter(provider, "triggered" if triggered else "unmatched")
        return _answer(202, schemas.WebhookResult(event="push", triggered=list(triggered)))

    return api


def _parse(provider: str, headers: dict[str, str], body: bytes) -> pushes.Delivery:
    try:
        return pushes.parse(provider, headers, body)
    except rejections.RejectedError:
        raise
    except Exception:  # A parsing bug must still be the sender's 400, never a 500.
        _log.exception("webhook from %s: unexpected error while parsing", provider)
        raise rejections.RejectedError(400, "payload could not be read", outcome="malformed") from None


def _usable(urls: tuple[str, ...]) -> list[str]:
    """The URLs git accepts as repository addresses (others can match nothing)."""
    usable = []
    for url in urls:
        try:
            git_urls.normalize(url)
        except (git_errors.GitError, ValueError):
            continue
        usable.append(url)
    return usable


def _forget(seen: deliveries.Deliveries, provider: str, delivery_id: str | None) -> None:
    if delivery_id is not None:
        seen.forget(provider, delivery_id)


def _answer(code: int, result: schemas.WebhookResult) -> JSONResponse:
    return JSONResponse(result.model_dump(), status_code=code)
