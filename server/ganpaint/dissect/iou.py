"""Unit <-> concept agreement of one layer over the selection sample (method.md section 2, 3.2).

Two streaming passes over the latents (each cached as an npz by the caller's key):

pass 1  per-unit reservoir of the upsampled activations (quantiles), the conditional-mean constants
        k[u, c] = sum_{z,p} w_c(z,p) r_u,p(z) / sum_{z,p} w_c(z,p)  (w_c: the fraction of feature cell p
        covered by c, i.e. the one-hot labels area-pooled to the feature map), top-activating samples.
pass 2  pixel counts per (half, unit, threshold bin, class) of the bilinearly upsampled map against the
        segmentation; thresholds are each unit's quantiles at ``LEVELS`` (which include 0.99 = t_u).

From the counts: IoU at t_u (PNAS, both halves); the ICLR threshold t_{u,c} = argmax of the information
quality ratio over the grid on the even samples (the "separate validation set"), and IoU_{u,c} at that
threshold on the odd samples. IoUs are ratios of sums over images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganpaint.dissect.stats import Reservoir, TopK, iou, iqr

# quantile levels of the threshold grid; index of 0.99 is TOP1
LEVELS = np.unique(np.round(np.concatenate([np.linspace(0.02, 0.98, 49), [0.99, 0.995, 0.998]]), 6))


def level_index(levels: np.ndarray, level: float) -> int:
    return int(np.nonzero(np.isclose(levels, level))[0][0])


TOP1 = level_index(LEVELS, 0.99)


def upsample(r: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (N, C, h, w) to (N, C, H, W) (align_corners=False: cell centres anchored)."""
    if tuple(r.shape[-2:]) == tuple(size):
        return r
    return F.interpolate(r, size=size, mode="bilinear", align_corners=False)


def _batches(n: int, batch: int):
    return [(a, min(n, a + batch)) for a in range(0, n, batch)]


