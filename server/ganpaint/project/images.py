"""Decoding an uploaded picture safely: type and size checked before the pixels are decoded, then crop and resize.

    pixels = decode_picture(data, resolution=64, max_pixels=40_000_000, crop=None)   # (64, 64, 3) uint8

Errors are ``PictureError`` (bad input: the API answers 422) or ``PictureTooLarge`` (413), each naming the field.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
from PIL import Image

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def sniff_format(head: bytes) -> str | None:
    """The format ``head`` (a file's first 12 bytes or more) starts like: "PNG", "JPEG", "WEBP" or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def declared_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) that the start of a picture declares, or None while its header is not all in ``head``.
    A PNG's is in its first 24 bytes (read here: PIL would want the chunks after it too); others through PIL."""
    if sniff_format(head) == "PNG":
        return struct.unpack(">II", head[16:24]) if len(head) >= 24 and head[12:16] == b"IHDR" else None
    try:
        return Image.open(io.BytesIO(head), formats=list(FORMATS)).size
    except Exception:  # noqa: BLE001 - not all in yet (or junk: the whole body's probe says which)
        return None


class PictureError(ValueError):
    """The upload is not a picture we accept (422)."""


class PictureTooLarge(PictureError):
    """The upload is over a size limit (413)."""


def decode_picture(
    data: bytes | BinaryIO,
    resolution: int,
    max_pixels: int = 40_000_000,
    crop: Sequence[float] | None = None,
    field: str = "file",
) -> np.ndarray:
    """Bytes (or a binary file) of a PNG/JPEG/WebP -> (resolution, resolution, 3) uint8.

    The header is read first (``Image.open`` decodes nothing): a format other than PNG/JPEG/WebP is refused, and
    so is one whose declared width x height exceeds ``max_pixels`` (a decompression bomb never decodes). JPEGs
    decode at a reduced scale (``draft``) when that still covers the crop. ``crop`` is [x, y, w, h] in 0..1 of
    the picture; default: the centred square. The crop is resized to the model's resolution (Lanczos).
    """
    img = probe_picture(data, max_pixels, field)
    w, h = img.size
    x0, y0, cw, ch = crop_box(w, h, crop)
    if img.format == "JPEG":
        img.draft("RGB", (max(resolution, w * resolution // max(1, cw)), max(resolution, h * resolution // max(1, ch))))
        sx, sy = img.size[0] / w, img.size[1] / h
        x0, y0, cw, ch = round(x0 * sx), round(y0 * sy), max(1, round(cw * sx)), max(1, round(ch * sy))
    try:
        img = img.convert("RGB").crop((x0, y0, x0 + cw, y0 + ch))
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    except Exception as exc:  # noqa: BLE001 - a truncated or corrupt body
        raise PictureError(f"{field}: cannot decode the image ({type(exc).__name__}: {str(exc)[:120]})") from exc
    return np.asarray(img, dtype=np.uint8).copy()  # (R, R, 3)


def probe_picture(data: bytes | BinaryIO, max_pixels: int = 40_000_000, field: str = "file") -> Image.Image:
    """Open ``data`` (bytes, or a binary file read from its start) lazily (only the header is read) and check
    its format and declared size; PictureError or PictureTooLarge naming ``field``. Cheap: safe to call on an
    event loop."""
    if isinstance(data, (bytes, bytearray)):
        data = io.BytesIO(data)
    data.seek(0, io.SEEK_END)
    if not data.tell():
        raise PictureError(f"{field}: empty upload")
    data.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(data, formats=list(FORMATS))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # PIL's own guard
        raise PictureTooLarge(f"{field}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - PIL raises many types for junk: one clear answer
        raise PictureError(f"{field}: not a PNG, JPEG or WebP image ({type(exc).__name__})") from exc
    w, h = img.size
    if w < 1 or h < 1:
        raise PictureError(f"{field}: image has no pixels ({w} x {h})")
    if w * h > max_pixels:
        raise PictureTooLarge(f"{field}: {w} x {h} = {w * h} pixels exceeds the limit of {max_pixels} pixels")
    return img


def crop_box(w: int, h: int, crop: Sequence[float] | None) -> tuple[int, int, int, int]:
    """Pixel box (x0, y0, cw, ch) of a [x, y, w, h] crop in 0..1 (default: the centred square)."""
    if crop is None:
        side = min(w, h)
        return (w - side) // 2, (h - side) // 2, side, side
    if len(crop) != 4:
        raise PictureError(f"crop: expected [x, y, w, h] in 0..1, got {len(crop)} numbers")
    cx, cy, cw, ch = (float(v) for v in crop)
    if not (
        0 <= cx < 1 and 0 <= cy < 1 and 0 < cw <= 1 and 0 < ch <= 1 and cx + cw <= 1 + 1e-6 and cy + ch <= 1 + 1e-6
    ):
        raise PictureError(f"crop: expected x, y in 0..1 and w, h in (0, 1] inside the picture, got {list(crop)}")
    x0, y0 = int(cx * w), int(cy * h)
    return x0, y0, max(1, min(w - x0, round(cw * w))), max(1, min(h - y0, round(ch * h)))
