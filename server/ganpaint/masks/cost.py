"""What a mask costs before it is decoded (admission): pixels, points, runs, read without decoding it."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ganpaint.masks.forms import MAX_SIDE, PNG_PREFIX


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
