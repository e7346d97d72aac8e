"""Segmenters whose answer is known by construction, and the untrained 64 px plan, for tests and timing.

- ``ChannelSegmenter``: class 0 ("none") unless a colour channel exceeds the others' level; classes
  red/green/blue = the dominant channel. Soft and differentiable (``differentiable_probabilities``).
- ``random_unet(model_info)``: the embedded segmenter's U-Net with seeded random weights and the scene
  world's 14 names: meaningless labels, but exactly the real segmenter's cost (for timing).
- ``untrained_plan()``: the embedded default's generator plan with N(0, 1) weights.

Usable from the CLI: ``--segmenter ganpaint.dissect.fake:channels`` / ``ganpaint.dissect.fake:random_unet``.
"""

from __future__ import annotations

import torch

from ganpaint.nn.proggan import ProgressiveGenerator

PLAN_64 = [256, 256, 128, 128, 64, 64, 32, 32, 16, 16]


class ChannelSegmenter:
    """logits = [0, s*R, s*G, s*B] - s*level: a pixel is red/green/blue where that channel is high."""

    names = ["none", "red", "green", "blue"]

    def __init__(self, sharpness: float = 8.0, level: float = 0.3):
        self.sharpness, self.level = sharpness, level
        self.id = f"channels(s={sharpness},t={level})"

    def differentiable_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        s = self.sharpness
        zero = torch.zeros_like(images[:, :1])
        logits = torch.cat([zero, s * (images - self.level)], dim=1)  # (N, 4, H, W)
        return logits.softmax(dim=1)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.differentiable_probabilities(images)


def channels(model_info=None) -> ChannelSegmenter:
    return ChannelSegmenter()


def random_unet(model_info=None, seed: int = 0):
    from ganpaint.scenes import NAMES
    from ganpaint.train.segmenter import EmbeddedSegmenter, UNet

    torch.manual_seed(seed)
    return EmbeddedSegmenter(UNet(num_classes=len(NAMES)), list(NAMES), f"random-unet@{seed}", size=64)


def untrained_plan(seed: int = 0, channels=PLAN_64, z_dim: int = 128) -> ProgressiveGenerator:
    torch.manual_seed(seed)
    g = ProgressiveGenerator(list(channels), z_dim)
    with torch.no_grad():
        for p in g.parameters():
            p.normal_(0, 1)
    return g.eval()
