"""Projection of a picture into a ProgressiveGenerator, in three measured stages (GANPaint Studio, Bau et al. 2019).

    p = Projector(g, paint_layer="layer6")           # g: any ProgressiveGenerator (plain or serving_copy)
    proj = p.project(x)                              # x: (1, 3, R, R) in [-1, 1]
    proj.features                                    # (1, C, h, w) at the painting layer: apply_edits paints it
    pixels = proj.render(edits)                      # (R, R, 3) uint8: blended; outside the edit = the upload

Stages (each timed, each with its PSNR):
1. ``bank``: the nearest of ``bank`` generated samples (pixel distance), its features at the projection layer;
2. ``features``: Adam on the projection layer's features (two layers before the painting layer by default: one
   resolution coarser, so the painting layer is computed, not fitted, and stays paintable), pixel MSE;
3. ``adapted``: an image-specific generator: the layers after the painting layer get a small weight delta
   (Adam, pixel MSE + ``delta_l2`` x relative L2 of the delta, each layer's delta clipped to ``max_delta`` of
   its weights' norm), the painting layer's features frozen.

Deterministic for a given image, generator and settings (seeded bank, fixed steps, no sampling).
"""

from __future__ import annotations

import copy
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganpaint.nn.intervene import UnitEdit, apply_edits, run_edited
from ganpaint.pixels import to_pixels

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)


@dataclass(frozen=True)
class ProjectSettings:
    project_layer: str | None = None  # None: two layers before the painting layer (one resolution coarser)
    bank: int = 256  # generated samples the initial guess is chosen from
    bank_seed: int = 0
    z_steps: int = 0  # optional: Adam on z (from the bank's nearest) before the features
    z_lr: float = 0.05
    feature_steps: int = 300
    feature_lr: float = 0.1  # Adam step, relative to the features' RMS
    feature_l2: float = 0.1  # weight of ||f - f0||^2 / ||f0||^2 (f0: the bank start): keeps erase working
    adapt_steps: int = 200
    adapt_lr: float = 5e-3  # Adam step, relative to each weight tensor's RMS
    delta_l2: float = 0.01  # weight of the relative L2 penalty sum ||dW||^2 / ||W||^2
    max_delta: float = 0.15  # hard bound: each adapted tensor's ||dW|| <= max_delta ||W||
    adapt_last: int = 0  # adapt only the last k blocks (0: every block after the painting layer); bounds memory
    # blending (the paper's): a soft mask where edited and unedited renders differ
    blend_threshold: float = 10 / 255  # per-pixel max |difference| over channels, in [0, 1] units
    blend_dilate: int = 2  # pixels
    blend_blur: int = 2  # box-blur radius in pixels (soft edge)

    def numbers(self) -> dict:
        return asdict(self)


PSNR_MAX = 100.0  # dB reported for a perfect (or closer than this) reconstruction: finite, so strict JSON holds


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), after clamping a; at most ``PSNR_MAX`` (an error of one
    8-bit step everywhere is 48 dB, so the cap only ever stands for "identical")."""
    mse = float((a.clamp(-1, 1) - b).pow(2).mean())
    return PSNR_MAX if mse * 10 ** (PSNR_MAX / 10) <= 4 else float(10 * np.log10(4 / mse))


def pixel_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """MSE of the displayed image: a render beyond +-1 where the target is saturated at that end costs nothing
    (the display clamps it), so the loss agrees with ``psnr``; gradients elsewhere are the plain MSE's."""
    saturated = ((x >= 1) & (y > 1)) | ((x <= -1) & (y < -1))
    return F.mse_loss(torch.where(saturated, x, y), x)


def layer_chain(g: nn.Module, start: str | None, stop: str | None) -> nn.Sequential:
    """The generator's blocks after ``start`` (None: from the first) up to and including ``stop`` (None: to the end)."""
    names = [n for n, _ in g.named_children()]
    a = names.index(start) + 1 if start is not None else 0
    b = names.index(stop) + 1 if stop is not None else len(names)
    return nn.Sequential(OrderedDict((n, getattr(g, n)) for n in names[a:b]))


