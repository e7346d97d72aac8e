"""Caps on work admitted before it is done, per worker: images REST requests may have rendering at once
(``RenderGate``) and mask decoding (``MaskDecoder``).

Websocket painters never queue (latest wins), but REST callers each wait for their images: without a cap a
burst of large /generate requests queues without bound and every caller times out. Past the cap a request
gets 503 with Retry-After at once; a request alone is always admitted, whatever its size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from ganpaint.api.serving import REFUSED, send_error
from ganpaint.priority import BACKGROUND_NICE, lower_thread_priority


class BusyError(Exception):
    """Answered 503 with Retry-After: the server already has ``limit`` REST images rendering."""


class RenderGate:
    def __init__(self, limit: int):
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()  # sync routes (/api/generate) run in the threadpool

    @contextmanager
    def admit(self, images: int) -> Iterator[None]:
        with self._lock:
            if self.in_flight and self.in_flight + images > self.limit:
                raise BusyError(
                    f"server: busy, {self.in_flight} images rendering for other requests "
                    f"(max_rest_images {self.limit}); retry shortly"
                )
            self.in_flight += images
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= images


SMALL_COST = 1 << 18  # a request whose masks to decode cost at most this (3 new page strokes) takes the small lane
SMALL_BACKLOG = 1 << 21  # the small lane's backlog limit (a small request waits behind at most this: ~10-20 ms)


class _Lane:
    def __init__(self, name: str, nice: int = 0):
        init = (lambda: lower_thread_priority(nice)) if nice else None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=init)
        self.backlog = 0  # cost admitted and not yet decoded


class MaskDecoder:
    """Where masks decode: admitted before any work by their cost (``ganpaint.masks.mask_cost``), then run on
    threads of its own (never AnyIO's pool, which serves /health and the sync routes, never the event loop).

    Two lanes of one thread each. A request whose masks cost at most ``SMALL_COST`` (a page update: the strokes
    not already cached) takes the small lane, anything bigger the large lane, whose thread runs at a lower CPU
    priority. Each lane admits work up to its backlog (small: ``SMALL_BACKLOG``; large: ``max_mask_backlog``);
    past it the request gets ``BusyError`` at once (503 + Retry-After; an error message on the websocket). A
    request alone in its lane is always admitted (its size is bounded by ``max_mask_pixels``). So a small
    request waits behind at most ``SMALL_BACKLOG`` of other work, whatever the large lane holds."""

    def __init__(self):
        self._lock = threading.Lock()
        self.small = _Lane("ganpaint-masks-small")
        self.large = _Lane("ganpaint-masks", nice=BACKGROUND_NICE)

    def check(self, cost: int, max_backlog: int) -> None:
        """BusyError if work of ``cost`` would be refused now (reserves nothing; ``submit`` decides)."""
        with self._lock:
            self._lane(cost, max_backlog)

    def _lane(self, cost: int, max_backlog: int) -> _Lane:
        """The lane for ``cost``, or BusyError if it cannot admit that much now (call under the lock)."""
        lane, limit = (self.small, SMALL_BACKLOG) if cost <= SMALL_COST else (self.large, max_backlog)
        if lane.backlog and lane.backlog + cost > limit:
            raise BusyError(
                f"server: busy, masks of cost {lane.backlog:,} decoding for other requests "
                f"(backlog limit {limit:,}{'' if lane is self.small else ', max_mask_backlog'}); retry shortly"
            )
        return lane

    def submit(self, fn: Callable[[], Any], cost: int, max_backlog: int) -> Future:
        with self._lock:
            lane = self._lane(cost, max_backlog)
            lane.backlog += cost
        future = lane.executor.submit(fn)

        def release(_: Future) -> None:  # when the work ends (or is cancelled before it starts), not the request
            with self._lock:
                lane.backlog -= cost

        future.add_done_callback(release)
        return future


SHED_BODY = 1 << 15  # bytes: a mask-bearing request this large is refused unread while the large lane is full
MASK_PATHS = frozenset({"/intervene", "/api/generate"})


class Shed:
    """When a request is refused unread: a POST to a mask route with a body over ``SHED_BODY`` bytes while
    the large mask lane holds at least half its backlog limit. Such a request would most likely be refused
    after parsing anyway; refusing it unread keeps a flood of big bodies that ignore Retry-After from filling
    the event loop with JSON parsing, which delays every painter's frames. ``ShedWhenBusy`` applies it as
    ASGI middleware; ``ganpaint serve``'s HTTP protocol (api/serving.py) applies it before parsing further."""

    detail = "server: busy decoding large masks for other requests (max_mask_backlog); retry shortly"

    def __init__(self, decoder: MaskDecoder, max_backlog: int):
        self.decoder, self.max_backlog = decoder, max_backlog

    def busy(self) -> bool:
        return self.decoder.large.backlog * 2 >= self.max_backlog

    def refuses(self, method: str, path: str, content_length: bytes) -> bool:
        return (
            method == "POST"
            and path in MASK_PATHS
            and content_length.isdigit()
            and (len(content_length) > 18 or int(content_length) > SHED_BODY)
            and self.busy()
        )


class ShedWhenBusy:
    """ASGI middleware: 503 + Retry-After, before the body is read, for a request that ``shed`` refuses."""

    def __init__(self, app, shed: Shed):
        self.app, self.shed = app, shed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.shed.busy():  # the cheap test first: headers read only when busy
            declared = dict(scope.get("headers", [])).get(b"content-length", b"")
            if self.shed.refuses(scope.get("method", ""), scope.get("path", ""), declared):
                REFUSED.note(scope["client"][0] if scope.get("client") else None)
                return await send_error(send, 503, self.shed.detail, retry_after=True, close=True)
        await self.app(scope, receive, send)
