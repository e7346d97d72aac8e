"""The segmenter interface used by dissection and evaluation.

A segmenter maps generated images to per-pixel class probabilities over named classes. The
embedded one (``ganpaint.train.segmenter``) is trained on the scene world; an ADE20K one can sit
behind the same interface. Dissection only ever calls ``probabilities`` / ``segment``.
``load_segmenter`` resolves the ``--segmenter`` argument of the commands to one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Segmenter(Protocol):
    id: str  # names the segmenter in precomputed files, e.g. "scenes64/segmenter.pth@<sha>"
    names: list[str]  # class names; index = class id

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images in [-1, 1] -> (N, len(names), H, W) class probabilities (sum to 1)."""
        ...


def load_segmenter(spec: str | None, model_info=None) -> Segmenter:
    """Resolve ``--segmenter``: None/'embedded' = the model folder's segmenter; a path to a segmenter .pth;
    'hf:FOLDER_OR_HUB_NAME[?size=S&batch=B]' (a Hugging Face ADE20K model, ``ganpaint.hf_segmenter``);
    or 'package.module:factory' (called with model_info) for other segmenters. The backends are imported
    only when asked for."""
    if spec and spec.startswith("hf:"):
        from ganpaint.hf_segmenter import load_hf_segmenter

        return load_hf_segmenter(spec)
    if spec and ":" in spec and not Path(spec).exists():
        module, _, attr = spec.partition(":")
        return getattr(__import__(module, fromlist=[attr]), attr)(model_info)
    from ganpaint.train.segmenter import load_segmenter as load_embedded

    if spec in (None, "", "embedded"):
        path = getattr(model_info, "segmenter_path", None)
        if path is None:
            raise ValueError(f"model {getattr(model_info, 'id', '?')!r} has no embedded segmenter: pass --segmenter")
        return load_embedded(path)
    return load_embedded(spec)
