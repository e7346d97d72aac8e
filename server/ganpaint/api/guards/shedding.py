"""Shedding: a big POST to a route that carries masks is refused unread while the large mask lane is busy.

Routes declare that they carry masks (``@carries_masks`` on the handler); the app collects their paths once
its routers are in (``Guards.learn_routes``). ``Shed`` is the rule, ``ShedWhenBusy`` applies it as ASGI
middleware, and ``ganpaint serve``'s HTTP protocol (guards/protocol.py) applies it to a request's raw head.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ganpaint.api.guards.answers import send_error
from ganpaint.api.guards.lanes import MaskLanes
from ganpaint.api.guards.refusals import RecentAddresses

SHED_BODY = 1 << 15  # bytes: a mask-bearing request this large is refused unread while the large lane is full
F = TypeVar("F", bound=Callable)


def carries_masks(handler: F) -> F:
    """Mark a route's handler as one whose body carries masks: shed unread while the large mask lane is busy."""
    handler.carries_masks = True  # read once, when the app collects its routes (Guards.learn_routes)
    return handler


class Shed:
    """When a request is refused unread: a POST to a route that carries masks (``paths``) with a body over
    ``SHED_BODY`` bytes while the large mask lane holds at least half its backlog limit. Such a request would
    most likely be refused after parsing anyway; refusing it unread keeps a flood of big bodies that ignore
    Retry-After from filling the event loop with JSON parsing, which delays every painter's frames."""

    detail = "server: busy decoding large masks for other requests (max_mask_backlog); retry shortly"

    def __init__(self, lanes: MaskLanes, paths: frozenset[str] = frozenset()):
        self.lanes, self.paths = lanes, paths

    def busy(self) -> bool:
        return self.lanes.large.backlog * 2 >= self.lanes.max_backlog

    def refuses(self, method: str, path: str, content_length: bytes) -> bool:
        return (
            method == "POST"
            and path in self.paths
            and content_length.isdigit()
            and (len(content_length) > 18 or int(content_length) > SHED_BODY)
            and self.busy()
        )


class ShedWhenBusy:
    """ASGI middleware: 503 + Retry-After, before the body is read, for a request that ``shed`` refuses."""

    def __init__(self, app, shed: Shed, refused: RecentAddresses):
        self.app, self.shed, self.refused = app, shed, refused

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.shed.busy():  # the cheap test first: headers read only when busy
            declared = dict(scope.get("headers", [])).get(b"content-length", b"")
            if self.shed.refuses(scope.get("method", ""), scope.get("path", ""), declared):
                self.refused.note(scope["client"][0] if scope.get("client") else None)
                return await send_error(send, 503, self.shed.detail, retry_after=True, close=True)
        await self.app(scope, receive, send)
