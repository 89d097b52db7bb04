"""The one exception the store raises, and plain words for what went wrong.

Callers (the controller, the API, the CLI) must be able to tell an operator *why* the
record could not be written: "database is locked", "disk full", "read-only", "cannot
connect". The drivers say this in their own codes (SQLite error names, PostgreSQL
SQLSTATEs); :func:`describe` turns them into short phrases and keeps the driver's own
first line as detail. Every message goes through :func:`scrub` so that a database
password can never reach an error message or a log, and :class:`StoreError` is raised
without the driver exception attached (``from None``) for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from truenorth import texts

__all__ = ["StoreError", "describe", "scrub"]

_REDACTED = texts.MASK
# password=... in a libpq key/value string or a URL query. Linear: it can only start at
# "password", and each quantifier stops at a character the next part needs.
_PASSWORD_PARAMETER = re.compile(r"(?i)\b(?P<key>(?:ssl)?password)\s*=\s*(?:'[^']*'|[^\s&]+)")
_DETAIL_LIMIT = 300

# SQLite primary result codes (sqlite3.Error.sqlite_errorname) in an operator's words.
_SQLITE_REASONS = {
    "SQLITE_BUSY": "database is locked",
    "SQLITE_LOCKED": "database is locked",
    "SQLITE_FULL": "disk full",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_CANTOPEN": "cannot open the database file: missing directory, read-only path or no permission",
    "SQLITE_IOERR": "disk I/O error",
    "SQLITE_CORRUPT": "the database file is corrupt",
    "SQLITE_NOTADB": "the file is not a SQLite database",
    "SQLITE_PERM": "permission denied",
    "SQLITE_CONSTRAINT": "a database constraint was violated",
}
# The same, found in the message when the driver gives no error name.
_SQLITE_MESSAGES = {
    "database is locked": "SQLITE_BUSY",
    "database or disk is full": "SQLITE_FULL",
    "readonly database": "SQLITE_READONLY",
    "unable to open database file": "SQLITE_CANTOPEN",
    "disk i/o error": "SQLITE_IOERR",
    "malformed": "SQLITE_CORRUPT",
    "file is not a database": "SQLITE_NOTADB",
}
# PostgreSQL SQLSTATEs (exact codes first, then classes of two characters).
_SQLSTATE_REASONS = {
    "53100": "disk full",
    "53200": "the database server is out of memory",
    "53300": "too many connections to the database server",
    "55P03": "database is locked",
    "40P01": "deadlock detected",
    "40001": "concurrent update conflict",
    "57014": "the statement was cancelled or timed out",
    "25006": "the database is read-only",
    "28P01": "password authentication failed",
    "3D000": "the database does not exist",
    "08": "cannot connect to the database server",
    "23": "a database constraint was violated",
    "28": "the database server refused the credentials",
    "42": "the database schema does not match (run a newer truenorth or check the migrations)",
    "53": "the database server ran out of resources",
    "57": "the database server is shutting down or unavailable",
    "58": "the database server had a system error",
}


class StoreError(RuntimeError):
    """The state database could not do what was asked.

    The message says what failed and why, and never contains a password.
    """


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known ``secrets``, URL credentials and ``password=`` settings in ``text``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    # A database user name is useful in an error and never a token: keep it, mask the password.
    text = texts.mask_url_credentials(text, keep_user=True)
    return _PASSWORD_PARAMETER.sub(lambda m: f"{m.group('key')}={_REDACTED}", text)


def describe(error: BaseException, *, secrets: Iterable[str] = ()) -> str:
    """A short reason for a database failure, with the driver's first line as detail."""
    cause = getattr(error, "orig", None) or error
    detail = _first_line(str(cause))
    reason = _reason(cause, detail)
    detail = scrub(detail, secrets)[:_DETAIL_LIMIT]
    if not reason:
        return detail or type(cause).__name__
    if not detail or detail.lower() == reason.lower():
        return reason
    return f"{reason} ({detail})"


def _reason(cause: BaseException, detail: str) -> str:
    name = getattr(cause, "sqlite_errorname", None)
    if isinstance(name, str):
        # Extended codes such as SQLITE_IOERR_WRITE or SQLITE_BUSY_SNAPSHOT.
        primary = "_".join(name.split("_")[:2])
        if primary in _SQLITE_REASONS:
            return _SQLITE_REASONS[primary]
    lowered = detail.lower()
    for fragment, code in _SQLITE_MESSAGES.items():
        if fragment in lowered:
            return _SQLITE_REASONS[code]
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return _SQLSTATE_REASONS.get(sqlstate) or _SQLSTATE_REASONS.get(sqlstate[:2], "")
    if "connection" in lowered or "could not connect" in lowered:
        return _SQLSTATE_REASONS["08"]
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return ""


def _first_line(text: str) -> str:
    # Driver messages put the reason first; later lines are hints (libpq) or context.
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
