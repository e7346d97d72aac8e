"""``ganpaint scenes``: render a dataset of procedural scenes, preview them, and print label statistics.

Only argparse is imported at module level; numpy, PIL and the renderer load inside the handlers.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("scenes", help="procedural church/village scenes with exact per-pixel labels")
    sub = p.add_subparsers(dest="scenes_command", required=True)

    r = sub.add_parser("render", help="render N scenes to OUT/{images,labels}.npy + meta.json (resumable)")
    r.add_argument("--n", type=int, required=True, help="number of scenes")
    r.add_argument("--size", type=int, required=True, help="image size in pixels (32..256)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    r.add_argument("--start-seed", type=int, default=0, help="seed of the first scene (default 0)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_render)

    v = sub.add_parser("preview", help="write a PNG grid of scenes beside their colourised labels")
    v.add_argument("--out", required=True, help="output PNG path")
    v.add_argument("--n", type=int, default=16, help="number of scenes (default 16)")
    v.add_argument("--size", type=int, default=128, help="scene size (default 128)")
    v.add_argument("--start-seed", type=int, default=0, help="seed of the first scene (default 0)")
    v.add_argument("--cols", type=int, default=4, help="scene pairs per row (default 4)")
    v.set_defaults(func=_preview)

    s = sub.add_parser("stats", help="markdown table of label statistics of a dataset or of fresh renders")
    s.add_argument("--data", help="a folder written by `scenes render`")
    s.add_argument("--n", type=int, default=10000, help="scenes to render when no --data (default 10000)")
    s.add_argument("--size", type=int, default=64, help="size of fresh renders (default 64)")
    s.add_argument("--start-seed", type=int, default=0, help="seed of the first fresh scene (default 0)")
    s.add_argument("--workers", type=int, default=2, help="worker processes for fresh renders (default 2)")
    s.set_defaults(func=_stats)


def _render(args: argparse.Namespace) -> None:
    import time

    from .dataset import render_dataset

    t0 = time.perf_counter()
    meta = render_dataset(
        args.out,
        args.n,
        args.size,
        workers=args.workers,
        start_seed=args.start_seed,
        progress=not args.no_progress,
    )
    dt = time.perf_counter() - t0
    print(f"{meta['done']}/{meta['n']} scenes at {meta['size']} px in {args.out}/ ({dt:.1f} s this run)")


def preview_grid(n: int = 16, size: int = 128, start_seed: int = 0, cols: int = 4, gap: int = 4):
    """A uint8 grid: each cell is a scene beside its colourised label map."""
    import numpy as np

    from .dataset import colorize
    from .render import render_scene

    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    cw, ch = 2 * size + gap, size + gap
    grid = np.full((rows * ch + gap, cols * cw + gap, 3), 255, np.uint8)
    for k in range(n):
        img, lab = render_scene(start_seed + k, size)
        y, x = gap + (k // cols) * ch, gap + (k % cols) * cw
        grid[y : y + size, x : x + size] = img
        grid[y : y + size, x + size : x + 2 * size] = colorize(lab)
    return grid


def _preview(args: argparse.Namespace) -> None:
    from pathlib import Path

    from PIL import Image

    grid = preview_grid(args.n, args.size, args.start_seed, args.cols)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    print(f"wrote {out} ({args.n} scenes at {args.size} px)")


def stats_table(stats: dict) -> str:
    lines = [
        "| concept | images containing it | mean pixel fraction (where present) | share of all pixels |",
        "|---|---:|---:|---:|",
    ]
    for name, s in stats.items():
        lines.append(
            f"| {name} | {100 * s['image_fraction']:.1f}% | {100 * s['pixel_fraction']:.2f}% | "
            f"{100 * s['pixel_share']:.2f}% |"
        )
    return "\n".join(lines)


def _stats(args: argparse.Namespace) -> None:
    from .dataset import label_statistics, load_dataset

    if args.data:
        _, labels, meta = load_dataset(args.data)
        labels = labels[: meta.get("done", len(labels))]
        what = f"{len(labels)} scenes of {args.data} at {meta['size']} px"
    else:
        import tempfile

        from .dataset import render_dataset

        with tempfile.TemporaryDirectory() as tmp:
            render_dataset(tmp, args.n, args.size, workers=args.workers, start_seed=args.start_seed)
            _, labels, _ = load_dataset(tmp)
            labels = labels.copy()
        what = f"{args.n} fresh scenes (seeds {args.start_seed}..) at {args.size} px"
    print(f"Label statistics over {what}:\n")
    print(stats_table(label_statistics(labels)))
