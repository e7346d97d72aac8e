"""Body limits: 413 for an HTTP body over its limit (``BodyLimit``), 408 for one that does not arrive in time
(``BodyTimeout``; uvicorn has no body read timeout).

A route that receives its body itself, with its own limit (POST /uploads: spooled to disk, judged by its first
bytes), declares it with ``@reads_body_itself("<settings field>")``; only a declared length over that limit is
refused here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ganpaint.api.guards.answers import send_error


def reads_body_itself(limit_setting: str) -> Callable:
    """Mark a route's handler as one that reads its body itself, bounded by ``Settings.<limit_setting>``."""

    def mark(handler: Callable) -> Callable:
        handler.reads_body_itself = limit_setting  # read once, when the app collects its routes
        return handler

    return mark


class BodyLimit:
    """ASGI middleware: 413 for HTTP bodies over ``limit`` bytes (declared or streamed). ``streamed``: paths whose
    route reads its body itself, with its own limit (only a declared length over it is refused here)."""

    def __init__(self, app, limit: int, streamed: dict[str, int] | None = None):
        self.app, self.limit, self.streamed = app, limit, streamed or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = self.streamed.get(path, self.limit)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._reject(send, int(declared), limit)
        if path in self.streamed:
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await self._reject(send, size, limit)
            chunks.append(message)
            more = message.get("more_body", False)

        async def replay():
            return chunks.pop(0) if chunks else await receive()

        return await self.app(scope, replay, send)

    async def _reject(self, send, size: int, limit: int) -> None:
        # closing: the rest of the body is never read
        await send_error(send, 413, f"request body: {size} bytes exceeds the limit of {limit} bytes", close=True)


class BodyTimedOut(Exception):
    """Raised by ``BodyTimeout``'s receive when the body's time is up."""


class CancelledWaitingForBody(Exception):
    """Raised by ``BodyTimeout``'s receive when its task is cancelled while it waits for the body."""


class BodyTimeout:
    """ASGI middleware: 408 when the request body takes longer than ``timeout`` seconds to arrive."""

    def __init__(self, app, timeout: float):
        self.app, self.timeout = app, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = time.monotonic() + self.timeout
        started = False

        async def timed_receive():
            left = deadline - time.monotonic()
            try:
                return await asyncio.wait_for(receive(), max(left, 0.001))
            except TimeoutError:
                raise BodyTimedOut from None
            except asyncio.CancelledError:
                raise CancelledWaitingForBody from None

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except CancelledWaitingForBody:
            # cancelled while its body was still coming in: uvicorn's shutdown cut (timeout_graceful_shutdown)
            # ends a client that stalls mid-body. Nothing to answer and nothing went wrong: end quietly, where
            # uvicorn on Python 3.12 would log the cancellation as "Exception in ASGI application".
            return
        except BodyTimedOut:
            if started:
                return
            detail = f"request body: not received in full within {self.timeout:g} s"
            await send_error(send, 408, detail, close=True)
