"""``ganpaint train segmenter``: train (resumable), export the shipped weights, evaluate on held-out renders."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def parse_seed_range(text: str, default_n: int) -> tuple[int, int]:
    """'1000000..' -> (1000000, default_n); '5..15' -> (5, 10); '7' -> (7, default_n)."""
    lo, sep, hi = text.partition("..")
    try:
        start = int(lo.replace("_", ""))
        n = int(hi.replace("_", "")) - start if sep and hi.strip() else int(default_n)
    except ValueError as exc:
        raise ValueError(f"--heldout-seeds must look like START.. or START..STOP, got {text!r}") from exc
    if start < 0 or n < 1:
        raise ValueError(f"--heldout-seeds {text!r}: need START >= 0 and STOP > START")
    return start, n


def run(args: argparse.Namespace) -> None:
    import torch

    from ganpaint.scenes.dataset import load_dataset
    from ganpaint.train import segmenter as S

    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    eval_path = out.parent / "segmenter_eval.json"
    start_seed, n_held = parse_seed_range(args.heldout_seeds, args.heldout_n)
    images, labels, meta = load_dataset(args.data)
    size = int(meta["size"])
    lo, hi = int(meta.get("start_seed", 0)), int(meta.get("start_seed", 0)) + int(meta["n"])
    if start_seed < hi and start_seed + n_held > lo:
        raise ValueError(f"--heldout-seeds {args.heldout_seeds!r} overlaps the training seeds {lo}..{hi - 1}")

    trainer = None
    if not args.eval_only:
        run_dir = Path(args.run)
        if args.resume:
            if not (run_dir / "checkpoint.pt").is_file():
                raise FileNotFoundError(f"--resume: no checkpoint at {run_dir}/checkpoint.pt")
            trainer = S.SegTrainer.resume(run_dir, images, labels)
            trainer.cfg.minutes = trainer.wall / 60 + args.minutes
            print(f"resumed {run_dir} at {trainer.imgs_seen / 1000:.1f} kimg, {trainer.wall / 60:.1f} min trained")
        else:
            if (run_dir / "checkpoint.pt").exists():
                raise ValueError(f"{run_dir} already holds a checkpoint: pass --resume, or choose another --run")
            widths = [int(w) for w in args.widths.split(",")]
            cfg = S.SegConfig(data=args.data, size=size, widths=widths, batch=args.batch, minutes=args.minutes)
            trainer = S.SegTrainer(cfg, run_dir, images, labels)
        n_params = sum(p.numel() for p in trainer.net.parameters())
        print(f"segmenter: {n_params / 1e6:.2f}M params, {len(images)} training images at {size} px")
        t0 = time.monotonic()
        S.train(trainer, args.minutes, args.checkpoint_minutes, progress=not args.no_progress)
        print(f"trained {time.monotonic() - t0:.0f} s this run; {trainer.imgs_seen} images seen in total")
        S.save_segmenter(
            trainer.net,
            trainer.names,
            size,
            out,
            trained={
                "data": args.data,
                "data_seeds": [lo, hi],
                "images_seen": trainer.imgs_seen,
                "steps": trainer.step,
                "minutes": round(trainer.wall / 60, 2),
                "batch": trainer.cfg.batch,
                "params": n_params,
                "final_loss": round(sum(trainer.losses[-100:]) / max(1, len(trainer.losses[-100:])), 5),
                "hardware": f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads",
            },
        )
        print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")

    seg = S.load_segmenter(out)
    t0 = time.monotonic()
    result = S.evaluate_heldout(seg, start_seed, n_held, size)
    saved = torch.load(out, map_location="cpu", weights_only=True)
    report = {"segmenter": seg.id, "file": out.name, "trained": saved.get("trained", {}), "heldout": result}
    S.write_json(eval_path, report)
    print(
        f"held-out evaluation, {n_held} fresh scenes (seeds {start_seed}..{start_seed + n_held - 1}), "
        f"{time.monotonic() - t0:.0f} s:"
    )
    print(S.iou_table(result))
    print(f"wrote {eval_path}")
