"""The one HTTP door to the forges: bounded answers, clear errors, the token never shown.

Every forge adapter (:mod:`~truenorth.forges.github`, :mod:`~truenorth.forges.gitlab`,
:mod:`~truenorth.forges.gitea`) sends its requests through a :class:`Transport`: one
:mod:`httpx` client per forge, its authentication headers set once, redirects not
followed (a redirect would carry the token elsewhere), a timeout on every request, and
answers read up to :data:`MAX_ANSWER` bytes (a larger one is an error, never read on).
A failure is a :class:`ForgeError` naming the method, the path and the status, with the
forge's own message bounded; the token is masked in it even if the forge echoed it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from truenorth import texts

__all__ = ["MAX_ANSWER", "TIMEOUT", "ForgeError", "Transport"]

#: The largest answer read from a forge (a page of 100 comments is well under it).
MAX_ANSWER = 8 * 1024 * 1024
#: Seconds one request may take.
TIMEOUT = 30.0
_MAX_MESSAGE = 300


class ForgeError(Exception):
    """A forge request failed; the message is safe to log and show. ``status`` is HTTP's, or 0."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Transport:
    """Requests to one forge's REST API under ``base_url``, authenticated by ``headers``."""

    def __init__(
        self,
        base_url: str,
        *,
        forge: str,
        headers: Mapping[str, str],
        secret: str,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._forge = forge
        self._secret = secret
        self._headers = {"User-Agent": "truenorth", **headers}
        self._client = client or httpx.AsyncClient(follow_redirects=False, timeout=TIMEOUT)

    async def request(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, str | int] | None = None
    ) -> Any:
        """``method path`` with a JSON ``body``; the answer's JSON (None when empty)."""
        where = f"{self._forge} {method} {path}"
        try:
            async with self._client.stream(
                method,
                self._base + path,
                headers=self._headers,
                json=body,
                params=params,
            ) as answer:
                data = bytearray()
                async for chunk in answer.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_ANSWER:
                        raise ForgeError(
                            f"{where}: the answer is over {MAX_ANSWER} bytes", status=answer.status_code
                        )
                status = answer.status_code
        except httpx.HTTPError as exc:
            raise ForgeError(self._clean(f"{where}: {type(exc).__name__}: {exc}")) from None
        if not 200 <= status < 300:
            raise ForgeError(self._clean(f"{where}: HTTP {status}{_message(bytes(data))}"), status=status)
        if not data.strip():
            return None
        try:
            return json.loads(bytes(data))
        except ValueError:
            raise ForgeError(f"{where}: the answer is not JSON", status=status) from None

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def _clean(self, text: str) -> str:
        if len(self._secret) >= 4:
            text = text.replace(self._secret, texts.MASK)
        return texts.escape_controls(texts.bound(texts.mask_url_credentials(text), 1000), keep_newlines=False)


def _message(data: bytes) -> str:
    """The forge's own error message (``message``, ``error``), bounded, or nothing."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return ""
    if isinstance(parsed, dict):
        said = parsed.get("message") or parsed.get("error")
        if isinstance(said, str | list | dict):
            return ": " + texts.bound(said if isinstance(said, str) else json.dumps(said), _MAX_MESSAGE)
    return ""
