"""Browser sessions for the web UI: a token typed once, then an HttpOnly cookie.

The login page posts an API token to ``POST /api/v1/session``; when it is valid, the
server makes a session (a random id of 256 bits, the token's configured name and role,
a CSRF token, an expiry) and sets the cookie ``truenorth_session`` to the *id*: the API
token itself never reaches a cookie, the page's storage or its URL. The cookie is
``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page sends it),
``Path=/`` and ``Secure`` when the request came over TLS, or always with ``[ui]
secure_cookies`` (a TLS-terminating proxy in front: :mod:`truenorth.config.interface`),
which also makes the page's origin ``https://``. Sessions live in the server's
memory: a restart, ``DELETE /api/v1/session`` (logout) or the expiry (``SESSION_TTL``
after login, whatever the activity) ends them; at most ``MAX_SESSIONS`` exist (the
oldest go first).

A request authenticated by the cookie that changes something (any method but GET,
HEAD, OPTIONS) must also carry the session's CSRF token in ``X-CSRF-Token`` (the page
reads it from ``GET /api/v1/session``) and, when the browser sends one, an ``Origin``
equal to the server's own: a form or script on another site can neither read the token
nor forge the origin. Bearer tokens (the CLI, scripts) are unchanged and need neither.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "MAX_SESSIONS",
    "SAFE_METHODS",
    "SESSION_TTL",
    "Session",
    "SessionInfo",
    "Sessions",
    "over_tls",
    "router",
    "same_origin",
]

#: The cookie holding the session id.
COOKIE = "truenorth_session"
#: The header a cookie-authenticated change must carry, holding the session's CSRF token.
CSRF_HEADER = "X-CSRF-Token"
#: Seconds a session lasts from its login.
SESSION_TTL = 8 * 3600
#: The most sessions kept at once; the oldest are dropped past it.
MAX_SESSIONS = 10_000
#: Methods that never change anything (no CSRF token needed).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_ID = 128


@dataclass(frozen=True)
class Session:
    """One logged-in browser: who (the token's configured name and role), its CSRF token, its end."""

    id: str
    name: str
    role: str
    csrf: str
    expires_at: float


class Sessions:
    """The live sessions of one server, in memory, bounded and expiring."""

    def __init__(
        self,
        *,
        ttl: float = SESSION_TTL,
        limit: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.time,
        secure_cookies: bool = False,
    ) -> None:
        #: Browsers reach this server over HTTPS even when the request here is plain HTTP.
        self.secure_cookies = secure_cookies
        self._ttl = ttl
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def start(self, *, name: str, role: str) -> Session:
        """A new session for the caller ``name`` with ``role``."""
        session = Session(
            id=secrets.token_urlsafe(32),
            name=name,
            role=role,
            csrf=secrets.token_urlsafe(32),
            expires_at=self._clock() + self._ttl,
        )
        with self._lock:
            self._items[session.id] = session
            while len(self._items) > self._limit:
                self._items.popitem(last=False)
        return session

    def find(self, session_id: str | None) -> Session | None:
        """The live session ``session_id`` names (None: unknown, malformed or expired)."""
        if not session_id or len(session_id) > _MAX_ID or not session_id.isascii():
            return None
        with self._lock:
            found = self._items.get(session_id)
            if found is not None and found.expires_at <= self._clock():
                del self._items[session_id]
                return None
        return found

    def end(self, session_id: str) -> None:
        """Forget the session (logout)."""
        with self._lock:
            self._items.pop(session_id, None)


def same_origin(request: Request) -> bool:
    """True unless the browser says the request comes from another origin than this server's."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET: SameSite=Strict covers the rest
    host = request.headers.get("host", "")
    scheme = "https" if over_tls(request) else request.url.scheme
    return origin in (f"{scheme}://{host}",)


def over_tls(request: Request) -> bool:
    """Whether the browser reached this server over HTTPS: directly, or through a TLS proxy
    that ``[ui] secure_cookies`` declares (``X-Forwarded-Proto`` is never trusted)."""
    store: Sessions = request.app.state.sessions
    return request.url.scheme == "https" or store.secure_cookies


def csrf_ok(request: Request, session: Session) -> bool:
    """True when a cookie-authenticated request may change something: same origin and the CSRF token."""
    if request.method in SAFE_METHODS:
        return True
    presented = request.headers.get(CSRF_HEADER, "")
    return same_origin(request) and hmac.compare_digest(
        presented.encode("latin-1", "replace"), session.csrf.encode()
    )


class Login(BaseModel):
    """The login form: an API token from the controller's configuration."""

    token: str = Field(min_length=1, max_length=4096)


class SessionInfo(BaseModel):
    """Who the session is, and the CSRF token its changes must carry in ``X-CSRF-Token``."""

    name: str
    role: str
    csrf_token: str
    expires_in: int = Field(description="Seconds until the session ends.")


def router() -> APIRouter:
    """``/session``: log in (POST), who am I (GET), log out (DELETE)."""
    api = APIRouter(tags=["session"])

    def info(session: Session) -> SessionInfo:
        left = max(0, int(session.expires_at - time.time()))
        return SessionInfo(name=session.name, role=session.role, csrf_token=session.csrf, expires_in=left)

    @api.post(
        "/session",
        response_model=SessionInfo,
        responses={401: {"description": "Unknown token."}, 403: {"description": "Another origin."}},
    )
    def login(request: Request, response: Response, body: Login) -> SessionInfo:
        """Start a browser session with an API token; the cookie holds a session id, never the token."""
        if not same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "login from another origin refused")
        principal = request.app.state.tokens.identify(body.token.strip())
        if principal is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or revoked token")
        store: Sessions = request.app.state.sessions
        session = store.start(name=principal.name, role=principal.role)
        response.set_cookie(
            COOKIE,
            session.id,
            max_age=int(session.expires_at - time.time()),
            path="/",
            secure=over_tls(request),
            httponly=True,
            samesite="strict",
        )
        return info(session)

    @api.get("/session", response_model=SessionInfo, responses={401: {"description": "No session."}})
    def whoami(session: Annotated[Session, Depends(current)]) -> SessionInfo:
        """The session's caller and its CSRF token."""
        return info(session)

    @api.delete("/session", status_code=204, responses={401: {"description": "No session."}})
    def logout(request: Request, session: Annotated[Session, Depends(current)]) -> Response:
        """End the session (needs its CSRF token) and clear the cookie."""
        if not csrf_ok(request, session):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
        store: Sessions = request.app.state.sessions
        store.end(session.id)
        answer = Response(status_code=204)
        answer.delete_cookie(COOKIE, path="/", secure=over_tls(request), httponly=True, samesite="strict")
        return answer

    return api


def current(request: Request) -> Session:
    """The request's live session (401 without one)."""
    store: Sessions = request.app.state.sessions
    found = store.find(request.cookies.get(COOKIE))
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not logged in")
    return found
