"""Request strokes and raw unit edits -> the engine's ``UnitEdit`` list, with limits and exact errors.

Masks are admitted before they are decoded (``planned``): the edits are built once on the event loop with
a ``MaskPlan`` that costs every mask (``max_mask_pixels`` per request, past it 422 naming the mask) and
notes the ones not cached, without decoding any; the app's mask lanes (api/guards/lanes.py) admit that work
or refuse it at once (``BusyError``: 503 + Retry-After) and decode it on their own threads; then the edits
are built again from the results. Nothing decodes on AnyIO's thread pool, and on the event loop only what
``decodes_inline`` allows (a page update's short strokes, under a millisecond): a hop to a decoder thread and
back costs a painter two turns of the loop, each as long as every other connection's work in it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

from ganpaint.api.guards.lanes import MaskLanes
from ganpaint.api.schemas import StrokeIn, UnitEditIn
from ganpaint.api.settings import Settings
from ganpaint.engine import LoadedModel, NotFoundError
from ganpaint.masks import PLAN, MaskPlan
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes import MASKS, Stroke, pooled_mask, stroke_edits

# decoded where they are built (``decodes_inline``): polylines of at most this cost in all (two 256 x 256 page
# strokes) and this many points in all, 0.1-0.5 ms here (1000 points would take 7-12 ms)
INLINE_POINTS = 32
INLINE_COST = 2 * 256 * 256 + INLINE_POINTS
T = TypeVar("T")


async def build_edits_async(lanes: MaskLanes, *args, **kwargs) -> list[UnitEdit]:
    """``build_edits(*args, **kwargs)`` with its masks admitted and decoded on ``lanes`` (``planned``)."""
    settings = args[1] if len(args) > 1 else kwargs["settings"]
    return await planned(functools.partial(build_edits, *args, **kwargs), settings, lanes)


def _build(build: Callable[[], T], plan: MaskPlan) -> T:
    token = PLAN.set(plan)
    try:
        return build()
    finally:
        PLAN.reset(token)


async def planned(build: Callable[[], T], settings: Settings, lanes: MaskLanes) -> T:
    """Run ``build`` (which pools masks through ``ganpaint.strokes.MASKS``) with its masks costed, admitted,
    and decoded on ``lanes``; ValueError/NotFoundError name the field, BusyError means retry."""
    plan = MaskPlan(settings.max_mask_pixels, lanes.check)
    out = _build(build, plan)  # validates everything else and costs every mask; decodes nothing
    if not plan.pending():
        return out  # every mask was cached: these edits are final
    cost = plan.pending_cost

    def decode() -> None:
        plan.decode(lanes.foreground)
        for key, job in plan.jobs.items():
            MASKS.put(key, job.result)

    if decodes_inline(plan):
        decode()
    else:
        await asyncio.wrap_future(lanes.submit(decode, cost))
    plan.building = False
    return _build(build, plan)


def decodes_inline(plan: MaskPlan) -> bool:
    """Whether ``plan``'s pending work is quick enough for the event loop: polylines only, at most
    ``INLINE_COST`` and ``INLINE_POINTS`` points in all, no stamps (other forms' time follows their content:
    a 2048 x 2048 run-length mask of minimum cost takes 2-12 ms)."""
    if plan.deferred or plan.pending_cost > INLINE_COST:
        return False
    specs = [job.spec for job in plan.jobs.values()]
    if not all(isinstance(spec, dict) and isinstance(spec.get("points"), list) for spec in specs):
        return False
    return sum(len(spec["points"]) for spec in specs) <= INLINE_POINTS


def build_edits(
    m: LoadedModel,
    settings: Settings,
    strokes: Sequence[StrokeIn],
    edits: Sequence[UnitEditIn] = (),
    layer: str | None = None,
) -> list[UnitEdit]:
    """Strokes first (in order), then raw edits; ValueError/NotFoundError name the field."""
    if len(strokes) > settings.max_strokes:
        raise ValueError(f"strokes: at most {settings.max_strokes} strokes, got {len(strokes)}")
    if len(edits) > settings.max_edits:
        raise ValueError(f"edits: at most {settings.max_edits} edits, got {len(edits)}")
    if layer is not None:
        try:
            m.check_layer(layer)
        except NotFoundError as exc:
            raise NotFoundError(f"layer: {exc}") from exc
    specs = [
        Stroke(s.concept, s.mask, s.mode, s.strength, s.layer, s.style, tuple(s.size) if s.size else None)
        for s in strokes
    ]
    out = stroke_edits(m, specs, layer, "strokes", settings.max_points, settings.max_mask_side, settings.max_stamps)
    for i, e in enumerate(edits):
        out.append(raw_edit(m, settings, e, f"edits[{i}]"))
    return out


def raw_edit(m: LoadedModel, settings: Settings, e: UnitEditIn, where: str) -> UnitEdit:
    try:
        m.check_layer(e.layer)
    except NotFoundError as exc:
        raise NotFoundError(f"{where}.layer: {exc}") from exc
    channels = m.generator.feature_shape(e.layer)[0]
    for j, u in enumerate(e.units):
        if not 0 <= u < channels:
            raise ValueError(f"{where}.units[{j}]: expected a unit in 0..{channels - 1} of {e.layer}, got {u}")
    for name in ("value", "alpha"):
        v = getattr(e, name)
        if isinstance(v, list) and len(v) != len(e.units):
            raise ValueError(f"{where}.{name}: expected one number or {len(e.units)} (one per unit), got {len(v)}")
    alphas = e.alpha if isinstance(e.alpha, list) else [e.alpha]
    for a in alphas:
        if not 0 <= a <= 1:
            raise ValueError(f"{where}.alpha: expected numbers in 0..1, got {a}")
    mask = pooled_mask(e.mask, m, e.layer, f"{where}.mask", settings.max_points, settings.max_mask_side)
    return UnitEdit(e.layer, list(e.units), e.value, e.alpha, mask)
