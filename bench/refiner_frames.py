"""Held-out test pictures for ``bench/refiner.py``: each scene's 64 px and 256 px renders and the GAN's own
reconstructions of the 64 px picture (``adapted``: what an upload shows; ``generated``: the unadapted generator
from the fitted features), cached in ``cache/refiner/<model>-<seed>.npz`` (about 2 s per scene on 2 cores).

    python bench/refiner_frames.py --n 100           # seeds 1,000,000,000 .. +99 (held out: see refine/pairs.py)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from ganpaint.refine.pairs import HELD_OUT_SEEDS, gan_frames, render_pairs  # noqa: E402


def cache_path(cache: Path, model: str, seed: int) -> Path:
    return cache / f"{model}-{seed}.npz"


def load_frames(cache: Path, model: str, seeds) -> dict[str, np.ndarray] | None:
    """{"render64", "render256", "adapted", "generated"}: stacked over seeds, or None if any seed is missing."""
    paths = [cache_path(cache, model, s) for s in seeds]
    if not all(p.is_file() for p in paths):
        return None
    parts = [np.load(p) for p in paths]
    return {k: np.stack([p[k] for p in parts]) for k in parts[0].files}


def build(model_id: str, seeds, cache: Path, models_dir: Path, precomputed_dir: Path, quick: bool = False) -> None:
    from ganpaint.engine import Engine
    from ganpaint.project import Projector, ProjectSettings
    from ganpaint.project.encoder import projector_for

    todo = [s for s in seeds if not cache_path(cache, model_id, s).is_file()]
    if not todo:
        return
    engine = Engine(models_dir, precomputed_dir, threads=torch.get_num_threads())
    try:
        m = engine.model(model_id)
        layer = m.info.default_layer
        if quick:
            projector = Projector(m.generator, layer, ProjectSettings(bank=4, feature_steps=2, adapt_steps=2))
        else:  # the shipped recipe, as the server projects uploads
            projector = projector_for(m.generator, layer, m.info.generator_path.parent)
        tail = m.split(layer)[1]
        cache.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        for i, seed in enumerate(todo):
            x64, y256 = render_pairs([seed], small=m.info.resolution)
            frames = gan_frames(projector, tail, x64)
            np.savez_compressed(
                cache_path(cache, model_id, seed),
                render64=x64[0],
                render256=y256[0],
                adapted=frames["adapted"][0],
                generated=frames["generated"][0],
            )
            el = time.perf_counter() - t0
            print(
                f"scene {i + 1}/{len(todo)} seed {seed}: {el / (i + 1):.1f} s each, "
                f"{el / (i + 1) * (len(todo) - i - 1):.0f} s left",
                flush=True,
            )
    finally:
        engine.close()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--start", type=int, default=HELD_OUT_SEEDS)
    ap.add_argument("--cache", type=Path, default=ROOT / "cache" / "refiner")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--precomputed-dir", type=Path, default=ROOT / "precomputed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    build(
        args.model,
        range(args.start, args.start + args.n),
        args.cache,
        args.models_dir,
        args.precomputed_dir,
        args.quick,
    )


if __name__ == "__main__":
    main()
