"""Progressive GAN generator in the layout of the published LSUN checkpoints (Karras et al. 2018).

The module tree is an ``nn.Sequential`` of named blocks ``layer1 .. layerN`` followed by
``output_<R>x<R>``, so every feature map has a stable name (``layer4``) for hooks, statistics,
JSON and the UI. Its state dict is key-for-key the one of the published ``*_lsun.pth`` files::

    layer1.conv.weight  (C1, Z, 4, 4)     layer1.wscale.b  (C1,)
    layerK.conv.weight  (CK, CK-1, 3, 3)  layerK.wscale.b  (CK,)
    output_RxR.conv.weight (3, CN, 1, 1)  output_RxR.wscale.b (3,)

Usage::

    g = load_generator("churchoutdoor_lsun.pth")     # architecture inferred from the weights
    x = g(image_latents([0, 1, 2], g.z_dim))          # (3, 3, R, R), nominally in [-1, 1]
    h, f = g.split("layer4")                          # x == f(h(z))
    layer_index("layer4")                             # 4
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

MIN_RESOLUTION, MAX_RESOLUTION = 32, 1024
LATENT_SEED = 1  # the original GANPaint convention: image id i is row i of RandomState(1)
MAX_IMAGE_ID = 99_999


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x^2 + eps)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class WScale(nn.Module):
    """Equalised learning rate: multiply by the constant gain/sqrt(fan_in), then add the bias ``b``."""

    def __init__(self, channels: int, fan_in: int, gain: float):
        super().__init__()
        self.scale = gain / math.sqrt(fan_in)  # a plain float: not a parameter, not in the state dict
        self.b = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.b.view(1, -1, 1, 1)


class NormConvBlock(nn.Sequential):
    """PixelNorm -> [nearest 2x upsample] -> conv (no bias) -> WScale -> LeakyReLU(0.2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, padding: int = 1, upsample: bool = False):
        parts: list[tuple[str, nn.Module]] = [("norm", PixelNorm())]
        if upsample:
            parts.append(("up", nn.Upsample(scale_factor=2, mode="nearest")))
        parts += [
            ("conv", nn.Conv2d(in_ch, out_ch, kernel, 1, padding, bias=False)),
            ("wscale", WScale(out_ch, in_ch, gain=math.sqrt(2) / kernel)),
            ("relu", nn.LeakyReLU(0.2)),
        ]
        super().__init__(OrderedDict(parts))


class OutputBlock(nn.Sequential):
    """PixelNorm -> 1x1 conv to RGB -> WScale(gain 1). Unclamped output."""

    def __init__(self, in_ch: int):
        super().__init__(
            OrderedDict(
                [
                    ("norm", PixelNorm()),
                    ("conv", nn.Conv2d(in_ch, 3, 1, 1, 0, bias=False)),
                    ("wscale", WScale(3, in_ch, gain=1.0)),
                ]
            )
        )


def layer_index(name: str, default: int | None = None) -> int:
    """The number N of a block name ``layerN`` ('layer6' -> 6): it orders layers and seeds their measurements.
    A name not of that form raises ValueError, or gives ``default`` when one is given (for sorting file stems)."""
    digits = name[len("layer") :] if name.startswith("layer") else ""
    if digits.isdecimal():
        return int(digits)
    if default is None:
        raise ValueError(f"layer: expected a block name like 'layer4', got {name!r}")
    return default


def _as_feature_input(z: torch.Tensor) -> torch.Tensor:
    return z.view(z.shape[0], z.shape[1], 1, 1) if z.dim() == 2 else z  # (N, Z) -> (N, Z, 1, 1)


