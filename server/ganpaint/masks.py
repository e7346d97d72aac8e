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

Every error is a ValueError that names the field (``where``) and quotes the bad value.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

MAX_POINTS = 2048
MAX_SIDE = 2048
DEFAULT_SHAPE = (256, 256)  # the original's default when neither shape nor a PNG gives one
PNG_PREFIX = "data:image/png;base64,"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(v: Any, where: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"{where}: expected a number in {lo:g}..{hi:g}, got {_short(v)}")
    return float(v)


def _int(v: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"{where}: expected an integer in {lo}..{hi}, got {_short(v)}")
    return v


def decode_mask(
    spec: Any, raster: int, where: str = "mask", max_points: int = MAX_POINTS, max_side: int = MAX_SIDE
) -> torch.Tensor:
    """Any mask form -> (H, W) float32 in [0, 1]. Polylines are drawn at ``raster`` x ``raster``."""
    if isinstance(spec, str):
        return torch.from_numpy(decode_png(spec, where, max_side))
    if not isinstance(spec, dict):
        raise ValueError(
            f"{where}: expected an object (polyline, bitstring or run-length form) or a PNG data URL, "
            f"got {_short(spec)}"
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
        count = len(points) if isinstance(points, list) else _short(points)
        raise ValueError(f"{where}.points: expected a list of 1..{max_points} [x, y] points, got {count}")
    radius = _number(spec.get("radius"), f"{where}.radius", 0, 1)
    if radius <= 0:
        raise ValueError(f"{where}.radius: expected a number in 0..1 above 0, got {_short(spec.get('radius'))}")
    xy = []
    for i, p in enumerate(points):
        if not isinstance(p, list) or len(p) != 2:
            raise ValueError(f"{where}.points[{i}]: expected [x, y], got {_short(p)}")
        xy.append((_number(p[0], f"{where}.points[{i}][0]", 0, 1), _number(p[1], f"{where}.points[{i}][1]", 0, 1)))
    img = Image.new("L", (raster, raster), 0)
    draw = ImageDraw.Draw(img)
    r = radius * raster
    pix = [(x * raster, y * raster) for x, y in xy]
    if len(pix) > 1:
        draw.line(pix, fill=255, width=max(1, round(2 * r)))
    for x, y in pix:  # round caps and joins
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return (np.asarray(img) > 0).astype(np.float32)


def decode_png(url: Any, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """PNG data URL -> (H, W) float32 0/1: alpha > 0 with an alpha channel, else red < 255."""
    if not isinstance(url, str) or not url.startswith(PNG_PREFIX):
        raise ValueError(f"{where}: expected a PNG data URL starting with {PNG_PREFIX!r}, got {_short(url)}")
    try:
        raw = base64.b64decode(url[len(PNG_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{where}: invalid base64 in the PNG data URL ({exc})") from exc
    try:
        img = Image.open(io.BytesIO(raw))
        if img.format != "PNG":
            raise ValueError(f"{where}: the data URL holds {img.format}, not PNG")
        w, h = img.size
        if not (1 <= w <= max_side and 1 <= h <= max_side):
            raise ValueError(f"{where}: PNG of {w}x{h} pixels; at most {max_side}x{max_side}")
        img.load()
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{where}: not a readable PNG ({len(raw)} bytes)") from exc
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
        return (alpha > 0).astype(np.float32)
    red = np.asarray(img.convert("RGB"))[..., 0]
    return (red < 255).astype(np.float32)


def _shape(spec: dict, where: str, max_side: int, default: tuple[int, int] | None) -> tuple[int, int]:
    shape = spec.get("shape", [])
    if shape in ([], None) and default is not None:
        return default
    if not isinstance(shape, list) or len(shape) != 2:
        raise ValueError(f"{where}.shape: expected [h, w], got {_short(shape)}")
    return _int(shape[0], f"{where}.shape[0]", 1, max_side), _int(shape[1], f"{where}.shape[1]", 1, max_side)


def _bounds(spec: dict, key: str, shape: tuple[int, int], where: str) -> tuple[int, int, int, int]:
    b = spec.get(key, [])
    if b in ([], None):
        return 0, 0, shape[0], shape[1]
    if not isinstance(b, list) or len(b) != 4:
        raise ValueError(f"{where}.{key}: expected [y0, x0, y1, x1], got {_short(b)}")
    y0 = _int(b[0], f"{where}.{key}[0]", 0, shape[0])
    x0 = _int(b[1], f"{where}.{key}[1]", 0, shape[1])
    y1 = _int(b[2], f"{where}.{key}[2]", y0, shape[0])
    x1 = _int(b[3], f"{where}.{key}[3]", x0, shape[1])
    return y0, x0, y1, x1


def decode_bitstring(spec: dict, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """The original GANPaint mask {shape, bitbounds, bitstring} -> (h, w) float32 0/1."""
    bits = spec.get("bitstring")
    if isinstance(bits, str) and bits.startswith("data:"):
        inner = decode_png(bits, f"{where}.bitstring", max_side)
        shape = _shape(spec, where, max_side, inner.shape)
        y0, x0, y1, x1 = _bounds(spec, "bitbounds", shape, where)
        if spec.get("bitbounds") in ([], None) and spec.get("shape") in ([], None):
            return inner
        out = np.zeros(shape, np.float32)
        if y1 > y0 and x1 > x0:
            t = torch.nn.functional.interpolate(torch.from_numpy(inner)[None, None], (y1 - y0, x1 - x0))
            out[y0:y1, x0:x1] = t[0, 0].numpy()
        return out
    if not isinstance(bits, str):
        raise ValueError(f"{where}.bitstring: expected a string of 0/1 or a PNG data URL, got {_short(bits)}")
    shape = _shape(spec, where, max_side, DEFAULT_SHAPE)
    y0, x0, y1, x1 = _bounds(spec, "bitbounds", shape, where)
    n = (y1 - y0) * (x1 - x0)
    if len(bits) != n:
        raise ValueError(f"{where}.bitstring: expected {n} characters for bounds {[y0, x0, y1, x1]}, got {len(bits)}")
    arr = np.frombuffer(bits.encode("ascii", "replace"), np.uint8)
    bad = np.flatnonzero((arr != ord("0")) & (arr != ord("1")))
    if bad.size:
        raise ValueError(f"{where}.bitstring: expected only '0' and '1', got {bits[bad[0]]!r} at index {bad[0]}")
    out = np.zeros(shape, np.float32)
    out[y0:y1, x0:x1] = (arr == ord("1")).reshape(y1 - y0, x1 - x0)
    return out


def decode_runs(spec: dict, where: str = "mask", max_side: int = MAX_SIDE) -> np.ndarray:
    """{shape, bounds, runs} -> (h, w) float32 0/1; runs alternate 0s and 1s, starting with 0s."""
    shape = _shape(spec, where, max_side, None)
    y0, x0, y1, x1 = _bounds(spec, "bounds", shape, where)
    runs = spec.get("runs")
    n = (y1 - y0) * (x1 - x0)
    if not isinstance(runs, list):
        raise ValueError(f"{where}.runs: expected a list of run lengths, got {_short(runs)}")
    for i, r in enumerate(runs):
        _int(r, f"{where}.runs[{i}]", 0, n)
    if sum(runs) != n:
        raise ValueError(f"{where}.runs: run lengths sum to {sum(runs)}, expected {n} for bounds {[y0, x0, y1, x1]}")
    values = np.arange(len(runs)) % 2
    flat = np.repeat(values, runs).astype(np.float32)
    out = np.zeros(shape, np.float32)
    out[y0:y1, x0:x1] = flat.reshape(y1 - y0, x1 - x0)
    return out


def encode_runs(mask: np.ndarray) -> dict:
    """(h, w) 0/1 -> the run-length form over the whole mask (for clients and tests)."""
    flat = (np.asarray(mask).reshape(-1) > 0.5).astype(np.int8)
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat.size and flat[0] == 1:
        runs = [0, *runs]
    return {"shape": list(np.asarray(mask).shape), "bounds": [], "runs": runs}
