"""The context map (GET /context): its time, and how well it predicts where a stroke lands, held out.

    python bench/context_map.py                        # scenes64 layer6, door and dome, 2 threads
    python bench/context_map.py --images 40 --per-image 5 --figure docs/img/context_map.png

1. Time: the map of each concept and mode on ``--timing`` held-out pictures (cold: no map cached; the stroke
   grid, which does not depend on the picture, built once beforehand), median and spread.
2. Prediction: on ``--images`` held-out pictures (ids from 80001: the dissection used 0..2999, the stamp
   evaluation 50000+, door_variants 60000+/70000+, checkers 90000+), ``--per-image`` strokes each at random
   positions (uniform over the picture, not on cell centres): the unit brush (a disc of the dissection's
   insertion window area, as the map paints) and the stamp (style default, natural size). Outcome: for the
   brush, the segmenter's argmax share of the concept over the disc grew by >= 0.2 (``dissect.context``'s
   success); for the stamp, the concept covers >= 30% of the footprint after (``dissect.stamp_eval``'s).
   Prediction: the map's gain, bilinear at the stroke's centre. AUC (Mann-Whitney) and calibration in bins.
3. ``--agreement N``: on N held-out pictures, the map as served (strokes 8 cells apart share a render: 65
   renders) against one render per cell (257): correlation and the largest and mean absolute difference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ganpaint.context.grid import context_map, sample, stroke_grid
from ganpaint.context.service import ContextService
from ganpaint.engine import LoadedModel
from ganpaint.models import default_precomputed_dir, load_model_info
from ganpaint.nn.intervene import apply_edits
from ganpaint.nn.proggan import image_latents, load_generator, serving_copy
from ganpaint.precomputed import load_precomputed
from ganpaint.segment import load_segmenter

FIRST = 80001
BINS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 1.01)


def auc(pred: np.ndarray, outcome: np.ndarray) -> float | None:
    """Mann-Whitney AUC (ties count one half); None without both outcomes."""
    pos, neg = pred[outcome], pred[~outcome]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def calibration(pred: np.ndarray, outcome: np.ndarray) -> list[dict]:
    rows = []
    for lo, hi in zip(BINS, BINS[1:], strict=False):
        sel = (pred >= lo) & (pred < hi)
        if sel.any():
            rows.append({"bin": [lo, min(hi, 1.0)], "n": int(sel.sum()), "mean_gain": round(float(pred[sel].mean()), 3),
                         "landed": round(float(outcome[sel].mean()), 3)})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--per-image", type=int, default=5)
    ap.add_argument("--timing", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--figure", help="write heatmaps over pictures here (PNG)")
    ap.add_argument("--timing-only", action="store_true", help="only the time (part 1)")
    ap.add_argument("--agreement", type=int, default=0, help="pictures for part 3 (default 0: skipped)")
    ap.add_argument("--out", default="bench/results/context_map.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = load_model_info("scenes64")
    g = serving_copy(load_generator(info.generator_path).eval())
    pre = load_precomputed(default_precomputed_dir() / "scenes64" / "layer6.json")
    seg = load_segmenter(None, info)
    m = LoadedModel(info, g, {"layer6": pre}, "bench")
    ctx = ContextService()
    h_fn, f_fn = g.split("layer6")
    res = g.resolution
    out: dict = {"machine": machine(args.threads), "layer": "layer6", "first_id": FIRST, "concepts": {}}
    for concept in ("door", "dome"):
        out["concepts"][concept] = {}
        for mode in ("draw", "stamp"):
            t0 = time.perf_counter()
            grid = stroke_grid(16, 16, ctx.stroke_maker(m, "layer6", concept, mode, (16, 16)), 8, channels=64)
            grid_s = time.perf_counter() - t0
            c = list(seg.names).index(concept)
            times = []
            for i in range(args.timing):
                with torch.inference_mode():
                    r = h_fn(image_latents([FIRST + 5000 + i], g.z_dim))  # (1, C, h, w)
                t0 = time.perf_counter()
                context_map(r, f_fn, seg.probabilities, c, grid)
                times.append(time.perf_counter() - t0)
            t = np.array(times)
            timing = {
                "n": len(t),
                "median_s": round(float(np.median(t)), 3),
                "p10_p90_s": [round(float(np.quantile(t, q)), 3) for q in (0.1, 0.9)],
                "max_s": round(float(t.max()), 3),
                "stroke_grid_s": round(grid_s, 3),  # once per (model, layer, concept, mode): then cached
            }
            if args.agreement:
                exact = stroke_grid(16, 16, ctx.stroke_maker(m, "layer6", concept, mode, (16, 16)), 16, channels=64)
                timing["agreement"] = agreement(g, h_fn, f_fn, seg, c, grid, exact, args.agreement)
            if args.timing_only:
                out["concepts"][concept][mode] = {"time": timing}
                print(concept, mode, json.dumps(timing), flush=True)
                continue
            pred, outcome = predict(g, h_fn, f_fn, seg, c, grid, ctx, m, concept, mode, args, res)
            out["concepts"][concept][mode] = {
                "time": timing,
                "strokes": len(pred),
                "landed": round(float(outcome.mean()), 3),
                "auc": None if auc(pred, outcome) is None else round(auc(pred, outcome), 3),
                "calibration": calibration(pred, outcome),
            }
            print(concept, mode, json.dumps(out["concepts"][concept][mode]), flush=True)
    if not args.timing_only:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("machine:", out["machine"])
    if args.figure:
        figure(g, h_fn, f_fn, seg, ctx, m, args.figure)


def predict(g, h_fn, f_fn, seg, c, grid, ctx, m, concept, mode, args, res):
    """(map gain at each random stroke, did it land) over the held-out pictures."""
    rng = np.random.default_rng([7, c, len(mode)])
    make = ctx.stroke_maker(m, "layer6", concept, mode, (16, 16))
    pred, outcome = [], []
    for i in range(args.images):
        with torch.inference_mode():
            r = h_fn(image_latents([FIRST + i], g.z_dim))  # (1, C, h, w)
            before = seg.probabilities(f_fn(r)).argmax(1)[0]  # (H, W)
        cmap = context_map(r, f_fn, seg.probabilities, c, grid)
        for _ in range(args.per_image):
            x, y = rng.uniform(0.02, 0.98, size=2)
            stroke = make((float(x), float(y)))
            if stroke is None or stroke.region.sum() == 0:
                continue
            with torch.inference_mode():
                after = seg.probabilities(f_fn(apply_edits(r, [stroke.edit]))).argmax(1)[0]  # (H, W)
            region = stroke.region > 0
            share_after = float((after[region] == c).float().mean())
            share_before = float((before[region] == c).float().mean())
            landed = share_after - share_before >= 0.2 if mode == "draw" else share_after >= 0.3
            pred.append(sample(cmap.gain, float(x), float(y)))
            outcome.append(landed)
    return np.array(pred), np.array(outcome, dtype=bool)


def agreement(g, h_fn, f_fn, seg, c, grid, exact, n: int) -> dict:
    """The served map (``grid``) against one render per cell (``exact``) on n held-out pictures."""
    corr, worst, mean = [], 0.0, []
    for i in range(n):
        with torch.inference_mode():
            r = h_fn(image_latents([FIRST + 9000 + i], g.z_dim))  # (1, C, h, w)
        a = context_map(r, f_fn, seg.probabilities, c, grid).gain.flatten()
        b = context_map(r, f_fn, seg.probabilities, c, exact).gain.flatten()
        corr.append(float(np.corrcoef(a, b)[0, 1]))
        worst = max(worst, float((a - b).abs().max()))
        mean.append(float((a - b).abs().mean()))
    return {"pictures": n, "corr_min": round(min(corr), 3), "corr_median": round(float(np.median(corr)), 3),
            "max_abs_diff": round(worst, 3), "mean_abs_diff": round(float(np.mean(mean)), 4)}  # fmt: skip


def figure(g, h_fn, f_fn, seg, ctx, m, path: str, ids=(80001, 80002, 80003, 80004, 80005, 80006)) -> None:
    """Rows: the picture, then the door and dome maps (mode draw) as heatmaps over it; one column per id."""
    from PIL import Image

    cols = []
    for i in ids:
        with torch.inference_mode():
            r = h_fn(image_latents([i], g.z_dim))
            pic = ((f_fn(r)[0].clamp(-1, 1) + 1) * 127.5).permute(1, 2, 0).byte().numpy()  # (H, W, 3)
        tiles = [pic]
        for concept in ("door", "dome"):
            gain = ctx.context_map(m, ("image", i), r, f_fn, "layer6", concept, "draw").gain.clamp(0, 1)
            heat = torch.nn.functional.interpolate(gain[None, None], size=pic.shape[:2], mode="bilinear")[0, 0]
            a = (heat.numpy() / 0.5).clip(0, 1)[..., None] * 0.75  # full colour from a gain of 0.5
            tint = np.array([255, 40, 200], np.float32)
            tiles.append((pic * (1 - a) + tint * a).astype(np.uint8))
        cols.append(np.concatenate([np.pad(t, ((0, 2), (0, 2), (0, 0)), constant_values=255) for t in tiles]))
    img = np.concatenate(cols, axis=1)
    Image.fromarray(img.repeat(3, 0).repeat(3, 1)).save(path)
    print("wrote", path)


def machine(threads: int) -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpu = f"{platform.machine()} {platform.processor() or ''}".strip()
    return f"{cpu}, {os.cpu_count()} cores, {threads} torch threads, load average {load:.1f} at the start"


if __name__ == "__main__":
    main()
