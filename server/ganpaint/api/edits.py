"""Request strokes and raw unit edits -> the engine's ``UnitEdit`` list, with limits and exact errors, through an
explicit edit plan (ganpaint/edit_plan.py): prepare, admit, run, assemble.

``EditBuilder`` (one per app, ``app.state.edits``) holds the app's edit caches, its mask lanes
(api/guards/lanes.py) and its settings:

1. **prepare** (``prepare_request``, on the event loop): counts and layers checked, each stroke prepared by its
   kind (ganpaint/strokes), each raw edit checked; every mask costed (``max_mask_pixels`` per request, past it
   422 naming the mask) and resolved from the cache or left pending; nothing decoded.
2. **admit**: the lanes are asked as the pending cost grows (``BusyError``: 503 + Retry-After, at once).
3. **run**: on the event loop if ``decodes_inline`` allows (a page update's short strokes, under a
   millisecond: a hop to a decoder thread and back costs a painter two turns of the loop, each as long as every
   other connection's work in it), else on a lane thread. Never on AnyIO's thread pool.
4. **assemble**: the UnitEdits from the results, strokes first (in order), then raw edits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ganpaint.api.guards.lanes import MaskLanes
from ganpaint.api.schemas import StrokeIn, UnitEditIn
from ganpaint.api.settings import Settings
from ganpaint.edit_plan import EditCaches, EditPlan, Part
from ganpaint.engine import LoadedModel, NotFoundError
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes import Stroke, StrokeLimits, plan_mask, prepare_strokes

# decoded where they are prepared (``decodes_inline``): polylines of at most this cost in all (two 256 x 256 page
# strokes) and this many points in all, 0.1-0.5 ms here (1000 points would take 7-12 ms)
INLINE_POINTS = 32
INLINE_COST = 2 * 256 * 256 + INLINE_POINTS


class EditBuilder:
    """The app's way from request strokes and edits to UnitEdits (see the module docstring)."""

    def __init__(self, settings: Settings, lanes: MaskLanes, caches: EditCaches | None = None):
        self.settings, self.lanes = settings, lanes
        self.caches = caches or EditCaches()
        self.limits = StrokeLimits(settings.max_points, settings.max_mask_side, settings.max_stamps)

    def plan(self) -> EditPlan:
        """A new plan: budgeted per request, admitted by the lanes as it grows."""
        return EditPlan(self.caches, self.settings.max_mask_pixels, self.lanes.check, eager=False)

    async def build(
        self,
        m: LoadedModel,
        strokes: Sequence[StrokeIn],
        edits: Sequence[UnitEditIn] = (),
        layer: str | None = None,
    ) -> list[UnitEdit]:
        """Prepare, admit, run and assemble a request's strokes then raw edits; ValueError/NotFoundError name
        the field, BusyError means retry."""
        plan = self.plan()
        prepare_request(plan, m, self.settings, self.limits, strokes, edits, layer)
        return await self.finish(plan)

    async def finish(self, plan: EditPlan) -> list[UnitEdit]:
        """Run a prepared plan's pending work (inline when short, else on a lane) and assemble its edits."""
        if plan.pending():
            if decodes_inline(plan):
                plan.run(self.lanes.foreground)
            else:
                await asyncio.wrap_future(self.lanes.submit(lambda: plan.run(self.lanes.foreground), plan.pending_cost))
        return plan.assemble()


def decodes_inline(plan: EditPlan) -> bool:
    """Whether ``plan``'s pending work is quick enough for the event loop: polylines only, at most
    ``INLINE_COST`` and ``INLINE_POINTS`` points in all, no other work (stamps; other forms' time follows their
    content: a 2048 x 2048 run-length mask of minimum cost takes 2-12 ms)."""
    if plan.work_jobs or plan.pending_cost > INLINE_COST:
        return False
    specs = [job.spec for job in plan.mask_jobs.values()]
    if not all(isinstance(spec, dict) and isinstance(spec.get("points"), list) for spec in specs):
        return False
    return sum(len(spec["points"]) for spec in specs) <= INLINE_POINTS


def prepare_request(
    plan: EditPlan,
    m: LoadedModel,
    settings: Settings,
    limits: StrokeLimits,
    strokes: Sequence[StrokeIn],
    edits: Sequence[UnitEditIn] = (),
    layer: str | None = None,
) -> None:
    """Strokes first (in order), then raw edits, as parts of ``plan``; ValueError/NotFoundError name the field."""
    if len(strokes) > settings.max_strokes:
        raise ValueError(f"strokes: at most {settings.max_strokes} strokes, got {len(strokes)}")
    if len(edits) > settings.max_edits:
        raise ValueError(f"edits: at most {settings.max_edits} edits, got {len(edits)}")
    if layer is not None:
        try:
            m.check_layer(layer)
        except NotFoundError as exc:
            raise NotFoundError(f"layer: {exc}") from exc
    specs = [stroke_spec(s) for s in strokes]
    prepare_strokes(plan, m, specs, layer, "strokes", limits)
    for i, e in enumerate(edits):
        plan.add(raw_edit(plan, m, limits, e, f"edits[{i}]"))


def stroke_spec(s: StrokeIn) -> Stroke:
    size = tuple(s.size) if s.size else None
    return Stroke(s.concept, s.mask, s.mode, s.strength, s.layer, s.style, size, s.context, s.method)


def raw_edit(plan: EditPlan, m: LoadedModel, limits: StrokeLimits, e: UnitEditIn, where: str) -> Part:
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
    mask = plan_mask(plan, e.mask, m, e.layer, f"{where}.mask", limits)
    return lambda: [UnitEdit(e.layer, list(e.units), e.value, e.alpha, mask.value)]
