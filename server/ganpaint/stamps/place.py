"""Place a concept stamp: a style's template (C, g, g) and soft footprint (g, g) -> one ``UnitEdit``.

The stamp's box (centre and size in fractions of the image width) is laid on the feature map; each cell
gets the footprint's area-weighted coverage as alpha and the footprint-weighted mean of the template over
the cell as value. Cells are supersampled so that boxes smaller than a cell (a 7 px door on 4 px cells)
still blend by area, as pooled masks do. A drag stamps a row: one stamp at the first point, then one each
stamp width along the polyline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from ganpaint.nn.intervene import UnitEdit
from ganpaint.stamps.templates import StampStyle
from ganpaint.values import number, short_repr

MAX_STAMPS = 32  # stamps one stroke may place (a drag row)
OPACITY_FLOOR = 0.15  # footprint value below which a stamp leaves the features alone
MIN_STAMP_SIZE = 1e-3  # of the image width: smaller boxes would divide by (nearly) zero


def stamp_points(mask: Any, where: str, max_points: int) -> list[tuple[float, float]]:
    """The polyline points of a stamp stroke's mask ({"points": [[x, y], ...], "radius"?})."""
    if not isinstance(mask, dict) or "points" not in mask:
        raise ValueError(
            f"{where}: a stamp stroke needs a polyline mask {{'points': [[x, y], ...]}}, got {short_repr(mask)}"
        )
    points = mask["points"]
    if not isinstance(points, list) or not 1 <= len(points) <= max_points:
        count = len(points) if isinstance(points, list) else short_repr(points)
        raise ValueError(f"{where}.points: expected a list of 1..{max_points} [x, y] points, got {count}")
    out = []
    for i, p in enumerate(points):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"{where}.points[{i}]: expected [x, y], got {short_repr(p)}")
        out.append((number(p[0], f"{where}.points[{i}][0]", 0, 1), number(p[1], f"{where}.points[{i}][1]", 0, 1)))
    if "radius" in mask:  # accepted for the page's stroke form; a stamp's size comes from ``size``
        number(mask["radius"], f"{where}.radius", 0, 1)
    return out


def row_centres(points: Sequence[tuple[float, float]], spacing: float, where: str) -> list[tuple[float, float]]:
    """Stamp centres along the polyline: the first point, then one every ``spacing`` of path length."""
    centres = [points[0]]
    carried = 0.0  # path length walked since the last centre
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        seg = math.hypot(x1 - x0, y1 - y0)
        pos = spacing - carried
        while pos <= seg:
            t = pos / seg
            centres.append((x0 + t * (x1 - x0), y0 + t * (y1 - y0)))
            if len(centres) > MAX_STAMPS:
                raise ValueError(f"{where}.points: the drag places more than {MAX_STAMPS} stamps; shorten it")
            pos += spacing
        carried = seg - (pos - spacing)
    return centres


def opacity(footprint: torch.Tensor) -> torch.Tensor:
    """Alpha from a style's soft footprint (its members' mean mask): opaque where at least half of them
    cover the cell, fading to 0 at OPACITY_FLOOR; a mean mask used as alpha directly paints translucent."""
    return ((footprint - OPACITY_FLOOR) / (0.5 - OPACITY_FLOOR)).clamp(0, 1)


def supersampling(resolution: int, cells: int) -> int:
    """Sub-cells per cell side so that a sub-cell is at most half an image pixel (1..16)."""
    return max(1, min(16, math.ceil(2 * resolution / cells)))


