"""The refusal log: which client addresses were refused a moment ago (their next connections wait), and when
a refusal was last logged per address (one line a minute, not one per try)."""

from __future__ import annotations

import time
from collections import OrderedDict

REFUSAL_WINDOW = 1.0  # seconds an address counts as refused: Retry-After's 1 s, so a polite client is never held


class RecentAddresses:
    """When each client address was last noted, for the last ``size`` addresses (least recent forgotten)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._last: OrderedDict[str, float] = OrderedDict()

    def age(self, address: str | None, now: float | None = None) -> float:
        """Seconds since ``address`` was noted (infinite if never, or forgotten)."""
        last = self._last.get(address or "unknown")
        return float("inf") if last is None else (time.monotonic() if now is None else now) - last

    def note(self, address: str | None, now: float | None = None) -> None:
        address = address or "unknown"
        self._last[address] = time.monotonic() if now is None else now
        self._last.move_to_end(address)
        while len(self._last) > self.size:
            self._last.popitem(last=False)


class RefusalLog:
    """Says whether to log a refusal: at most once per client address per ``interval`` seconds (a client
    looping on a refused Origin would otherwise write a line per try); remembers ``size`` addresses."""

    def __init__(self, interval: float = 60.0, size: int = 4096):
        self.interval = interval
        self.logged = RecentAddresses(size)
        self.suppressed = 0

    def allow(self, address: str, now: float | None = None) -> bool:
        if self.logged.age(address, now) < self.interval:
            self.suppressed += 1
            return False
        self.logged.note(address, now)
        return True
