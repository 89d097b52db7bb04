"""Body limits as ASGI middleware (case 11): size and time, without reading on."""

from __future__ import annotations

import asyncio
from typing import Any

from truenorth.server import limits

Message = dict[str, Any]


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the whole body, answers 200 with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def swallowing_app(scope: Any, receive: Any, send: Any) -> None:
    """Catches every error while reading and answers 400 itself (like a JSON parser would)."""
    try:
        while (await receive()).get("more_body"):
            pass
    except Exception:
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"app says 400"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/api/v1/webhooks/github", "headers": headers}


class Feed:
    """A client: hands out body chunks, then blocks forever (a slow client)."""

    def __init__(self, chunks: list[bytes], *, stall: bool = False) -> None:
        self.chunks = list(chunks)
        self.stall = stall
        self.handed = 0

    async def receive(self) -> Message:
        if not self.chunks:
            await asyncio.Event().wait()
        chunk = self.chunks.pop(0)
        self.handed += 1
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks) or self.stall}


async def run(
    app: Any, headers: list[tuple[bytes, bytes]], feed: Feed, **options: Any
) -> tuple[list[Message], list[tuple[str, int]]]:
    sent: list[Message] = []
    rejected: list[tuple[str, int]] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = limits.BodyLimits(
        app, on_reject=lambda path, status: rejected.append((path, status)), **options
    )
    await asyncio.wait_for(middleware(scope(headers), feed.receive, send), timeout=5)
    return sent, rejected


def status_of(sent: list[Message]) -> int:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    return int(starts[0]["status"])


async def test_declared_length_over_the_limit_is_refused_unread() -> None:
    feed = Feed([b"x" * 10])
    sent, rejected = await run(echo_app, [(b"content-length", b"1048577")], feed)
    assert status_of(sent) == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert feed.handed == 0
    assert rejected == [("/api/v1/webhooks/github", 413)]


async def test_declared_length_at_the_limit_is_read() -> None:
    sent, _ = await run(echo_app, [(b"content-length", b"1048576")], Feed([b"x" * 1048576]))
    assert status_of(sent) == 200 and sent[1]["body"] == b"1048576"


async def test_bad_content_length_is_400() -> None:
    for value in (b"abc", b"-1", b"1e9", b"9" * 30):
        sent, _ = await run(echo_app, [(b"content-length", value)], Feed([b""]))
        assert status_of(sent) == 400


async def test_chunked_body_is_cut_at_the_first_byte_over() -> None:
    chunk = b"x" * 65536
    feed = Feed([chunk] * 16 + [b"y"] + [chunk] * 100)  # 1 MiB, then one byte more, then plenty
    sent, rejected = await run(echo_app, [(b"transfer-encoding", b"chunked")], feed)
    assert status_of(sent) == 413
    assert feed.handed == 17  # nothing read past the byte over the limit
    assert rejected[0][1] == 413


async def test_app_that_swallows_the_error_cannot_answer_instead() -> None:
    feed = Feed([b"x" * (1024 * 1024 + 1)])
    sent, _ = await run(swallowing_app, [], feed)
    assert status_of(sent) == 413
    assert b"app says" not in b"".join(m.get("body", b"") for m in sent)


async def test_slow_body_times_out_with_408() -> None:
    feed = Feed([b"{"], stall=True)
    sent, rejected = await run(echo_app, [(b"content-length", b"100")], feed, body_timeout=0.2)
    assert status_of(sent) == 408
    assert rejected[0][1] == 408


async def test_small_body_and_non_http_pass_through() -> None:
    sent, rejected = await run(echo_app, [], Feed([b"hello"]))
    assert status_of(sent) == 200 and sent[1]["body"] == b"5" and rejected == []
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    await limits.BodyLimits(app)({"type": "lifespan"}, Feed([]).receive, lambda m: asyncio.sleep(0))
    assert seen == ["lifespan"]
