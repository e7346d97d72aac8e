"""Stamps that respect context: a stamp where the generator accepts its concept, else the unit brush.

A stamp forces a concept's template into the features, so it paints a gold dome in a field where the
unit brush (the concept's draw units at their draw values) paints nothing: the generator's later layers
veto it (ICLR section 4.4). A ``ContextStamp`` is a stamp edit that carries that brush too; before it is
applied, ``resolve`` probes the picture: the brush alone, as a disc with the area of the dissection's
insertion window centred on the stamp (the stroke of the context map, mode "draw", at that point), and
the segmenter's soft gain of the concept over the disc. At least ``ACCEPT_GAIN``: the stamp is painted;
below: the brush is painted through the stamp's footprint (the generator decides, as with the brush).

``ACCEPT_GAIN`` was fixed on dissection latents (ids 0..999, never the held-out ones): docs/context.md.
A probe costs two renders of the layers after the stamp's and two segmentations (median 41 ms, 90% under
51 ms at scenes64 layer6, 2 threads on the shared 2-core machine at load 4); decisions are cached by
(features, stamp), so a page that resends its strokes pays once per stamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ganpaint.context.probe import Probabilities, Render, brush_stroke, measure, window_radius
from ganpaint.lru import LRU, tensor_key
from ganpaint.nn.intervene import UnitEdit

ACCEPT_GAIN = 0.05  # the brush's soft gain below which a stamp does what the brush does


@dataclass
class ContextStamp(UnitEdit):
    """A stamp edit (value: per-unit maps, mask: its footprint alpha) that ``resolve`` may swap for
    ``brush``; unresolved it paints as the stamp it is."""

    concept: str = ""
    brush_units: Sequence[int] = ()
    brush_values: Sequence[float] = ()
    centre: tuple[float, float] = (0.5, 0.5)
    key: tuple = field(default=())  # what identifies the stamp (model, layer, concept, style, centre, size)

    def stamp(self) -> UnitEdit:
        return UnitEdit(self.layer, self.units, self.value, self.alpha, self.mask, self.pooling)

    def brush(self) -> UnitEdit:
        return UnitEdit(self.layer, list(self.brush_units), list(self.brush_values), 1.0, self.mask, self.pooling)


class Decisions(LRU[tuple, tuple[bool, float]]):
    """Bounded LRU of (features digest, stamp key) -> (accepted, gain)."""

    def __init__(self, capacity: int = 4096):
        super().__init__(capacity)


def probe_gains(
    r: torch.Tensor,
    stamps: Sequence[ContextStamp],
    render: Render,
    probabilities: Probabilities,
    c: int,
    resolution: int,
) -> list[float]:
    """For each stamp, the unit brush's soft gain of class ``c`` (their concept) alone on r (1, C, h, w),
    centred on the stamp: one batch of 1 + len(stamps) renders (a dragged row is probed at once)."""
    _, _, h, w = r.shape
    radius = window_radius(h)
    strokes = [
        [brush_stroke(s.layer, s.brush_units, s.brush_values, s.centre, radius, (h, w), resolution)] for s in stamps
    ]
    return [group[0][0] for group in measure(r, strokes, render, probabilities, c)]


def resolve(
    edits: Sequence[UnitEdit],
    r: torch.Tensor,
    render: Render,
    probabilities: Probabilities,
    names: Sequence[str],
    resolution: int,
    decisions: Decisions,
) -> list[UnitEdit]:
    """``edits`` with each ContextStamp replaced by its stamp or its brush, probed on r (1, C, h, w) with the
    segmenter's classes ``names`` (a concept it does not know stays a stamp). Stamps are probed on the
    unedited features (a stamp's context is the picture, not earlier strokes)."""
    if not any(isinstance(e, ContextStamp) for e in edits):
        return list(edits)
    base = tensor_key(r)
    known: dict[tuple, tuple[bool, float]] = {}
    pending: dict[str, list[ContextStamp]] = {}  # concept -> its stamps not yet decided on this picture
    for e in edits:
        if isinstance(e, ContextStamp) and e.concept in names:
            hit = decisions.get((base, e.key))
            if hit is None:
                pending.setdefault(e.concept, []).append(e)
            else:
                known[e.key] = hit
    for concept, stamps in pending.items():
        gains = probe_gains(r, stamps, render, probabilities, list(names).index(concept), resolution)
        for e, gain in zip(stamps, gains, strict=True):
            known[e.key] = (gain >= ACCEPT_GAIN, gain)
            decisions.put((base, e.key), known[e.key])
    out = []
    for e in edits:
        if not isinstance(e, ContextStamp):
            out.append(e)
        elif e.concept not in names:
            out.append(e.stamp())
        else:
            out.append(e.stamp() if known[e.key][0] else e.brush())
    return out


def context_stamps(
    layer: str,
    concept: str,
    brush_units: Sequence[int],
    brush_values: Sequence[float],
    placed: Sequence[tuple[tuple[float, float], UnitEdit]],
    key: tuple,
) -> list[ContextStamp]:
    """One ContextStamp per placed stamp ((centre, its stamp edit), in order: later ones paint over
    earlier ones, as the composited row of ``stamps.place.stamp_edits`` does)."""
    return [
        ContextStamp(
            layer,
            e.units,
            e.value,
            e.alpha,
            e.mask,
            e.pooling,
            concept=concept,
            brush_units=list(brush_units),
            brush_values=list(brush_values),
            centre=centre,
            key=(*key, centre),
        )
        for centre, e in placed
    ]