def stamp_maps(
    style: StampStyle,
    centre: tuple[float, float],
    size: tuple[float, float],
    feature_hw: tuple[int, int],
    resolution: int,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(value (C, h, w), alpha (h, w)) of one stamp, or None when its box misses the feature map."""
    h, w = feature_hw
    (cx, cy), (sw, sh) = centre, size
    bx0, bx1 = (cx - sw / 2) * w, (cx + sw / 2) * w  # box in feature-cell units
    by0, by1 = (cy - sh / 2) * h, (cy + sh / 2) * h
    i0, i1 = max(0, math.floor(bx0)), min(w, math.ceil(bx1))
    j0, j1 = max(0, math.floor(by0)), min(h, math.ceil(by1))
    if i0 >= i1 or j0 >= j1:
        return None
    s = supersampling(resolution, w)
    ax = _axis_weights(i0, i1, s, bx0, bx1, style.footprint.shape[1])  # (ww, g)
    ay = _axis_weights(j0, j1, s, by0, by1, style.footprint.shape[0])  # (hh, g)
    foot = opacity(style.footprint)  # (g, g)
    # bilinear sampling (border clamped), the box's inside and the per-cell average are all separable:
    # pooled = Ay @ map @ Ax^T, the same numbers as sampling every sub-cell and pooling, at a fraction of the cost
    alpha_cells = ay @ foot @ ax.T  # (hh, ww) footprint coverage of each cell
    weighted = torch.einsum("yg,cgh,xh->cyx", ay, style.template * foot, ax)  # (C, hh, ww)
    value_cells = weighted / alpha_cells.clamp_min(1e-6)  # (C, hh, ww) footprint-weighted mean
    value = torch.zeros(style.template.shape[0], h, w)  # (C, h, w)
    alpha = torch.zeros(h, w)  # (h, w)
    value[:, j0:j1, i0:i1] = value_cells * (alpha_cells > 1e-6)
    alpha[j0:j1, i0:i1] = alpha_cells.clamp(0, 1)
    return value, alpha


def _axis_weights(c0: int, c1: int, s: int, b0: float, b1: float, g: int) -> torch.Tensor:
    """(cells, g): for each cell c0..c1-1 on one axis, the mean over its ``s`` sub-cell centres of the linear
    interpolation weights on the g template samples (grid_sample's align_corners=False, border padding),
    zero where a sub-cell centre lies outside the box [b0, b1]."""
    pos = c0 + (torch.arange((c1 - c0) * s, dtype=torch.float32) + 0.5) / s  # sub-cell centres, cell units
    u = 2 * (pos - b0) / (b1 - b0) - 1  # -1..1 across the box
    ix = (((u + 1) * g - 1) / 2).clamp(0, g - 1)  # template coordinate, clamped to the border
    lo = ix.floor().long()
    frac = ix - lo
    hi = (lo + 1).clamp(max=g - 1)
    weights = torch.zeros(len(pos), g)  # (sub-cells, g)
    rows = torch.arange(len(pos))
    weights[rows, lo] += 1 - frac
    weights[rows, hi] += frac
    weights *= (u.abs() <= 1).float()[:, None]
    return weights.view(c1 - c0, s, g).mean(dim=1)


def stamp_edits(
    layer: str,
    style: StampStyle,
    centres: Sequence[tuple[float, float]],
    size: tuple[float, float],
    feature_hw: tuple[int, int],
    resolution: int,
) -> list[UnitEdit]:
    """The stamps at ``centres``, composited in order (each over the ones before it) into one all-units
    ``UnitEdit`` (value: the placed templates; mask: their footprints); [] when every box misses the map."""
    value = alpha = None
    for centre in centres:
        maps = stamp_maps(style, centre, size, feature_hw, resolution)
        if maps is None:
            continue
        v, a = maps  # (C, h, w), (h, w)
        if alpha is None:
            value, alpha = v, a
            continue
        # "over": r -> v a + (V A + r (1 - A)) (1 - a) is one edit with alpha 1 - (1 - A)(1 - a)
        total = 1 - (1 - alpha) * (1 - a)  # (h, w)
        value = (v * a + value * alpha * (1 - a)) / total.clamp_min(1e-6)
        alpha = total
    if alpha is None:
        return []
    return [UnitEdit(layer, list(range(style.template.shape[0])), value, 1.0, alpha)]
