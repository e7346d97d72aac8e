"""The unit brush, GANPaint's own: ``draw`` sets the first ``strength`` (best first) of the concept's draw units
to their draw values, ``erase`` its erase units (``ConceptUnits.units_for``) to 0; alpha 1, inside the mask
pooled to the feature map as area fractions. An erase with ``method`` "fill" (the default) is a ``FillErase``
(ganpaint.erase): that same edit until the renderer fits the fill of what surrounds the stroke."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ganpaint.edit_plan import Part
from ganpaint.erase import FillErase
from ganpaint.nn.intervene import UnitEdit
from ganpaint.precomputed import ConceptUnits
from ganpaint.strokes.base import MAX_STRENGTH, Stroke, StrokeContext

ERASE_METHODS = ("fill", "units")  # an erase stroke's "method" (docs/erase.md: measured against the truth)


@dataclass(frozen=True)
class Brush:
    mode: str  # the concept's units for this mode (ConceptUnits.units_for)
    values: Callable[[ConceptUnits, int], list[float] | float]  # the value of the first n units

    def prepare(self, s: Stroke, ctx: StrokeContext) -> Part:
        if not 1 <= s.strength <= MAX_STRENGTH:
            raise ValueError(f"{ctx.where}.strength: expected an integer in 1..{MAX_STRENGTH}, got {s.strength!r}")
        units = ctx.concept.units_for(self.mode)
        n = min(s.strength, len(units))
        value = self.values(ctx.concept, n)
        layer = ctx.layer
        if self.mode == "erase" and s.method not in ERASE_METHODS:
            raise ValueError(f"{ctx.where}.method: expected 'fill' or 'units', got {s.method!r}")
        if self.mode == "erase" and s.method == "fill" and s.mask is not None:
            picture = ctx.picture_mask(s.mask)  # (R, R): the fit needs the stroke's pixels
            concept = ctx.concept.name
            return lambda: [FillErase(layer, units[:n], value, 1.0, picture.value, concept=concept)]
        mask = ctx.mask(s.mask)
        return lambda: [UnitEdit(layer, units[:n], value, 1.0, mask.value)]


DRAW = Brush("draw", lambda concept, n: concept.draw_values[:n])
ERASE = Brush("erase", lambda concept, n: 0.0)
