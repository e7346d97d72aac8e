"""Encoder trial (issue 20, stage 1): is a small encoder trained here a better initial guess than the sample bank?

    python bench/encoder_trial.py --minutes 10 --n 12

Trains the shipped encoder (``ganpaint.project.encoder.train_encoder``: image -> projection-layer features,
scenes64: layer4, 128 x 8 x 8) from scratch for ``--minutes`` on ``--threads``; then on
``--n`` held-out scenes (seeds 3,000,000,000 + i) compares the bank start and the encoder start, each followed by
the shipped stages, and with the feature stage shortened to ``--short`` steps after the encoder. Prints a JSON
summary (bench/project.py's Brushes measure draw and erase). The shipped models/scenes64/encoder.pth comes from
`ganpaint train encoder` (docs/projection.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "bench"))

from project import Brushes, summarise  # noqa: E402

from ganpaint.engine import Engine  # noqa: E402
from ganpaint.project import Projector, ProjectSettings, image_tensor  # noqa: E402
from ganpaint.project.encoder import load_encoder, train_encoder  # noqa: E402
from ganpaint.scenes import render_scene  # noqa: E402
from ganpaint.segment import load_segmenter  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--short", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    engine = Engine(ROOT / "models", ROOT / "precomputed", threads=args.threads)
    m = engine.model("scenes64")
    g, layer = m.generator, m.info.default_layer
    with tempfile.TemporaryDirectory() as tmp:  # the shipped trainer, from scratch, for --minutes
        numbers = train_encoder(g, layer, Path(tmp) / "encoder.pth", Path(tmp) / "run.pt", args.minutes)
        enc = load_encoder(Path(tmp) / "encoder.pth", Projector(g, layer))
    seg = load_segmenter(None, m.info)
    brushes = Brushes(m, seg, layer)
    shipped = ProjectSettings()
    variants = {
        "bank": Projector(g, layer, shipped),
        "encoder": Projector(g, layer, shipped, encoder=enc),
        f"encoder, {args.short} feature steps": Projector(
            g, layer, dataclasses.replace(shipped, feature_steps=args.short), encoder=enc
        ),
    }
    out = {
        "train_steps": numbers["steps"],
        "train_minutes": args.minutes,
        "loss_log": numbers["losses"],
        "variants": {},
    }
    for name, projector in variants.items():
        rows = []
        for k in range(args.n):
            rgb, _ = render_scene(3_000_000_000 + k, m.info.resolution)
            t = time.perf_counter()
            proj = projector.project(image_tensor(rgb))
            row = {"seconds": time.perf_counter() - t, **{f"psnr_{a}": b for a, b in proj.psnr.items()}}
            row.update(brushes.measure(rgb, proj.render))
            rows.append(row)
        out["variants"][name] = summarise(rows)
        print(name, json.dumps(out["variants"][name]), flush=True)
    print(json.dumps(out))
    engine.close()


if __name__ == "__main__":
    main()
