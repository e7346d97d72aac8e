"""The fill erase on an upload (a ``ProjectedImage``): fitted with its own adapted generator to its own picture,
rendered and blended as any edit of it, then the erased region sewn into the picture (seam.py), so that outside
the strokes every pixel is the upload's own (or what its other edits made)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ganpaint.erase.edit import FillErase, Fills, fill_region, region_pixels
from ganpaint.erase.leftover import Leftover
from ganpaint.erase.seam import seamless
from ganpaint.nn.intervene import UnitEdit
from ganpaint.project.projector import ProjectedImage, image_tensor


def resolve_upload(
    fills: Fills,
    proj: ProjectedImage,
    edits: Sequence[UnitEdit],
    between_steps: Callable[[], None] | None = None,
    leftover: Leftover | None = None,
) -> tuple[list[UnitEdit], list[bool]]:
    """(edits with the FillErases at the painting layer fitted, which of them were FillErases). FillErases at
    another layer stay GANPaint's erase. ``leftover``: the model's segmenter for the fit's concept term."""
    here = [isinstance(e, FillErase) and e.layer == proj.paint_layer for e in edits]
    if not any(here):
        return list(edits), here
    kept = [e.units_erase() if isinstance(e, FillErase) and not h else e for e, h in zip(edits, here, strict=True)]
    target = image_tensor(proj.original)  # (1, 3, R, R)
    return fills.resolve(kept, proj.features, proj.tail, target, between_steps, leftover), here


def render_upload(
    fills: Fills,
    proj: ProjectedImage,
    edits: Sequence[UnitEdit],
    between_steps: Callable[[], None] | None = None,
    leftover: Leftover | None = None,
) -> np.ndarray:
    """(R, R, 3) uint8: ``proj.render`` with the fill erases fitted and sewn in."""
    resolved, filled = resolve_upload(fills, proj, edits, between_steps, leftover)
    out = proj.render(resolved)
    if not any(filled):
        return out
    region = region_pixels(fill_region([e for e, f in zip(edits, filled, strict=True) if f]))  # (R, R)
    others = [e for e, f in zip(resolved, filled, strict=True) if not f]
    around = proj.render(others) if others else proj.original
    if fills.settings.seam_iters <= 0:  # no seam: the region cut in as it is
        return np.where(region[..., None], out, around)
    return seamless(out, around, region, fills.settings.seam_iters)