def _adaptable(tail: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The parameters of the image-specific blocks (the copies; shared blocks never require grad)."""
    return [(n, p) for n, p in tail.named_parameters() if p.requires_grad]


def own_tail(shared: nn.Sequential, adapt_last: int = 0) -> nn.Sequential:
    """The generator after the painting layer with its last ``adapt_last`` blocks (0: all) copied for adaptation;
    the others are the shared blocks themselves (no copy, no grad): one upload holds only the copies."""
    names = [n for n, _ in shared.named_children()]
    k = len(names) if adapt_last <= 0 else min(adapt_last, len(names))
    blocks = []
    for i, n in enumerate(names):
        block = getattr(shared, n)
        if i >= len(names) - k:
            block = copy.deepcopy(block).requires_grad_(True)
        blocks.append((n, block))
    tail = nn.Sequential(OrderedDict(blocks))
    tail.adapted = names[len(names) - k :]  # the image's own blocks
    return tail


def adapted_state(tail: nn.Module) -> dict[str, torch.Tensor]:
    """The state of the copied (image-specific) blocks only."""
    own = set(getattr(tail, "adapted", [n for n, _ in tail.named_children()]))
    return {k: v for k, v in tail.state_dict().items() if k.split(".")[0] in own}


@dataclass
class ProjectedImage:
    """A picture projected into a generator: paint ``features`` at ``paint_layer`` with the adapted ``tail``."""

    paint_layer: str
    project_layer: str
    project_features: torch.Tensor  # (1, Cp, hp, wp) at the projection layer
    features: torch.Tensor  # (1, C, h, w) at the painting layer (computed from the projection, frozen)
    middle: nn.Module  # the unchanged blocks after the projection layer up to the painting layer
    tail: nn.Module  # the adapted blocks after the painting layer (the image-specific generator)
    original: np.ndarray  # (R, R, 3) uint8: the picture as projected
    psnr: dict[str, float] = field(default_factory=dict)  # per stage
    ms: dict[str, float] = field(default_factory=dict)  # per stage
    delta: dict[str, float] = field(default_factory=dict)  # relative ||dW|| / ||W|| per adapted tensor, and total
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    _unedited: torch.Tensor | None = None
    large: np.ndarray | None = None  # (4R, 4R, 3) uint8: the picture at a refiner's size (refine/upload.py), if kept

    @property
    def resolution(self) -> int:
        return int(self.original.shape[0])

    def numbers(self) -> dict:
        return {
            "paint_layer": self.paint_layer,
            "project_layer": self.project_layer,
            "resolution": self.resolution,
            "psnr": {k: round(v, 3) for k, v in self.psnr.items()},
            "ms": {k: round(v, 1) for k, v in self.ms.items()},
            "delta": {k: round(v, 5) for k, v in self.delta.items()},
            "settings": self.settings.numbers(),
        }

    def check_layer(self, layer: str) -> str:
        """``layer`` if it can be painted here (the projection layer or a later one); ValueError naming it."""
        names = [n for n, _ in self.middle.named_children()] + [n for n, _ in self.tail.named_children()]
        if layer != self.project_layer and (layer not in names or layer.startswith("output")):
            raise ValueError(
                f"layer: {layer!r} cannot be painted on a projected picture; use {self.project_layer} or a later layer"
            )
        return layer

    def features_at(self, layer: str) -> torch.Tensor:
        """Features at ``layer`` (the projection layer, a layer between it and the painting layer, or after)."""
        if self.check_layer(layer) == self.project_layer:
            return self.project_features
        with torch.inference_mode():
            return layer_chain(self._whole(), None, layer)(self.project_features)

    def _whole(self) -> nn.Sequential:
        blocks = list(self.middle.named_children()) + list(self.tail.named_children())
        return nn.Sequential(OrderedDict(blocks))

    def generate(self, edits: Sequence[UnitEdit] = ()) -> torch.Tensor:
        """The adapted generator's render with ``edits`` (no blending); (1, 3, R, R)."""
        if not edits and self._unedited is not None:
            return self._unedited
        whole = self._whole()
        later = [e for e in edits if e.layer != self.project_layer]
        for e in later:
            self.check_layer(e.layer)  # ValueError for a layer before the projection
        start = apply_edits(self.project_features, [e for e in edits if e.layer == self.project_layer])
        x = run_edited(whole, start, later)  # (1, 3, R, R): the full-render path (ganpaint.nn.intervene)
        if not edits:
            self._unedited = x
        return x

    def render(self, edits: Sequence[UnitEdit] = ()) -> np.ndarray:
        """The blended picture: (R, R, 3) uint8; pixels where the edit changed nothing are the original's bytes."""
        if not edits:
            return self.original.copy()
        edited = self.generate(edits)
        unedited = self.generate(())
        return blend(edited, unedited, self.original, self.settings)

    # --- a paint target (ganpaint/targets.py): the engine renders an upload's jobs alone, blended

    def batch_key(self, job) -> None:
        return None  # its own adapted generator: never batched with others

    def render_jobs(self, renderer, jobs) -> np.ndarray:
        return renderer.forward_projected(self, jobs)  # (N, R, R, 3): ``render`` (or refined: 4x)

    def state(self) -> dict:
        """What ``load_projected`` needs besides the generator: small (the adapted blocks, the features, the image)."""
        return {
            "version": 1,
            "paint_layer": self.paint_layer,
            "project_layer": self.project_layer,
            "project_features": self.project_features.detach().clone(),
            "tail": {k: v.detach().clone() for k, v in adapted_state(self.tail).items()},
            "original": torch.from_numpy(self.original.copy()),
            **({"large": torch.from_numpy(self.large.copy())} if self.large is not None else {}),
            "numbers": self.numbers(),
        }


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8: the engine's mapping (ganpaint.pixels.to_pixels)."""
    return to_pixels(x)[0]


def blend_mask(edited: torch.Tensor, unedited: torch.Tensor, s: ProjectSettings) -> torch.Tensor:
    """Soft mask (H, W) in [0, 1]: where the renders differ by more than the threshold, dilated and blurred."""
    diff = ((edited - unedited).abs() / 2).amax(dim=1, keepdim=True)  # (1, 1, H, W) in [0, 1] units
    m = (diff > s.blend_threshold).float()  # (1, 1, H, W)
    if s.blend_dilate > 0:
        k = 2 * s.blend_dilate + 1
        m = F.max_pool2d(m, k, stride=1, padding=s.blend_dilate)
    if s.blend_blur > 0:
        k = 2 * s.blend_blur + 1
        soft = F.avg_pool2d(F.pad(m, [s.blend_blur] * 4, mode="replicate"), k, stride=1)  # (1, 1, H, W)
        m = torch.maximum(m * 0.5, soft) * (soft > 0)  # inside stays >= 0.5; zero only where no changed pixel is near
    return m[0, 0]


def blend(edited: torch.Tensor, unedited: torch.Tensor, original: np.ndarray, s: ProjectSettings) -> np.ndarray:
    """edited inside the soft mask, ``original`` (uint8) outside: outside pixels are the original's exact bytes."""
    m = blend_mask(edited, unedited, s).cpu().numpy()[..., None]  # (H, W, 1)
    e = to_uint8(edited).astype(np.float32)
    mixed = np.rint(m * e + (1 - m) * original.astype(np.float32)).clip(0, 255).astype(np.uint8)
    return np.where(m > 0, mixed, original)


def image_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None].contiguous()


