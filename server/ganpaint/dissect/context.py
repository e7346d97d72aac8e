"""Context dependence of insertion (ICLR Fig. 11, PNAS Fig. 4D; method.md section 5).

For one concept: insert its brush units at their draw values in ``windows`` windows per held-out image,
each drawn class-stratified (first a class uniformly among the majority classes of the image's
windows, then a window of that class), and report per class at the location the success rate:
the share of windows where c grew by at least ``SUCCESS_GAIN`` of the window's pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ganpaint.dissect.causal import Evaluator, measure_insertion, window_cells

SUCCESS_GAIN = 0.2
MIN_SAMPLES = 5  # classes seen at fewer locations are left out of the table


def stratified_windows(base: np.ndarray, h: int, num_classes: int, rng: np.random.Generator):
    """One window per image: (y0, x0) arrays, class-stratified by the window's majority base class."""
    side = window_cells(h)
    scale = base.shape[1] // h
    onehot = F.one_hot(torch.from_numpy(base).long(), num_classes).permute(0, 3, 1, 2).float()  # (N, K, H, W)
    shares = F.avg_pool2d(onehot, kernel_size=side * scale, stride=scale)  # (N, K, P, P)
    major = shares.argmax(dim=1).numpy()  # (N, P, P)
    ys, xs = np.zeros(len(base), np.int64), np.zeros(len(base), np.int64)
    for i in range(len(base)):
        present = np.unique(major[i])
        cls = present[rng.integers(len(present))]
        cand = np.argwhere(major[i] == cls)
        ys[i], xs[i] = cand[rng.integers(len(cand))]
    return ys, xs


def measure_context(
    ev: Evaluator,
    r: torch.Tensor,
    base: np.ndarray,
    units,
    values,
    c: int,
    names: list[str],
    seed: int,
    windows: int = 1,
) -> tuple[dict[str, float], dict]:
    """Returns ({class name: success rate}, detail with counts and mean gains); ``windows`` independent
    windows per image (r and base repeated)."""
    rng = np.random.default_rng(seed)
    n_images = len(base)
    r, base = r.repeat(windows, 1, 1, 1), np.tile(base, (windows, 1, 1))  # (N*W, C, h, w), (N*W, H, W)
    ys, xs = stratified_windows(base, r.shape[2], len(names), rng)
    res = measure_insertion(ev, r, base, units, values, ys, xs, c)
    gain = res["after"] - res["before"]
    table, detail = {}, {}
    for k, name in enumerate(names):
        sel = res["window_class"] == k
        n = int(sel.sum())
        if n == 0:
            continue
        rate = float((gain[sel] >= SUCCESS_GAIN).mean())
        detail[name] = {"n": n, "success": rate, "mean_gain": float(gain[sel].mean())}
        if n >= MIN_SAMPLES:
            table[name] = rate
    return table, {"classes": detail, "samples": n_images, "windows": int(len(base)), "success_gain": SUCCESS_GAIN}
