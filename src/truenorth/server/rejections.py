"""Why a webhook was turned away: one exception that carries the HTTP answer.

Verification (:mod:`~truenorth.server.signatures`) and parsing
(:mod:`~truenorth.server.pushes`) are pure; they say "no" by raising :class:`RejectedError`
with the status code, a message safe to show the sender (never a secret, never the
payload) and the ``outcome`` label counted in ``truenorth_webhooks_total``.
"""

from __future__ import annotations

__all__ = ["RejectedError"]


class RejectedError(Exception):
    """A webhook refused with ``status`` (4xx) and a user-facing ``message``."""

    def __init__(self, status: int, message: str, *, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.outcome = outcome
