"""The drain: once SIGTERM arrives, new HTTP requests get 503 (``Draining``), new websocket renders and
connections are refused (api/ws.py reads ``Drain.draining``), frames in flight finish, then uvicorn closes."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Awaitable, Callable

from ganpaint.api.guards.answers import send_error

log = logging.getLogger("ganpaint")
SHUTTING_DOWN = "server: shutting down; retry on another server"


class Drain:
    """Whether the app is draining (SIGTERM arrived); set once, never cleared."""

    def __init__(self):
        self.draining = False


class Draining:
    """ASGI middleware: 503 for new HTTP requests once SIGTERM started the drain (requests in flight finish)."""

    def __init__(self, app, drain: Drain):
        self.app, self.drain = app, drain

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.drain.draining:
            return await self.app(scope, receive, send)
        await send_error(send, 503, SHUTTING_DOWN, retry_after=True, close=True)


def drain_on_sigterm(drain: Drain, wait_idle: Callable[[float], Awaitable[bool]], timeout: float) -> None:
    """Put a SIGTERM handler in front of uvicorn's: refuse new work, let frames in flight finish (``wait_idle``,
    at most ``timeout`` s), then hand the signal to uvicorn, which closes the sockets and waits for HTTP requests.
    Only in the main thread of a server process (uvicorn installs its handler before the lifespan runs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    loop = asyncio.get_running_loop()
    tasks = set()

    async def finish(sig, frame) -> None:
        idle = await wait_idle(timeout)
        log.warning("ganpaint: SIGTERM: %s; shutting down", "frames in flight done" if idle else "drain timed out")
        previous(sig, frame)

    def on_sigterm(sig, frame) -> None:
        if drain.draining:  # a second SIGTERM: no more waiting
            return previous(sig, frame)
        drain.draining = True
        loop.call_soon_threadsafe(lambda: tasks.add(loop.create_task(finish(sig, frame))))

    signal.signal(signal.SIGTERM, on_sigterm)
