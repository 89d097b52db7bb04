"""The controller's HTTP face: one FastAPI app for the API, webhooks, health and metrics.

:func:`create_app` wires the routes of :mod:`~truenorth.server.api` and
:mod:`~truenorth.server.receiving` under ``/api/v1`` (OpenAPI at
``/api/v1/openapi.json``, a self-contained docs page at ``/api/v1/docs``), ``/healthz`` (the process answers),
``/readyz`` (the controller is ready: 503 until then), ``/metrics`` (Prometheus text;
unauthenticated like Argo CD's metrics port: bind the listen address accordingly) and
the web UI at ``/`` (:mod:`~truenorth.server.ui`; its data comes from the API with a
browser session, :mod:`~truenorth.server.sessions`; live updates from
:mod:`~truenorth.server.events`). The
app's lifespan starts and stops the controller. Body size and time limits wrap the
whole app. Errors are JSON ``{"detail": "..."}``; validation errors never echo the
input, and every string in every JSON answer passes the secret redactor on its way out.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from truenorth import __version__
from truenorth import config as controller_config
from truenorth.core import redaction
from truenorth.server import (
    api,
    auth,
    deliveries,
    events,
    headers,
    limits,
    merging,
    metrics,
    notifications,
    ports,
    receiving,
    sessions,
    signatures,
    ui,
)

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"
_log = logging.getLogger(__name__)
_WEBHOOK_PREFIX = f"{API_PREFIX}/webhooks/"


def create_app(
    controller: ports.ControllerPort,
    config: controller_config.ControllerConfig,
    *,
    max_body: int = limits.DEFAULT_MAX_BODY,
    body_timeout: float = limits.DEFAULT_BODY_TIMEOUT,
) -> FastAPI:
    """The ASGI app serving ``controller`` with ``config``'s tokens and webhook secret."""
    redact = redaction.Redactor(config.secret_values())
    response_class = _redacting_response(redact)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await controller.start()
        try:
            yield
        finally:
            await controller.stop()

    app = FastAPI(
        title="truenorth",
        version=__version__,
        description="GitOps control plane for Terraform, Ansible and Kubernetes.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # ui.py serves a self-contained docs page there (Swagger UI loads from a CDN)
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=response_class,
    )
    app.state.tokens = auth.Tokens((t.name, t.role, t.token) for t in config.tokens)
    app.state.sessions = sessions.Sessions(secure_cookies=config.secure_cookies)
    app.state.streams = events.Streams()
    app.state.scrub = lambda value: _scrub(value, redact)
    webhooks = metrics.webhook_counter(controller.metrics)
    app.include_router(api.router(controller), prefix=API_PREFIX)
    app.include_router(events.router(controller), prefix=API_PREFIX)
    app.include_router(sessions.router(), prefix=API_PREFIX)
    if isinstance(controller, notifications.NotificationPort):
        app.include_router(notifications.router(controller), prefix=API_PREFIX)
    if isinstance(controller, merging.MergeRequestPort):
        app.include_router(merging.router(controller, secret=config.webhook_secret), prefix=API_PREFIX)
    app.include_router(
        receiving.router(
            controller, secret=config.webhook_secret, seen=deliveries.Deliveries(), counter=webhooks
        ),
        prefix=API_PREFIX,
    )
    app.include_router(ui.router())

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "Not ready yet."}})
    def readyz() -> Response:
        """The controller can serve: its store answers and every repository was checked once."""
        try:
            ready = controller.is_ready()
        except Exception:
            _log.exception("readiness check failed")
            ready = False
        body: dict[str, Any] = {"status": "ready" if ready else "not ready"}
        with contextlib.suppress(Exception):  # a detail: never what decides readiness
            body["sandbox"] = dict(controller.sandbox_status())
        return response_class(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    def prometheus() -> Response:
        """Every ``truenorth_*`` series in the Prometheus text format (no authentication)."""
        return Response(metrics.exposition(controller.registry), media_type=metrics.CONTENT_TYPE)

    _install_error_handlers(app, response_class)

    def rejected(path: str, status: int) -> None:
        if path.startswith(_WEBHOOK_PREFIX):
            provider = path[len(_WEBHOOK_PREFIX) :].strip("/")
            if provider in signatures.PROVIDERS:
                webhooks(provider, "too_large" if status == 413 else "timeout")

    app.add_middleware(limits.BodyLimits, max_body=max_body, body_timeout=body_timeout, on_reject=rejected)
    app.add_middleware(headers.SecurityHeaders)
    return app


def _install_error_handlers(app: FastAPI, response_class: type[JSONResponse]) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        return response_class({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        problems = [_problem(error) for error in exc.errors()]
        detail = "invalid request: " + "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)
        return response_class({"detail": detail, "errors": problems}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(_request: Request, exc: Exception) -> Response:
        _log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return response_class({"detail": "internal error"}, status_code=500)


def _problem(error: Any) -> dict[str, str]:
    """One validation error without the offending input (it may be a secret)."""
    location = ".".join(str(part) for part in error.get("loc", ()))
    return {"loc": location, "msg": str(error.get("msg", "invalid")), "type": str(error.get("type", ""))}


def _redacting_response(redact: redaction.Redactor) -> type[JSONResponse]:
    class RedactingJSONResponse(JSONResponse):
        """JSON whose every string has passed the secret redactor."""

        def render(self, content: Any) -> bytes:
            return json.dumps(
                _scrub(content, redact), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")

    return RedactingJSONResponse


def _scrub(value: Any, redact: redaction.Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_scrub(k, redact): _scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, redact) for item in value]
    return value
