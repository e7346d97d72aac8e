"""Paint a concept at many places at once and measure the segmenter's gain of it at each.

A *stroke* here is what a painter's click does: the unit brush (the concept's draw units at their draw
values through a disc, as ``ganpaint.strokes`` does for mode "draw") or a stamp (``ganpaint.stamps.place``).
Its *region* is the disc, or the stamp's footprint (alpha >= 0.5), at pixel resolution. Its *gain* is the
mean over the region of the segmenter's probability of the concept after the stroke minus before (soft:
an argmax share moves in steps of whole pixels and hides a near miss).

Strokes far enough apart barely see each other (a door's influence at layer6 of scenes64 reaches about 4
cells), so ``measure`` paints every stroke of a group into one picture and renders one picture per group:
``spaced_groups`` splits the places of a grid into ``stride**2`` groups whose members are ``stride`` cells
apart. The numbers this costs and how close it stays to one render per stroke: ``grid.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ganpaint.nn.intervene import UnitEdit, apply_edits

Render = Callable[[torch.Tensor], torch.Tensor]  # features (N, C, h, w) -> images (N, 3, H, W) in [-1, 1]
Probabilities = Callable[[torch.Tensor], torch.Tensor]  # images (N, 3, H, W) -> (N, K, H, W)
SUBCELLS = 8  # disc area fractions are sampled on 8 x 8 points per feature cell


@dataclass(frozen=True)
class Stroke:
    """One place to paint: its edit on the feature map and its region at pixel resolution."""

    edit: UnitEdit  # mask (h, w) or a spatial value map (a stamp)
    region: torch.Tensor  # (H, W) float 0/1


def disc_fraction(centre: tuple[float, float], radius: float, shape: tuple[int, int], sub: int) -> torch.Tensor:
    """(rows, cols): the share of each cell of a ``shape`` grid inside the disc (centre, radius in 0..1 of the
    image width), sampled at ``sub`` x ``sub`` points per cell."""
    rows, cols = shape
    ys = (torch.arange(rows * sub, dtype=torch.float32) + 0.5) / (rows * sub)  # (rows*sub,)
    xs = (torch.arange(cols * sub, dtype=torch.float32) + 0.5) / (cols * sub)  # (cols*sub,)
    inside = ((ys[:, None] - centre[1]) ** 2 + (xs[None, :] - centre[0]) ** 2 <= radius**2).float()
    return inside.view(rows, sub, cols, sub).mean(dim=(1, 3))  # (rows, cols)


def brush_stroke(
    layer: str, units: Sequence[int], values: Sequence[float], centre, radius: float, feature_hw, resolution: int
) -> Stroke:
    """The unit brush as a disc of ``radius`` (0..1 of the width) at ``centre``."""
    mask = disc_fraction(centre, radius, feature_hw, SUBCELLS)  # (h, w) area fractions
    region = disc_fraction(centre, radius, (resolution, resolution), 1)  # (H, W) pixel centres inside
    return Stroke(UnitEdit(layer, list(units), list(values), 1.0, mask), region)


def region_mean(prob: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """prob (N, H, W), regions (N, H, W) -> (N,) the mean of prob over each region (0 for an empty one)."""
    area = regions.sum(dim=(1, 2))  # (N,)
    return (prob * regions).sum(dim=(1, 2)) / area.clamp_min(1)


def render_in_batches(render: Render, feats: torch.Tensor, probabilities: Probabilities, c: int, batch: int = 64):
    """(N, C, h, w) features -> (N, H, W) the segmenter's probability of class ``c``."""
    out = []
    for a in range(0, len(feats), batch):
        out.append(probabilities(render(feats[a : a + batch]))[:, c].float())  # (b, H, W)
    return torch.cat(out)


@dataclass(frozen=True)
class Painting:
    """Groups of strokes painted into pictures, as the affine map each edit is: painted = offset + r * keep
    (``apply_edits`` composites v a + r (1 - a) steps, so a group is one such map). Built once, it paints any
    picture's features in one fused operation instead of one ``apply_edits`` per group."""

    offset: torch.Tensor  # (G, C, h, w)
    keep: torch.Tensor  # (G, C, h, w)

    def paint(self, r: torch.Tensor) -> torch.Tensor:
        return self.offset + r * self.keep  # (G, C, h, w)


def painting(groups: Sequence[Sequence[Stroke]], shape: tuple[int, int, int]) -> Painting:
    """The Painting of ``groups`` on feature maps of ``shape`` (C, h, w)."""
    zero, one = torch.zeros(1, *shape), torch.ones(1, *shape)  # (1, C, h, w)
    offset = torch.cat([apply_edits(zero, [s.edit for s in g]) for g in groups])  # (G, C, h, w)
    ones = torch.cat([apply_edits(one, [s.edit for s in g]) for g in groups])  # (G, C, h, w)
    return Painting(offset, ones - offset)


def measure(
    r: torch.Tensor, groups: Sequence[Sequence[Stroke]], render: Render, probabilities: Probabilities, c: int
) -> list[list[tuple[float, float]]]:
    """For each group (strokes painted together into one picture of r (1, C, h, w)), for each stroke:
    (gain, before) of class ``c``'s mean probability over the stroke's region."""
    feats = torch.cat([apply_edits(r, [s.edit for s in group]) for group in groups])  # (G, C, h, w)
    regions = [torch.stack([s.region > 0 for s in group]) for group in groups]  # (S, H, W) each
    return measure_painted(r, feats, regions, render, probabilities, c)


def measure_painted(
    r: torch.Tensor,
    painted: torch.Tensor,
    regions: Sequence[torch.Tensor],
    render: Render,
    probabilities: Probabilities,
    c: int,
) -> list[list[tuple[float, float]]]:
    """``measure`` with the groups already painted: painted (G, C, h, w), regions per group (S, H, W) bool."""
    with torch.inference_mode():
        prob = render_in_batches(render, torch.cat([r, painted]), probabilities, c)  # (1 + G, H, W)
    before, after = prob[0], prob[1:]
    out = []
    for g, reg in enumerate(regions):
        reg = reg.float()  # (S, H, W)
        b = region_mean(before.expand_as(reg), reg)  # (S,)
        a = region_mean(after[g].expand_as(reg), reg)  # (S,)
        out.append([(float(x - y), float(y)) for x, y in zip(a, b, strict=True)])
    return out


def spaced_groups(h: int, w: int, stride: int) -> list[list[tuple[int, int]]]:
    """The cells (row, col) of an h x w grid in stride**2 groups; a group's cells are ``stride`` apart."""
    stride = max(1, min(stride, max(h, w)))
    return [
        [(i, j) for i in range(a, h, stride) for j in range(b, w, stride)] for a in range(stride) for b in range(stride)
    ]


def cell_centre(i: int, j: int, h: int, w: int) -> tuple[float, float]:
    """(x, y) in 0..1 of the centre of cell (row i, col j)."""
    return ((j + 0.5) / w, (i + 0.5) / h)


def window_radius(h: int) -> float:
    """The default brush of the map: a disc with the area of the dissection's insertion window
    (``dissect.causal.window_cells``: 1/8 of the map side), in 0..1 of the image width."""
    side = max(1, h // 8) / h
    return side / math.sqrt(math.pi)
