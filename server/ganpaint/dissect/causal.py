"""Causal measurements on a layer (method.md section 3): ablation, insertion, and the alpha optimisation.

Conventions (docs/dissection.md):
- Ablation sets a unit set U to 0 over the whole feature map; its effect on concept c is the fraction of
  c's pixels removed, a ratio of sums over the held-out images (= the ablation ACE normalised by c's base
  rate). ``collateral`` is the fraction of the other pixels whose label changed.
- Insertion sets U to per-unit values inside one square window of ``window_cells(h)`` feature cells
  (1/8 of the image side, so layers of different resolution paint the same image area; one cell at 8x8),
  at a random position per image. ``gain`` is the increase of c's share of the window's pixels;
  ``spill`` the outside pixels that changed to something other than c, in window areas.
- ACE(U) = (E_window[s_c(x_i)] - E_image[s_c(x_a)]) / E[s_c(x)] (ICLR Eq. 4, normalised by the base rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def window_cells(h: int) -> int:
    """Side of the insertion window in feature cells: 1/8 of the map side (at least one cell)."""
    return max(1, h // 8)


def soft_probabilities(segmenter, images: torch.Tensor) -> torch.Tensor | None:
    """Differentiable (N, K, H, W) class probabilities, or None if the segmenter offers no gradient."""
    soft = getattr(segmenter, "differentiable_probabilities", None)
    return soft(images) if soft is not None else None


@dataclass
class Evaluator:
    """Runs f (feature map -> image) and the segmenter in batches."""

    f: nn.Module
    segmenter: object
    batch: int = 32

    @torch.no_grad()
    def labels(self, r: torch.Tensor) -> np.ndarray:
        """(N, C, h, w) feature maps -> (N, H, W) uint8 argmax labels."""
        out = []
        for a in range(0, len(r), self.batch):
            x = self.f(r[a : a + self.batch])  # (B, 3, H, W)
            out.append(self.segmenter.probabilities(x).argmax(dim=1).to(torch.uint8).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0, 0), np.uint8)


def window_mask(n: int, h: int, w: int, y0: np.ndarray, x0: np.ndarray, side: int, device=None) -> torch.Tensor:
    """(N, 1, h, w) float mask of the squares [y0, y0+side) x [x0, x0+side)."""
    ys = torch.arange(h, device=device)[None, :, None]
    xs = torch.arange(w, device=device)[None, None, :]
    ty = torch.as_tensor(y0, device=device)[:, None, None]
    tx = torch.as_tensor(x0, device=device)[:, None, None]
    m = (ys >= ty) & (ys < ty + side) & (xs >= tx) & (xs < tx + side)  # (N, h, w)
    return m[:, None].float()


def set_units(r: torch.Tensor, units, values: torch.Tensor | float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Copy of r (N, C, h, w) with ``units`` set to ``values`` (per unit) where mask (N, 1, h, w) is 1."""
    out = r.clone()
    idx = torch.as_tensor(list(units), dtype=torch.long, device=r.device)
    v = torch.as_tensor(values, dtype=r.dtype, device=r.device).flatten()
    v = v.expand(len(idx)) if v.numel() == 1 else v
    v = v[None, :, None, None]  # (1, U, 1, 1)
    if mask is None:
        out[:, idx] = v.expand(len(r), -1, r.shape[2], r.shape[3])
    else:
        out[:, idx] = v * mask + out[:, idx] * (1 - mask)
    return out


def confusion(before: np.ndarray, after: np.ndarray, k: int) -> np.ndarray:
    """(K, K) pixel counts: row = label before, column = label after."""
    return np.bincount(before.astype(np.int64).ravel() * k + after.ravel(), minlength=k * k).reshape(k, k)


def ablation_effect(conf: np.ndarray, c: int) -> dict[str, float]:
    """Removal fraction of c (net, ratio of sums) and collateral change of the other pixels."""
    base = conf[c].sum()
    after = conf[:, c].sum()
    others = conf.sum() - base
    changed_others = others - (np.trace(conf) - conf[c, c])
    return {
        "removed": float((base - after) / base) if base else 0.0,
        "collateral": float(changed_others / others) if others else 0.0,
        "after_share": float(after / conf.sum()) if conf.sum() else 0.0,
    }


