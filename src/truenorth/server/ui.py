"""The read-only web UI: a static page that shows the controller's stacks, runs and logs.

``GET /`` serves ``static/index.html``, ``GET /ui/app.js`` and ``GET /ui/app.css`` its
script and style. They hold no data and no secret, so they need no token: the page asks
for an API token (or reads it from the URL fragment, which never reaches the server) and
calls ``/api/v1`` with it. Every answer carries a strict Content-Security-Policy: only
this origin's script and style, no inline code, no framing. The script inserts every API
value as text, never as HTML (case 17: commit subjects and names are written by whoever
can push to Git).
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
    """The UI's routes: the page, its script and its style (no authentication, no data)."""
    ui = APIRouter(tags=["ui"], include_in_schema=False)
    for path, (filename, media_type) in STATIC_FILES.items():
        ui.add_api_route(path, _endpoint(filename, media_type), methods=["GET"], response_class=Response)
    return ui


def _endpoint(filename: str, media_type: str) -> Callable[[], Response]:
    """A handler without parameters: nothing in the request picks the file."""

    def serve() -> Response:
        return _serve(filename, media_type)

    return serve
