"""Admission of REST images: at most ``limit`` rendering at once per app (``RenderGate``); past it ``BusyError``.

Websocket painters never queue (latest wins), but REST callers each wait for their images: without a cap a
burst of large /generate requests queues without bound and every caller times out. Past the cap a request
gets 503 with Retry-After at once; a request alone is always admitted, whatever its size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class BusyError(Exception):
    """Answered 503 with Retry-After (an error message on the websocket): the server is at a limit of work
    admitted at once; the client retries shortly."""


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
