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

DRAW_RULES = ("k", "quantile_99", "2k", "4k")  # insertion values measured; the brush draws at the best


def rounded(x) -> float:
    """A float for the JSON files (6 decimals)."""
    return round(float(x), 6)


@dataclass
class LayerData:
    """What every concept of one layer is measured against: f and h, the selection and held-out latents with
    their labels and features, the IoU tables, k, the 0.99 levels and the random set's confusion matrix."""

    layer: str
    ev: Evaluator
    h_fn: Callable[[torch.Tensor], torch.Tensor]
    z_sel: torch.Tensor
    lab_sel: np.ndarray
    r_held: torch.Tensor
    lab_held: np.ndarray
    iou_iqr: np.ndarray  # (C, K)
    iou_top1: np.ndarray  # (C, K)
    k_all: np.ndarray  # (C, K)
    q99: np.ndarray  # (C,)
    base_share: np.ndarray  # (K,)
    rnd_conf: np.ndarray  # (K, K)
    rnd_units: list[int]
    n_top: int


def dissect_concept(ctx, d: LayerData, c: int) -> dict:
    ev, r_held, lab_held, iou_iqr, iou_top1, q99 = d.ev, d.r_held, d.lab_held, d.iou_iqr, d.iou_top1, d.q99
    s, names = ctx.settings, ctx.names
    lnum = int(d.layer[5:])
    k = d.k_all[:, c]
    iou_rank = rank_by(iou_iqr[:, c], iou_top1[:, c], d.n_top)
    init = alpha_init(iou_iqr[:, c])
    alpha, alpha_info = optimise_alpha(
        d.h_fn,
        ev,
        d.z_sel,
        d.lab_sel,
        c,
        k,
        init,
        s.alpha,
        seed=int(np.random.default_rng([s.seed, lnum, c]).integers(1 << 30)),
    )
    ace_rank = rank_by(alpha, iou_iqr[:, c], d.n_top)
    rankings = {"ace": ace_rank, "iou": iou_rank}
    rng = np.random.default_rng([s.seed, 11, lnum, c])
    n_ins = min(s.insertion, len(r_held))
    side = window_cells(r_held.shape[2])
    y0, x0 = sample_windows(rng, n_ins, r_held.shape[2], side)
    measured: dict[str, dict] = {}
    cache: dict[tuple, dict] = {}
    for rname, units in rankings.items():
        conf = cache.get(("abl", tuple(units)))
        if conf is None:
            conf = cache[("abl", tuple(units))] = measure_ablation(ev, r_held, lab_held, units, len(names))
        abl = ablation_effect(conf, c)
        rules = {}
        for rule in DRAW_RULES:
            values = draw_values(rule, units, k, q99)
            ck = ("ins", tuple(units), tuple(np.round(values, 6)))
            if ck not in cache:
                cache[ck] = measure_insertion(ev, r_held[:n_ins], lab_held[:n_ins], units, values, y0, x0, c)
            rules[rule] = insertion_numbers(cache[ck], abl, d.base_share[c])
        # the value that paints the most of the concept in the window (largest gain, i.e. insertion ACE);
        # gain - spill picked the weakest value, k, which on the embedded model paints nothing visible
        best_rule = max(DRAW_RULES, key=lambda r: (rules[r]["gain"], -DRAW_RULES.index(r)))
        measured[rname] = {
            "units": units,
            "removed": rounded(abl["removed"]),
            "collateral": rounded(abl["collateral"]),
            "insertion": rules,
            "draw_rule": best_rule,
            "ace": rules[best_rule]["ace"],
        }
    chosen = "ace" if measured["ace"]["ace"] >= measured["iou"]["ace"] else "iou"
    units = rankings[chosen]
    rule = measured[chosen]["draw_rule"]
    # ACE and removal curves over set sizes, both rankings (first ``curve`` held-out latents): points
    # [size, removed by ablation, ACE with the brush's draw rule inserted in one window per image]
    n_curve = min(s.curve, len(r_held), n_ins)
    full = {
        "ace": rank_by(alpha, iou_iqr[:, c], min(max(s.curve_sizes), len(k))),
        "iou": rank_by(iou_iqr[:, c], iou_top1[:, c], min(max(s.curve_sizes), len(k))),
    }
    curves = {}
    for rname, order in full.items():
        pts = []
        for size in s.curve_sizes:
            if size > len(order):
                continue
            key = ("curve", tuple(order[:size]))
            if key not in cache:
                r_c, lab_c = r_held[:n_curve], lab_held[:n_curve]
                abl = ablation_effect(measure_ablation(ev, r_c, lab_c, order[:size], len(names)), c)
                values = draw_values(rule, order[:size], k, q99)
                ins = measure_insertion(ev, r_c, lab_c, order[:size], values, y0[:n_curve], x0[:n_curve], c)
                cache[key] = (abl["removed"], insertion_numbers(ins, abl, d.base_share[c])["ace"])
            pts.append([size, rounded(cache[key][0]), rounded(cache[key][1])])
        curves[rname] = pts
    rnd = ablation_effect(d.rnd_conf, c)
    rnd_values = draw_values(rule, d.rnd_units, k, q99)  # the random set inserted as the brush would be
    rnd_ins = measure_insertion(ev, r_held[:n_ins], lab_held[:n_ins], d.rnd_units, rnd_values, y0, x0, c)
    draw = draw_values(rule, units, k, q99)
    return {
        "ranking": chosen,
        "units": [int(u) for u in units],
        "k": [rounded(k[u]) for u in units],
        "levels": [rounded(q99[u]) for u in units],
        "draw_values": [rounded(v) for v in draw],
        "draw_rule": rule,
        "effect": {
            "base_share": rounded(d.base_share[c]),
            "ace": measured[chosen]["ace"],
            "iou_ranked": measured["iou"],
            "ace_ranked": measured["ace"],
            "random": {
                "units": "layer_summary.random_units",
                "removed": rounded(rnd["removed"]),
                "collateral": rounded(rnd["collateral"]),
                "draw_rule": rule,
                **insertion_numbers(rnd_ins, rnd, d.base_share[c]),
            },
            "curves": curves,
            "curve_samples": n_curve,
            "insertion_samples": n_ins,
            "alpha": {**alpha_info, "top": [[int(u), rounded(alpha[u])] for u in ace_rank]},
        },
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