class Projector:
    """Projects pictures into one generator at one painting layer. Keeps its sample bank; thread-confined use."""

    def __init__(
        self,
        g: nn.Module,
        paint_layer: str,
        settings: ProjectSettings | None = None,
        encoder: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        """``encoder``: an optional initial guess, image (1, 3, R, R) -> projection-layer features, used in place
        of the bank (stage "encoder"); bench/encoder_trial.py measures one against the bank."""
        self.g = g
        self.encoder = encoder
        self.settings = settings or ProjectSettings()
        names = [n for n, _ in g.named_children()]
        if paint_layer not in names or paint_layer.startswith("output"):
            raise ValueError(f"paint_layer: {paint_layer!r} is not a layer of this generator")
        i = names.index(paint_layer)
        default = names[max(0, i - 2)]
        self.paint_layer = paint_layer
        self.project_layer = self.settings.project_layer or default
        if self.project_layer not in names or names.index(self.project_layer) > i:
            raise ValueError(f"project_layer: {self.project_layer!r} must be a layer at or before {paint_layer}")
        self.z_dim = int(g.z_dim) if hasattr(g, "z_dim") else int(next(g.parameters()).shape[1])
        self.resolution = int(getattr(g, "resolution", 0))
        self._bank: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.device = next(g.parameters()).device

    def _head(self) -> nn.Module:
        head = layer_chain(self.g, None, self.project_layer)

        class Head(nn.Module):
            def __init__(self, seq):
                super().__init__()
                self.seq = seq

            def forward(self, z):
                return self.seq(z.view(z.shape[0], z.shape[1], 1, 1))

        return Head(head)

    def bank(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z (B, Z), features at the projection layer (B, C, h, w), images at 16 px (B, 3, 16, 16)); cached."""
        if self._bank is None:
            gen = torch.Generator().manual_seed(self.settings.bank_seed)
            z = torch.randn(self.settings.bank, self.z_dim, generator=gen).to(self.device)  # (B, Z), same on any device
            head, rest = self._head(), layer_chain(self.g, self.project_layer, None)
            feats, smalls = [], []
            with torch.inference_mode():
                for a in range(0, len(z), 64):
                    f = head(z[a : a + 64])  # (b, C, h, w)
                    feats.append(f)
                    smalls.append(F.adaptive_avg_pool2d(rest(f).clamp(-1, 1), 16))  # (b, 3, 16, 16)
            self._bank = (z, torch.cat(feats), torch.cat(smalls))
        return self._bank

    def project(self, x: torch.Tensor, progress: Progress | None = None) -> ProjectedImage:
        """Project x (1, 3, R, R) in [-1, 1]; returns the ProjectedImage with its numbers."""
        if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
            raise ValueError(f"image: expected a (1, 3, R, R) tensor, got {tuple(x.shape)}")
        if self.resolution and x.shape[-1] != self.resolution:
            raise ValueError(f"image: expected {self.resolution} px, got {x.shape[-1]}")
        x = x.float().clamp(-1, 1).detach().to(self.device)
        report = progress or (lambda stage, frac: None)
        ms: dict[str, float] = {}
        ps: dict[str, float] = {}
        rest = layer_chain(self.g, self.project_layer, None)
        middle = layer_chain(self.g, self.project_layer, self.paint_layer)
        f0 = self._start(x, rest, report, ps, ms)  # 1. the encoder's or the bank's start (and optionally z)
        fp, fl = self._fit_features(x, f0, rest, middle, report, ps, ms)  # 2. the projection layer's features
        tail, delta, recon = self._adapt(x, fl, report, ps, ms)  # 3. the image-specific generator
        report("done", 1.0)
        # the picture's own bytes: image_tensor's inverse, rounded (to_uint8 truncates: a quarter of the byte values
        # came back 1 lower, 37% of an upload's pixels, found by bench/erase_truth.py)
        original = np.rint((x[0].permute(1, 2, 0).cpu().numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        return ProjectedImage(
            self.paint_layer, self.project_layer, fp, fl, middle, tail, original, ps, ms, delta, self.settings, recon
        )

    def _start(self, x, rest, report, ps: dict, ms: dict) -> torch.Tensor:
        """Stage 1: the start at the projection layer (1, C, h, w): the encoder's guess, or the nearest sample of
        the bank, then optionally Adam on its z (the whole generator stays on its manifold)."""
        s = self.settings
        t0 = time.perf_counter()
        report("bank", 0.0)
        if self.encoder is not None:
            with torch.no_grad():  # not inference_mode: f0 takes part in the feature stage's loss
                f0 = self.encoder(x).detach().clone()  # (1, C, h, w)
                ps["encoder"] = psnr(rest(f0), x)
            ms["encoder"] = (time.perf_counter() - t0) * 1000
            return f0
        zs, feats, smalls = self.bank()
        d = (smalls - F.adaptive_avg_pool2d(x, 16)).pow(2).flatten(1).mean(1)  # (B,)
        best = int(d.argmin())
        f0 = feats[best][None].clone()  # (1, C, h, w)
        with torch.inference_mode():
            ps["bank"] = psnr(rest(f0), x)
        ms["bank"] = (time.perf_counter() - t0) * 1000
        if not s.z_steps:
            return f0
        t0 = time.perf_counter()
        head = self._head()
        z = zs[best][None].clone().requires_grad_(True)  # (1, Z)
        opt = torch.optim.Adam([z], lr=s.z_lr)
        for step in range(s.z_steps):
            opt.zero_grad(set_to_none=True)
            loss = pixel_loss(rest(head(z)), x)
            loss.backward()
            opt.step()
            if step % 25 == 0:
                report("z", step / s.z_steps)
        with torch.inference_mode():
            f0 = head(z.detach())
            ps["z"] = psnr(rest(f0), x)
        ms["z"] = (time.perf_counter() - t0) * 1000
        return f0.clone()

    def _fit_features(self, x, f0, rest, middle, report, ps: dict, ms: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 2: Adam on the projection layer's features from ``f0`` (the best seen: never worse than the
        start); returns them and the painting layer's features computed from them, each (1, C, h, w)."""
        s = self.settings
        t0 = time.perf_counter()
        w = f0.clone().requires_grad_(True)
        scale = float(f0.pow(2).mean().sqrt()) or 1.0
        opt = torch.optim.Adam([w], lr=s.feature_lr * scale)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, s.feature_steps))
        fp, best_loss = f0, float("inf")
        for step in range(s.feature_steps + 1):
            opt.zero_grad(set_to_none=True)
            loss = pixel_loss(rest(w), x)
            if s.feature_l2:
                loss = loss + s.feature_l2 * (w - f0).pow(2).sum() / f0.pow(2).sum().clamp_min(1e-12)
            if loss.item() < best_loss:
                fp, best_loss = w.detach().clone(), loss.item()
            if step == s.feature_steps:
                break
            loss.backward()
            opt.step()
            sched.step()
            if step % 25 == 0:
                report("features", step / max(1, s.feature_steps))
        with torch.inference_mode():
            ps["features"] = psnr(rest(fp), x)
            fl = middle(fp) if len(middle) else fp  # (1, C, h, w) at the painting layer
        ms["features"] = (time.perf_counter() - t0) * 1000
        return fp, fl

    def _adapt(self, x, fl, report, ps: dict, ms: dict) -> tuple[nn.Module, dict[str, float], torch.Tensor]:
        """Stage 3: a bounded weight delta of the blocks after the painting layer (the best weights seen by pixel
        loss: never worse than the start); returns the adapted tail, the relative deltas and its render."""
        s = self.settings
        t0 = time.perf_counter()
        tail = own_tail(layer_chain(self.g, self.paint_layer, None), s.adapt_last)
        params = _adaptable(tail)
        base = {n: p.detach().clone() for n, p in params}
        norms = {n: float(b.norm()) or 1.0 for n, b in base.items()}
        groups = [{"params": [p], "lr": s.adapt_lr * (norms[n] / p.numel() ** 0.5)} for n, p in params]
        opt = torch.optim.Adam(groups) if groups and s.adapt_steps else None
        best, best_loss = None, float("inf")
        for step in range(s.adapt_steps + 1 if opt else 0):
            opt.zero_grad(set_to_none=True)
            reg = sum((p - base[n]).pow(2).sum() / norms[n] ** 2 for n, p in params)
            fit = pixel_loss(tail(fl), x)
            if fit.item() < best_loss:
                best, best_loss = [p.detach().clone() for _, p in params], fit.item()
            if step == s.adapt_steps:
                break
            loss = fit + s.delta_l2 * reg
            loss.backward()
            opt.step()
            with torch.no_grad():  # the hard bound
                for n, p in params:
                    dw = p - base[n]
                    size = float(dw.norm())
                    if size > s.max_delta * norms[n]:
                        p.copy_(base[n] + dw * (s.max_delta * norms[n] / size))
            if step % 25 == 0:
                report("adapted", step / max(1, s.adapt_steps))
        if best is not None:
            with torch.no_grad():
                for (_, p), b in zip(params, best, strict=True):
                    p.copy_(b)
        tail.requires_grad_(False).eval()
        delta = {n: float((p - base[n]).norm()) / norms[n] for n, p in params}
        total = sum(float((p - base[n]).pow(2).sum()) for n, p in params)
        delta["total"] = (total / max(1e-12, sum(v**2 for v in norms.values()))) ** 0.5
        with torch.inference_mode():
            recon = tail(fl)
            ps["adapted"] = psnr(recon, x)
        ms["adapted"] = (time.perf_counter() - t0) * 1000
        return tail, delta, recon

    def load(self, state: dict) -> ProjectedImage:
        """Rebuild a ProjectedImage from ``ProjectedImage.state()`` (for this generator and layers)."""
        if state.get("paint_layer") != self.paint_layer or state.get("project_layer") != self.project_layer:
            raise ValueError(
                f"state: projected at {state.get('project_layer')}/{state.get('paint_layer')}, "
                f"this projector uses {self.project_layer}/{self.paint_layer}"
            )
        middle = layer_chain(self.g, self.project_layer, self.paint_layer)
        tail = own_tail(layer_chain(self.g, self.paint_layer, None), self.settings.adapt_last)
        missing = set(adapted_state(tail)) - set(state["tail"])
        if missing:
            raise ValueError(f"state: tail lacks {sorted(missing)[:3]} (projected with other adapt_last settings)")
        tail.load_state_dict(state["tail"], strict=False)
        tail.requires_grad_(False).eval()
        fp = state["project_features"].float().to(self.device)
        with torch.inference_mode():
            fl = middle(fp) if len(middle) else fp
        nums = state.get("numbers", {})
        original = state["original"].numpy().astype(np.uint8)
        large = state["large"].numpy().astype(np.uint8) if "large" in state else None
        return ProjectedImage(
            self.paint_layer, self.project_layer, fp, fl, middle, tail, original,
            nums.get("psnr", {}), nums.get("ms", {}), nums.get("delta", {}), self.settings, large=large,
        )  # fmt: skip
