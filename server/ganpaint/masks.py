"""Decode stroke masks from their JSON forms to (H, W) float tensors in [0, 1], at any resolution.

Forms (docs/api.md):

- polyline (the page): ``{"points": [[x, y], ...], "radius": r}``, x, y, r as fractions of the image
  width; a disc of radius r swept along the polyline, rasterised at ``raster`` pixels per side.
- PNG data URL: ``"data:image/png;base64,..."``; in the mask where alpha > 0 (images with alpha) or
  red < 255 (without), the rule of the original GANPaint.
- bitstring (the original GANPaint): ``{"shape": [h, w], "bitbounds": [y0, x0, y1, x1], "bitstring": "0110..."}``;
  ``bitstring`` may also be a PNG data URL (placed inside the bounds).
- run-length: ``{"shape": [h, w], "bounds": [y0, x0, y1, x1], "runs": [n0, n1, n0, ...]}``, row-major
  runs inside the bounds alternating 0s and 1s, starting with 0s.

Every error is a ValueError that names the field (``where``) and quotes the bad value. Numbers are checked
(type, finite, in range) before any arithmetic: a 400-digit integer is refused, never converted.

``decode_mask`` rasterises any form at its full size (tests, clients). The server pools instead with
``pool_spec``, which goes straight to the feature-map size: run-length masks never become pixels
(area sums of their runs), bitstrings and PNGs are read as 1-byte booleans and summed in windows, so a
2048 x 2048 mask costs a few MB at most, not 16 MB float32 buffers. ``mask_cost`` says, without
decoding, what a mask will allocate (pixels, points, runs); ``MaskPlan`` collects a request's masks and
their cost before any is decoded (the api admits the work, then decodes it: off the event loop but for
a page update's short strokes).
"""

from __future__ import annotations

import base64
import binascii
import io
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint.nn.intervene import Pooling, pool_mask
from ganpaint.priority import Foreground
from ganpaint.values import integer, number, short_repr

MAX_POINTS = 2048
MAX_SIDE = 2048
DEFAULT_SHAPE = (256, 256)  # the original's default when neither shape nor a PNG gives one
PNG_PREFIX = "data:image/png;base64,"


def decode_mask(
    spec: Any, raster: int, where: str = "mask", max_points: int = MAX_POINTS, max_side: int = MAX_SIDE
) -> torch.Tensor:
    """Any mask form -> (H, W) float32 in [0, 1]. Polylines are drawn at ``raster`` x ``raster``."""
    if isinstance(spec, str):
        return torch.from_numpy(decode_png(spec, where, max_side))
    if not isinstance(spec, dict):
        raise ValueError(
            f"{where}: expected an object (polyline, bitstring or run-length form) or a PNG data URL, "
            f"got {short_repr(spec)}"
        )
    if "points" in spec:
        return torch.from_numpy(rasterize_polyline(spec, raster, where, max_points))
    if "bitstring" in spec:
        return torch.from_numpy(decode_bitstring(spec, where, max_side))
    if "runs" in spec:
        return torch.from_numpy(decode_runs(spec, where, max_side))
    raise ValueError(
        f"{where}: expected 'points' (polyline), 'bitstring' or 'runs' (run-length), got keys {sorted(spec)}"
    )


def rasterize_polyline(spec: dict, raster: int, where: str = "mask", max_points: int = MAX_POINTS) -> np.ndarray:
    """{points, radius} -> (raster, raster) float32 of 0/1 (PIL: round caps and joins)."""
    points = spec.get("points")
    if not isinstance(points, list) or not 1 <= len(points) <= max_points:
        count = len(points) if isinstance(points, list) else short_repr(points)
        raise ValueError(f"{where}.points: expected a list of 1..{max_points} [x, y] points, got {count}")
    radius = number(spec.get("radius"), f"{where}.radius", 0, 1)
    if radius <= 0:
        raise ValueError(f"{where}.radius: expected a number in 0..1 above 0, got {short_repr(spec.get('radius'))}")
    xy = []
    for i, p in enumerate(points):
        if not isinstance(p, list) or len(p) != 2:
            raise ValueError(f"{where}.points[{i}]: expected [x, y], got {short_repr(p)}")
        xy.append((number(p[0], f"{where}.points[{i}][0]", 0, 1), number(p[1], f"{where}.points[{i}][1]", 0, 1)))
    img = Image.new("L", (raster, raster), 0)
    draw = ImageDraw.Draw(img)
    r = radius * raster
    pix = [(x * raster, y * raster) for x, y in xy]
    if len(pix) > 1:
        draw.line(pix, fill=255, width=max(1, round(2 * r)))
    for x, y in pix:  # round caps and joins
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return (np.asarray(img) > 0).astype(np.float32)


