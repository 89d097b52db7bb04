"""The web UI: a static page that shows the controller's stacks, plans, runs and logs, and acts.

``GET /`` serves ``static/index.html``, ``GET /ui/app.js`` and ``GET /ui/app.css`` its
script and style; ``GET /api/v1/docs`` a page of our own that renders
``/api/v1/openapi.json`` (``docs.html`` and ``/ui/docs.js``: FastAPI's Swagger UI loads
from a CDN, and nothing here may leave the origin). They hold no data and no secret, so
they need no token. The page logs in with an API token typed into its form
(:mod:`.sessions`: the browser keeps only an HttpOnly session cookie), reads
``/api/v1`` with that session, follows changes through :mod:`.events`, and sends its
actions with the session's CSRF token. Every view has its own address in the URL's
fragment (``#/stacks/<repository>/<name>``, ``#/runs/<id>``, the overview's filters), so
views can be linked and the browser's back and forward work. Every answer carries a
strict Content-Security-Policy: only this origin's script and style, no inline code, no
framing. The scripts insert every API value as text, never as HTML (case 17: commit
subjects and names are written by whoever can push to Git).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources

from fastapi import APIRouter, Response

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_FILES", "router"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

# URL path -> (file under static/, media type). Nothing else is served from there.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/ui/app.css": ("app.css", "text/css; charset=utf-8"),
    "/api/v1/docs": ("docs.html", "text/html; charset=utf-8"),
    "/ui/docs.js": ("docs.js", "text/javascript; charset=utf-8"),
}


@cache
def _content(filename: str) -> bytes:
    return resources.files("truenorth.server").joinpath("static", filename).read_bytes()


def _serve(filename: str, media_type: str) -> Response:
    return Response(
        _content(filename),
        media_type=media_type,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


def router() -> APIRouter:
    """The UI's routes: the pages, their scripts and style (no authentication, no data)."""
    ui = APIRouter(tags=["ui"], include_in_schema=False)
    for path, (filename, media_type) in STATIC_FILES.items():
        ui.add_api_route(path, _endpoint(filename, media_type), methods=["GET"], response_class=Response)
    return ui


def _endpoint(filename: str, media_type: str) -> Callable[[], Response]:
    """A handler without parameters: nothing in the request picks the file."""

    def serve() -> Response:
        return _serve(filename, media_type)

    return serve
