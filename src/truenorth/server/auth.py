"""Who is calling the API, and may they: bearer tokens with roles.

Tokens come from the controller's configuration (``[[tokens]]`` with a name, a role and
the token by reference, plus ``TRUENORTH_TOKEN`` as an admin token). Roles are ordered
``viewer < operator < admin``: viewers read, operators refresh, sync and approve,
admins also roll back. A presented token is compared in constant time against every
configured token (no early exit that would reveal which prefix matched). A missing,
malformed, unknown or revoked (removed from the configuration) token gets 401 with
``WWW-Authenticate: Bearer``; a valid token whose role is too low gets 403. The
caller's configured *name*, never the token, is what the controller records as actor.
Webhooks do not use these tokens: they carry their own secret.

A browser presents no token: it logs in once (:mod:`.sessions`) and sends the session
cookie; a request without ``Authorization`` is that session's caller, with the same
role checks, and a change it asks for must carry the session's CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from truenorth.server import sessions

__all__ = ["ROLE_RANK", "Admin", "Operator", "Principal", "Tokens", "Viewer", "bearer_scheme", "require"]

#: Roles from least to most powerful.
ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}
_MAX_TOKEN = 4096

#: Declares the bearer scheme in OpenAPI; the checking is done by :class:`Tokens`.
bearer_scheme = HTTPBearer(auto_error=False, description="An API token from the controller's configuration.")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's configured name and role."""

    name: str
    role: str

    def may(self, role: str) -> bool:
        """True if this caller's role is ``role`` or above."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


@dataclass(frozen=True)
class _Entry:
    secret: bytes
    principal: Principal


class Tokens:
    """The configured API tokens; :meth:`identify` finds a presented one."""

    def __init__(self, tokens: Iterable[tuple[str, str, str]]) -> None:
        """``tokens`` are ``(name, role, token)`` triples; empty tokens are ignored."""
        self._entries = tuple(
            _Entry(secret=token.encode("utf-8"), principal=Principal(name=name, role=role))
            for name, role, token in tokens
            if token
        )
        unknown = {e.principal.role for e in self._entries} - set(ROLE_RANK)
        if unknown:
            raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, presented: str) -> Principal | None:
        """The principal whose token equals ``presented``, compared with every token."""
        try:
            given = presented.encode("latin-1")
        except UnicodeEncodeError:
            return None
        found: Principal | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.secret, given) and found is None:
                found = entry.principal
        return found


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller, if their token has ``role`` or above.

    The tokens are the app's ``state.tokens`` (a :class:`Tokens`).
    """
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    async def dependency(
        request: Request,
        _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    ) -> Principal:
        header = request.headers.get("authorization")
        if header is None:
            principal = _from_session(request)
        else:
            scheme, _, value = header.partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value or len(value) > _MAX_TOKEN or not value.isprintable():
                raise _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
            tokens: Tokens = request.app.state.tokens
            found = tokens.identify(value)
            if found is None:
                raise _unauthorized("invalid or revoked token")
            principal = found
        if not principal.may(role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"this action needs the {role} role; token {principal.name!r} has {principal.role}",
            )
        return principal

    return dependency


def _from_session(request: Request) -> Principal:
    """The caller of a browser session (the cookie), its CSRF token checked for a change."""
    store: sessions.Sessions | None = getattr(request.app.state, "sessions", None)
    found = store.find(request.cookies.get(sessions.COOKIE)) if store is not None else None
    if found is None:
        raise _unauthorized("missing bearer token (Authorization: Bearer <token>) or session")
    if not sessions.csrf_ok(request, found):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"a change from a browser session needs its CSRF token ({sessions.CSRF_HEADER}) "
            "and this server's origin",
        )
    return Principal(name=found.name, role=found.role)


#: The caller of a read (viewer or above).
Viewer = Annotated[Principal, Depends(require("viewer"))]
#: The caller of refresh, sync and approve (operator or above).
Operator = Annotated[Principal, Depends(require("operator"))]
#: The caller of a rollback (admin).
Admin = Annotated[Principal, Depends(require("admin"))]
