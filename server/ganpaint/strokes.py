"""Strokes -> unit edits through the precomputed concepts.

A stroke ``{concept, mode, strength, mask, layer}`` becomes one ``UnitEdit`` at its layer: the first
``strength`` (best first) of the concept's draw units at ``draw_values[:strength]``, or of its erase units
(``ConceptUnits.units_for``) at 0, alpha 1,
and the mask pooled to the feature map as area fractions. Strokes apply in order, so a later stroke
paints over an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ganpaint.engine import LoadedModel, NotFoundError
from ganpaint.masks import MAX_POINTS, MAX_SIDE, PLAN, pool_spec
from ganpaint.nn.intervene import Pooling, UnitEdit

MAX_STRENGTH = 20
MIN_RASTER = 256  # polylines are drawn at least this fine before pooling, so area fractions are smooth


@dataclass
class Stroke:
    concept: str
    mask: Any
    mode: str = "draw"
    strength: int = MAX_STRENGTH
    layer: str | None = None


class _MaskCache:
    """Pooled masks keyed by their JSON: the page resends the whole stroke list on every update."""

    def __init__(self, capacity: int = 2048):
        self.capacity = capacity
        self._items: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def pooled(
        self, spec: Any, raster: int, size: tuple[int, int], where: str, limits: tuple[int, int], pooling: Pooling
    ) -> torch.Tensor:
        try:
            text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        except RecursionError as exc:
            raise ValueError(f"{where}: nested too deep") from exc
        # keyed by a digest: a mask's JSON may be up to a request body long, and the cache keeps 2048 keys
        key = (hashlib.sha256(text.encode()).digest(), raster, size, limits, pooling)
        plan = PLAN.get()
        if plan is not None:  # the api is planning a request: cost it, decode later off the loop (masks.MaskPlan)
            return plan.pooled(key, spec, raster, size, where, limits, pooling, self.get)
        hit = self.get(key)
        if hit is not None:
            return hit
        pooled = pool_spec(spec, raster, size, pooling, where, *limits)  # (h, w) area fractions (or max)
        self.put(key, pooled)
        return pooled

    def get(self, key: tuple) -> torch.Tensor | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple, pooled: torch.Tensor) -> None:
        with self._lock:
            self._items[key] = pooled
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


MASKS = _MaskCache()


def pooled_mask(
    spec: Any,
    m: LoadedModel,
    layer: str,
    where: str,
    max_points: int = MAX_POINTS,
    max_side: int = MAX_SIDE,
    pooling: Pooling = "area",
) -> torch.Tensor | None:
    """A mask in any form pooled to ``layer``'s feature map (h, w); None stays None (everywhere)."""
    if spec is None:
        return None
    _, h, w = m.generator.feature_shape(layer)
    raster = max(MIN_RASTER, m.info.resolution)
    return MASKS.pooled(spec, raster, (h, w), where, (max_points, max_side), pooling)


def stroke_edits(
    m: LoadedModel,
    strokes: Sequence[Stroke],
    default_layer: str | None = None,
    where: str = "strokes",
    max_points: int = MAX_POINTS,
    max_side: int = MAX_SIDE,
) -> list[UnitEdit]:
    """One UnitEdit per stroke, in order; ValueError/NotFoundError name ``strokes[i].<field>``."""
    edits = []
    for i, s in enumerate(strokes):
        here = f"{where}[{i}]"
        layer = s.layer or default_layer or m.info.default_layer
        try:
            pre = m.dissection(layer)
        except NotFoundError as exc:
            raise NotFoundError(f"{here}.layer: {exc}") from exc
        concept = pre.concepts.get(s.concept)
        if concept is None:
            have = ", ".join(sorted(pre.concepts))
            raise NotFoundError(f"{here}.concept: unknown concept {s.concept!r} at {layer}; available: {have}")
        if s.mode not in ("draw", "erase"):
            raise ValueError(f"{here}.mode: expected 'draw' or 'erase', got {s.mode!r}")
        if not 1 <= s.strength <= MAX_STRENGTH:
            raise ValueError(f"{here}.strength: expected an integer in 1..{MAX_STRENGTH}, got {s.strength!r}")
        units = concept.units_for(s.mode)
        n = min(s.strength, len(units))
        value = concept.draw_values[:n] if s.mode == "draw" else 0.0
        mask = pooled_mask(s.mask, m, layer, f"{here}.mask", max_points, max_side)
        edits.append(UnitEdit(layer, units[:n], value, 1.0, mask))
    return edits
