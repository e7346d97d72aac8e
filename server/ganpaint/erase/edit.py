"""The fill erase as an edit: a ``FillErase`` is GANPaint's erase until ``Fills.resolve`` fits the fill on the
picture it paints (its features, the generator after its layer, the picture around it); resolved it sets every
unit in the cells it touches to the fitted fill.

All the FillErases of one layer are fitted together, on the unedited features, as one hole (their union): an
erase shows what was behind, in the picture itself, whatever was drawn before it; a later stroke paints over it.
A hole that covers every cell has nothing around it to fill from: it is GANPaint's erase.
Fits are cached by (features, picture, region, held units), so a page that resends its strokes pays once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ganpaint.erase.fit import FillSettings, fit_fill, hole_cells, known_pixels
from ganpaint.erase.leftover import Leftover
from ganpaint.lru import LRU, tensor_key
from ganpaint.nn.intervene import UnitEdit


@dataclass
class FillErase(UnitEdit):
    """An erase stroke's edit (units: the concept's first erase units, best first, as many as the stroke's
    strength; value 0; mask: the stroke at the picture's size, (H, W) in [0, 1]; concept: its name, for the
    fit's concept term); unresolved it paints as GANPaint's erase. The fit holds the first
    ``FillSettings.held_units`` of its units at 0."""

    concept: str = ""

    def units_erase(self) -> UnitEdit:
        return UnitEdit(self.layer, self.units, self.value, self.alpha, self.mask, self.pooling)


def fill_region(edits: Sequence[UnitEdit]) -> torch.Tensor | None:
    """(H, W) in [0, 1]: the union of the FillErases' masks (their pixels), or None when there are none."""
    masks = [e.mask for e in edits if isinstance(e, FillErase) and e.mask is not None]
    return torch.stack([m.float() for m in masks]).amax(0) if masks else None


class Fills:
    """Resolves FillErases; keeps the last ``capacity`` fits (one (C, h, w) map each: 64 kB at scenes64
    layer6)."""

    def __init__(self, settings: FillSettings | None = None, capacity: int = 256, quick: bool = True):
        self.settings = settings or FillSettings()
        self.fits: LRU[tuple, torch.Tensor] = LRU(capacity)
        # the quick fill of a stroke still being drawn: the harmonic start alone, no fit (15 ms, not 200)
        self.quick = Fills(replace(self.settings, steps=0), capacity, quick=False) if quick else self

    def resolve(
        self,
        edits: Sequence[UnitEdit],
        r: torch.Tensor,
        tail: nn.Module,
        target: torch.Tensor,
        between_steps: Callable[[], None] | None = None,
        leftover: Leftover | None = None,
    ) -> list[UnitEdit]:
        """``edits`` with the FillErases at r's layer replaced by all-unit edits of their fitted fill; r (1, C, h,
        w): the unedited features there, tail: the generator after them, target (1, 3, H, W) in [-1, 1]: the
        picture around the holes; leftover: the model's segmenter for the concept term (None: no such term)."""
        fills = [e for e in edits if isinstance(e, FillErase)]
        if not fills:
            return list(edits)
        region = fill_region(fills)  # (H, W)
        if bool(hole_cells(region, r.shape[-2:]).all()):  # nothing around to fill from: GANPaint's erase
            return [e.units_erase() if isinstance(e, FillErase) else e for e in edits]
        held = sorted({int(u) for e in fills for u in list(e.units)[: self.settings.held_units]})
        uses_term = leftover is not None and self.settings.steps > 0 and self.settings.concept > 0
        classes = leftover.classes([e.concept for e in fills]) if uses_term else ()  # a quick fill has no term
        value = self.fit(r, region, tail, target, held, between_steps, leftover, classes)  # (C, h, w)
        units = list(range(r.shape[1]))
        out = []
        for e in edits:
            if isinstance(e, FillErase):
                cells = hole_cells(e.mask, r.shape[-2:]).to(r.dtype)  # (h, w)
                e = UnitEdit(e.layer, units, value, 1.0, cells)
            out.append(e)
        return out

    def fit(self, r, region, tail, picture, held, between_steps=None, leftover=None, classes=()) -> torch.Tensor:
        """The fitted fill (C, h, w) of ``region`` (fit.py), from the cache or fitted now; the concept term
        counts the segmenter's ``classes`` (none: no term)."""
        scorer = leftover.id if leftover is not None and classes else None
        key = (tensor_key(r), tensor_key(picture), tensor_key(region), tuple(held), scorer, tuple(classes))
        hit = self.fits.get(key)
        if hit is not None:
            return hit
        penalty = None
        if scorer is not None:
            around = known_pixels(region, tuple(r.shape[-2:]), self.settings.ring)  # (H, W)
            penalty = leftover.penalty(classes, picture, around)
        value = fit_fill(r, region, tail, picture, held, self.settings, between_steps, penalty).to(r.dtype)
        self.fits.put(key, value)
        return value


def region_pixels(region: torch.Tensor) -> np.ndarray:
    """(H, W) bool: the pixels a region (H, W) in [0, 1] covers at all."""
    return (region > 0).cpu().numpy()