def _png_image(url: Any, where: str, max_side: int) -> Image.Image:
    """A PNG data URL -> the loaded PIL image (size checked before the pixels are decoded)."""
    if not isinstance(url, str) or not url.startswith(PNG_PREFIX):
        raise ValueError(f"{where}: expected a PNG data URL starting with {PNG_PREFIX!r}, got {short_repr(url)}")
    try:
        raw = base64.b64decode(url[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{where}: invalid base64 in the PNG data URL ({exc})") from exc
    try:
        img = Image.open(io.BytesIO(raw))
        fmt, (w, h) = img.format, img.size
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ValueError(_unreadable(where, raw, exc)) from exc
    if fmt != "PNG":
        raise ValueError(f"{where}: the data URL holds {fmt}, not PNG")
    if not (1 <= w <= max_side and 1 <= h <= max_side):
        raise ValueError(f"{where}: PNG of {w}x{h} pixels; at most {max_side}x{max_side}")
    try:
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise ValueError(_unreadable(where, raw, exc)) from exc
    return img


def _unreadable(where: str, raw: bytes, exc: BaseException) -> str:
    if isinstance(exc, ValueError):  # PIL's "Decompressed data too large": a zTXt/iCCP chunk bomb
        return f"{where}: not a readable PNG ({len(raw)} bytes; {str(exc).strip()[:80]})"
    return f"{where}: not a readable PNG ({len(raw)} bytes)"


def _png_bool(url: Any, where: str, max_side: int) -> np.ndarray:
    """PNG data URL -> (H, W) bool: alpha > 0 with an alpha channel, else red < 255 (one byte per pixel)."""
    img = _png_image(url, where, max_side)
    if img.mode in ("RGBA", "LA"):
        return np.asarray(img.getchannel("A")) > 0
    if img.mode == "PA" or (img.mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA").getchannel("A")) > 0
    if img.mode in ("RGB", "L"):  # L -> RGB copies L into red
        return np.asarray(img.getchannel(0)) < 255
    return np.asarray(img.convert("RGB").getchannel("R")) < 255


def decode_png(url: Any, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """PNG data URL -> (H, W) float32 0/1: alpha > 0 with an alpha channel, else red < 255."""
    return _png_bool(url, where, max_side).astype(np.float32)


def _shape(spec: dict, where: str, max_side: int, default: tuple[int, int] | None) -> tuple[int, int]:
    shape = spec.get("shape", [])
    if shape in ([], None) and default is not None:
        return default
    if not isinstance(shape, list) or len(shape) != 2:
        raise ValueError(f"{where}.shape: expected [h, w], got {short_repr(shape)}")
    return integer(shape[0], f"{where}.shape[0]", 1, max_side), integer(shape[1], f"{where}.shape[1]", 1, max_side)


def _bounds(spec: dict, key: str, shape: tuple[int, int], where: str) -> tuple[int, int, int, int]:
    b = spec.get(key, [])
    if b in ([], None):
        return 0, 0, shape[0], shape[1]
    if not isinstance(b, list) or len(b) != 4:
        raise ValueError(f"{where}.{key}: expected [y0, x0, y1, x1], got {short_repr(b)}")
    y0 = integer(b[0], f"{where}.{key}[0]", 0, shape[0])
    x0 = integer(b[1], f"{where}.{key}[1]", 0, shape[1])
    y1 = integer(b[2], f"{where}.{key}[2]", y0, shape[0])
    x1 = integer(b[3], f"{where}.{key}[3]", x0, shape[1])
    return y0, x0, y1, x1


@dataclass
class _Box:
    """A mask of ``shape`` that is 0 outside ``bounds`` (y0, x0, y1, x1); inside, a (y1-y0, x1-x0) bool array
    (``bits``) or row-major 1-intervals [starts, ends) of the box's flat index (``starts``, ``ends``)."""

    shape: tuple[int, int]
    bounds: tuple[int, int, int, int]
    bits: np.ndarray | None = None
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None

    def dense(self) -> np.ndarray:
        """(H, W) float32 0/1 (the full raster: tests and clients, not the server)."""
        y0, x0, y1, x1 = self.bounds
        out = np.zeros(self.shape, np.float32)
        if self.bits is not None:
            out[y0:y1, x0:x1] = self.bits
        else:
            n = (y1 - y0) * (x1 - x0)
            edges = np.bincount(self.starts, minlength=n + 1) - np.bincount(self.ends, minlength=n + 1)
            out[y0:y1, x0:x1] = np.cumsum(edges)[:n].reshape(y1 - y0, x1 - x0)
        return out


def _bitstring_box(spec: dict, where: str, max_side: int) -> _Box:
    bits = spec.get("bitstring")
    if isinstance(bits, str) and bits.startswith("data:"):
        inner = _png_bool(bits, f"{where}.bitstring", max_side)  # (h, w) bool
        shape = _shape(spec, where, max_side, inner.shape)
        y0, x0, y1, x1 = _bounds(spec, "bitbounds", shape, where)
        if spec.get("bitbounds") in ([], None) and spec.get("shape") in ([], None):
            return _Box(shape, (0, 0, *shape), bits=inner)
        rows = _nearest_index(inner.shape[0], y1 - y0)
        cols = _nearest_index(inner.shape[1], x1 - x0)
        return _Box(shape, (y0, x0, y1, x1), bits=inner[np.ix_(rows, cols)])  # nearest resize into the bounds
    if not isinstance(bits, str):
        raise ValueError(f"{where}.bitstring: expected a string of 0/1 or a PNG data URL, got {short_repr(bits)}")
    shape = _shape(spec, where, max_side, DEFAULT_SHAPE)
    y0, x0, y1, x1 = _bounds(spec, "bitbounds", shape, where)
    n = (y1 - y0) * (x1 - x0)
    if len(bits) != n:
        raise ValueError(f"{where}.bitstring: expected {n} characters for bounds {[y0, x0, y1, x1]}, got {len(bits)}")
    arr = np.frombuffer(bits.encode("ascii", "replace"), np.uint8)
    bad = np.flatnonzero((arr != ord("0")) & (arr != ord("1")))
    if bad.size:
        raise ValueError(f"{where}.bitstring: expected only '0' and '1', got {bits[bad[0]]!r} at index {bad[0]}")
    return _Box(shape, (y0, x0, y1, x1), bits=(arr == ord("1")).reshape(y1 - y0, x1 - x0))


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """The source index of each of ``n_out`` positions in torch's 'nearest' resize from ``n_in`` (as before)."""
    if n_out == 0:
        return np.zeros(0, np.int64)
    src = torch.arange(n_in, dtype=torch.float32)[None, None]  # (1, 1, n_in)
    return torch.nn.functional.interpolate(src, size=n_out, mode="nearest")[0, 0].long().numpy()


def _runs_box(spec: dict, where: str, max_side: int) -> _Box:
    shape = _shape(spec, where, max_side, None)
    y0, x0, y1, x1 = _bounds(spec, "bounds", shape, where)
    runs = spec.get("runs")
    n = (y1 - y0) * (x1 - x0)
    if not isinstance(runs, list):
        raise ValueError(f"{where}.runs: expected a list of run lengths, got {short_repr(runs)}")
    arr = None
    if set(map(type, runs)) <= {int}:  # then numpy reads them, unless one is huge
        try:
            arr = np.array(runs, dtype=np.int64)
        except OverflowError:
            arr = None
    if arr is None or arr.size and (arr.min() < 0 or arr.max() > n):
        for i, r in enumerate(runs):  # the first bad one, named
            integer(r, f"{where}.runs[{i}]", 0, n)
    ends = np.cumsum(arr)  # runs are each <= n <= 2048**2, so the sum of a 2 MB body fits easily
    total = int(ends[-1]) if ends.size else 0
    if total != n:
        raise ValueError(f"{where}.runs: run lengths sum to {total}, expected {n} for bounds {[y0, x0, y1, x1]}")
    starts = ends - arr
    starts, ends = starts[1::2], ends[1::2]  # the runs of 1s
    keep = ends > starts
    return _Box(shape, (y0, x0, y1, x1), starts=starts[keep], ends=ends[keep])


def decode_bitstring(spec: dict, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """The original GANPaint mask {shape, bitbounds, bitstring} -> (h, w) float32 0/1."""
    return _bitstring_box(spec, where, max_side).dense()


def decode_runs(spec: dict, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """{shape, bounds, runs} -> (h, w) float32 0/1; runs alternate 0s and 1s, starting with 0s."""
    return _runs_box(spec, where, max_side).dense()


# --- pooling straight to the feature map -------------------------------------------------------------------


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


def _table_from_runs(box: _Box, rcut: np.ndarray, ccut: np.ndarray) -> np.ndarray:
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


def _pool_box(box: _Box, size: tuple[int, int], pooling: Pooling) -> torch.Tensor:
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
) -> torch.Tensor | _Box:
    """A mask decoded once for pooling to any size: a polyline's small raster, else a ``_Box`` (1-byte bits
    or runs); ValueError names the field."""
    if isinstance(spec, dict) and "points" in spec:
        return torch.from_numpy(rasterize_polyline(spec, raster, where, max_points))  # (raster, raster), small
    if isinstance(spec, str):
        bits = _png_bool(spec, where, max_side)
        return _Box(bits.shape, (0, 0, *bits.shape), bits=bits)
    if isinstance(spec, dict) and "bitstring" in spec:
        return _bitstring_box(spec, where, max_side)
    if isinstance(spec, dict) and "runs" in spec:
        return _runs_box(spec, where, max_side)
    decode_mask(spec, raster, where, max_points, max_side)  # raises the error that names the field
    raise AssertionError("unreachable")


def pool_decoded(decoded: torch.Tensor | _Box, size: tuple[int, int], pooling: Pooling = "area") -> torch.Tensor:
    if isinstance(decoded, _Box):
        return _pool_box(decoded, size, pooling)
    return pool_mask(decoded, size, pooling)[0]


# --- admission: what a mask costs before it is decoded -------------------------------------------------------


def _png_pixels(url: Any, max_side: int) -> int:
    """Width x height from a PNG data URL's IHDR (the first 32 base64 characters), capped at max_side; else its
    length (decoding will refuse it)."""
    if not isinstance(url, str):
        return 0
    try:
        head = base64.b64decode(url[len(PNG_PREFIX) : len(PNG_PREFIX) + 32], validate=True)
    except (binascii.Error, ValueError):
        return len(url)
    if len(head) < 24 or head[12:16] != b"IHDR":
        return len(url)
    w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return min(w, max_side) * min(h, max_side)


def _side(v: Any, max_side: int) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= max_side else max_side


MIN_COST = 1 << 16  # every decode costs at least a 256 x 256 raster's worth (its fixed work is about as long)


def mask_cost(spec: Any, raster: int, max_side: int = MAX_SIDE) -> int:
    """What decoding ``spec`` allocates, read without decoding it: pixels (a polyline's raster, a PNG's size,
    a bitstring's characters), plus points, runs and rows, and at least ``MIN_COST``. Malformed parts cost
    their length or the most they could (decoding refuses them); nothing here does arithmetic on the spec's
    numbers."""
    return max(MIN_COST, _cost(spec, raster, max_side))


def _cost(spec: Any, raster: int, max_side: int) -> int:
    if isinstance(spec, str):
        return _png_pixels(spec, max_side)
    if not isinstance(spec, dict):
        return 0
    if "points" in spec:
        points = spec["points"]
        return raster * raster + (len(points) if isinstance(points, list) else 0)
    if "bitstring" in spec:
        bits = spec["bitstring"]
        if isinstance(bits, str) and bits.startswith("data:"):
            png, shape = _png_pixels(bits, max_side), spec.get("shape")
            if shape in ([], None):  # the PNG is the mask; with bounds, resized into a box of its size at most
                return png if spec.get("bitbounds") in ([], None) else 2 * png
            if isinstance(shape, list) and len(shape) == 2:
                return png + _side(shape[0], max_side) * _side(shape[1], max_side)
            return png
        return len(bits) if isinstance(bits, str) else 0
    if "runs" in spec:
        runs, shape = spec["runs"], spec.get("shape")
        rows = _side(shape[0], max_side) if isinstance(shape, list) and shape else 0
        return (len(runs) if isinstance(runs, list) else 0) + rows
    return 0


@dataclass
class MaskJob:
    spec: Any
    raster: int
    size: tuple[int, int]
    where: str
    limits: tuple[int, int]  # (max_points, max_side)
    pooling: Pooling
    result: torch.Tensor | None = None

    def run(self, decoded: torch.Tensor | _Box | None = None) -> torch.Tensor:
        if decoded is None:
            decoded = decode_compact(self.spec, self.raster, self.where, *self.limits)
        self.result = pool_decoded(decoded, self.size, self.pooling)
        return self.result


@dataclass
class DeferredJob:
    """Work other than decoding a mask that a request's edits need (a stamp stroke's maps), planned like a
    mask: costed, admitted and run off the event loop; ``store`` puts its result in its cache."""

    fn: Callable[[], Any]
    store: Callable[[Any], None]
    result: Any = None

    def run(self) -> Any:
        self.result = self.fn()
        self.store(self.result)
        return self.result


class MaskPlan:
    """A request's masks, collected by building its edits once while this plan is ``PLAN``: every mask is
    costed (cached or not, once per mask however many layers it is pooled to: ``budget`` per request, past
    it a ValueError naming the mask), and the ones not in the cache become jobs with a placeholder. The api
    then admits and runs the jobs off the event loop (each mask decoded once, pooled to each layer's size),
    and builds the edits again, now from the results. Other work (``defer``: stamps) rides along.

    ``admissible(cost)``, if given, is asked each time the cost to decode grows while planning and raises
    (the api's ``BusyError``) once no lane could take that much now: a request that will be refused stops
    planning at its first mask over the limit, not after all of them."""

    def __init__(self, budget: int, admissible: Callable[[int], None] | None = None):
        self.budget = budget
        self.admissible = admissible
        self.cost = 0  # all the request's masks (the budget)
        self.pending_cost = 0  # the masks to decode (admission)
        self.jobs: dict[Any, MaskJob] = {}
        self._costs: dict[Any, int] = {}  # (digest, raster, limits) -> cost
        self._pending: set = set()  # (digest, raster, limits) with a job
        self.digests: dict[int, tuple] = {}  # id(spec) -> (spec, its digest): each mask hashed once per request
        self.building = True  # the first build: count the cost
        self.deferred: dict[Any, DeferredJob] = {}

    def defer(self, key, fn: Callable[[], Any], cost: int, cached: Callable, store: Callable) -> Any:
        """``fn()``'s result for ``key``: from this plan, the cache (``cached(key)``), or None while planning
        (the job then runs off the loop with the masks; a second build finds its result)."""
        job = self.deferred.get(key)
        if job is not None and job.result is not None:
            return job.result
        hit = cached(key)
        if hit is not None:
            return hit
        if job is None:
            job = self.deferred[key] = DeferredJob(fn, store)
            self._add_pending(cost)
        return None if self.building else job.run()

    def pooled(self, key, spec, raster, size, where, limits, pooling, cached) -> torch.Tensor:
        """The pooled mask for ``key`` = (digest, raster, size, limits, pooling): from this plan, the cache
        (``cached(key)``), or a placeholder."""
        job = self.jobs.get(key)
        if job is not None and job.result is not None:
            return job.result
        mask_id = (key[0], raster, limits)
        if self.building and mask_id not in self._costs:
            self._costs[mask_id] = cost = mask_cost(spec, raster, limits[1])
            self.cost += cost
            if self.cost > self.budget:
                raise ValueError(
                    f"{where}: the request's masks decode to {self.cost:,} pixels, points and runs so far; "
                    f"at most {self.budget:,} per request (max_mask_pixels)"
                )
        hit = cached(key)
        if hit is not None:
            return hit
        if job is None:
            job = self.jobs[key] = MaskJob(spec, raster, size, where, limits, pooling)
            if mask_id not in self._pending:  # decoded once, pooled to each size
                self._pending.add(mask_id)
                self._add_pending(self._costs.get(mask_id, 0))
        if not self.building:  # a second build found a mask it had not planned: decode it here
            return job.run()
        return torch.zeros(size)  # a placeholder: the first build's edits are discarded

    def _add_pending(self, cost: int) -> None:
        self.pending_cost += cost
        if self.building and self.admissible is not None:
            self.admissible(self.pending_cost)

    def pending(self) -> list[MaskJob | DeferredJob]:
        return [j for j in (*self.jobs.values(), *self.deferred.values()) if j.result is None]

    def decode(self, foreground: Foreground | None = None) -> None:
        """Run every pending job in order, decoding each mask once (the first bad mask raises its ValueError);
        on a background thread, stepping aside for ``foreground``'s painters between masks."""
        foreground = foreground or Foreground()
        decoded: dict[Any, torch.Tensor | _Box] = {}
        for key, job in self.jobs.items():
            if job.result is None:
                mask_id = (key[0], key[1], key[3])
                if mask_id not in decoded:
                    foreground.wait()  # on a background thread: after the painter's frame that renders now
                    t0 = time.monotonic()
                    decoded[mask_id] = decode_compact(job.spec, job.raster, job.where, *job.limits)
                    foreground.pace(time.monotonic() - t0)  # while anyone paints, big decodes take half the time
                job.run(decoded[mask_id])
        for job in self.deferred.values():
            if job.result is None:
                foreground.wait()
                job.run()


PLAN: ContextVar[MaskPlan | None] = ContextVar("ganpaint_mask_plan", default=None)


def encode_runs(mask: np.ndarray) -> dict:
    """(h, w) 0/1 -> the run-length form over the whole mask (for clients and tests)."""
    flat = (np.asarray(mask).reshape(-1) > 0.5).astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        runs = [0, *runs]
    return {"shape": list(np.asarray(mask).shape), "bounds": [], "runs": runs}
