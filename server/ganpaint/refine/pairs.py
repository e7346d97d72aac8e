"""Training and test pairs for the refiner: a scene's 64 px picture and the same scene's true 256 px render.

The scene world renders any seed at any size (``ganpaint.scenes.render``), so every pair is exact. The 64 px
side is the world's own 64 px render (what the GAN was trained to imitate), optionally ``degrade``-d towards the
GAN's softer frames; ``gan_frames`` gives the GAN's own reconstructions of scenes (the test that matters).

Seeds: the GAN trained on 0..39,999; held-out scenes are 1,000,000,000 and up (as ``POST /uploads`` and
``bench/erase_truth.py`` use); refiner training draws from ``TRAIN_SEEDS`` in between, so neither overlaps.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ganpaint.scenes.render import render_scene

TRAIN_SEEDS = 100_000  # first refiner training seed
HELD_OUT_SEEDS = 1_000_000_000  # first held-out seed (never trained on by the GAN or the refiner)

Progress = Callable[[int, int], None]  # (done, total)


def print_progress(label: str) -> Progress:
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 20) == 0:
            print(f"\r{label}: {done}/{total} ({100 * done / max(total, 1):.0f}%)", end="", file=sys.stderr)
            if done == total:
                print(file=sys.stderr)

    return report


def render_pairs(
    seeds, small: int = 64, factor: int = 4, progress: Progress | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(N, small, small, 3) and (N, factor*small, factor*small, 3) uint8: each seed rendered at both sizes."""
    seeds = list(seeds)
    xs = np.empty((len(seeds), small, small, 3), np.uint8)
    ys = np.empty((len(seeds), small * factor, small * factor, 3), np.uint8)
    for i, seed in enumerate(seeds):
        xs[i] = render_scene(seed, small)[0]
        ys[i] = render_scene(seed, small * factor)[0]
        if progress:
            progress(i + 1, len(seeds))
    return xs, ys


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8 (rounded, clamped)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def degrade(x: torch.Tensor, gen: torch.Generator, blur: float = 0.8, noise: float = 0.03) -> torch.Tensor:
    """A random softening like the GAN's own frames: a Gaussian blur of sigma U(0, blur) px and Gaussian noise of
    std U(0, noise), each picture its own draw. x: (N, 3, h, w) in [-1, 1]."""
    n = x.shape[0]
    sigma = torch.rand(n, generator=gen) * blur  # (N,)
    k = torch.arange(-2, 3, dtype=torch.float32)  # (5,)
    w = torch.exp(-(k[None] ** 2) / (2 * sigma[:, None].clamp_min(1e-3) ** 2))  # (N, 5)
    w = w / w.sum(1, keepdim=True)
    c = x.shape[1]
    xs = x.reshape(1, n * c, *x.shape[2:])  # (1, N*3, h, w): one grouped convolution per picture and channel
    wk = w.repeat_interleave(c, 0)  # (N*3, 5)
    xs = F.conv2d(F.pad(xs, (2, 2, 0, 0), mode="replicate"), wk[:, None, None, :], groups=n * c)
    xs = F.conv2d(F.pad(xs, (0, 0, 2, 2), mode="replicate"), wk[:, None, :, None], groups=n * c)
    std = torch.rand(n, 1, 1, 1, generator=gen) * noise
    return xs.reshape(x.shape) + std * torch.randn(x.shape, generator=gen)


def gan_frames(projector, tail, pictures: np.ndarray, progress: Progress | None = None) -> dict[str, np.ndarray]:
    """The GAN's reconstructions of 64 px pictures: ``adapted`` (what an upload shows: the image-specific
    generator) and ``generated`` (the unadapted generator from the fitted features: a GAN frame as the gallery
    shows them). ``tail``: the generator after the projector's painting layer (``LoadedModel.split(layer)[1]``).
    Each (N, 64, 64, 3) uint8. About 2 s per picture on 2 cores."""
    from ganpaint.project.projector import image_tensor, to_uint8

    out = {"adapted": [], "generated": []}
    for i, pic in enumerate(pictures):
        with torch.inference_mode(False):
            proj = projector.project(image_tensor(pic))
        with torch.no_grad():
            out["adapted"].append(to_uint8(proj.generate()))
            out["generated"].append(to_uint8(tail(proj.features)))
        if progress:
            progress(i + 1, len(pictures))
    return {k: np.stack(v) for k, v in out.items()}
