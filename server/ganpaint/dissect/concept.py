"""One concept on one layer (method.md section 3): the IoU and ACE rankings of its units, their ablation and
insertion effects on held-out latents at each draw value, and the ACE/removal curves (the context table and
the erase set are measured apart, ``run.concept_context`` and ``run.concept_erase``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ganpaint.dissect.causal import (
    Evaluator,
    ablation_effect,
    measure_ablation,
    measure_insertion,
    optimise_alpha,
    rank_by,
    sample_windows,
    window_cells,
)
from ganpaint.dissect.common import derived_seed
from ganpaint.nn.proggan import layer_index

DRAW_RULES = ("k", "quantile_99", "2k", "4k")  # insertion values measured; the brush draws at the best


def rounded(x) -> float:
    """A float for the JSON files (6 decimals)."""
    return round(float(x), 6)


@dataclass(kw_only=True)
class LayerData:
    """What every concept of one layer is measured against: f and h, the selection and held-out latents with
    their labels and features, the IoU tables, k, the 0.99 levels and the random set's confusion matrix.
    C units, K classes, N latents."""

    layer: str
    ev: Evaluator
    h_fn: Callable[[torch.Tensor], torch.Tensor]
    z_sel: torch.Tensor  # (N_sel, z_dim)
    lab_sel: np.ndarray  # (N_sel, H, W)
    r_held: torch.Tensor  # (N_held, C, h, w)
    lab_held: np.ndarray  # (N_held, H, W)
    iou_iqr: np.ndarray  # (C, K)
    iou_top1: np.ndarray  # (C, K)
    k_all: np.ndarray  # (C, K)
    q99: np.ndarray  # (C,)
    base_share: np.ndarray  # (K,)
    rnd_conf: np.ndarray  # (K, K)
    rnd_units: list[int]
    n_top: int


@dataclass
class _Windows:
    """The insertion windows of one concept: one per held-out latent, on the first ``n`` of them."""

    n: int
    y0: np.ndarray  # (n,) top cell
    x0: np.ndarray  # (n,) left cell


def dissect_concept(ctx, d: LayerData, c: int) -> dict:
    """Concept ``c`` at ``d.layer``: its ACE and IoU rankings, each measured (ablation, insertion at every draw
    rule); the brush is the ranking with the larger ACE at its best rule; then its curves and the random set's
    numbers (the concept's document, ``precomputed`` schema)."""
    s = ctx.settings
    lnum = layer_index(d.layer)
    k = d.k_all[:, c]  # (C,)
    iou_rank = rank_by(d.iou_iqr[:, c], d.iou_top1[:, c], d.n_top)
    init = alpha_init(d.iou_iqr[:, c])
    seed = derived_seed(s.seed, lnum, c)
    alpha, alpha_info = optimise_alpha(d.h_fn, d.ev, d.z_sel, d.lab_sel, c, k, init, s.alpha, seed=seed)
    ace_rank = rank_by(alpha, d.iou_iqr[:, c], d.n_top)
    rankings = {"ace": ace_rank, "iou": iou_rank}
    rng = np.random.default_rng([s.seed, 11, lnum, c])
    n_ins = min(s.insertion, len(d.r_held))
    side = window_cells(d.r_held.shape[2])
    win = _Windows(n_ins, *sample_windows(rng, n_ins, d.r_held.shape[2], side))
    cache: dict[tuple, object] = {}  # measurements shared by the rankings and the curves
    measured = {name: _measure_ranking(d, c, units, win, cache, len(ctx.names)) for name, units in rankings.items()}
    chosen = "ace" if measured["ace"]["ace"] >= measured["iou"]["ace"] else "iou"
    units = rankings[chosen]
    rule = measured[chosen]["draw_rule"]
    n_curve = min(s.curve, len(d.r_held), n_ins)
    curves = _curves(d, c, alpha, rule, s.curve_sizes, n_curve, win, cache, len(ctx.names))
    draw = draw_values(rule, units, k, d.q99)
    return {
        "ranking": chosen,
        "units": [int(u) for u in units],
        "k": [rounded(k[u]) for u in units],
        "levels": [rounded(d.q99[u]) for u in units],
        "draw_values": [rounded(v) for v in draw],
        "draw_rule": rule,
        "effect": {
            "base_share": rounded(d.base_share[c]),
            "ace": measured[chosen]["ace"],
            "iou_ranked": measured["iou"],
            "ace_ranked": measured["ace"],
            "random": _random_numbers(d, c, rule, win),
            "curves": curves,
            "curve_samples": n_curve,
            "insertion_samples": n_ins,
            "alpha": {**alpha_info, "top": [[int(u), rounded(alpha[u])] for u in ace_rank]},
        },
    }


def _measure_ranking(d: LayerData, c: int, units: list[int], win: _Windows, cache: dict, n_classes: int) -> dict:
    """One ranking's units: removal and collateral by ablation, insertion at each draw rule, and the best rule
    (the value that paints the most of the concept in the window: the largest gain, i.e. insertion ACE; gain -
    spill picked the weakest value, k, which on the embedded model paints nothing visible)."""
    k = d.k_all[:, c]  # (C,)
    conf = cache.get(("abl", tuple(units)))
    if conf is None:
        conf = cache[("abl", tuple(units))] = measure_ablation(d.ev, d.r_held, d.lab_held, units, n_classes)
    abl = ablation_effect(conf, c)
    rules = {}
    for rule in DRAW_RULES:
        values = draw_values(rule, units, k, d.q99)
        ck = ("ins", tuple(units), tuple(np.round(values, 6)))
        if ck not in cache:
            r, lab = d.r_held[: win.n], d.lab_held[: win.n]
            cache[ck] = measure_insertion(d.ev, r, lab, units, values, win.y0, win.x0, c)
        rules[rule] = insertion_numbers(cache[ck], abl, d.base_share[c])
    best_rule = max(DRAW_RULES, key=lambda r: (rules[r]["gain"], -DRAW_RULES.index(r)))
    return {
        "units": units,
        "removed": rounded(abl["removed"]),
        "collateral": rounded(abl["collateral"]),
        "insertion": rules,
        "draw_rule": best_rule,
        "ace": rules[best_rule]["ace"],
    }


def _curves(d: LayerData, c: int, alpha, rule: str, sizes, n_curve: int, win: _Windows, cache: dict, n_classes: int):
    """ACE and removal curves over set sizes, both rankings, on the first ``n_curve`` held-out latents: points
    [size, removed by ablation, ACE with the brush's draw ``rule`` inserted in one window per image]."""
    k = d.k_all[:, c]  # (C,)
    longest = min(max(sizes), len(k))
    full = {
        "ace": rank_by(alpha, d.iou_iqr[:, c], longest),
        "iou": rank_by(d.iou_iqr[:, c], d.iou_top1[:, c], longest),
    }
    r_c, lab_c = d.r_held[:n_curve], d.lab_held[:n_curve]
    curves = {}
    for rname, order in full.items():
        pts = []
        for size in sizes:
            if size > len(order):
                continue
            key = ("curve", tuple(order[:size]))
            if key not in cache:
                abl = ablation_effect(measure_ablation(d.ev, r_c, lab_c, order[:size], n_classes), c)
                values = draw_values(rule, order[:size], k, d.q99)
                ins = measure_insertion(d.ev, r_c, lab_c, order[:size], values, win.y0[:n_curve], win.x0[:n_curve], c)
                cache[key] = (abl["removed"], insertion_numbers(ins, abl, d.base_share[c])["ace"])
            pts.append([size, rounded(cache[key][0]), rounded(cache[key][1])])
        curves[rname] = pts
    return curves


def _random_numbers(d: LayerData, c: int, rule: str, win: _Windows) -> dict:
    """The layer's random unit set against concept ``c``: its ablation, and its insertion as the brush would
    insert it (the same draw ``rule`` and windows)."""
    k = d.k_all[:, c]  # (C,)
    rnd = ablation_effect(d.rnd_conf, c)
    rnd_values = draw_values(rule, d.rnd_units, k, d.q99)
    r, lab = d.r_held[: win.n], d.lab_held[: win.n]
    rnd_ins = measure_insertion(d.ev, r, lab, d.rnd_units, rnd_values, win.y0, win.x0, c)
    return {
        "units": "layer_summary.random_units",
        "removed": rounded(rnd["removed"]),
        "collateral": rounded(rnd["collateral"]),
        "draw_rule": rule,
        **insertion_numbers(rnd_ins, rnd, d.base_share[c]),
    }


def alpha_init(iou: np.ndarray) -> np.ndarray:
    """ICLR Eq. 7: alpha_u = IoU_u / max IoU (0.1 everywhere when no unit overlaps the concept)."""
    mx = iou.max()
    return iou / mx if mx > 0 else np.full(len(iou), 0.1)


def insertion_numbers(ins: dict, abl: dict, base_share: float) -> dict[str, float]:
    """Window gain, spill, their difference and the ACE (ICLR Eq. 4, normalised by the base rate) of one
    insertion measurement against the ablation of the same units."""
    gain, spill = float(np.mean(ins["after"] - ins["before"])), float(np.mean(ins["spill"]))
    ace = (float(np.mean(ins["after"])) - abl["after_share"]) / base_share
    return {"gain": rounded(gain), "spill": rounded(spill), "score": rounded(gain - spill), "ace": rounded(ace)}


def draw_values(rule: str, units, k: np.ndarray, q99: np.ndarray) -> np.ndarray:
    idx = np.asarray(units)
    if rule == "quantile_99":
        return q99[idx].astype(np.float64)
    mult = {"k": 1.0, "2k": 2.0, "4k": 4.0}[rule]
    return mult * k[idx].astype(np.float64)
