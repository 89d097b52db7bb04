"""The one exception the controller's facade raises to its callers (the API, the CLI client).

The server layer turns :class:`ControllerError` into an HTTP answer by its ``kind``:
``not_found`` (404), ``conflict`` (409: another operation runs, no stored plan, a state
that forbids the action), ``invalid`` (400/422: a bad argument, such as a revision never
applied) and ``unavailable`` (503: the store or the source cannot be used right now). The
message is meant for users and is always redacted before the error is raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from truenorth.store import errors as store_errors

__all__ = [
    "BUSY",
    "CONFLICT",
    "INVALID",
    "KINDS",
    "NOT_FOUND",
    "UNAVAILABLE",
    "ControllerError",
    "store_unavailable",
]

NOT_FOUND = "not_found"
CONFLICT = "conflict"
INVALID = "invalid"
UNAVAILABLE = "unavailable"
KINDS = (NOT_FOUND, CONFLICT, INVALID, UNAVAILABLE)

#: The message Argo CD users know for a busy application, used for a busy stack.
BUSY = "another operation is already in progress"


class ControllerError(Exception):
    """An action or a lookup that cannot be done; ``kind`` says why, ``message`` says how."""

    def __init__(self, kind: str, message: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown ControllerError kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"ControllerError({self.kind!r}, {self.message!r})"


@contextlib.contextmanager
def store_unavailable() -> Iterator[None]:
    """Raise a store failure in the block as ``ControllerError(unavailable, "state database: ...")``.

    The store's message says what failed and why and never holds a password; callers
    above the controller (the server) then know one exception only and never the store.
    """
    try:
        yield
    except store_errors.StoreError as exc:
        raise ControllerError(UNAVAILABLE, f"state database: {exc}") from None
