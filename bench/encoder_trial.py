"""Encoder trial (issue 20, stage 1): is a small encoder trained here a better initial guess than the sample bank?

    python bench/encoder_trial.py --minutes 10 --n 12

Trains a 6-conv encoder image -> projection-layer features (scenes64: layer4, 128 x 8 x 8) on generated samples
(feature MSE, relative, + pixel MSE of the rest of the generator), for ``--minutes`` on ``--threads``; then on
``--n`` held-out scenes (seeds 3,000,000,000 + i) compares the bank start and the encoder start, each followed by
the shipped stages, and with the feature stage shortened to ``--short`` steps after the encoder. Prints a JSON
summary (bench/project.py's Brushes measure draw and erase). Not shipped: see docs/projection.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "bench"))

from project import Brushes, summarise  # noqa: E402

from ganpaint.dissect.run import load_segmenter  # noqa: E402
from ganpaint.engine import Engine  # noqa: E402
from ganpaint.project import Projector, ProjectSettings, image_tensor  # noqa: E402
from ganpaint.project.projector import layer_chain  # noqa: E402
from ganpaint.scenes import render_scene  # noqa: E402


def encoder(out_ch: int) -> nn.Module:
    def block(a, b, k, s):
        return [nn.Conv2d(a, b, k, s, (k - 1) // 2 if s == 1 else 1), nn.LeakyReLU(0.2)]

    return nn.Sequential(
        *block(3, 32, 3, 1), *block(32, 64, 4, 2), *block(64, 128, 4, 2), *block(128, 128, 4, 2),
        *block(128, 128, 3, 1), nn.Conv2d(128, out_ch, 3, 1, 1),
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--short", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    engine = Engine(ROOT / "models", ROOT / "precomputed", threads=args.threads)
    m = engine.model("scenes64")
    g, layer = m.generator, m.info.default_layer
    proj_layer = Projector(g, layer).project_layer
    head_seq, rest = layer_chain(g, None, proj_layer), layer_chain(g, proj_layer, None)
    c = g.feature_shape(proj_layer)[0]
    enc = encoder(c)
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    t0, step, log = time.perf_counter(), 0, []
    while time.perf_counter() - t0 < args.minutes * 60:
        with torch.no_grad():
            z = torch.randn(32, g.z_dim)
            target = head_seq(z[:, :, None, None])  # (B, C, 8, 8)
            x = rest(target).clamp(-1, 1)  # (B, 3, 64, 64)
        f = enc(x)
        loss_f = F.mse_loss(f, target) / target.pow(2).mean()
        loss_x = F.mse_loss(rest(f), x)
        opt.zero_grad(set_to_none=True)
        (loss_f + loss_x).backward()
        opt.step()
        step += 1
        if step % 100 == 0:
            log.append((step, round(loss_f.item(), 4), round(loss_x.item(), 5)))
            print(step, log[-1], f"{time.perf_counter() - t0:.0f} s", flush=True)
    enc.eval()
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
    out = {"train_steps": step, "train_minutes": args.minutes, "loss_log": log[-5:], "variants": {}}
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
