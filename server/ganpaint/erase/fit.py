"""The fill of a hole in a feature map: a harmonic start, then a short fit of the generator's render to the
known pixels around the hole (the contextual loss of Yeh et al. 2017, "Semantic image inpainting with deep
generative models", on the painting layer's features instead of z)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class FillSettings:
    """Chosen on tuning scenes (seeds 1,500,000,000 up), never on the held-out ones (docs/erase.md)."""

    harmonic_iters: int = 200  # Jacobi steps of the harmonic start
    steps: int = 30  # Adam steps of the fit (0: the harmonic fill alone)
    lr: float = 0.05  # Adam step, relative to the features' RMS
    prior: float = 0.1  # weight of ||v - start||^2 / rms^2: stay near the harmonic start
    smooth: float = 0.3  # weight of the render's squared differences between neighbours inside the region
    ring: int = 6  # known pixels: this far (px) around the region, plus the hole cells' pixels outside it
    held_units: int = 3  # the concept's first erase units held at 0 in the hole (at most the stroke's strength)
    concept: float = 0.01  # weight of -log p(what the segmenter sees around the region) inside it (leftover.py)
    concept_every: int = 5  # the concept term on every n-th step (the last step among them), weighted n times
    seam_iters: int = 400  # Jacobi steps of the seam (uploads; 0: the region cut in without one)

    def numbers(self) -> dict:
        return asdict(self)


def hole_cells(region: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(h, w) bool: the feature cells a pixel region (H, W) (> 0: inside) touches."""
    m = (region > 0).float()[None, None]  # (1, 1, H, W)
    return F.adaptive_max_pool2d(m, tuple(size))[0, 0] > 0


def grow(region: torch.Tensor, px: int) -> torch.Tensor:
    """(H, W) bool: the region (> 0) grown by ``px`` pixels (a square)."""
    m = (region > 0).float()[None, None]  # (1, 1, H, W)
    return F.max_pool2d(m, 2 * px + 1, stride=1, padding=px)[0, 0] > 0 if px > 0 else m[0, 0] > 0


def known_pixels(region: torch.Tensor, feature_hw: tuple[int, int], ring: int) -> torch.Tensor:
    """(H, W) bool: the pixels the fill must agree with around a region (H, W): those of the hole cells outside
    it, and a ring of ``ring`` px around it."""
    hole = hole_cells(region, feature_hw)  # (h, w)
    cell_pixels = F.interpolate(hole[None, None].float(), size=region.shape[-2:], mode="nearest")[0, 0] > 0
    return (cell_pixels | grow(region, ring)) & ~(region > 0)


def harmonic_fill(f: torch.Tensor, hole: torch.Tensor, iters: int = 200) -> torch.Tensor:
    """(N, C, h, w) features with the ``hole`` cells (h, w) replaced by a harmonic fill of the others (Jacobi on
    3 x 3 means, replicate padding), started from their mean; a hole that covers everything (or nothing) stays."""
    if bool(hole.all()) or not bool(hole.any()):
        return f
    out = f.clone()
    out[..., hole] = f[..., ~hole].mean(-1, keepdim=True)
    for _ in range(iters):
        avg = F.avg_pool2d(F.pad(out, [1, 1, 1, 1], mode="replicate"), 3, stride=1)  # (N, C, h, w)
        out = torch.where(hole, avg, f)
    return out


def fit_fill(
    r: torch.Tensor,
    region: torch.Tensor,
    tail: nn.Module,
    target: torch.Tensor,
    held: Sequence[int] = (),
    s: FillSettings = FillSettings(),  # noqa: B008 - frozen
    between_steps: Callable[[], None] | None = None,
    leftover: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """The hole's features: (C, h, w), all units (outside the hole: r's own).

    r: (1, C, h, w) features; region: (H, W) in [0, 1], the pixels to erase (> 0) at the render's size;
    tail: the generator after r's layer; target: (1, 3, H, W) in [-1, 1], the picture it must agree with
    around the region; held: units kept at 0 in the hole; ``between_steps``: called before each step (a
    background render stepping aside for painters); ``leftover``: x (1, 3, H, W) -> (1, H, W), how unlike its
    surroundings (and how like the erased concept) a segmenter finds each pixel (``Leftover.penalty``),
    weighted by ``s.concept`` inside the region."""
    with torch.inference_mode(False), torch.enable_grad():
        r = r.detach().clone()  # not an inference tensor: the fit needs its graph
        target = target.detach().clone().to(r.dtype)
        region = region.detach().clone().float()
        hole = hole_cells(region, r.shape[-2:]).to(r.device)  # (h, w)
        keep = torch.ones(r.shape[1], 1, 1, dtype=r.dtype, device=r.device)  # (C, 1, 1): 0 for the held units
        keep[list(held)] = 0
        start = harmonic_fill(r, hole, s.harmonic_iters) * torch.where(hole, keep, 1.0)  # (1, C, h, w)
        if s.steps <= 0 or not bool(hole.any()):
            return start[0].detach()
        known = known_pixels(region, tuple(r.shape[-2:]), s.ring).float()[None, None]  # (1, 1, H, W)
        rms = float(r.pow(2).mean().sqrt()) or 1.0
        v = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([v], lr=s.lr * rms)
        total = known.sum().clamp(min=1) * target.shape[1]
        inside = (region > 0).float()[None, None]  # (1, 1, H, W)
        pairs_x = inside[..., :, 1:] * inside[..., :, :-1]  # (1, 1, H, W-1): both pixels inside
        pairs_y = inside[..., 1:, :] * inside[..., :-1, :]  # (1, 1, H-1, W)
        n_pairs = (pairs_x.sum() + pairs_y.sum()).clamp(min=1) * target.shape[1]
        for step in range(s.steps):
            if between_steps is not None:
                between_steps()
            x = tail(torch.where(hole, v * keep, r))  # (1, 3, H, W)
            loss = ((x - target) ** 2 * known).sum() / total + s.prior * ((v - start)[..., hole] ** 2).mean() / rms**2
            if s.smooth > 0:
                dx, dy = x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]
                loss = loss + s.smooth * ((dx**2 * pairs_x).sum() + (dy**2 * pairs_y).sum()) / n_pairs
            every = max(1, s.concept_every)
            if leftover is not None and s.concept > 0 and (s.steps - 1 - step) % every == 0:
                loss = loss + s.concept * every * (leftover(x) * inside[:, 0]).sum() / inside.sum()
            (v.grad,) = torch.autograd.grad(loss, [v])  # v's gradient only: an upload's own tail keeps no grads
            opt.step()
        return torch.where(hole, v.detach() * keep, r)[0]
