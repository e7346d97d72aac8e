"""Strokes -> unit edits through the precomputed concepts.

A stroke ``{concept, mode, strength, mask, layer}`` becomes one ``UnitEdit`` at its layer: the first
``strength`` (best first) of the concept's draw units at ``draw_values[:strength]``, or of its erase units
(``ConceptUnits.units_for``) at 0, alpha 1,
and the mask pooled to the feature map as area fractions. A ``stamp`` stroke places one instance of a
concept's style (``ganpaint.stamps``) centred at each point of its polyline (a drag stamps a row), each
an all-units edit whose value is the style's template resized to the stamp's box and whose mask is its
soft footprint. Strokes apply in order, so a later stroke paints over an earlier one.
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

from ganpaint.context.gate import context_stamps
from ganpaint.engine import LoadedModel, NotFoundError
from ganpaint.masks import MAX_POINTS, MAX_SIDE, PLAN, pool_spec
from ganpaint.nn.intervene import Pooling, UnitEdit
from ganpaint.precomputed import Precomputed
from ganpaint.stamps.place import MIN_STAMP_SIZE, row_centres, stamp_edits, stamp_points
from ganpaint.stamps.templates import default_style
from ganpaint.values import number

MAX_STRENGTH = 20
MAX_STAMPS = 64  # stamps one request may place (all its stamp strokes together)
STAMP_COST = 1 << 16  # admission cost of placing one stamp (about a millisecond: a 256 x 256 mask's worth)
CONTEXTS = ("respect", "ignore")  # a stamp stroke's "context" (ganpaint.context.gate)
MIN_RASTER = 256  # polylines are drawn at least this fine before pooling, so area fractions are smooth


@dataclass
class Stroke:
    concept: str
    mask: Any
    mode: str = "draw"
    strength: int = MAX_STRENGTH
    layer: str | None = None
    style: int | None = None  # stamp: the style index (default 0, the largest style)
    size: tuple[float, float] | None = None  # stamp: (w, h) in 0..1 of the image width (default: natural)
    context: str = "respect"  # stamp: "respect" = the brush where the concept does not belong (ganpaint.context.gate)


class _MaskCache:
    """Pooled masks keyed by their JSON: the page resends the whole stroke list on every update."""

    def __init__(self, capacity: int = 2048):
        self.capacity = capacity
        self._items: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    def pooled(
        self, spec: Any, raster: int, size: tuple[int, int], where: str, limits: tuple[int, int], pooling: Pooling
    ) -> torch.Tensor:
        plan = PLAN.get()
        held = plan.digests.get(id(spec)) if plan is not None else None  # the same mask at several layers
        digest = held[1] if held is not None and held[0] is spec else None
        if digest is None:
            try:
                text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
            except RecursionError as exc:
                raise ValueError(f"{where}: nested too deep") from exc
            # keyed by a digest: a mask's JSON may be up to a request body long, and the cache keeps 2048 keys
            digest = hashlib.sha256(text.encode()).digest()
        key = (digest, raster, size, limits, pooling)
        if plan is not None:  # the api is planning a request: cost it, decode later off the loop (masks.MaskPlan)
            plan.digests[id(spec)] = (spec, digest)  # holds spec, so its id is not reused during the request
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


class _StampCache:
    """A stamp stroke's edit by (model, layer, concept, style, centres, size): the page resends the whole
    stroke list on every update, and a stroke's stamps are computed once."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._items: OrderedDict[tuple, list[UnitEdit]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> list[UnitEdit] | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple, edits: list[UnitEdit]) -> None:
        with self._lock:
            self._items[key] = edits
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


