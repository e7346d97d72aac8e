"""Stamps that respect context, measured on held-out latents: door and dome at their favourable and
unfavourable placements, the stamp forced, the unit brush, and the stamp with context "respect".

    python bench/context_stamps.py                     # scenes64 layer6, 100 tries per placement
    python bench/context_stamps.py --tries 40 --figures docs/img

Placements, success (the segmenter calls >= 30% of the painted region the concept), collateral and dD are
``ganpaint stamps evaluate``'s (``ganpaint.dissect.stamp_eval``), on the same held-out image ids (50000+;
the dissection used 0..2999). The gate's threshold ``ACCEPT_GAIN`` was fixed on dissection latents (ids
0..999) before this ran. Writes bench/results/context_stamps.json and, with --figures, one 12-example grid
per placement (rows: before, unit brush, stamp forced, stamp in context): context-stamps-<concept>-<where>.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from PIL import Image

from ganpaint.context.gate import ACCEPT_GAIN
from ganpaint.dissect.stamp_eval import evaluate_concept, example_grid
from ganpaint.models import default_precomputed_dir, load_model_info
from ganpaint.nn.proggan import image_latents, load_generator
from ganpaint.precomputed import load_precomputed
from ganpaint.segment import load_segmenter
from ganpaint.stamps.templates import default_style
from ganpaint.train.critic import Critic

TARGETS = {  # (concept, placement): the target for the stamp in context
    ("dome", "grass"): "<= 0.10",
    ("door", "sky"): "<= 0.10",
    ("door", "wall base"): ">= 0.80",
    ("dome", "roof top"): ">= 0.80",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--figures", help="folder for the example grids (default: none)")
    ap.add_argument("--out", default="bench/results/context_stamps.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = load_model_info("scenes64")
    pre = load_precomputed(default_precomputed_dir() / "scenes64" / "layer6.json")
    g = load_generator(info.generator_path).eval()
    seg = load_segmenter(None, info)
    with torch.no_grad():
        critic = Critic(info.folder / "discriminator.pth", g(image_latents([99990, 99991, 99992], g.z_dim)))
    t0 = time.time()
    out = {"model": "scenes64", "layer": "layer6", "tries": args.tries, "accept_gain": ACCEPT_GAIN, "concepts": {}}
    for concept in ("door", "dome"):
        style = default_style(pre.raw["stamps"]["concepts"][concept])
        res = evaluate_concept(g, seg, critic, pre, concept, args.tries, 0, True, 12, style, context=True)
        for where, p in res["placements"].items():
            examples = p.pop("examples")
            if args.figures and examples:
                name = f"context-stamps-{concept}-{where.replace(' ', '-')}.png"
                Image.fromarray(example_grid(examples)).save(Path(args.figures) / name)
            line = f"{concept:5s} {where:10s} {p['kind']:12s}"
            for method in ("stamp", "classic", "stamp in context"):
                line += f" | {method} {p[method]['success']:.2f} {p[method]['success_ci95']}"
            target = TARGETS.get((concept, where))
            print(line + (f" | target {target}" if target else ""), flush=True)
        out["concepts"][concept] = res
    out["seconds"] = round(time.time() - t0, 1)
    out["machine"] = f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads"
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"{out['seconds']} s on {out['machine']}; wrote {args.out}")


if __name__ == "__main__":
    main()
