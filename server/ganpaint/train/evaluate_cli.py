"""``ganpaint evaluate``: FSD and per-concept statistics of a model's generated images vs the scene world."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="Frechet Segmentation Distance and concept statistics, generated vs scene world"
    )
    p.add_argument("--model", default="scenes64", help="model id under the models folder (default scenes64)")
    p.add_argument("--n", type=int, default=5000, help="images per sample (default 5000)")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--out", help="JSON report (default models/<id>/metrics.json)")
    p.add_argument("--segmenter", help="segmenter .pth (default: the model's, from model.json)")
    p.add_argument("--models-dir", help="models folder (default: GANPAINT_MODELS_DIR or ./models)")
    p.add_argument("--data-seed", type=int, default=2_000_000, help="first scene seed of the data sample")
    p.add_argument("--floor-seed", type=int, default=3_000_000, help="first scene seed of the floor sample")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> None:
    import json
    import time
    from pathlib import Path

    import torch

    from ganpaint.models import load_model_info
    from ganpaint.nn.proggan import load_generator
    from ganpaint.train.evaluate import evaluate, markdown_report
    from ganpaint.train.segmenter import load_segmenter

    if args.threads:
        torch.set_num_threads(args.threads)
    info = load_model_info(args.model, args.models_dir)
    seg_path = Path(args.segmenter) if args.segmenter else info.segmenter_path
    if seg_path is None:
        raise ValueError(f"model {info.id!r} names no segmenter in model.json: pass --segmenter PATH")
    generator = load_generator(info.generator_path)
    segmenter = load_segmenter(seg_path)
    t0 = time.monotonic()
    report = evaluate(
        generator,
        segmenter,
        args.n,
        args.batch,
        info.resolution,
        args.data_seed,
        args.floor_seed,
        progress=not args.no_progress,
    )
    report = {"model": info.id, "generator": info.generator_path.name, **report}
    report["seconds"] = round(time.monotonic() - t0, 1)
    out = Path(args.out) if args.out else info.folder / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(markdown_report(report))
    print(f"\nwrote {out}")
