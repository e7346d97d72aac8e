"""How the original GANPaint client's draw recipe paints compared with ganpaint's own draw brush (docs/api.md).

The client draws concept c by setting the first n units of an ascending sort of /api/rankings' scores for c to
/api/levels' value of each unit (n = 15, its default "high"; ganpaint's page also defaults to strength 15). The
own brush sets the first n of c's units to c's draw values. Both are inserted the way the dissection measures
insertion (ganpaint.dissect.causal: one window of window_cells(h) feature cells at a random place per image)
on the dissection's held-out latents, and segmented by the model's segmenter. Per concept it prints the gain
(increase of c's share of the window) and spill of each, and how many window pixels get the same label as
under the own brush ("agree"), for what ganpaint answered before (the brush's units in its order, each unit's
0.99 quantile as its level, as the original server's levels) and for what it answers now (``classic_recipe``).

    nice -n 10 python scripts/classic_recipe_table.py [--model scenes64] [--layer layer4] [--n 120]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from ganpaint.api.classic import classic_levels, classic_recipe
from ganpaint.dissect.causal import Evaluator, sample_windows, set_units, window_cells, window_mask
from ganpaint.dissect.common import latents
from ganpaint.models import default_precomputed_dir, load_model_info
from ganpaint.nn.proggan import load_generator
from ganpaint.precomputed import load_precomputed
from ganpaint.segment import load_segmenter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--layer", default="layer4", help="the client picks the layer ending in 4 (default layer4)")
    ap.add_argument("--n", type=int, default=120, help="held-out latents (the dissection's stream 1)")
    ap.add_argument("--strength", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(0)
    info = load_model_info(args.model)
    g = load_generator(info.generator_path).eval()
    seg = load_segmenter(None, info)
    pre = load_precomputed(default_precomputed_dir() / args.model / f"{args.layer}.json")
    names = list(seg.names)
    h_fn, f_fn = g.split(args.layer)
    ev = Evaluator(f_fn, seg, batch=32)
    z = latents(args.n, g.z_dim, pre.raw["settings"].get("seed", 0), 1)  # the dissection's held-out stream
    with torch.no_grad():
        r = torch.cat([h_fn(z[a : a + 32]) for a in range(0, len(z), 32)])  # (N, C, h, w)
    base = ev.labels(r)  # (N, H, W)
    n, _, hh, ww = r.shape
    side = window_cells(hh)
    before = ({name: c.units for name, c in pre.concepts.items()}, classic_levels(pre, "quantile_99"))
    recipes = {"before": before, "now": classic_recipe(pre, args.strength)}
    s = args.strength
    print(f"{args.model} {args.layer}, {n} held-out images, strength {s}, window {side} cell(s) of {hh}x{ww}")
    print()
    cols = ["brush gain", "spill"] + [f"{w} {x}" for w in ("before:", "now:") for x in ("gain", "spill", "agree")]
    print("| concept | " + " | ".join(cols) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    sums = np.zeros(8)
    for name, c in pre.concepts.items():
        k = names.index(name)
        rng = np.random.default_rng([args.seed, 21, k])
        y0, x0 = sample_windows(rng, n, hh, side)
        m = window_mask(n, hh, ww, y0, x0, side)
        big = torch.nn.functional.interpolate(m, size=base.shape[1:], mode="nearest")[:, 0].numpy() > 0.5
        own = ev.labels(set_units(r, c.units[:s], torch.tensor(c.draw_values[:s]), m))
        row = [*stats(base, own, big, k)]
        for orders, levels in recipes.values():
            units = orders[name][:s]
            vals = torch.tensor([levels[u] for u in units])
            after = ev.labels(set_units(r, units, vals, m))
            gain, spill = stats(base, after, big, k)
            agree = float(((after == own) & big).sum() / big.sum())
            row += [gain, spill, agree]
        sums += row
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    print("| mean | " + " | ".join(f"{v:.3f}" for v in sums / len(pre.concepts)) + " |")


def stats(base: np.ndarray, after: np.ndarray, big: np.ndarray, k: int) -> tuple[float, float]:
    """Mean gain of class k's share in the window and spill (outside pixels changed to non-k, in window areas)."""
    area = big.reshape(len(big), -1).sum(1)
    before = ((base == k) & big).reshape(len(big), -1).sum(1) / area
    now = ((after == k) & big).reshape(len(big), -1).sum(1) / area
    spill = ((after != base) & (after != k) & ~big).reshape(len(big), -1).sum(1) / area
    return float((now - before).mean()), float(spill.mean())


if __name__ == "__main__":
    main()
