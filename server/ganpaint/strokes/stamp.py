"""The stamp: one instance of a concept's style (``ganpaint.stamps``) centred at each point of the stroke's
polyline (a drag stamps a row), each an all-units edit whose value is the style's template resized to the
stamp's box and whose mask is its soft footprint; a stroke's stamps composited into one edit, placed off the
event loop like a mask decode (``STAMP_COST`` each) and cached by (model, layer, concept, style, centres, size,
context). With ``context`` "respect" (the default) each stamp is a ``ContextStamp`` the renderer decides on the
picture: the stamp where the generator accepts the concept, else the unit brush (ganpaint.context.gate)."""

from __future__ import annotations

from dataclasses import dataclass

from ganpaint.context.gate import context_stamps
from ganpaint.edit_plan import Part
from ganpaint.stamps.place import MIN_STAMP_SIZE, row_centres, stamp_edits, stamp_points
from ganpaint.stamps.templates import default_style
from ganpaint.strokes.base import MAX_STRENGTH, Stroke, StrokeContext
from ganpaint.values import number

CONTEXTS = ("respect", "ignore")  # a stamp stroke's "context" (ganpaint.context.gate, docs/context.md)
STAMP_COST = 1 << 16  # admission cost of placing one stamp (about a millisecond: a 256 x 256 mask's worth)


@dataclass(frozen=True)
class Stamp:
    def prepare(self, s: Stroke, ctx: StrokeContext) -> Part:
        style, centres, size = self.checked(s, ctx)
        ctx.counts["stamps"] += len(centres)
        if ctx.counts["stamps"] > ctx.limits.max_stamps:
            limit, got = ctx.limits.max_stamps, ctx.counts["stamps"]
            raise ValueError(f"{ctx.where}.mask: at most {limit} stamps per request (max_stamps), got {got}")
        if s.context not in CONTEXTS:
            raise ValueError(f"{ctx.where}.context: expected 'respect' or 'ignore', got {s.context!r}")
        m, layer = ctx.m, ctx.layer
        key = (m.sha256, layer, s.concept, style.index, tuple(centres), tuple(size), s.context)
        _, h, w = m.generator.feature_shape(layer)
        units = ctx.concept.units[:MAX_STRENGTH]
        values = ctx.concept.draw_values[:MAX_STRENGTH]

        def place():
            if s.context == "ignore":
                return stamp_edits(layer, style, centres, size, (h, w), m.info.resolution)
            # one ContextStamp per stamp, decided where it renders (ganpaint.context.gate)
            placed = [(c, stamp_edits(layer, style, [c], size, (h, w), m.info.resolution)) for c in centres]
            return context_stamps(layer, s.concept, units, values, [(c, e[0]) for c, e in placed if e], key[:-2])

        placed = ctx.plan.work(key, place, STAMP_COST * len(centres), ctx.plan.caches.stamps)
        return lambda: list(placed.value or [])

    def checked(self, s: Stroke, ctx: StrokeContext):
        """(style, centres, size) of a stamp stroke; errors name ``<where>.<field>``."""
        here, pre = ctx.where, ctx.pre
        stamps = pre.stamps.get(s.concept)
        if stamps is None:
            have = ", ".join(sorted(pre.stamps)) or "none (dissect with stamps: docs/dissection.md)"
            raise ValueError(
                f"{here}.concept: {s.concept!r} has no stamps at {ctx.layer}; concepts with stamps: {have}"
            )
        n = len(stamps.styles)
        index = default_style(pre.raw["stamps"]["concepts"].get(s.concept)) if s.style is None else s.style
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
            raise ValueError(f"{here}.style: expected a style index in 0..{n - 1} for {s.concept!r}, got {s.style!r}")
        style = stamps.styles[index]
        res = ctx.m.info.resolution
        if s.size is None:
            size = (style.natural_size[0] / res, style.natural_size[1] / res)
        else:
            if not isinstance(s.size, (list, tuple)) or len(s.size) != 2:
                raise ValueError(f"{here}.size: expected [w, h] in 0..1 of the image width, got {s.size!r}")
            size = (
                number(s.size[0], f"{here}.size[0]", MIN_STAMP_SIZE, 1),
                number(s.size[1], f"{here}.size[1]", MIN_STAMP_SIZE, 1),
            )
        points = stamp_points(s.mask, f"{here}.mask", ctx.limits.max_points)
        return style, row_centres(points, size[0], f"{here}.mask"), size


STAMP = Stamp()
