"""The embedded scene-world segmenter: a small U-Net, its training with augmentation, held-out evaluation,
and ``load_segmenter`` -> ``EmbeddedSegmenter`` (the ``ganpaint.segment.Segmenter`` protocol).

Saved file (``segmenter.pth``, a plain dict loadable with ``weights_only=True``)::

    {"format": "ganpaint-segmenter-v1", "names": [...14 class names...],
     "config": {"widths": [16, 32, 96, 192], "size": 64, "num_classes": 14},
     "state_dict": {...fp16 tensors...}, "trained": {"images": ..., "minutes": ..., ...}}

The net sees images in [-1, 1]. It was trained at ``config.size`` px, where the scene world's objects have a
given pixel scale; ``EmbeddedSegmenter`` resizes other input sizes to that size and resizes the class scores
back, so a 128 px generator is segmented at the scale the net knows.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FORMAT = "ganpaint-segmenter-v1"


# ----------------------------------------------------------------------------------------------- network
def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Fully convolutional U-Net: len(widths)-1 stride-2 downsamplings, so inputs must be multiples of
    2**(len(widths)-1) (8 for the default four widths). (N, 3, H, W) in [-1, 1] -> (N, classes, H, W) logits."""

    def __init__(self, widths=(16, 32, 96, 192), num_classes: int = 14):
        super().__init__()
        widths = [int(w) for w in widths]
        self.widths, self.num_classes = widths, int(num_classes)
        self.down = nn.ModuleList([_block(3, widths[0])])
        self.down.extend(_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.up = nn.ModuleList(_block(b + a, a) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    @property
    def multiple(self) -> int:
        return 2 ** (len(self.widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)  # (N, widths[i], H / 2**i, W / 2**i)
            skips.append(x)
        for i in reversed(range(len(self.up))):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = self.up[i](torch.cat([x, skips[i]], dim=1))  # (N, widths[i], H / 2**i, W / 2**i)
        return self.head(x)  # (N, classes, H, W)


# ------------------------------------------------------------------------------------------- interface
class EmbeddedSegmenter:
    """A trained ``UNet`` behind the ``ganpaint.segment.Segmenter`` protocol."""

    def __init__(self, net: UNet, names, segmenter_id: str, size: int, batch: int = 128):
        self.net = net.eval()
        self.names = list(names)
        self.id = segmenter_id
        self.size = int(size)  # training resolution: other inputs are resized to it
        self.batch = int(batch)
        if len(self.names) != net.num_classes:
            raise ValueError(f"names has {len(self.names)} entries but the net has {net.num_classes} classes")

    @torch.inference_mode()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [-1, 1] -> (N, C, H, W) class scores (at the input size)."""
        return self._scores(images)

    def differentiable_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """``probabilities`` with gradients to the images (ACE's alpha fit, the fill erase's concept term)."""
        return self._scores(images).softmax(dim=1)

    def _scores(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(images.shape)}")
        n, _, h, w = images.shape
        out = []
        for a in range(0, n, self.batch):
            x = images[a : a + self.batch].float()  # (b, 3, H, W)
            if (h, w) != (self.size, self.size):
                x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
            y = self.net(x)  # (b, C, S, S)
            if (h, w) != (self.size, self.size):
                y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)  # (b, C, H, W)
            out.append(y)
        if not out:
            return images.new_zeros((0, len(self.names), h, w), dtype=torch.float32)
        return torch.cat(out)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images in [-1, 1] -> (N, C, H, W) class probabilities (softmax over C, sums to 1)."""
        with torch.inference_mode():
            return self.logits(images).softmax(dim=1)

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, H, W) int64 class ids."""
        with torch.inference_mode():
            return self.logits(images).argmax(dim=1)


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def net_from_saved(saved: dict) -> UNet:
    cfg = saved["config"]
    net = UNet(cfg["widths"], cfg["num_classes"])
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()})
    return net.eval()


def load_segmenter(path: str | Path, batch: int = 128) -> EmbeddedSegmenter:
    """Load a ``segmenter.pth``; its id is ``<folder name>-segmenter@<first 12 hex of the file's sha256>``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"segmenter weights not found: {path}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - corrupt or non-torch file: name it
        raise ValueError(f"cannot read segmenter weights {path}: {exc}") from exc
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise ValueError(f"{path}: not a {FORMAT} file (format={found!r})")
    net = net_from_saved(saved)
    seg_id = f"{path.resolve().parent.name}-segmenter@{sha256_of(path)[:12]}"
    return EmbeddedSegmenter(net, saved["names"], seg_id, saved["config"]["size"], batch=batch)


def save_segmenter(net: UNet, names, size: int, path: str | Path, trained: dict | None = None) -> Path:
    """Write the shipped file: fp16 weights (BN running stats included), names, config, training summary."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if v.is_floating_point() else v).clone() for k, v in net.state_dict().items()}
    saved = {
        "format": FORMAT,
        "names": list(names),
        "config": {"widths": list(net.widths), "size": int(size), "num_classes": net.num_classes},
        "state_dict": sd,
        "trained": dict(trained or {}),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(saved, tmp)
    tmp.replace(path)
    return path


# ----------------------------------------------------------------------------------------- augmentation
@dataclass
class AugmentConfig:
    flip: float = 0.5
    brightness: float = 0.12  # additive, in [0, 1] pixel units
    contrast: float = 0.25  # multiplicative around the image mean: 1 +- contrast
    saturation: float = 0.35
    gain: float = 0.1  # per-channel multiplicative
    blur_p: float = 0.4
    blur_sigma: tuple[float, float] = (0.3, 1.3)
    rescale_p: float = 0.3  # down- then up-sample (a soft, GAN-like upsampling blur)
    rescale: tuple[float, float] = (0.45, 0.9)
    noise_p: float = 0.5
    noise_sigma: float = 0.06
    blotch_p: float = 0.3  # low-frequency colour noise (GAN-like blotches)
    blotch_sigma: float = 0.06
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (30, 90)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur: x (N, 3, H, W), sigma (N,) -> (N, 3, H, W); sigma 0 leaves an image as is."""
    n, c, h, w = x.shape
    r = 3
    t = torch.arange(-r, r + 1, dtype=x.dtype)  # (k,)
    k = torch.exp(-(t[None] ** 2) / (2 * sigma.clamp_min(1e-3)[:, None] ** 2))  # (N, k)
    k = k / k.sum(1, keepdim=True)
    k = k.repeat_interleave(c, 0)  # (N*3, k)
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), k[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), k[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def augment(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, H, W, 3) and labels (N, H, W) -> augmented float images (N, 3, H, W) in [-1, 1] and
    int64 labels (N, H, W). Photometric and blur changes only (labels stay exact), plus horizontal flips."""
    cfg = cfg or AugmentConfig()
    n = len(images)
    x = torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).float() / 255  # (N, 3, H, W)
    y = torch.from_numpy(np.array(labels, copy=True)).long()  # (N, H, W)
    _, _, h, w = x.shape
    u = lambda *s: torch.from_numpy(rng.random(s).astype(np.float32))  # noqa: E731 - uniform [0, 1)

    flip = u(n) < cfg.flip
    x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
    # colour jitter
    x = x + (u(n, 1, 1, 1) * 2 - 1) * cfg.brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + (u(n, 1, 1, 1) * 2 - 1) * cfg.contrast) + mean
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (1 + (u(n, 1, 1, 1) * 2 - 1) * cfg.saturation) + grey
    x = x * (1 + (u(n, 3, 1, 1) * 2 - 1) * cfg.gain)
    # resampling blur (one scale per call for the chosen images)
    pick = u(n) < cfg.rescale_p
    if pick.any():
        s = cfg.rescale[0] + float(rng.random()) * (cfg.rescale[1] - cfg.rescale[0])
        small = F.interpolate(
            x[pick],
            size=(max(4, round(h * s)), max(4, round(w * s))),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        x[pick] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    # gaussian blur
    sigma = cfg.blur_sigma[0] + u(n) * (cfg.blur_sigma[1] - cfg.blur_sigma[0])
    sigma = torch.where(u(n) < cfg.blur_p, sigma, torch.zeros_like(sigma))
    if (sigma > 0).any():
        x = _gaussian_blur(x, sigma)
    # noise: white, and low-frequency colour blotches
    x = x + torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32)) * (
        (u(n, 1, 1, 1) < cfg.noise_p) * u(n, 1, 1, 1) * cfg.noise_sigma
    )
    g = max(2, h // 8)
    blotch = torch.from_numpy(rng.standard_normal((n, 3, g, g)).astype(np.float32))
    blotch = F.interpolate(blotch, size=(h, w), mode="bicubic", align_corners=False)  # (N, 3, H, W)
    x = x + blotch * ((u(n, 1, 1, 1) < cfg.blotch_p) * u(n, 1, 1, 1) * cfg.blotch_sigma)
    x = x.clamp(0, 1)
    # JPEG re-encoding
    jp = np.nonzero(rng.random(n) < cfg.jpeg_p)[0]
    if len(jp):
        u8 = (x[jp] * 255).round().byte().permute(0, 2, 3, 1).numpy()
        q = rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1, len(jp))
        back = np.stack([_jpeg(im, qq) for im, qq in zip(u8, q, strict=True)])
        x[torch.from_numpy(jp)] = torch.from_numpy(back).permute(0, 3, 1, 2).float() / 255
    return x * 2 - 1, y


# --------------------------------------------------------------------------------------------- training
@dataclass
class SegConfig:
    data: str = "data/scenes64"
    size: int = 64
    widths: list[int] = field(default_factory=lambda: [16, 32, 96, 192])
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    minutes: float = 8.0  # planned length: the learning rate follows a cosine over it
    seed: int = 0


class SegTrainer:
    """Training state: net, optimizer, images seen, wall time; ``save`` / ``resume`` a checkpoint."""

    def __init__(self, cfg: SegConfig, run_dir, images=None, labels=None):
        self.cfg, self.run = cfg, Path(run_dir)
        self.images, self.labels = images, labels
        torch.manual_seed(cfg.seed)
        from ganpaint.scenes import NAMES

        self.names = list(NAMES)
        self.net = UNet(cfg.widths, len(self.names)).to(memory_format=torch.channels_last)
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.rng = np.random.default_rng(cfg.seed)
        self.step, self.imgs_seen, self.wall = 0, 0, 0.0
        self.losses: list[float] = []

    def lr_at(self) -> float:
        warm = min(1.0, (self.step + 1) / max(1, self.cfg.warmup_steps))
        t = min(1.0, self.wall / max(1e-9, self.cfg.minutes * 60))
        return self.cfg.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))

    def train_step(self) -> float:
        n = len(self.images)
        idx = np.sort(self.rng.choice(n, self.cfg.batch, replace=False))
        x, y = augment(np.asarray(self.images[idx]), np.asarray(self.labels[idx]), self.rng)
        self.net.train()
        for grp in self.opt.param_groups:
            grp["lr"] = self.lr_at()
        x = x.contiguous(memory_format=torch.channels_last)  # (B, 3, H, W), ~1.6x faster convs on CPU here
        loss = F.cross_entropy(self.net(x), y)  # logits (B, C, H, W) vs (B, H, W)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.step += 1
        self.imgs_seen += len(idx)
        self.losses.append(float(loss.detach()))
        return self.losses[-1]

    def save(self) -> Path:
        self.run.mkdir(parents=True, exist_ok=True)
        state = {
            "config": asdict(self.cfg),
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step,
            "imgs_seen": self.imgs_seen,
            "wall": self.wall,
            "rng": self.rng.bit_generator.state,
            "losses": self.losses[-2000:],
        }
        tmp = self.run / "checkpoint.tmp"
        torch.save(state, tmp)
        tmp.replace(self.run / "checkpoint.pt")
        return self.run / "checkpoint.pt"

    @classmethod
    def resume(cls, run_dir, images=None, labels=None) -> SegTrainer:
        state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=False)
        t = cls(SegConfig(**state["config"]), run_dir, images, labels)
        t.net.load_state_dict(state["net"])
        t.opt.load_state_dict(state["opt"])
        t.step, t.imgs_seen, t.wall = state["step"], state["imgs_seen"], state["wall"]
        t.rng.bit_generator.state = state["rng"]
        t.losses = list(state.get("losses", []))
        return t


def train(trainer: SegTrainer, minutes: float, checkpoint_minutes: float = 2.0, progress: bool = True) -> None:
    """Train for ``minutes`` of this run's wall time (and at most until the planned ``cfg.minutes`` total)."""
    from tqdm import tqdm

    start = time.monotonic()
    wall0 = trainer.wall
    last_ckpt = start
    bar = tqdm(total=round(minutes * 60), unit="s", desc="segmenter", disable=not progress, mininterval=5)
    try:
        while True:
            now = time.monotonic()
            if now - start >= minutes * 60 or trainer.wall >= trainer.cfg.minutes * 60:
                break
            loss = trainer.train_step()
            trainer.wall = wall0 + time.monotonic() - start
            bar.n = min(bar.total, round(time.monotonic() - start))
            if trainer.step % 20 == 0:
                recent = float(np.mean(trainer.losses[-50:]))
                kimg = f"{trainer.imgs_seen / 1000:.1f}"
                bar.set_postfix(loss=f"{recent:.4f}", kimg=kimg, lr=f"{trainer.lr_at():.1e}")
                bar.refresh()
            if not np.isfinite(loss):
                raise FloatingPointError(f"segmenter loss became {loss} at step {trainer.step}")
            if time.monotonic() - last_ckpt >= checkpoint_minutes * 60:
                trainer.save()
                last_ckpt = time.monotonic()
    finally:
        bar.close()
        trainer.save()


# ------------------------------------------------------------------------------------------- evaluation
def render_scenes(start_seed: int, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh scene-world renders of seeds start_seed .. start_seed+n-1: (N,S,S,3) uint8, (N,S,S) uint8."""
    from ganpaint.scenes import render_scene

    imgs = np.empty((n, size, size, 3), np.uint8)
    labs = np.empty((n, size, size), np.uint8)
    for i in range(n):
        imgs[i], labs[i] = render_scene(start_seed + i, size)
    return imgs, labs


def confusion(segmenter: EmbeddedSegmenter, images: torch.Tensor, labels: np.ndarray, batch: int = 256) -> np.ndarray:
    """(C, C) pixel confusion counts, rows = true class, columns = predicted."""
    c = len(segmenter.names)
    conf = np.zeros((c, c), np.int64)
    for a in range(0, len(images), batch):
        pred = segmenter.segment(images[a : a + batch]).numpy().ravel()  # (b*H*W,)
        true = np.asarray(labels[a : a + batch]).astype(np.int64).ravel()
        conf += np.bincount(true * c + pred, minlength=c * c).reshape(c, c)
    return conf


def scores(conf: np.ndarray, names) -> dict:
    """Pixel accuracy, per-class IoU (null for a class absent from both truth and prediction) and mIoU."""
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    iou = {n: (float(tp[i] / union[i]) if union[i] else None) for i, n in enumerate(names)}
    present = [v for v in iou.values() if v is not None]
    return {
        "pixel_accuracy": float(tp.sum() / max(1, conf.sum())),
        "miou": float(np.mean(present)) if present else 0.0,
        "iou": iou,
        "pixels": {n: int(conf[i].sum()) for i, n in enumerate(names)},
    }


def evaluate_heldout(segmenter: EmbeddedSegmenter, start_seed: int, n: int, size: int, augmented: bool = True) -> dict:
    """Scores on freshly rendered scenes (clean, and with the training augmentation at a fixed seed)."""
    imgs, labs = render_scenes(start_seed, n, size)
    clean = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, S, S)
    out = {"seeds": [int(start_seed), int(start_seed + n)], "n": int(n), "size": int(size)}
    out["clean"] = scores(confusion(segmenter, clean, labs), segmenter.names)
    if augmented:
        no_flip = AugmentConfig(flip=0.0)
        x, y = augment(imgs, labs, np.random.default_rng(12345), no_flip)
        out["augmented"] = scores(confusion(segmenter, x, y.numpy()), segmenter.names)
    return out


def iou_table(result: dict) -> str:
    """Markdown table of per-class IoU (clean and augmented held-out renders)."""
    rows = ["| class | IoU clean | IoU augmented | pixels |", "|---|---|---|---|"]
    clean, aug = result["clean"], result.get("augmented", {})
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for name in clean["iou"]:
        a = fmt(aug.get("iou", {}).get(name))
        rows.append(f"| {name} | {fmt(clean['iou'][name])} | {a} | {clean['pixels'][name]} |")
    rows.append(f"| **mIoU** | **{clean['miou']:.3f}** | **{fmt(aug.get('miou'))}** | |")
    rows.append(f"| pixel accuracy | {clean['pixel_accuracy']:.4f} | {fmt(aug.get('pixel_accuracy'))} | |")
    return "\n".join(rows)


def write_json(path: str | Path, obj: dict) -> None:
    Path(path).write_text(json.dumps(obj, indent=1) + "\n")
