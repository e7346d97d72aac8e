"""Training-time networks: the growing generator wrapper and the ProGAN discriminator.

The generator being trained *is* a ``ProgressiveGenerator`` (published layout); this module only
adds the lower-resolution toRGB heads used while growing, which are dropped at export.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganpaint.nn.proggan import OutputBlock, ProgressiveGenerator


def init_equalized(module: nn.Module) -> None:
    """Equalised learning rate: N(0, 1) weights (the runtime scale does the rest), zero biases."""
    for name, p in module.named_parameters():
        with torch.no_grad():
            if name.endswith("weight"):
                p.normal_(0, 1)
            else:
                p.zero_()


class GrowingGenerator(nn.Module):
    """``ProgressiveGenerator`` plus toRGB heads for every resolution below the final one."""

    def __init__(self, channels: list[int], z_dim: int):
        super().__init__()
        self.g = ProgressiveGenerator(channels, z_dim)
        self.resolutions = [4 * 2**i for i in range(len(channels) // 2)]
        self.to_rgb = nn.ModuleDict(
            {str(r): OutputBlock(channels[2 * i + 1]) for i, r in enumerate(self.resolutions[:-1])}
        )
        init_equalized(self)

    def head(self, res: int) -> nn.Module:
        return self.g[-1] if res == self.resolutions[-1] else self.to_rgb[str(res)]

    def forward(self, z: torch.Tensor, res: int, alpha: float = 1.0) -> torch.Tensor:
        stage = self.resolutions.index(res)
        x = z.view(z.shape[0], z.shape[1], 1, 1)  # (N, Z, 1, 1)
        prev = x
        for i in range(2 * stage + 2):
            if i == 2 * stage:
                prev = x
            x = self.g[i](x)  # layer{i+1}
        rgb = self.head(res)(x)  # (N, 3, res, res)
        if alpha < 1.0 and stage > 0:
            low = F.interpolate(self.head(res // 2)(prev), scale_factor=2, mode="nearest")
            rgb = torch.lerp(low, rgb, alpha)
        return rgb


class EqConv2d(nn.Conv2d):
    """Conv with the He constant applied at run time (equalised learning rate)."""

    def __init__(self, cin: int, cout: int, k: int, gain: float = math.sqrt(2)):
        super().__init__(cin, cout, k, padding=k // 2)
        self.scale = gain / math.sqrt(cin * k * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqLinear(nn.Linear):
    def __init__(self, cin: int, cout: int, gain: float = math.sqrt(2)):
        super().__init__(cin, cout)
        self.scale = gain / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def minibatch_stddev(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one channel: the mean std over a group of samples (ProGAN's diversity signal)."""
    n, c, h, w = x.shape
    g = min(group, n)
    while n % g:
        g -= 1
    y = x.float().view(g, -1, c, h, w)  # (G, N/G, C, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (N/G,)
    y = y.to(x.dtype).view(-1, 1, 1, 1).repeat(g, 1, h, w)  # (N, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """ProGAN discriminator: fromRGB per resolution, two convs + avgpool per block, mbstd at 4x4."""

    def __init__(self, channels: dict[int, int]):
        super().__init__()
        self.resolutions = sorted(channels)
        act = nn.LeakyReLU(0.2)
        self.from_rgb = nn.ModuleDict(
            {str(r): nn.Sequential(EqConv2d(3, channels[r], 1), act) for r in self.resolutions}
        )
        self.blocks = nn.ModuleDict()
        for r in self.resolutions[1:]:
            self.blocks[str(r)] = nn.Sequential(
                EqConv2d(channels[r], channels[r], 3),
                act,
                EqConv2d(channels[r], channels[r // 2], 3),
                act,
                nn.AvgPool2d(2),
            )
        c4 = channels[4]
        self.final_conv = nn.Sequential(EqConv2d(c4 + 1, c4, 3), act)
        self.final_dense = nn.Sequential(EqLinear(c4 * 16, c4), act, EqLinear(c4, 1, gain=1.0))
        init_equalized(self)

    def forward(self, img: torch.Tensor, res: int, alpha: float = 1.0) -> torch.Tensor:
        x = self.from_rgb[str(res)](img)
        if res > 4:
            x = self.blocks[str(res)](x)
            if alpha < 1.0:
                x = torch.lerp(self.from_rgb[str(res // 2)](F.avg_pool2d(img, 2)), x, alpha)
            for r in reversed(self.resolutions[1 : self.resolutions.index(res)]):
                x = self.blocks[str(r)](x)
        x = self.final_conv(minibatch_stddev(x))  # (N, C4, 4, 4)
        return self.final_dense(x.flatten(1))  # (N, 1)
