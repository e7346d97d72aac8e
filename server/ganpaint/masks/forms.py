"""Mask forms (docs/api.md) decoded from their JSON to pixels, each error a ValueError naming the field.

- polyline (the page): ``{"points": [[x, y], ...], "radius": r}``, x, y, r as fractions of the image
  width; a disc of radius r swept along the polyline, rasterised at ``raster`` pixels per side.
- PNG data URL: ``"data:image/png;base64,..."``; in the mask where alpha > 0 (images with alpha) or
  red < 255 (without), the rule of the original GANPaint.
- bitstring (the original GANPaint): ``{"shape": [h, w], "bitbounds": [y0, x0, y1, x1], "bitstring": "0110..."}``;
  ``bitstring`` may also be a PNG data URL (placed inside the bounds).
- run-length: ``{"shape": [h, w], "bounds": [y0, x0, y1, x1], "runs": [n0, n1, n0, ...]}``, row-major
  runs inside the bounds alternating 0s and 1s, starting with 0s.

Numbers are checked (type, finite, in range) before any arithmetic: a 400-digit integer is refused, never
converted. ``decode_mask`` rasterises any form at its full size (tests, clients); ``Box`` holds a bitmap or
run-length mask compactly (1-byte bits or runs) for pooling (masks/pooling.py).
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

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


def png_bits(url: Any, where: str, max_side: int) -> np.ndarray:
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
    return png_bits(url, where, max_side).astype(np.float32)


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
class Box:
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


def bitstring_box(spec: dict, where: str, max_side: int) -> Box:
    bits = spec.get("bitstring")
    if isinstance(bits, str) and bits.startswith("data:"):
        inner = png_bits(bits, f"{where}.bitstring", max_side)  # (h, w) bool
        shape = _shape(spec, where, max_side, inner.shape)
        y0, x0, y1, x1 = _bounds(spec, "bitbounds", shape, where)
        if spec.get("bitbounds") in ([], None) and spec.get("shape") in ([], None):
            return Box(shape, (0, 0, *shape), bits=inner)
        rows = _nearest_index(inner.shape[0], y1 - y0)
        cols = _nearest_index(inner.shape[1], x1 - x0)
        return Box(shape, (y0, x0, y1, x1), bits=inner[np.ix_(rows, cols)])  # nearest resize into the bounds
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
    return Box(shape, (y0, x0, y1, x1), bits=(arr == ord("1")).reshape(y1 - y0, x1 - x0))


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """The source index of each of ``n_out`` positions in torch's 'nearest' resize from ``n_in`` (as before)."""
    if n_out == 0:
        return np.zeros(0, np.int64)
    src = torch.arange(n_in, dtype=torch.float32)[None, None]  # (1, 1, n_in)
    return torch.nn.functional.interpolate(src, size=n_out, mode="nearest")[0, 0].long().numpy()


def runs_box(spec: dict, where: str, max_side: int) -> Box:
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
    return Box(shape, (y0, x0, y1, x1), starts=starts[keep], ends=ends[keep])


def decode_bitstring(spec: dict, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """The original GANPaint mask {shape, bitbounds, bitstring} -> (h, w) float32 0/1."""
    return bitstring_box(spec, where, max_side).dense()


def decode_runs(spec: dict, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """{shape, bounds, runs} -> (h, w) float32 0/1; runs alternate 0s and 1s, starting with 0s."""
    return runs_box(spec, where, max_side).dense()


def encode_runs(mask: np.ndarray) -> dict:
    """(h, w) 0/1 -> the run-length form over the whole mask (for clients and tests)."""
    flat = (np.asarray(mask).reshape(-1) > 0.5).astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        runs = [0, *runs]
    return {"shape": list(np.asarray(mask).shape), "bounds": [], "runs": runs}
