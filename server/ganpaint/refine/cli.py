"""``ganpaint train refiner``: train (or continue) a model's 4x refiner and ship it beside the generator."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import fields
from pathlib import Path


def register_refiner(sub: argparse._SubParsersAction) -> None:
    """Registered by ganpaint.train.cli with the other ``train`` commands."""
    from .train import PAIRS, RefinerRecipe

    d = RefinerRecipe()
    t = sub.add_parser("refiner", help="train (or --resume) the 4x refiner on exact scene pairs; --ship installs it")
    t.add_argument("--run", type=Path, default=Path("runs/refiner"), help="run folder (default runs/refiner)")
    t.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    t.add_argument("--pairs", choices=PAIRS, default=d.pairs, help=f"training inputs (default {d.pairs})")
    t.add_argument("--scenes", type=int, default=d.scenes, help=f"training scenes (default {d.scenes})")
    t.add_argument("--steps", type=int, default=d.steps, help=f"Adam steps in all (default {d.steps})")
    t.add_argument("--batch", type=int, default=d.batch)
    t.add_argument("--crop", type=int, default=d.crop, help="input window in px (target: 4x)")
    t.add_argument("--width", type=int, default=d.width)
    t.add_argument("--blocks", type=int, default=d.blocks)
    t.add_argument("--edge-weight", type=float, default=d.edge_weight)
    t.add_argument("--minutes", type=float, default=float("inf"), help="stop this run after so many minutes")
    t.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    t.add_argument("--pixel-loss", choices=("l1", "mse"), default=d.pixel_loss, help="L1 (default) or MSE")
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--init", default=None, help="a refiner.pth to fine-tune (e.g. with --pixel-loss mse)")
    t.add_argument("--flip-average", action="store_true", help="the shipped refiner averages each picture's "
                   "refinement with its mirror image's (+0.05 dB, twice the time)")  # fmt: skip
    t.add_argument("--ship", default=None, help="a model folder (e.g. models/scenes64): copy refiner.pth there "
                   "and name it in its model.json")  # fmt: skip
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> None:
    import torch

    from .train import RefinerRecipe, train_refiner

    if args.threads:
        torch.set_num_threads(args.threads)
    names = {f.name for f in fields(RefinerRecipe)}
    recipe = RefinerRecipe(**{k: v for k, v in vars(args).items() if k in names})
    out = train_refiner(args.run, recipe, resume=args.resume, minutes=args.minutes, flip_average=args.flip_average)
    print(f"wrote {out}")
    if args.ship:
        ship(out, Path(args.ship))


def ship(refiner: Path, folder: Path) -> Path:
    """Copy ``refiner`` into the model ``folder`` as refiner.pth and add ``"refiner"`` to its model.json."""
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"--ship: no model.json in {folder}")
    target = folder / "refiner.pth"
    shutil.copyfile(refiner, target)
    meta = json.loads(meta_path.read_text())
    meta["refiner"] = "refiner.pth"
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"shipped {target} ({target.stat().st_size / 1e3:.0f} kB); {meta_path} names it")
    return target
