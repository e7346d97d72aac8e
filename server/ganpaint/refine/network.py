"""The refiner: a small convolutional network that turns a 64 px frame into a 4x larger picture.

    r = Refiner()                         # ~40k parameters at the defaults
    y = r(x)                              # x: (N, 3, h, w) in [-1, 1] -> y: (N, 3, 4h, 4w), unclamped

All convolutions run at the input's resolution (cheap); a pixel shuffle makes the 4x picture, added to the
bicubic enlargement of the input (the network learns only what bicubic gets wrong: edges, bricks, windows).
``flip_average`` refines the picture and its mirror image in one batch and averages the two (a self-ensemble:
+0.05 dB on held-out scenes for twice the time; not shipped: docs/refiner.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Refiner(nn.Module):
    def __init__(self, width: int = 32, blocks: int = 4, factor: int = 4, flip_average: bool = False):
        super().__init__()
        self.width, self.blocks, self.factor, self.flip_average = width, blocks, factor, flip_average
        self.head = nn.Conv2d(3, width, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks))
        self.tail = nn.Conv2d(width, 3 * factor * factor, 3, padding=1)
        nn.init.zeros_(self.tail.weight)  # starts as plain bicubic
        nn.init.zeros_(self.tail.bias)

    def config(self) -> dict:
        return {"width": self.width, "blocks": self.blocks, "factor": self.factor, "flip_average": self.flip_average}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip_average:
            return self.refine_once(x)
        n = x.shape[0]
        y = self.refine_once(torch.cat([x, x.flip(-1)]))  # (2N, 3, 4h, 4w): the picture and its mirror image
        return (y[:n] + y[n:].flip(-1)) / 2

    def refine_once(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=self.factor, mode="bicubic", align_corners=False)  # (N, 3, 4h, 4w)
        h = F.relu(self.head(x))  # (N, width, h, w)
        for i, conv in enumerate(self.body):
            r = F.relu(conv(h))
            h = h + r if i % 2 else r  # a skip every second convolution
        return up + F.pixel_shuffle(self.tail(h), self.factor)  # (N, 3, 4h, 4w)
