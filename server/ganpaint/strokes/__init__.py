"""Strokes -> unit edits through the precomputed concepts, one stroke kind per ``mode`` (strokes/kinds.py).

A stroke ``{concept, mode, strength, mask, layer, style, size}`` is prepared by its kind in a ``StrokeContext``
(its layer, dissection and concept checked here first) into a part of an ``EditPlan`` (ganpaint/edit_plan.py):
``draw`` and ``erase`` (strokes/brush.py) become one ``UnitEdit`` at its layer, ``stamp`` (strokes/stamp.py)
the stamps of its row composited into one. Strokes apply in order, so a later stroke paints over an earlier one.

    plan = EditPlan()                                   # eager: everything resolved as it is asked for
    prepare_strokes(plan, m, [Stroke("tree", mask)])
    edits = plan.assemble()
    edits = stroke_edits(m, [Stroke("tree", mask)])     # the same in one call
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ganpaint.edit_plan import EditCaches, EditPlan
from ganpaint.masks import MAX_POINTS, MAX_SIDE
from ganpaint.model_registry import LoadedModel, NotFoundError
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes.base import (
    MAX_STAMPS,
    MAX_STRENGTH,
    MIN_RASTER,
    Stroke,
    StrokeContext,
    StrokeKind,
    StrokeLimits,
    plan_mask,
)
from ganpaint.strokes.kinds import KINDS, expected_modes

__all__ = [
    "KINDS",
    "MAX_STAMPS",
    "MAX_STRENGTH",
    "MIN_RASTER",
    "Stroke",
    "StrokeContext",
    "StrokeKind",
    "StrokeLimits",
    "plan_mask",
    "prepare_strokes",
    "stroke_edits",
]


def prepare_strokes(
    plan: EditPlan,
    m: LoadedModel,
    strokes: Sequence[Stroke],
    default_layer: str | None = None,
    where: str = "strokes",
    limits: StrokeLimits = StrokeLimits(),  # noqa: B008 - frozen
) -> None:
    """Each stroke's part added to ``plan``, in order; ValueError/NotFoundError name ``strokes[i].<field>``."""
    counts: Counter = Counter()  # the request's tallies (stamps placed so far)
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
        kind = KINDS.get(s.mode) if isinstance(s.mode, str) else None
        if kind is None:
            raise ValueError(f"{here}.mode: expected {expected_modes()}, got {s.mode!r}")
        plan.add(kind.prepare(s, StrokeContext(m, layer, pre, concept, here, limits, plan, counts)))


def stroke_edits(
    m: LoadedModel,
    strokes: Sequence[Stroke],
    default_layer: str | None = None,
    where: str = "strokes",
    max_points: int = MAX_POINTS,
    max_side: int = MAX_SIDE,
    max_stamps: int = MAX_STAMPS,
    caches: EditCaches | None = None,
) -> list[UnitEdit]:
    """The strokes' UnitEdits at once (an eager plan: masks decoded and stamps placed here, in order)."""
    plan = EditPlan(caches)
    prepare_strokes(plan, m, strokes, default_layer, where, StrokeLimits(max_points, max_side, max_stamps))
    return plan.assemble()
