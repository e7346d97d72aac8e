"""The seam of a filled region on a picture: the region's pixels corrected by the harmonic interpolation of
their mismatch with the pixels around it (Poisson image editing's seamless cloning, Pérez et al. 2003), the
pixels outside the region left as they are."""

from __future__ import annotations

import numpy as np
import torch

from ganpaint.erase.fit import harmonic_fill


def seamless(inside: np.ndarray, around: np.ndarray, region: np.ndarray, iters: int = 400) -> np.ndarray:
    """(H, W, 3) uint8: ``around`` outside ``region`` (H, W) bool; inside it ``inside`` plus the harmonic
    membrane of (around - inside) on the region's border, so the two meet without a step."""
    out = around.copy()
    if not region.any():
        return out
    ys, xs = np.nonzero(region)
    h, w = region.shape
    box = (slice(max(ys.min() - 1, 0), min(ys.max() + 2, h)), slice(max(xs.min() - 1, 0), min(xs.max() + 2, w)))
    inner, hole = inside[box].astype(np.float64), region[box]  # the region's box and its border: all it needs
    diff = around[box].astype(np.float64) - inner  # (h', w', 3)
    diff[hole] = 0
    d = torch.from_numpy(diff).permute(2, 0, 1)[None]  # (1, 3, h', w')
    membrane = harmonic_fill(d, torch.from_numpy(hole), iters)[0].permute(1, 2, 0).numpy()  # (h', w', 3)
    sewn = np.rint(inner + membrane).clip(0, 255).astype(np.uint8)
    out[box] = np.where(hole[..., None], sewn, out[box])
    return out
