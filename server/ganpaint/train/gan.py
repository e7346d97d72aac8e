"""Progressive GAN training on the scene world, on CPU (bf16 autocast + channels_last).

Non-saturating logistic loss with lazy R1, Adam(0.002, betas 0/0.99), progressive growing from
4x4 with fade-in, minibatch stddev in D, and an EMA generator whose half-life ramps up with the
images seen since the last resolution switch. A run lives in one folder::

    runs/<name>/checkpoint.pt   # everything needed to resume (written atomically every few minutes)
    runs/<name>/log.jsonl       # one line per log interval: kimg, res, alpha, losses, img/s, wall time
    runs/<name>/samples/*.png   # the EMA generator on fixed latents at each checkpoint
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganpaint.train.networks import Discriminator, GrowingGenerator


@dataclass
class GanConfig:
    data: str = "data/scenes64"
    resolution: int = 64
    z_dim: int = 128
    # width of the two generator layers at 4, 8, 16, 32, 64 px (discriminator mirrors it)
    # (chosen by bench/train_plans.py: the fastest plan measured on 2 cores without AVX-512)
    g_channels: list[int] = field(default_factory=lambda: [256, 128, 64, 32, 16])
    batch: int = 32
    lr: float = 0.002
    r1_gamma: float = 0.1
    r1_every: int = 16
    # images per phase: stable at 4 px, then (fade-in, stable) per doubling; the last stable phase is open-ended
    kimg_first: float = 6
    kimg_fade: list[float] = field(default_factory=lambda: [8, 12, 16, 20])
    kimg_stable: list[float] = field(default_factory=lambda: [8, 12, 16])
    ema_kimg: float = 10.0  # EMA half-life cap, in thousands of images
    ema_rampup: float = 0.1  # half-life <= this fraction of the images seen since the last switch
    bf16: bool = False  # bf16 autocast only pays on CPUs with native bf16 (avx512_bf16/AMX); measure first
    seed: int = 0

    def layer_channels(self) -> list[int]:
        return [c for c in self.g_channels for _ in range(2)]

    def phase(self, kimg: float) -> tuple[int, float]:
        """(resolution, fade-in alpha) at ``kimg`` thousand images seen."""
        res, t = 4, kimg - self.kimg_first
        if t < 0:
            return 4, 1.0
        for fade, stable in zip(self.kimg_fade, [*self.kimg_stable, math.inf], strict=False):
            res *= 2
            if res > self.resolution:
                return self.resolution, 1.0
            if t < fade:
                return res, t / fade
            t -= fade
            if t < stable:
                return res, 1.0
            t -= stable
        return self.resolution, 1.0

    def phase_start_kimg(self, res: int) -> float:
        """kimg at which ``res`` starts fading in."""
        k = self.kimg_first
        for i in range(int(math.log2(res // 4)) - 1):
            k += self.kimg_fade[i] + self.kimg_stable[i]
        return 0.0 if res == 4 else k


def load_batch(images: np.ndarray, rng: np.random.Generator, batch: int) -> torch.Tensor:
    """A random batch of dataset images as (N, 3, S, S) floats in [-1, 1], randomly mirrored."""
    idx = np.sort(rng.choice(len(images), batch, replace=False))
    x = torch.from_numpy(np.ascontiguousarray(images[idx])).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, S, S)
    flip = torch.from_numpy(rng.random(batch) < 0.5)
    x[flip] = x[flip].flip(-1)
    return x


def real_at(x: torch.Tensor, res: int, alpha: float) -> torch.Tensor:
    """Downsample real images to ``res``, blending with the coarser level during fade-in."""
    x = F.adaptive_avg_pool2d(x, res) if x.shape[-1] != res else x
    if alpha < 1.0 and res > 4:
        low = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(low, x, alpha)
    return x


class Trainer:
    def __init__(self, cfg: GanConfig, run_dir: str | Path, images: np.ndarray | None = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        torch.manual_seed(cfg.seed)
        self.G = GrowingGenerator(cfg.layer_channels(), cfg.z_dim)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        d_channels = {4 * 2**i: c for i, c in enumerate(cfg.g_channels)}
        self.D = Discriminator(d_channels)
        for m in (self.G, self.G_ema, self.D):
            m.to(memory_format=torch.channels_last)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8)
        self.images = images
        self.rng = np.random.default_rng(cfg.seed)
        self.z_gen = torch.Generator().manual_seed(cfg.seed)  # own stream: resuming reproduces the same z
        self.step = 0
        self.imgs_seen = 0
        self.wall = 0.0  # seconds trained, summed over resumed runs
        self.fixed_z = torch.from_numpy(np.random.RandomState(123).standard_normal((32, cfg.z_dim)).astype(np.float32))

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.bf16)

    def train_step(self, real64: torch.Tensor | None = None) -> dict:
        cfg = self.cfg
        res, alpha = cfg.phase(self.imgs_seen / 1000)
        if real64 is None:
            real64 = load_batch(self.images, self.rng, cfg.batch)
        real = real_at(real64, res, alpha).contiguous(memory_format=torch.channels_last)
        n = real.shape[0]
        # --- discriminator
        z = torch.randn(n, cfg.z_dim, generator=self.z_gen)
        with self.autocast():
            with torch.no_grad():
                fake = self.G(z, res, alpha)
            d_loss = F.softplus(self.D(fake, res, alpha)).mean() + F.softplus(-self.D(real, res, alpha)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.float().backward()
        d_loss = d_loss.detach()
        r1 = torch.zeros(())
        if self.step % cfg.r1_every == 0:
            real_r1 = real.detach().requires_grad_(True)
            score = self.D(real_r1, res, alpha).sum()  # fp32: the gradient penalty is the fragile part
            (grad,) = torch.autograd.grad(score, real_r1, create_graph=True)
            r1 = grad.pow(2).sum(dim=(1, 2, 3)).mean()
            (r1 * cfg.r1_gamma / 2 * cfg.r1_every).backward()
            r1 = r1.detach()
        self.opt_d.step()
        # --- generator
        z = torch.randn(n, cfg.z_dim, generator=self.z_gen)
        self.D.requires_grad_(False)  # gradients flow through D to G, D's own are not needed: ~25% less work
        with self.autocast():
            g_loss = F.softplus(-self.D(self.G(z, res, alpha), res, alpha)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.float().backward()
        self.D.requires_grad_(True)
        self.opt_g.step()
        g_loss = g_loss.detach()
        self.imgs_seen += n
        self.step += 1
        self.update_ema(res, n)
        return {"res": res, "alpha": round(alpha, 4), "d_loss": d_loss.item(), "g_loss": g_loss.item(), "r1": r1.item()}

    @torch.no_grad()
    def update_ema(self, res: int, batch: int) -> None:
        since_switch = self.imgs_seen - self.cfg.phase_start_kimg(res) * 1000
        half_life = max(min(self.cfg.ema_kimg * 1000, since_switch * self.cfg.ema_rampup), 1.0)
        beta = 0.5 ** (batch / half_life)
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.lerp_(p, 1 - beta)

    # ------------------------------------------------------------------ persistence

    def state_dict(self) -> dict:
        return {
            "config": asdict(self.cfg),
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "imgs_seen": self.imgs_seen,
            "wall": self.wall,
            "rng": self.rng.bit_generator.state,
            "z_gen": self.z_gen.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.D.load_state_dict(state["D"])
        if "opt_g" in state:  # a packed state (``pack_state``) has none: Adam re-warms from zero moments
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        self.step, self.imgs_seen, self.wall = state["step"], state["imgs_seen"], state["wall"]
        self.rng.bit_generator.state = state["rng"]
        self.z_gen.set_state(state["z_gen"])

    def save(self) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "checkpoint.pt"
        tmp = path.with_suffix(".tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)  # atomic: a kill mid-save never leaves a broken checkpoint
        self.save_samples()
        return path

    @torch.no_grad()
    def save_samples(self) -> Path:
        from ganpaint.train.images import save_grid

        res, alpha = self.cfg.phase(self.imgs_seen / 1000)
        x = self.G_ema(self.fixed_z, res, alpha).float()  # (32, 3, res, res)
        x = F.interpolate(x, size=self.cfg.resolution, mode="nearest") if res < self.cfg.resolution else x
        out = self.run_dir / "samples" / f"{self.imgs_seen // 1000:06d}kimg.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        save_grid(x, out, cols=8)
        return out

    @classmethod
    def resume(cls, run_dir: str | Path, images: np.ndarray | None = None, **overrides) -> Trainer:
        """Continue a run; ``overrides`` may change the schedule of phases not yet started."""
        state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
        for net in ("G", "G_ema", "D"):
            state[net] = {k: v.float() for k, v in state[net].items()}
        cfg = GanConfig(**{**state["config"], **overrides})
        kimg = state["imgs_seen"] / 1000
        if cfg.phase(kimg) != GanConfig(**state["config"]).phase(kimg):
            raise ValueError(f"schedule override would move the current phase at {kimg:.1f} kimg: {overrides}")
        trainer = cls(cfg, run_dir, images)
        trainer.load_state_dict(state)
        return trainer


def pack_state(trainer: Trainer) -> dict:
    """A small resumable state to commit: weights in fp16, no optimizer moments (about a third of the size).

    Copy it to ``<run>/checkpoint.pt`` and ``--resume``: Adam restarts from zero moments, which its
    beta2 = 0.99 re-estimates within a few hundred steps.
    """
    state = trainer.state_dict()
    for net in ("G", "G_ema", "D"):
        state[net] = {k: v.half() for k, v in state[net].items()}
    del state["opt_g"], state["opt_d"]
    return state


def train(
    trainer: Trainer,
    max_kimg: float,
    max_minutes: float = math.inf,
    checkpoint_minutes: float = 3.0,
    log_every: int = 20,
    progress: bool = True,
) -> None:
    """Train until ``max_kimg`` thousand images or ``max_minutes``; checkpoint every few minutes.

    SIGTERM (and Ctrl-C) end the run after the current step with a final checkpoint.
    """
    import signal

    from tqdm import tqdm

    stop = []
    previous = {sig: signal.signal(sig, lambda *_: stop.append(1)) for sig in (signal.SIGTERM, signal.SIGINT)}

    start = last_ckpt = time.time()
    t_log, seen_log = time.time(), trainer.imgs_seen
    log_path = trainer.run_dir / "log.jsonl"
    trainer.run_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=int(max_kimg * 1000), initial=trainer.imgs_seen, unit="img", disable=not progress, smoothing=0.05)
    while not stop and trainer.imgs_seen < max_kimg * 1000 and (time.time() - start) < max_minutes * 60:
        t0 = time.time()
        stats = trainer.train_step()
        trainer.wall += time.time() - t0
        bar.update(trainer.cfg.batch)
        if trainer.step % log_every == 0:
            now = time.time()
            stats.update(
                kimg=round(trainer.imgs_seen / 1000, 3),
                step=trainer.step,
                img_per_s=round((trainer.imgs_seen - seen_log) / (now - t_log), 2),
                wall_s=round(trainer.wall, 1),
            )
            t_log, seen_log = now, trainer.imgs_seen
            with open(log_path, "a") as f:
                f.write(json.dumps(stats) + "\n")
            bar.set_postfix(res=stats["res"], a=stats["alpha"], d=f"{stats['d_loss']:.3f}", g=f"{stats['g_loss']:.3f}")
            if not all(math.isfinite(stats[k]) for k in ("d_loss", "g_loss")):
                raise FloatingPointError(f"non-finite loss at step {trainer.step}: {stats}")
        if time.time() - last_ckpt > checkpoint_minutes * 60:
            trainer.save()
            last_ckpt = time.time()
    trainer.save()
    bar.close()
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def export_generator(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The EMA generator's state dict in the published ProGAN layout (fp32, contiguous)."""
    return {k: v.float().contiguous() for k, v in trainer.G_ema.g.state_dict().items()}
