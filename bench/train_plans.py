"""Training throughput (one D step + one G step, images/s) of a few generator channel plans.

    python bench/train_plans.py [--threads 2] [--steps 3] [--bf16]

Prints one row per plan and resolution. Synthetic data; the numbers are what the trainer costs, not
what it learns. Used to choose the embedded default's plan (see models/scenes64/README.md).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from ganpaint.train.gan import GanConfig, Trainer

PLANS = ([256, 128, 64, 32, 16], [256, 256, 64, 32, 16], [256, 256, 128, 32, 16], [256, 256, 128, 64, 32])


def images_per_second(plan: list[int], res: int, steps: int, bf16: bool, channels_last: bool) -> float:
    cfg = GanConfig(g_channels=plan, bf16=bf16, r1_every=10**9)
    cfg.phase = lambda _kimg: (res, 1.0)  # pin the phase
    trainer = Trainer(cfg, "/tmp/ganpaint-bench")
    trainer.step = 1  # skip the R1 step
    if not channels_last:
        for m in (trainer.G, trainer.D):
            m.to(memory_format=torch.contiguous_format)
    x = torch.rand(cfg.batch, 3, 64, 64) * 2 - 1
    trainer.train_step(x)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(x)
    return cfg.batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (pays only with native bf16 support)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}, "
        f"bf16={args.bf16}, batch 32"
    )
    print("| plan (4,8,16,32,64 px) | 16 px | 32 px | 64 px | 64 px contiguous |")
    print("|---|---|---|---|---|")
    for plan in PLANS:
        row = [images_per_second(plan, r, args.steps, args.bf16, True) for r in (16, 32, 64)]
        row.append(images_per_second(plan, 64, args.steps, args.bf16, False))
        print(f"| {','.join(map(str, plan))} | " + " | ".join(f"{v:.1f}" for v in row) + " |", flush=True)


if __name__ == "__main__":
    main()