@torch.no_grad()
def pass1(
    features: Callable[[torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    labels: np.ndarray,
    num_classes: int,
    *,
    batch: int = 32,
    reservoir: int = 1 << 16,
    topk: int = 8,
    seed: int = 0,
    progress: bool = True,
    desc: str = "quantiles",
) -> dict[str, np.ndarray]:
    n, (hh, ww) = len(latents), labels.shape[1:]
    res: Reservoir | None = None
    top: TopK | None = None
    ksum = wsum = None
    for a, b in tqdm(_batches(n, batch), desc=desc, disable=not progress, leave=False):
        r = features(latents[a:b]).float()  # (B, C, h, w)
        c = r.shape[1]
        if res is None:
            res, top = Reservoir(c, reservoir, seed), TopK(c, topk)
            ksum, wsum = np.zeros((c, num_classes)), np.zeros(num_classes)
        up = upsample(r, (hh, ww))  # (B, C, H, W)
        res.add(up.transpose(0, 1).reshape(c, -1))
        top.add(r.amax(dim=(2, 3)), np.arange(a, b))
        lab = torch.from_numpy(labels[a:b]).long().to(r.device)  # (B, H, W)
        onehot = F.one_hot(lab, num_classes).permute(0, 3, 1, 2).float()  # (B, K, H, W)
        w = F.adaptive_avg_pool2d(onehot, r.shape[-2:])  # (B, K, h, w)
        ksum += torch.einsum("bchw,bkhw->ck", r.double(), w.double()).cpu().numpy()
        wsum += w.double().sum(dim=(0, 2, 3)).cpu().numpy()
    assert res is not None and top is not None
    thresholds = res.quantiles(LEVELS)  # (C, G)
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.where(wsum > 0, ksum / np.where(wsum > 0, wsum, 1), 0.0).astype(np.float32)  # (C, K)
    return {
        "thresholds": thresholds,
        "k": k,
        "class_weight": wsum,
        "top_scores": top.scores,
        "top_ids": top.ids,
        "seen": np.int64(res.seen),
    }


@torch.no_grad()
def pass2(
    features: Callable[[torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    labels: np.ndarray,
    num_classes: int,
    thresholds: np.ndarray,
    *,
    batch: int = 16,
    progress: bool = True,
    desc: str = "iou counts",
) -> dict[str, np.ndarray]:
    """hist[half, u, bin, c]: pixels of class c where unit u's activation lies in threshold bin ``bin``
    (bin = number of grid thresholds strictly below the value); half = sample index % 2."""
    n, (hh, ww) = len(latents), labels.shape[1:]
    c_units, g = thresholds.shape
    size = 2 * c_units * (g + 1) * num_classes
    hist = torch.zeros(size, dtype=torch.int64)
    t = None
    for a, b in tqdm(_batches(n, batch), desc=desc, disable=not progress, leave=False):
        r = features(latents[a:b]).float()  # (B, C, h, w)
        if t is None:
            t = torch.from_numpy(thresholds).to(r.device).contiguous()  # (C, G)
        up = upsample(r, (hh, ww))  # (B, C, H, W)
        vals = up.transpose(0, 1).reshape(c_units, -1).contiguous()  # (C, B*H*W)
        bins = torch.searchsorted(t, vals)  # (C, B*H*W): count of thresholds < value
        lab = torch.from_numpy(labels[a:b]).long().to(r.device).reshape(-1)  # (B*H*W,)
        half = (torch.arange(a, b, device=r.device) % 2).repeat_interleave(hh * ww)  # (B*H*W,)
        unit = torch.arange(c_units, device=r.device)[:, None]
        idx = (((half[None] * c_units + unit) * (g + 1) + bins) * num_classes + lab[None]).reshape(-1)
        hist += torch.bincount(idx, minlength=size).cpu()
    return {"hist": hist.reshape(2, c_units, g + 1, num_classes).numpy()}


def summarise(hist: np.ndarray, levels: np.ndarray = LEVELS) -> dict[str, np.ndarray]:
    """IoUs and thresholds from pass-2 counts. Returns (C, K) arrays iou_top1, iou_iqr, iqr_index, and
    per-half counts."""
    # above[h, u, g, c] = pixels of class c with activation > threshold g
    rev = np.cumsum(hist[:, :, ::-1, :], axis=2)[:, :, ::-1, :]  # rev[.., b, .] = sum over bins >= b
    above = rev[:, :, 1:, :].astype(np.float64)  # (2, C, G, K): bins > g
    active = above.sum(axis=3)  # (2, C, G)
    concept = hist.sum(axis=2)[:, 0, :].astype(np.float64)  # (2, K): same for every unit
    total = concept.sum(axis=1)  # (2,)
    i99 = level_index(levels, 0.99)
    top1 = iou(above[:, :, i99, :].sum(0), active[:, :, i99].sum(0)[:, None], concept.sum(0)[None])  # (C, K)
    score = iqr(above[0], active[0][:, :, None], concept[0][None, None], max(total[0], 1))  # (C, G, K)
    best = score.argmax(axis=1)  # (C, K)
    inter1 = np.take_along_axis(above[1], best[:, None, :], axis=1)[:, 0]  # (C, K)
    act1 = np.take_along_axis(active[1][:, :, None], best[:, None, :], axis=1)[:, 0]  # (C, K)
    iou_iqr = iou(inter1, act1, concept[1][None])
    return {"iou_top1": top1, "iou_iqr": iou_iqr, "iqr_index": best, "class_pixels": concept.sum(0)}


def load_or_run(path: Path | None, fn: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Cache a pass's arrays in ``path`` (npz): load if present, else compute and save atomically."""
    if path is not None and path.is_file():
        with np.load(path) as z:
            return {key: z[key] for key in z.files}
    out = fn()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **out)
        tmp.replace(path)
    return out
