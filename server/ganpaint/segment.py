"""The segmenter interface used by dissection and evaluation.

A segmenter maps generated images to per-pixel class probabilities over named classes. The
embedded one (``ganpaint.train.segmenter``) is trained on the scene world; an ADE20K one can sit
behind the same interface. Dissection only ever calls ``probabilities`` / ``segment``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Segmenter(Protocol):
    id: str  # names the segmenter in precomputed files, e.g. "scenes64/segmenter.pth@<sha>"
    names: list[str]  # class names; index = class id

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images in [-1, 1] -> (N, len(names), H, W) class probabilities (sum to 1)."""
        ...


def segment(segmenter: Segmenter, images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) images in [-1, 1] -> (N, H, W) int64 class ids (argmax)."""
    return segmenter.probabilities(images).argmax(dim=1)
