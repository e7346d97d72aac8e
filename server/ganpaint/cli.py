"""The ``ganpaint`` command: one entry point, each subcommand registered by the module that owns it.

Every ``register(subparsers)`` imports only argparse at module level, so ``ganpaint --help`` is fast
and heavy modules load only for the command that runs.
"""

from __future__ import annotations

import argparse
import sys

from ganpaint import __version__


def _register_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="render image ids of a generator to PNG files")
    p.add_argument("--weights", required=True, help="a published-layout generator .pth")
    p.add_argument("--ids", default="0-7", help="image ids: '3', '0-15' or '1,5,9' (default 0-7)")
    p.add_argument("--out", default="generated", help="output folder (default ./generated)")
    p.set_defaults(func=_generate)


def parse_ids(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    ids: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        ids.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    return ids


def _generate(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch
    from PIL import Image

    from ganpaint.nn.proggan import image_latents, load_generator

    g = load_generator(args.weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ids = parse_ids(args.ids)
    with torch.inference_mode():
        x = g(image_latents(ids, g.z_dim))  # (N, 3, R, R)
    pixels = ((x + 1) / 2 * 255).clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()
    for i, p in zip(ids, pixels, strict=True):
        Image.fromarray(p).save(out / f"{i}.png")
    print(f"wrote {len(ids)} images to {out}/")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ganpaint", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"ganpaint {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _register_generate(sub)
    for module in REGISTERED:
        __import__(module, fromlist=["register"]).register(sub)
    return parser


# Modules whose ``register(subparsers)`` adds a subcommand.
REGISTERED: list[str] = [
    "ganpaint.scenes.cli",
    "ganpaint.train.cli",
    "ganpaint.train.evaluate_cli",
    "ganpaint.api.cli",
    "ganpaint.api.classroom_cli",
    "ganpaint.dissect.cli",
    "ganpaint.dissect.stamps_cli",
    "ganpaint.project.cli",
]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"ganpaint {args.command}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
