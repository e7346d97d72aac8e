"""Small image helpers shared by training, evaluation and reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Generator output (N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, pixels = (x+1)/2*255."""
    return ((x.float() + 1) / 2 * 255).clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def grid(images: np.ndarray, cols: int = 8, pad: int = 2) -> np.ndarray:
    """Tile (N, H, W, 3) uint8 images into one (rows*H', cols*W', 3) image with a white gutter."""
    n, h, w, c = images.shape
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, im in enumerate(images):
        r, k = divmod(i, cols)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = im
    return out


def save_grid(x: torch.Tensor | np.ndarray, path: str | Path, cols: int = 8) -> None:
    from PIL import Image

    arr = to_uint8(x) if isinstance(x, torch.Tensor) else x
    Image.fromarray(grid(arr, cols)).save(path)