def measure_ablation(ev: Evaluator, r: torch.Tensor, base: np.ndarray, units, k: int) -> np.ndarray:
    """Confusion matrix of ablating ``units`` everywhere on held-out features r (N, C, h, w)."""
    after = ev.labels(set_units(r, units, 0.0))
    return confusion(base, after, k)


def random_baseline(
    ev: Evaluator, r: torch.Tensor, base: np.ndarray, k: int, sizes, draws: int, seed: int
) -> list[dict]:
    """Ablate ``draws`` random unit sets of each size in ``sizes`` on held-out features r (N, C, h, w):
    one {size, units, confusion} per set, the sets of a draw nested (size 2 extends size 1, ...)."""
    n_units = r.shape[1]
    out = []
    for d in range(draws):
        order = np.random.default_rng([seed, d]).permutation(n_units)
        for size in sizes:
            units = sorted(order[: min(size, n_units)].tolist())
            out.append({"size": size, "units": units, "confusion": measure_ablation(ev, r, base, units, k).tolist()})
    return out


def summarise_random(sets: list[dict], c: int) -> dict[str, list[float]]:
    """Per set size (ascending), over the draws: the mean removed fraction of c and the mean and max of
    |removed| (ablation can also add c: a negative removal)."""
    sizes = sorted({s["size"] for s in sets})
    removed = [
        np.array([ablation_effect(np.array(s["confusion"]), c)["removed"] for s in sets if s["size"] == n])
        for n in sizes
    ]
    return {
        "mean": [round(float(x.mean()), 6) for x in removed],
        "mean_abs": [round(float(np.abs(x).mean()), 6) for x in removed],
        "max_abs": [round(float(np.abs(x).max()), 6) for x in removed],
    }


def sample_windows(rng: np.random.Generator, n: int, h: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, h - side + 1, n), rng.integers(0, h - side + 1, n)


def measure_insertion(
    ev: Evaluator,
    r: torch.Tensor,
    base: np.ndarray,
    units,
    values,
    y0: np.ndarray,
    x0: np.ndarray,
    c: int,
) -> dict[str, np.ndarray]:
    """Insert ``units`` at ``values`` in one window per image; per-sample arrays: before/after share of c
    in the window, spill (outside pixels changed to non-c, in window areas), majority base class of the window."""
    n, _, h, w = r.shape
    side = window_cells(h)
    m = window_mask(n, h, w, y0, x0, side, r.device)
    after = ev.labels(set_units(r, units, torch.as_tensor(values, dtype=r.dtype), m))
    big = F.interpolate(m, size=base.shape[1:], mode="nearest")[:, 0].cpu().numpy() > 0.5  # (N, H, W)
    area = big.reshape(n, -1).sum(1)
    is_c_before, is_c_after = base == c, after == c
    before_share = (is_c_before & big).reshape(n, -1).sum(1) / area
    after_share = (is_c_after & big).reshape(n, -1).sum(1) / area
    spill = ((after != base) & ~is_c_after & ~big).reshape(n, -1).sum(1) / area
    k = int(max(base.max(initial=0), after.max(initial=0))) + 1
    majority = np.array([np.bincount(base[i][big[i]], minlength=k).argmax() for i in range(n)])
    return {"before": before_share, "after": after_share, "spill": spill, "window_class": majority}


# ------------------------------------------------------------------------------ alpha optimisation


@dataclass
class AlphaSettings:
    steps: int = 64
    batch: int = 8  # locations per step: half removal candidates, half insertion candidates
    lr: float = 0.02  # Adam
    l2: float = 0.01  # lambda of the ||alpha||_2 penalty
    probe: int = 32  # images probed for insertion candidates (all units at k)
    pool: int = 128  # selection latents the locations are drawn from
    removal: str = "image"  # removal candidates ablated over the "image" (as removal is measured) or a "window"


def _window_shares(labels: np.ndarray, c: int, h: int, side: int) -> np.ndarray:
    """(N, h-side+1, h-side+1): share of c in each window position."""
    scale = labels.shape[1] // h
    onehot = torch.from_numpy(labels == c).float()[:, None]  # (N, 1, H, W)
    return F.avg_pool2d(onehot, kernel_size=side * scale, stride=scale)[:, 0].numpy()


