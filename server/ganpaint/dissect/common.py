"""What the dissection's passes share (``run``, ``stamps``, ``report``): seeded latents, derived seeds, cache keys
and cached JSON results, file hashes, and the ``--curve-sizes`` parser. Imports nothing else of ``dissect``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch


def latents(n: int, z_dim: int, seed: int, stream: int) -> torch.Tensor:
    """(n, z_dim) float32; stream 0 = selection, 1 = held-out (disjoint by construction)."""
    return torch.from_numpy(np.random.default_rng([seed, stream]).standard_normal((n, z_dim)).astype(np.float32))


def derived_seed(*parts: int) -> int:
    """A seed in [0, 2**30) drawn from a generator seeded by ``parts`` (run seed, a tag per measurement, layer
    number, concept...), so each measurement's randomness depends only on what it measures."""
    return int(np.random.default_rng(list(parts)).integers(1 << 30))


def cache_key(**parts) -> str:
    """16 hex digits naming a cached result by everything it depends on."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def cached_json(path: Path, fn: Callable[[], Any]) -> Any:
    """The JSON at ``path``; else ``fn()``, written there atomically (an interrupted run leaves no half file)."""
    if path.is_file():
        return json.loads(path.read_text())
    out = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    return out


def parse_sizes(text: str) -> tuple[int, ...]:
    """'1-10,12,20-40:5' -> (1, ..., 10, 12, 20, 25, ..., 40): ranges with an optional step, sorted, unique."""
    sizes = set()
    for part in text.split(","):
        part = part.strip()
        span, _, step = part.partition(":")
        lo, _, hi = span.partition("-")
        try:
            a, b, s = int(lo), int(hi or lo), int(step or 1)
        except ValueError:
            raise ValueError(f"--curve-sizes: expected sizes like '1-10,12,20-40:5', got {text!r}") from None
        if a < 1 or b < a or s < 1:
            raise ValueError(f"--curve-sizes: bad range {part!r} in {text!r} (sizes >= 1, low <= high, step >= 1)")
        sizes.update(range(a, b + 1, s))
    return tuple(sorted(sizes))
