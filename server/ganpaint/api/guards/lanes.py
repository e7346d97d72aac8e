"""The mask lanes: where masks decode, admitted before any work by their cost (``ganpaint.masks.mask_cost``),
then run on threads of their own (never AnyIO's pool, which serves /health and the sync routes, never the
event loop).

Two lanes of one thread each. A request whose masks cost at most ``SMALL_COST`` (a page update: the strokes
not already cached) takes the small lane, anything bigger the large lane, whose thread runs at a lower CPU
priority. Each lane admits work up to its backlog (small: ``SMALL_BACKLOG``; large: ``max_mask_backlog``);
past it the request gets ``BusyError`` at once (503 + Retry-After; an error message on the websocket). A
request alone in its lane is always admitted (its size is bounded by ``max_mask_pixels``). So a small
request waits behind at most ``SMALL_BACKLOG`` of other work, whatever the large lane holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ganpaint.api.guards.admission import BusyError
from ganpaint.priority import BACKGROUND_NICE, Foreground, lower_thread_priority

SMALL_COST = 1 << 18  # a request whose masks to decode cost at most this (3 new page strokes) takes the small lane
SMALL_BACKLOG = 1 << 21  # the small lane's backlog limit (a small request waits behind at most this: ~10-20 ms)


class _Lane:
    def __init__(self, name: str, nice: int = 0):
        init = (lambda: lower_thread_priority(nice)) if nice else None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=init)
        self.backlog = 0  # cost admitted and not yet decoded


class MaskLanes:
    """The app's two mask lanes (see the module docstring); ``foreground``: the engine's painters, whom big
    decodes step aside for (``ganpaint.priority``)."""

    def __init__(self, max_backlog: int, foreground: Foreground | None = None):
        self.max_backlog = max_backlog
        self.foreground = foreground or Foreground()
        self._lock = threading.Lock()
        self.small = _Lane("ganpaint-masks-small")
        self.large = _Lane("ganpaint-masks", nice=BACKGROUND_NICE)

    def check(self, cost: int) -> None:
        """BusyError if work of ``cost`` would be refused now (reserves nothing; ``submit`` decides)."""
        with self._lock:
            self._lane(cost)

    def _lane(self, cost: int) -> _Lane:
        """The lane for ``cost``, or BusyError if it cannot admit that much now (call under the lock)."""
        lane, limit = (self.small, SMALL_BACKLOG) if cost <= SMALL_COST else (self.large, self.max_backlog)
        if lane.backlog and lane.backlog + cost > limit:
            raise BusyError(
                f"server: busy, masks of cost {lane.backlog:,} decoding for other requests "
                f"(backlog limit {limit:,}{'' if lane is self.small else ', max_mask_backlog'}); retry shortly"
            )
        return lane

    def submit(self, fn: Callable[[], Any], cost: int) -> Future:
        with self._lock:
            lane = self._lane(cost)
            lane.backlog += cost
        future = lane.executor.submit(fn)

        def release(_: Future) -> None:  # when the work ends (or is cancelled before it starts), not the request
            with self._lock:
                lane.backlog -= cost

        future.add_done_callback(release)
        return future

    def close(self) -> None:
        for lane in (self.small, self.large):
            lane.executor.shutdown(wait=False, cancel_futures=True)
