"""One bounded least-recently-used map, thread-safe: the feature-map cache, the pooled masks and the stamp edits.

cache = LRU(512)
cache.put(key, value)       # the least recently used key goes once there are more than 512
cache.get(key)              # None if absent; a hit becomes the most recently used
tensor_key(r)               # a key for a tensor's exact values (stamp decisions, fitted fills)
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Generic, TypeVar

import torch

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``capacity`` items (0: keeps nothing); ``hits`` and ``misses`` counted."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: K, value: V) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


def tensor_key(t: torch.Tensor) -> bytes:
    """A key for a tensor's exact values (SHA-256 of its float32 bytes)."""
    return hashlib.sha256(t.detach().float().contiguous().cpu().numpy().tobytes()).digest()
