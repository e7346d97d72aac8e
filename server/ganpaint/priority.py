"""Painters first: background threads (REST renders, big mask decodes, projections) run at the lowest CPU
priority and step aside while a painter's frame renders.

A nice value orders threads for the CPU, not for Python's GIL: a background thread running Python between
torch ops on the other core still makes a painter's render wait for the GIL at every op. Under the attack
soak (bench/attack_soak.py, 2 cores) a painter's 2 ms render took 24 ms at p95 and 37 ms at p99 beside
REST renders and big mask decodes; alone, 2.3 ms. So background work also calls ``foreground.wait()``
between its steps (each layer of a REST render, each mask of a decode): it returns at once unless a frame
renders, else when the frame is done or after ``max_wait`` seconds (background work slows, never stops).

Long background work in steps (each big mask decoded, each projection step) also calls ``foreground.pace()``:
while anyone paints (a painter's frame in the last ``recent`` seconds), it rests twice as long as the step took
(at most 0.1 s), so it takes about a third of the CPU and the GIL; when nobody paints it runs at full speed.
Measured (docs/reliability.md, round five): with upload attackers in the soak, the painter's p95 went from
4.5-6.2x idle to 2.2-2.7x; resting as long as the step (half the time) gave 3.7x.

One ``Foreground`` per app (``Engine.foreground``; the app hands it to its mask lanes and projection pool):
the render threads it orders are the engine's.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

BACKGROUND_NICE = 19  # REST renders and big mask decodes: the lowest priority, so painters' threads go first
_thread = threading.local()


def lower_thread_priority(step: int = 5) -> None:
    """Mark the calling thread as background (``Foreground.wait`` then applies to it) and raise its nice
    value by ``step`` (Linux: a thread is a task; elsewhere only the mark)."""
    _thread.background = True
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except (AttributeError, OSError):
        pass


class Foreground:
    """Counts the painters' renders in progress; background threads wait for none between their steps."""

    def __init__(self, max_wait: float = 0.05, recent: float = 0.5):
        self.max_wait = max_wait
        self.recent = recent  # seconds after a painter's frame during which painters count as active
        self.last_frame = float("-inf")  # time.monotonic() when the last painter's frame finished rendering
        self.active = 0
        self.waits = 0  # how often a background thread stepped aside (tests, benchmarks)
        self.rests = 0  # how often a background thread rested after a step (pace)
        self._done = threading.Condition()

    @contextmanager
    def rendering(self) -> Iterator[None]:
        with self._done:
            self.active += 1
        try:
            yield
        finally:
            with self._done:
                self.active -= 1
                self.last_frame = time.monotonic()
                if not self.active:
                    self._done.notify_all()

    def wait(self) -> None:
        """On a background thread: return once no painter's frame renders, or after ``max_wait`` seconds."""
        if not self.active or not getattr(_thread, "background", False):
            return
        with self._done:
            if self.active:
                self.waits += 1
                self._done.wait_for(lambda: not self.active, self.max_wait)

    def pace(self, worked: float, max_rest: float = 0.1) -> None:
        """On a background thread, after a step of ``worked`` seconds: while painters are active (a frame in the
        last ``recent`` seconds) rest as long (at most ``max_rest``), so background work takes at most about half
        of the CPU and the GIL while anyone paints; then ``wait``. Costs nothing when nobody paints."""
        if getattr(_thread, "background", False) and time.monotonic() - self.last_frame < self.recent:
            self.rests += 1
            time.sleep(min(2 * max(worked, 0.0), max_rest))
        self.wait()
