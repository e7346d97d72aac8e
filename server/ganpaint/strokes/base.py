"""What every stroke kind shares: the ``Stroke`` as data, the limits, the ``StrokeContext`` a kind prepares a
stroke in, and the ``StrokeKind`` protocol."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from ganpaint.edit_plan import EditPlan, Part, Ref
from ganpaint.masks import MAX_POINTS, MAX_SIDE
from ganpaint.model_registry import LoadedModel
from ganpaint.nn.intervene import Pooling
from ganpaint.precomputed import ConceptUnits, Precomputed

MAX_STRENGTH = 20
MAX_STAMPS = 64  # stamps one request may place (all its stamp strokes together)
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
    method: str = "fill"  # erase: "fill" = what surrounds the stroke (ganpaint.erase), "units" = GANPaint's zeros


@dataclass(frozen=True)
class StrokeLimits:
    max_points: int = MAX_POINTS
    max_side: int = MAX_SIDE
    max_stamps: int = MAX_STAMPS


@dataclass
class StrokeContext:
    """One stroke being prepared: its model, layer, dissection and concept (checked already), where it is in the
    request (``strokes[i]``, for errors), the limits, the plan and the request's tallies (``counts``)."""

    m: LoadedModel
    layer: str
    pre: Precomputed
    concept: ConceptUnits
    where: str
    limits: StrokeLimits
    plan: EditPlan
    counts: Counter

    def mask(self, spec: Any, field: str = "mask", pooling: Pooling = "area") -> Ref:
        """``spec`` pooled to this stroke's feature map (``plan_mask``); errors name ``<where>.<field>``."""
        return plan_mask(self.plan, spec, self.m, self.layer, f"{self.where}.{field}", self.limits, pooling)

    def picture_mask(self, spec: Any, field: str = "mask") -> Ref:
        """``spec`` at the picture's own size (R, R), area fractions: the pixels a stroke covers."""
        res = self.m.info.resolution
        raster = max(MIN_RASTER, res)
        limits = (self.limits.max_points, self.limits.max_side)
        return self.plan.mask(spec, raster, (res, res), f"{self.where}.{field}", limits, "area")


class StrokeKind(Protocol):
    """A mode of stroke: ``prepare`` checks the stroke's own fields (errors naming ``ctx.where``), asks the plan
    for what it needs (``ctx.mask``, ``ctx.plan.work`` with its cost) and returns its part: the function that
    builds its UnitEdits once the plan has run."""

    def prepare(self, stroke: Stroke, ctx: StrokeContext) -> Part: ...


def plan_mask(
    plan: EditPlan,
    spec: Any,
    m: LoadedModel,
    layer: str,
    where: str,
    limits: StrokeLimits = StrokeLimits(),  # noqa: B008 - frozen
    pooling: Pooling = "area",
) -> Ref:
    """A mask in any form pooled to ``layer``'s feature map (h, w), as a Ref of ``plan``; None stays None
    (everywhere)."""
    _, h, w = m.generator.feature_shape(layer)
    raster = max(MIN_RASTER, m.info.resolution)
    return plan.mask(spec, raster, (h, w), where, (limits.max_points, limits.max_side), pooling)
