"""The context map of one picture: for every feature cell, the gain of a concept when a stroke lands there.

    grid = stroke_grid(16, 16, stroke_at, stride=8)      # stroke_at(centre) -> a Stroke (probe.py) or None
    cmap = context_map(r, render, probabilities, c, grid)   # r: (1, C, h, w) at the layer
    cmap.gain   # (h, w): mean segmenter probability of the concept over the stroke's region, after - before

``stroke_at(centre)`` makes the stroke (``probe.brush_stroke`` or ``stamp_stroke``) centred on a cell;
strokes ``stride`` cells apart share a render (``probe.spaced_groups``), so a 16 x 16 map costs stride**2
renders + 1 instead of 257. Measured on scenes64 layer6 (door, dome; 8 held-out pictures, bench/context_map.py):
see docs/context.md for the agreement with one render per cell and the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganpaint.context.probe import (
    Painting,
    Probabilities,
    Render,
    Stroke,
    cell_centre,
    measure_painted,
    painting,
    spaced_groups,
)
from ganpaint.nn.intervene import UnitEdit, apply_edits
from ganpaint.stamps.place import stamp_edits, stamp_maps
from ganpaint.stamps.templates import StampStyle

DEFAULT_STRIDE = 8  # cells between strokes painted into one picture (docs/context.md: agreement vs cost)
PAINTING_LIMIT = 1 << 21  # numbers in a kept Painting (offset and keep: 2 x 8 MB at most)


@dataclass(frozen=True)
class ContextMap:
    gain: torch.Tensor  # (h, w) in -1..1: the concept's mean probability over the stroke region, after - before
    before: torch.Tensor  # (h, w) in 0..1: that mean before the stroke
    renders: int  # pictures rendered (the unedited one included)
    ms: float  # time to compute


def stamp_stroke(layer: str, style: StampStyle, centre, size, feature_hw, resolution: int) -> Stroke | None:
    """A stamp of ``style`` at ``centre`` (size in 0..1 of the width); None when it misses the map."""
    edits: list[UnitEdit] = stamp_edits(layer, style, [centre], size, feature_hw, resolution)
    if not edits:
        return None
    maps = stamp_maps(style, centre, size, (resolution, resolution), resolution)
    if maps is None:
        return None
    return Stroke(edits[0], (maps[1] >= 0.5).float())  # region: the footprint at pixel resolution


@dataclass(frozen=True)
class StrokeGrid:
    """The strokes of a map, built once per (model, layer, concept, mode): they do not depend on the picture.
    Kept small: the groups' Painting and the strokes' regions (bool); the edits themselves are dropped once
    painted (a stamp's edit holds a (C, h, w) map: 256 of them at layer6 are 16 MB), and rebuilt for each map
    where the Painting would be too large to keep."""

    cells: list[list[tuple[int, int]]]  # per group, the cells (row, col) painted together (misses left out)
    regions: list[torch.Tensor]  # per group, (S, H, W) bool: its strokes' regions
    shape: tuple[int, int]
    stroke_at: Callable[[tuple[float, float]], Stroke | None]
    painted: Painting | None = None  # the groups as one fused edit (kept when at most PAINTING_LIMIT numbers)

    def strokes(self) -> list[list[Stroke]]:
        h, w = self.shape
        return [[self.stroke_at(cell_centre(*cell, h, w)) for cell in group] for group in self.cells]


def stroke_grid(
    h: int,
    w: int,
    stroke_at: Callable[[tuple[float, float]], Stroke | None],
    stride: int = DEFAULT_STRIDE,
    channels: int | None = None,
) -> StrokeGrid:
    """The strokes centred on every cell, in groups ``stride`` apart; with ``channels`` (C of the layer) also
    their Painting when it is small enough (a 16 x 16 x 64 layer at stride 8: 2 x 4 MB)."""
    cells, strokes = [], []
    for group in spaced_groups(h, w, stride):
        made = [(cell, stroke_at(cell_centre(*cell, h, w))) for cell in group]
        made = [(cell, s) for cell, s in made if s is not None]
        if made:
            cells.append([cell for cell, _ in made])
            strokes.append([s for _, s in made])
    painted = None
    if channels is not None and len(strokes) * channels * h * w <= PAINTING_LIMIT:
        painted = painting(strokes, (channels, h, w))
    regions = [torch.stack([s.region > 0 for s in group]) for group in strokes]  # (S, H, W) bool each
    return StrokeGrid(cells, regions, (h, w), stroke_at, painted)


def context_map(r: torch.Tensor, render: Render, probabilities: Probabilities, c: int, grid: StrokeGrid) -> ContextMap:
    """The map of class ``c`` on features r (1, C, h, w); cells whose stroke misses the map get gain 0."""
    t0 = time.perf_counter()
    assert tuple(r.shape[2:]) == grid.shape, (tuple(r.shape), grid.shape)
    if grid.painted is not None:
        feats = grid.painted.paint(r.float()).to(r.dtype)  # (G, C, h, w)
    else:
        feats = torch.cat([apply_edits(r, [s.edit for s in group]) for group in grid.strokes()])  # (G, C, h, w)
    results = measure_painted(r, feats, grid.regions, render, probabilities, c)
    gain = torch.zeros(grid.shape)  # (h, w)
    before = torch.zeros(grid.shape)  # (h, w)
    for group, res in zip(grid.cells, results, strict=True):
        for (i, j), (g, b) in zip(group, res, strict=True):
            gain[i, j], before[i, j] = g, b
    return ContextMap(gain, before, 1 + len(grid.cells), (time.perf_counter() - t0) * 1000)


def sample(grid: torch.Tensor, x: float, y: float) -> float:
    """The map's value at (x, y) in 0..1, bilinear between cell centres (clamped at the border)."""
    h, w = grid.shape
    fx, fy = min(max(x * w - 0.5, 0), w - 1), min(max(y * h - 0.5, 0), h - 1)
    j0, i0 = int(fx), int(fy)
    j1, i1 = min(j0 + 1, w - 1), min(i0 + 1, h - 1)
    tx, ty = fx - j0, fy - i0
    top = grid[i0, j0] * (1 - tx) + grid[i0, j1] * tx
    bottom = grid[i1, j0] * (1 - tx) + grid[i1, j1] * tx
    return float(top * (1 - ty) + bottom * ty)
