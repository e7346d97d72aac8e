"""``ganpaint train refiner``: fit the refiner on exact scene pairs, resumable, with a progress line.

Each step takes a batch of random ``crop`` x ``crop`` windows of 64 px inputs and the matching 4x windows of the
true 256 px renders. Inputs (``--pairs``): ``render`` (the world's 64 px render), ``degraded`` (the same, softened
by ``pairs.degrade`` like the GAN's frames) or ``gan`` (the GAN's own reconstructions, from a frame cache written
by ``bench/refiner_frames.py``). Loss: L1 on pixels + ``edge_weight`` x L1 on horizontal and vertical differences
(keeps edges crisp where L1 alone averages them into a blur); or MSE in place of L1. Adam with a cosine-decayed
step; ``init`` fine-tunes a shipped refiner.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import load_refiner, save_refiner
from .network import Refiner
from .pairs import TRAIN_SEEDS, degrade, print_progress, render_pairs, to_tensor

PAIRS = ("render", "degraded", "gan")


@dataclass(frozen=True)
class RefinerRecipe:
    pairs: str = "render"  # measured best on held-out GAN frames too (docs/refiner.md)
    scenes: int = 2000
    start_seed: int = TRAIN_SEEDS
    steps: int = 3000
    batch: int = 32
    crop: int = 32  # input window (px at 64 px); the target window is 4x
    lr: float = 2e-3
    edge_weight: float = 0.5
    width: int = 32
    blocks: int = 6
    seed: int = 0
    frames_cache: str = "cache/refiner"  # for pairs="gan": <cache>/<model>-<seed>.npz
    model: str = "scenes64"
    pixel_loss: str = "l1"  # or "mse" (what PSNR scores)
    init: str | None = None  # a refiner.pth to start from (fine-tuning), else a fresh network

    def __post_init__(self):
        if self.pairs not in PAIRS:
            raise ValueError(f"pairs: {self.pairs!r} is not one of {', '.join(PAIRS)}")
        if self.pixel_loss not in ("l1", "mse"):
            raise ValueError(f"pixel_loss: {self.pixel_loss!r} is not one of l1, mse")


def edge_l1(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """L1 of the difference of horizontal and vertical neighbour differences (image gradients)."""
    dx = (y[..., :, 1:] - y[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])
    dy = (y[..., 1:, :] - y[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def load_pairs(recipe: RefinerRecipe, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 64, 64, 3), (N, 256, 256, 3) uint8, rendered once and kept in ``cache`` (the run folder)."""
    path = cache / f"pairs-{recipe.pairs}-{recipe.start_seed}-{recipe.scenes}.npz"
    if path.is_file():
        d = np.load(path)
        return d["x"], d["y"]
    seeds = range(recipe.start_seed, recipe.start_seed + recipe.scenes)
    if recipe.pairs == "gan":
        files = [Path(recipe.frames_cache) / f"{recipe.model}-{s}.npz" for s in seeds]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(
                f"pairs: 'gan' needs {len(missing)} cached frames, e.g. {missing[0]} "
                f"(python bench/refiner_frames.py --start {recipe.start_seed} --n {recipe.scenes})"
            )
        parts = [np.load(f) for f in files]
        x, y = np.stack([p["adapted"] for p in parts]), np.stack([p["render256"] for p in parts])
    else:
        x, y = render_pairs(seeds, progress=print_progress("rendering pairs"))
    np.savez(path, x=x, y=y)
    return x, y


def batch_of(x: np.ndarray, y: np.ndarray, recipe: RefinerRecipe, gen: torch.Generator):
    """Random windows: inputs (B, 3, crop, crop) and targets (B, 3, 4 crop, 4 crop) in [-1, 1]."""
    n, size = x.shape[0], x.shape[1]
    idx = torch.randint(n, (recipe.batch,), generator=gen).numpy()
    i0 = torch.randint(size - recipe.crop + 1, (recipe.batch,), generator=gen).numpy()
    j0 = torch.randint(size - recipe.crop + 1, (recipe.batch,), generator=gen).numpy()
    c, f = recipe.crop, y.shape[1] // size
    xs = np.stack([x[k, i : i + c, j : j + c] for k, i, j in zip(idx, i0, j0, strict=True)])
    ys = np.stack([y[k, f * i : f * (i + c), f * j : f * (j + c)] for k, i, j in zip(idx, i0, j0, strict=True)])
    xb, yb = to_tensor(xs), to_tensor(ys)
    if recipe.pairs == "degraded":
        xb = degrade(xb, gen)
    flip = torch.rand(recipe.batch, generator=gen) < 0.5  # scenes are left-right symmetric in law
    xb[flip], yb[flip] = xb[flip].flip(-1), yb[flip].flip(-1)
    return xb, yb


def train_refiner(
    run: str | Path, recipe: RefinerRecipe, resume: bool = False, minutes: float = float("inf"), flip_average=False
) -> Path:
    """Train (or, with ``resume``, continue) in ``run``; writes run/checkpoint.pt every ~2 minutes and
    run/refiner.pth at the end (with ``flip_average``: the shipped network averages each picture's refinement
    with its mirror image's). Returns the path of refiner.pth."""
    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    ckpt_path = run / "checkpoint.pt"
    net = Refiner(recipe.width, recipe.blocks)
    if recipe.init:
        net.load_state_dict(load_refiner(recipe.init).state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    gen = torch.Generator().manual_seed(recipe.seed)
    step = 0
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, weights_only=False)
        recipe = replace(RefinerRecipe(**ck["recipe"]), steps=max(recipe.steps, ck["recipe"]["steps"]))
        net = Refiner(recipe.width, recipe.blocks)
        net.load_state_dict(ck["net"])
        opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        step = ck["step"]
    x, y = load_pairs(recipe, run)
    start = step  # the schedule's position when this run began (a resumed run continues the same cosine)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(1.0, (start + s) / recipe.steps)))
    )

    def checkpoint() -> None:
        state = {"net": net.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(), "step": step}
        torch.save({**state, "recipe": asdict(recipe)}, ckpt_path)

    t0, last_save, losses = time.perf_counter(), time.perf_counter(), []
    log = (run / "log.jsonl").open("a")
    while step < recipe.steps and (time.perf_counter() - t0) / 60 < minutes:
        xb, yb = batch_of(x, y, recipe, gen)
        out = net(xb)
        pixel = F.l1_loss(out, yb) if recipe.pixel_loss == "l1" else F.mse_loss(out, yb)
        loss = pixel + recipe.edge_weight * edge_l1(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        losses.append(loss.item())
        if step % 50 == 0 or step == recipe.steps:
            el = time.perf_counter() - t0
            print(
                f"\rstep {step}/{recipe.steps} loss {np.mean(losses[-50:]):.4f}  {el / 60:.1f} min", end="", flush=True
            )
            log.write(json.dumps({"step": step, "loss": float(np.mean(losses[-50:])), "seconds": el}) + "\n")
            log.flush()
        if time.perf_counter() - last_save > 120:
            checkpoint()
            last_save = time.perf_counter()
    print()
    log.close()
    checkpoint()
    net.flip_average = flip_average
    return save_refiner(net, run / "refiner.pth", recipe=asdict(recipe), steps=step)