def optimise_alpha(
    h_fn: Callable[[torch.Tensor], torch.Tensor],
    ev: Evaluator,
    latents: torch.Tensor,
    labels: np.ndarray,
    c: int,
    k: np.ndarray,
    init: np.ndarray,
    cfg: AlphaSettings,
    seed: int,
    objective: str = "both",
) -> tuple[np.ndarray, dict]:
    """ICLR Eq. 5-6: alpha in [0,1]^C maximising E[s_c(x'_i)] - E[s_c(x'_a)] - lambda ||alpha||_2
    (``objective="removal"``: the removal term alone, -E[s_c(x'_a)] - lambda ||alpha||_2, for the erase set).

    Insertion candidates (windows where c is absent but appears after setting all units to k) are inserted
    partially and scored on the window. Removal candidates are images where c covers >= 1% of the pixels,
    ablated partially over the whole image and scored on c's pixels (``removal="image"``, the way removal is
    measured), or windows that c covers >= half of, scored on the window (``removal="window"``, ICLR's single
    locations). Each candidate contributes only its informative term (the other is ~0 there). Adam, clamped
    to [0, 1] after every step. Returns (alpha, info)."""
    if cfg.removal not in ("image", "window"):
        raise ValueError(f"AlphaSettings.removal: expected 'image' or 'window', got {cfg.removal!r}")
    if objective not in ("both", "removal"):
        raise ValueError(f"objective: expected 'both' or 'removal', got {objective!r}")
    rng = np.random.default_rng(seed)
    latents, labels = latents[: cfg.pool], labels[: cfg.pool]
    dev = next(ev.f.parameters()).device
    with torch.no_grad():
        r0 = h_fn(latents[:1].to(dev))  # (1, C, h, w)
    hh = r0.shape[2]
    probe = cfg.probe if objective == "both" else 0
    rem, ins, probe_gain = _alpha_candidates(h_fn, ev, latents, labels, c, k, cfg.removal, probe, rng, hh)
    info = {"removal_candidates": int(len(rem)), "insertion_candidates": int(len(ins)), "probe_gain": probe_gain}
    seg_ok = soft_probabilities(ev.segmenter, ev.f(r0[:1]).detach()) is not None
    if not seg_ok or (len(rem) == 0 and len(ins) == 0) or cfg.steps <= 0:
        info["optimised"] = False
        return init.astype(np.float32), info
    alpha = torch.tensor(init, dtype=torch.float32, device=dev).clamp(0, 1).requires_grad_(True)
    kt = torch.as_tensor(k, dtype=torch.float32, device=dev)[None, :, None, None]  # (1, C, 1, 1)
    m1, m2 = torch.zeros_like(alpha), torch.zeros_like(alpha)  # Adam moments (torch.optim imports dynamo: slow)
    losses = []
    for _ in range(cfg.steps):
        picks = []
        for cand, kind in ((rem, 0), (ins, 1)):
            if len(cand):
                nb = cfg.batch // 2 if len(rem) and len(ins) else cfg.batch
                picks += [(*cand[j], kind) for j in rng.integers(len(cand), size=nb)]
        p = np.array(picks)  # (B, 4): image, y0, x0, kind
        with torch.no_grad():
            r = h_fn(latents[p[:, 0]].to(dev))  # (B, C, h, w)
        delta = _alpha_delta(ev, r, labels, p, alpha, kt, c, cfg.removal, window_cells(hh))
        loss = -delta + cfg.l2 * alpha.norm()
        (grad,) = torch.autograd.grad(loss, alpha)
        with torch.no_grad():
            step = len(losses) + 1
            m1.mul_(0.9).add_(grad, alpha=0.1)
            m2.mul_(0.999).addcmul_(grad, grad, value=0.001)
            update = (m1 / (1 - 0.9**step)) / ((m2 / (1 - 0.999**step)).sqrt() + 1e-8)
            alpha.sub_(cfg.lr * update).clamp_(0, 1)
        losses.append(float(loss.detach()))
    info.update(optimised=True, loss_first=losses[0], loss_last=float(np.mean(losses[-3:])))
    return alpha.detach().cpu().numpy(), info


