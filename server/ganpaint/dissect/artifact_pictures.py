"""Pictures of artifact units (``dissect.artifacts``): each unit's top-activating samples, one row per unit.

    rows = top_images(generator, doc, units)            # {unit: (SHOWN, H, W, 3) uint8}
    Image.fromarray(unit_grid(rows, doc, zoom=2)).save("docs/img/artifact_units_layer4.png")

The samples are the ranking's own (``doc["units"][u]["top"]``: ids into its latent stream), highest peak first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint.dissect.artifacts import ARTIFACT_STREAM
from ganpaint.dissect.common import latents

LABEL_W = 96  # pixels of the label column (before zoom)


@torch.no_grad()
def top_images(generator, doc: dict, units: list[int], device: str = "cpu") -> dict[int, np.ndarray]:
    """Each unit's top-activating samples as pixels, {unit: (T, H, W, 3) uint8}."""
    s = doc["settings"]
    z_all = latents(s["samples"], generator.z_dim, s["seed"], ARTIFACT_STREAM)
    out = {}
    for u in units:
        ids = doc["units"][u]["top"]
        x = generator(z_all[ids].to(device))  # (T, 3, H, W)
        out[u] = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return out


def unit_strip(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """(T, H, W, 3) -> one row (H, T * (W + pad) - pad, 3), white between images."""
    t, h, w, _ = images.shape
    row = np.full((h, t * (w + pad) - pad, 3), 255, np.uint8)
    for i in range(t):
        row[:, i * (w + pad) : i * (w + pad) + w] = images[i]
    return row


def unit_grid(rows: dict[int, np.ndarray], doc: dict, zoom: int = 2, title: str = "") -> np.ndarray:
    """One labelled row per unit ("unit u  FD f  z z"), in the order of ``rows``; uint8 (H, W, 3)."""
    strips = [unit_strip(im) for im in rows.values()]
    h, w = strips[0].shape[:2]
    top = 14 if title else 0
    canvas = Image.new("RGB", ((LABEL_W + w) * zoom, (top + len(strips) * (h + 2)) * zoom), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 2), title, fill=(0, 0, 0))
    for i, (u, strip) in enumerate(zip(rows, strips, strict=True)):
        y = (top + i * (h + 2)) * zoom
        canvas.paste(Image.fromarray(strip).resize((w * zoom, h * zoom), Image.NEAREST), (LABEL_W * zoom, y))
        row = doc["units"][u]
        rank = doc["ranking"].index(u) + 1
        draw.text((4, y + 4), f"unit {u} (#{rank})", fill=(0, 0, 0))
        draw.text((4, y + 18), f"FD {row['fd']:.2f}  z {row['z']:.1f}", fill=(60, 60, 60))
    return np.asarray(canvas)


def worst_and_median(doc: dict, n: int = 8) -> tuple[list[int], list[int]]:
    """The ``n`` worst units by FD and the ``n`` around the median rank."""
    ranking = doc["ranking"]
    mid = len(ranking) // 2 - n // 2
    return ranking[:n], ranking[max(n, mid) : max(n, mid) + n]


def save_strips(generator, doc: dict, units: list[int], folder: Path, device: str = "cpu") -> None:
    """``folder/artifact-unit{u}.png`` per unit (the report's pictures), zoomed 2x."""
    folder.mkdir(parents=True, exist_ok=True)
    for u, images in top_images(generator, doc, units, device).items():
        strip = unit_strip(images)
        Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST).save(
            folder / f"artifact-unit{u}.png"
        )