class ProgressiveGenerator(nn.Sequential):
    """A ProGAN generator: ``channels[i]`` is the width of ``layer{i+1}``; two layers per resolution."""

    def __init__(self, channels: Sequence[int], z_dim: int | None = None):
        channels = list(channels)
        if len(channels) < 2 or len(channels) % 2:
            raise ValueError(f"channels must list an even number (>= 2) of layer widths, got {len(channels)}")
        self.z_dim = int(z_dim or channels[0])
        self.channels = channels
        self.resolution = 4 * 2 ** (len(channels) // 2 - 1)
        blocks: list[tuple[str, nn.Module]] = [("layer1", NormConvBlock(self.z_dim, channels[0], 4, 3))]
        for i in range(1, len(channels)):
            blocks.append((f"layer{i + 1}", NormConvBlock(channels[i - 1], channels[i], upsample=i % 2 == 0)))
        blocks.append((f"output_{self.resolution}x{self.resolution}", OutputBlock(channels[-1])))
        super().__init__(OrderedDict(blocks))
        self._layer_index_of = {f"layer{i + 1}": i for i in range(len(channels))}  # asked per stroke: built once

    @property
    def layer_names(self) -> list[str]:
        return list(self._layer_index_of)

    def feature_shape(self, layer: str) -> tuple[int, int, int]:
        """(C, h, w) of a layer's output."""
        i = self._layer_index(layer)
        side = 4 * 2 ** (i // 2)
        return self.channels[i], side, side

    def _layer_index(self, layer: str) -> int:
        if layer not in self._layer_index_of:
            raise KeyError(f"unknown layer {layer!r}; this generator has {', '.join(self.layer_names)}")
        return self._layer_index_of[layer]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(_as_feature_input(z))

    def split(self, layer: str) -> tuple[nn.Module, nn.Module]:
        """Return (h, f) with h: z -> output of ``layer`` and f: that feature map -> image."""
        cut = self._layer_index(layer) + 1
        children = list(self.named_children())
        return _LatentInput(OrderedDict(children[:cut])), nn.Sequential(OrderedDict(children[cut:]))


class _LatentInput(nn.Sequential):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(_as_feature_input(z))


# ----------------------------------------------------------------------------- loading


def architecture_from_state_dict(sd: Mapping[str, torch.Tensor]) -> tuple[list[int], int]:
    """Infer (channels per layer, z_dim) from a published-layout state dict; errors name bad keys."""
    layer_ids = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"layer(\d+)\.conv\.weight", k)))
    outputs = [k for k in sd if re.fullmatch(r"output_\d+x\d+\.conv\.weight", k)]
    if not layer_ids or len(outputs) != 1:
        raise ValueError(
            "not a ProGAN generator state dict: expected keys layer1.conv.weight ... and exactly one "
            f"output_<R>x<R>.conv.weight; found keys {sorted(sd)[:8]}{' ...' if len(sd) > 8 else ''}"
        )
    n = layer_ids[-1]
    channels = []
    for i in range(1, n + 1):
        key = f"layer{i}.conv.weight"
        if key not in sd:
            raise ValueError(f"missing key {key!r} in the generator state dict")
        channels.append(int(sd[key].shape[0]))
    z_dim = int(sd["layer1.conv.weight"].shape[1])
    resolution = int(outputs[0].split("_")[1].split("x")[0])
    if not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"output resolution {resolution} outside {MIN_RESOLUTION}..{MAX_RESOLUTION}")
    if 4 * 2 ** (n // 2 - 1) != resolution or n % 2:
        raise ValueError(f"{n} layers do not match the output key {outputs[0]!r} (resolution {resolution})")
    return channels, z_dim


def generator_from_state_dict(state: Mapping) -> ProgressiveGenerator:
    """Build a generator from a state dict (or ``{'state_dict': ...}``) and load it strictly."""
    sd = state.get("state_dict", state) if isinstance(state, Mapping) else state
    if not isinstance(sd, Mapping):
        raise ValueError(f"expected a state dict (a mapping of tensors), got {type(sd).__name__}")
    channels, z_dim = architecture_from_state_dict(sd)
    g = ProgressiveGenerator(channels, z_dim)
    expected = g.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match the ProGAN layout: missing keys {missing}, unexpected keys {unexpected}"
        )
    for key, tensor in expected.items():
        if tuple(sd[key].shape) != tuple(tensor.shape):
            raise ValueError(
                f"shape mismatch for key {key!r}: file has {tuple(sd[key].shape)}, expected {tuple(tensor.shape)}"
            )
    g.load_state_dict({k: v.float() for k, v in sd.items()})
    return g.eval()


def load_generator(path: str | Path, map_location: str = "cpu") -> ProgressiveGenerator:
    """Load a published-layout ``.pth`` (plain or ``{'state_dict': ...}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator weights not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt or non-torch file: say so with the path
        raise ValueError(f"cannot read generator weights {path}: {exc}") from exc
    return generator_from_state_dict(state)


def serving_copy(g: ProgressiveGenerator) -> ProgressiveGenerator:
    """A copy for inference: each WScale folded into its conv (weight x scale, bias b), in channels_last memory.

    Same layer names (hooks and splits still apply), the same images to float rounding, and about 1.5-2x
    faster on CPU (docs/performance.md). Its state dict is not the published layout: save the original.
    """
    g = copy.deepcopy(g)
    for block in g.children():
        conv, wscale = block.conv, block.wscale
        folded = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
            bias=True, device=conv.weight.device, dtype=conv.weight.dtype,
        )  # fmt: skip
        with torch.no_grad():
            folded.weight.copy_(conv.weight * wscale.scale)  # (out, in, k, k)
            folded.bias.copy_(wscale.b)  # (out,)
        block.conv, block.wscale = folded, nn.Identity()
    return g.to(memory_format=torch.channels_last).eval().requires_grad_(False)


def lsun_channels(resolution: int = 256) -> list[int]:
    """The Karras LSUN channel plan (fmap_base 8192, max 512), two layers per resolution."""
    sides = [4 * 2**i for i in range(int(math.log2(resolution)) - 1)]
    return [min(512, 16384 // s) for s in sides for _ in range(2)]


# ----------------------------------------------------------------------------- latents

_latent_cache: dict[int, tuple[np.random.RandomState, np.ndarray]] = {}
_latent_lock = threading.Lock()


def image_latents(ids: Sequence[int], z_dim: int) -> torch.Tensor:
    """z for image ids: row i of ``RandomState(1).standard_normal((n, z_dim))`` as float32; (N, z_dim).

    Row i does not depend on n, so an id names the same image for every request.
    """
    ids = [int(i) for i in ids]
    for i in ids:
        if not 0 <= i <= MAX_IMAGE_ID:
            raise ValueError(f"image id {i} out of range 0..{MAX_IMAGE_ID}")
    with _latent_lock:
        rng, rows = _latent_cache.get(z_dim, (np.random.RandomState(LATENT_SEED), np.zeros((0, z_dim), np.float32)))
        need = max(ids, default=-1) + 1
        if need > len(rows):
            more = rng.standard_normal((need - len(rows), z_dim))  # continues the same stream
            rows = np.concatenate([rows, more.astype(np.float32)])
            _latent_cache[z_dim] = (rng, rows)
    return torch.from_numpy(rows[ids])  # (N, z_dim) float32
