"""Images out: generator output -> uint8 pixels -> encoded bytes (one mapping for the engine, the projector and
the API)."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, the original GANPaint mapping (truncation)."""
    return ((x.float() + 1) / 2 * 255).clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()


def encode_image(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """(H, W, 3) uint8 -> image bytes; deterministic for given pixels, format and quality."""
    buf = io.BytesIO()
    img = Image.fromarray(pixels)
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=quality, method=0)
    else:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    return buf.getvalue()
