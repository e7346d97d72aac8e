"""How much do random units of a layer move each brush concept, and does it change with training?

    python scripts/random_trend.py GENERATOR.pth [GENERATOR.pth ...] [--layer layer6] [--draws 8]

For each generator (e.g. the scenes64 generators of earlier commits: ``git show REV:models/scenes64/
generator.pth > /tmp/REV.pth``): the held-out latents and random unit sets of ``ganpaint dissect`` (its
random baseline, docs/dissection.md), segmented by the embedded segmenter; prints per brush concept the mean
|share of its pixels removed| over the draws, for random sets of 1, 2, 3, 5, 10 and 20 units.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ganpaint.dissect.causal import Evaluator, random_baseline, summarise_random
from ganpaint.dissect.common import derived_seed, latents
from ganpaint.dissect.run import segment_latents
from ganpaint.nn.proggan import layer_index, load_generator
from ganpaint.train.segmenter import load_segmenter

ROOT = Path(__file__).resolve().parents[1]
BRUSHES = ("tree", "grass", "door", "sky", "cloud", "brick", "dome")
SIZES = (1, 2, 3, 5, 10, 20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("generators", nargs="+")
    p.add_argument("--layer", default="layer6")
    p.add_argument("--draws", type=int, default=8)
    p.add_argument("--heldout", type=int, default=120)
    p.add_argument("--segmenter", default=str(ROOT / "models" / "scenes64" / "segmenter.pth"))
    args = p.parse_args()
    seg = load_segmenter(args.segmenter)
    print(f"{args.layer}: mean |removed| over {args.draws} random sets per size, {args.heldout} held-out latents")
    print("| generator | concept | " + " | ".join(f"{n} units" for n in SIZES) + " |")
    print("|---|---|" + "---|" * len(SIZES))
    for path in args.generators:
        g = load_generator(path).eval()
        z = latents(args.heldout, g.z_dim, seed=0, stream=1)  # the dissection's held-out latents
        labels = segment_latents(g, seg, z, "cpu", 32, "segment", progress=False)  # (N, H, W)
        h, f = g.split(args.layer)
        with torch.no_grad():
            r = torch.cat([h(z[a : a + 32]) for a in range(0, len(z), 32)])  # (N, C, h, w)
        rnd_seed = derived_seed(0, 17, layer_index(args.layer))  # the dissection's random baseline seed
        sets = random_baseline(Evaluator(f, seg), r, labels, len(seg.names), SIZES, args.draws, rnd_seed)
        rows = {name: summarise_random(sets, seg.names.index(name))["mean_abs"] for name in BRUSHES}
        rows["mean of the 7"] = list(np.mean([rows[n] for n in BRUSHES], axis=0))
        for name, v in rows.items():
            print(f"| {Path(path).name} | {name} | " + " | ".join(f"{100 * x:.1f}%" for x in v) + " |", flush=True)


if __name__ == "__main__":
    main()