STAMPS = _StampCache()


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
    max_stamps: int = MAX_STAMPS,
) -> list[UnitEdit]:
    """One UnitEdit per stroke (none for a stamp row that misses the map), in order; ValueError/NotFoundError
    name ``strokes[i].<field>``."""
    edits = []
    stamps = 0
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
        if s.mode not in ("draw", "erase", "stamp"):
            raise ValueError(f"{here}.mode: expected 'draw', 'erase' or 'stamp', got {s.mode!r}")
        if s.mode == "stamp":
            style, centres, size = stamp_plan(m, pre, s, layer, here, max_points)
            stamps += len(centres)
            if stamps > max_stamps:
                raise ValueError(f"{here}.mask: at most {max_stamps} stamps per request (max_stamps), got {stamps}")
            if s.context not in CONTEXTS:
                raise ValueError(f"{here}.context: expected 'respect' or 'ignore', got {s.context!r}")
            edits.extend(stamp_stroke_edits(m, layer, s.concept, style, centres, size, s.context))
            continue
        if not 1 <= s.strength <= MAX_STRENGTH:
            raise ValueError(f"{here}.strength: expected an integer in 1..{MAX_STRENGTH}, got {s.strength!r}")
        units = concept.units_for(s.mode)
        n = min(s.strength, len(units))
        value = concept.draw_values[:n] if s.mode == "draw" else 0.0
        mask = pooled_mask(s.mask, m, layer, f"{here}.mask", max_points, max_side)
        edits.append(UnitEdit(layer, units[:n], value, 1.0, mask))
    return edits


def stamp_plan(m: LoadedModel, pre: Precomputed, s: Stroke, layer: str, here: str, max_points: int):
    """(style, centres, size) of a stamp stroke, checked; errors name ``here.<field>``."""
    stamps = pre.stamps.get(s.concept)
    if stamps is None:
        have = ", ".join(sorted(pre.stamps)) or "none (dissect with stamps: docs/dissection.md)"
        raise ValueError(f"{here}.concept: {s.concept!r} has no stamps at {layer}; concepts with stamps: {have}")
    n = len(stamps.styles)
    index = default_style(pre.raw["stamps"]["concepts"].get(s.concept)) if s.style is None else s.style
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
        raise ValueError(f"{here}.style: expected a style index in 0..{n - 1} for {s.concept!r}, got {s.style!r}")
    style = stamps.styles[index]
    res = m.info.resolution
    if s.size is None:
        size = (style.natural_size[0] / res, style.natural_size[1] / res)
    else:
        if not isinstance(s.size, (list, tuple)) or len(s.size) != 2:
            raise ValueError(f"{here}.size: expected [w, h] in 0..1 of the image width, got {s.size!r}")
        size = (
            number(s.size[0], f"{here}.size[0]", MIN_STAMP_SIZE, 1),
            number(s.size[1], f"{here}.size[1]", MIN_STAMP_SIZE, 1),
        )
    points = stamp_points(s.mask, f"{here}.mask", max_points)
    return style, row_centres(points, size[0], f"{here}.mask"), size


def stamp_stroke_edits(
    m: LoadedModel, layer: str, concept: str, style, centres, size, context: str = "ignore"
) -> list[UnitEdit]:
    """A stamp stroke's edit (its stamps composited into one; with context "respect", one ContextStamp per
    stamp, decided at render time), from the cache or placed; while the api plans a request
    (``ganpaint.masks.PLAN``), placing is deferred off the event loop like mask decoding."""
    key = (m.sha256, layer, concept, style.index, tuple(centres), tuple(size), context)
    _, h, w = m.generator.feature_shape(layer)

    def place() -> list[UnitEdit]:
        if context == "respect":
            cu = m.dissection(layer).concepts[concept]
            n = min(MAX_STRENGTH, len(cu.units))
            placed = [(c, stamp_edits(layer, style, [c], size, (h, w), m.info.resolution)) for c in centres]
            placed = [(c, e[0]) for c, e in placed if e]
            return context_stamps(layer, concept, cu.units[:n], cu.draw_values[:n], placed, key[:-2])
        return stamp_edits(layer, style, centres, size, (h, w), m.info.resolution)

    plan = PLAN.get()
    if plan is not None:
        return plan.defer(key, place, STAMP_COST * len(centres), STAMPS.get, lambda e: STAMPS.put(key, e)) or []
    hit = STAMPS.get(key)
    if hit is None:
        hit = place()
        STAMPS.put(key, hit)
    return hit