def _alpha_candidates(
    h_fn, ev: Evaluator, latents, labels: np.ndarray, c: int, k: np.ndarray, removal: str, probe: int, rng, hh: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """(removal candidates (n, 3), insertion candidates (m, 3), mean probe gain) of ``optimise_alpha``; rows are
    (image, y0, x0) (y0 = x0 = 0 for whole-image removal). Insertion candidates: ``probe`` images' windows
    without c, where setting all units to k makes c appear."""
    dev = next(ev.f.parameters()).device
    side = window_cells(hh)
    shares = _window_shares(labels, c, hh, side)  # (N, P, P)
    rem = np.argwhere(shares >= 0.5)  # (n, 3): image, y0, x0
    if removal == "image":  # images where c covers >= 1% of the pixels, ablated everywhere
        with_c = np.flatnonzero((labels == c).reshape(len(labels), -1).mean(1) >= 0.01)
        rem = np.column_stack([with_c, np.zeros_like(with_c), np.zeros_like(with_c)])
    absent = [np.argwhere(shares[i] < 0.1) for i in range(len(labels))]
    probe_imgs = [i for i in rng.permutation(len(labels)) if len(absent[i])][:probe]
    ins = np.zeros((0, 3), np.int64)
    probe_gain = 0.0
    if probe_imgs:
        pos = np.array([absent[i][rng.integers(len(absent[i]))] for i in probe_imgs])  # (P, 2)
        with torch.no_grad():
            r = h_fn(latents[probe_imgs].to(dev))  # (P, C, h, w)
        res = measure_insertion(ev, r, labels[probe_imgs], range(r.shape[1]), k, pos[:, 0], pos[:, 1], c)
        gain = res["after"] - res["before"]
        probe_gain = float(gain.mean())
        order = np.argsort(-gain, kind="stable")
        keep = order[gain[order] >= 0.25]
        if len(keep) < 4:  # c hardly appears anywhere: use the windows where it grew most
            keep = order[: max(4, len(order) // 4)]
        ins = np.column_stack([np.array(probe_imgs)[keep], pos[keep]])
    return rem, ins, probe_gain


def _alpha_delta(
    ev: Evaluator, r, labels: np.ndarray, p: np.ndarray, alpha, kt, c: int, removal: str, side: int
) -> torch.Tensor:
    """The objective of one step of ``optimise_alpha`` on the picked candidates ``p`` (B, 4: image, y0, x0, kind
    0 removal / 1 insertion) with features ``r`` (B, C, h, w): mean share of c gained by the insertions minus
    mean share left by the removals, each in its scored pixels (differentiable in ``alpha``)."""
    dev = r.device
    m = window_mask(len(p), r.shape[2], r.shape[3], p[:, 1], p[:, 2], side, dev)  # (B, 1, h, w)
    region = F.interpolate(m, size=labels.shape[1:], mode="nearest")[:, 0]  # (B, H, W) pixels scored
    if removal == "image":
        is_rem = torch.as_tensor(p[:, 3] == 0, device=dev)
        m = torch.where(is_rem[:, None, None, None], torch.ones_like(m), m)
        c_pixels = torch.from_numpy(labels[p[:, 0]] == c).float().to(dev)  # (B, H, W)
        region = torch.where(is_rem[:, None, None], c_pixels, region)
    is_ins = torch.as_tensor(p[:, 3] == 1, device=dev)[:, None, None, None]
    a = alpha[None, :, None, None] * m  # (B, C, h, w)
    target = torch.where(is_ins, kt.expand_as(r), torch.zeros_like(r))
    r_edit = r + a * (target - r)  # insertion: a*k + (1-a)*r; ablation: (1-a)*r
    prob = soft_probabilities(ev.segmenter, ev.f(r_edit))[:, c]  # (B, H, W)
    share = (prob * region).sum(dim=(1, 2)) / region.sum(dim=(1, 2))  # (B,) share of c in the scored pixels
    sign = torch.where(is_ins[:, 0, 0, 0], 1.0, -1.0)
    n_ins, n_rem = int((p[:, 3] == 1).sum()), int((p[:, 3] == 0).sum())
    weight = torch.where(is_ins[:, 0, 0, 0], 1.0 / max(n_ins, 1), 1.0 / max(n_rem, 1))
    return (sign * weight * share).sum()


def rank_by(score: np.ndarray, tiebreak: np.ndarray, n: int) -> list[int]:
    """Indices of the n largest ``score`` (ties by larger ``tiebreak``, then lower index)."""
    order = np.lexsort((np.arange(len(score)), -tiebreak, -score))
    return [int(u) for u in order[:n]]
