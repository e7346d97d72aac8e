"""Pooling a mask straight to the feature map's size: run-length masks never become pixels (area sums of their
runs), bitstrings and PNGs are read as 1-byte booleans and summed in windows, so a 2048 x 2048 mask costs a few
MB at most, not 16 MB float32 buffers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganpaint.masks.forms import (
    MAX_POINTS,
    MAX_SIDE,
    Box,
    bitstring_box,
    decode_mask,
    png_bits,
    rasterize_polyline,
    runs_box,
)
from ganpaint.nn.intervene import Pooling, pool_mask


def _windows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's adaptive pooling windows along one axis: [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    i = np.arange(n_out, dtype=np.int64)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def _prefix_at(a: np.ndarray, cuts: np.ndarray, axis: int) -> np.ndarray:
    """Sums of ``a`` over [0, cut) along ``axis`` for each of the non-decreasing ``cuts`` (each in 0..len)."""
    n = a.shape[axis]
    edges = np.unique(np.concatenate([[0], cuts, [n]]))
    seg = np.add.reduceat(a, edges[:-1], axis=axis, dtype=np.int64)  # sums over [edges[k], edges[k+1])
    zero = np.zeros_like(np.take(seg, [0], axis=axis))
    pre = np.concatenate([zero, np.cumsum(seg, axis=axis)], axis=axis)  # sums over [0, edges[k])
    return np.take(pre, np.searchsorted(edges, cuts), axis=axis)


def _table_from_runs(box: Box, rcut: np.ndarray, ccut: np.ndarray) -> np.ndarray:
    """(len(rcut), len(ccut)): the 1s in box rows [0, rcut[a]) x columns [0, ccut[b]), from the runs alone
    (no raster: work and memory in the number of runs plus the box's rows, not its pixels)."""
    y0, x0, y1, x1 = box.bounds
    bh, bw = y1 - y0, x1 - x0
    ya, xa = np.divmod(box.starts, bw)
    yb, xb = np.divmod(box.ends - 1, bw)
    xb = xb + 1
    one = ya == yb
    # row segments [s, e): a run within one row; else its first row's tail and its last row's head
    seg_y = np.concatenate([ya[one], ya[~one], yb[~one]])
    seg_s = np.concatenate([xa[one], xa[~one], np.zeros(int((~one).sum()), np.int64)])
    seg_e = np.concatenate([xb[one], np.full(int((~one).sum()), bw, np.int64), xb[~one]])
    # whole rows between a run's first and last: +1 / -1 at their ends, summed down (runs never overlap)
    full = np.cumsum(np.bincount(ya[~one] + 1, minlength=bh + 1) - np.bincount(yb[~one], minlength=bh + 1))
    full_before = np.concatenate([[0], np.cumsum(full[:bh])])[rcut]  # (len(rcut),) whole rows above each cut
    # a segment [s, e) holds clip(c, s, e) - s 1s left of column c: the sum over its two events (s, +1) and
    # (e, -1) with x < c of sign * (c - x); an event counts for the cuts right of it and below its row
    ev_y, ev_x = np.concatenate([seg_y, seg_y]), np.concatenate([seg_s, seg_e])
    ev_sign = np.concatenate([np.ones(len(seg_s)), -np.ones(len(seg_e))])
    g = np.searchsorted(rcut, ev_y, side="right")  # first row cut below the event's row
    k = np.searchsorted(ccut, ev_x, side="right")  # first column cut right of the event
    nr, nc = len(rcut) + 1, len(ccut) + 1
    flat = g * nc + k
    count = np.bincount(flat, ev_sign, nr * nc).reshape(nr, nc).cumsum(0).cumsum(1)[:-1, :-1]
    moment = np.bincount(flat, ev_sign * ev_x, nr * nc).reshape(nr, nc).cumsum(0).cumsum(1)[:-1, :-1]
    out = ccut[None, :] * (count + full_before[:, None]) - moment  # (len(rcut), len(ccut))
    return np.rint(out).astype(np.int64)


def _pool_box(box: Box, size: tuple[int, int], pooling: Pooling) -> torch.Tensor:
    """The mask pooled to ``size`` (h, w) as torch's adaptive avg (area) or max pooling would: from window sums
    of an integral table taken only at the windows' edges."""
    h, w = size
    rs, re = _windows(box.shape[0], h)
    cs, ce = _windows(box.shape[1], w)
    rows, cols = np.unique(np.concatenate([rs, re])), np.unique(np.concatenate([cs, ce]))
    y0, x0, y1, x1 = box.bounds
    rcut = np.clip(rows - y0, 0, y1 - y0)
    ccut = np.clip(cols - x0, 0, x1 - x0)
    if y1 == y0 or x1 == x0:
        table = np.zeros((len(rows), len(cols)), np.int64)
    elif box.bits is not None:
        table = _prefix_at(_prefix_at(box.bits, ccut, axis=1), rcut, axis=0)  # (len(rows), len(cols))
    else:
        table = _table_from_runs(box, rcut, ccut)
    ia, ib = np.searchsorted(rows, rs), np.searchsorted(rows, re)
    ja, jb = np.searchsorted(cols, cs), np.searchsorted(cols, ce)
    sums = table[np.ix_(ib, jb)] - table[np.ix_(ia, jb)] - table[np.ix_(ib, ja)] + table[np.ix_(ia, ja)]  # (h, w)
    if pooling == "max":
        out = (sums > 0).astype(np.float32)
    elif pooling == "area":
        out = (sums / np.outer(re - rs, ce - cs)).astype(np.float32)
    else:
        raise ValueError(f"pooling must be 'area' or 'max', got {pooling!r}")
    return torch.from_numpy(out)


def pool_spec(
    spec: Any,
    raster: int,
    size: tuple[int, int],
    pooling: Pooling = "area",
    where: str = "mask",
    max_points: int = MAX_POINTS,
    max_side: int = MAX_SIDE,
) -> torch.Tensor:
    """Any mask form -> (h, w) float32 pooled to ``size``; equals ``pool_mask(decode_mask(spec), size)[0]``
    within float rounding, without rasterising bitmaps and run-length masks at their full size."""
    return pool_decoded(decode_compact(spec, raster, where, max_points, max_side), size, pooling)


def decode_compact(
    spec: Any, raster: int, where: str = "mask", max_points: int = MAX_POINTS, max_side: int = MAX_SIDE
) -> torch.Tensor | Box:
    """A mask decoded once for pooling to any size: a polyline's small raster, else a ``Box`` (1-byte bits
    or runs); ValueError names the field."""
    if isinstance(spec, dict) and "points" in spec:
        return torch.from_numpy(rasterize_polyline(spec, raster, where, max_points))  # (raster, raster), small
    if isinstance(spec, str):
        bits = png_bits(spec, where, max_side)
        return Box(bits.shape, (0, 0, *bits.shape), bits=bits)
    if isinstance(spec, dict) and "bitstring" in spec:
        return bitstring_box(spec, where, max_side)
    if isinstance(spec, dict) and "runs" in spec:
        return runs_box(spec, where, max_side)
    decode_mask(spec, raster, where, max_points, max_side)  # raises the error that names the field
    raise AssertionError("unreachable")


def pool_decoded(decoded: torch.Tensor | Box, size: tuple[int, int], pooling: Pooling = "area") -> torch.Tensor:
    if isinstance(decoded, Box):
        return _pool_box(decoded, size, pooling)
    return pool_mask(decoded, size, pooling)[0]
