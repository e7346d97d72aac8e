"""Refined frames of a painted upload: the refiner's 4x picture of the edit, blended with the upload's own pixels
at that size (``ProjectedImage.large``, kept when the upload was decoded), or with the refined upload if none."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch.nn.functional as F

from ganpaint.nn.intervene import UnitEdit
from ganpaint.project.projector import ProjectedImage, blend_mask, image_tensor

from . import Refiner, refine


def refined_upload(net: Refiner, proj: ProjectedImage, edits: Sequence[UnitEdit]) -> np.ndarray:
    """(4R, 4R, 3) uint8: the refined edited render inside the soft blend mask (``projector.blend_mask``, enlarged
    bilinearly), the upload outside it (its own 4R px pixels, else its refined R px picture), as
    ``ProjectedImage.render`` blends at R px."""
    large = proj.large if proj.large is not None and proj.large.shape[0] == proj.resolution * net.factor else None
    original = image_tensor(large) if large is not None else refine(net, image_tensor(proj.original))  # (1, 3, 4R, 4R)
    if edits:
        edited = proj.generate(edits)  # (1, 3, R, R)
        m = blend_mask(edited, proj.generate(()), proj.settings)[None, None]  # (1, 1, R, R)
        m = F.interpolate(m, size=original.shape[-2:], mode="bilinear", align_corners=False)  # (1, 1, 4R, 4R)
        original = m * refine(net, edited) + (1 - m) * original
    return ((original[0] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
