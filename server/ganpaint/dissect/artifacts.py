"""Artifact units (ICLR section 4.2, appendix S-6.1): units whose top-activating images look least like real ones.

For one layer, every unit u gets a Frechet distance ``fd[u]``: Gaussians fitted to the image features of the
``top`` generated samples (of ``samples``) where u's peak activation (max over the feature map) is highest,
against the same features of ``real`` scene-world renders. The paper's automatic method took the 10,000 of
200,000 images maximising u (5%) against 50,000 real images with Inception features; here the defaults are
500 of 10,000 (5%) against 5,000 renders.

Feature space (*choice*): the embedded segmenter's four U-Net encoder blocks (16, 32, 96 and 192 channels at
64, 32, 16 and 8 px for 64 px input), each averaged over space and concatenated: a 336-d vector per image, the
role Inception's pool features play in FID. The shallow blocks matter: in the planted-unit test
(tests/test_artifacts.py) the deepest block alone ranked the planted checkerboard unit second (z 3.0, another
unit 3.4), all four blocks ranked it first (z 7.7, next 3.1). Why the segmenter and not the critic: the
segmenter was trained on real renders only (augmented), never on generated images, so it is a fixed real-data
feature extractor like Inception; the critic is the discriminator trained against this very generator, and
ranking units by it would make its score, which the measurement reports, a circular check. A segmenter
without a U-Net (an ADE20K one, a test fake) falls back to its class probabilities averaged over the image.

Rule for the units to ablate, fixed before any held-out measurement: the paper's 20 of 512 scaled to the
layer's width, ``k = round_half_up(C * 20 / 512)`` (at least 1): 5 of 128 units at scenes64's layer4, 3 of 64 at
layer6. Each unit also gets a robust z-score ``(fd - median) / (1.4826 MAD)`` (reported, not used to pick k).

    doc = rank_layer(ctx, "layer4")       # cached under ctx.cache_dir; writes precomputed/<model>/artifacts.json

Latents: ``common.latents(samples, z_dim, seed, ARTIFACT_STREAM)``, a stream the dissection never uses (0 is its
selection, 1 its held-out set); the held-out measurement (bench/artifacts.py) uses ``HELDOUT_STREAM``. Real
renders: scene seeds ``real_seed ..`` (the segmenter's training and evaluate.py use others).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganpaint.dissect.common import cache_key, latents
from ganpaint.train.evaluate import frechet_distance

log = logging.getLogger("ganpaint.dissect")

ARTIFACT_STREAM, HELDOUT_STREAM = 2, 3
SCHEMA_VERSION = 1
PAPER_UNITS, PAPER_WIDTH = 20, 512  # ICLR: 20 artifact units of layer4's 512
SHOWN = 8  # top sample ids kept per unit (report pictures)
FEATURES_VERSION = 2  # in the cache keys: 1 was the deepest block alone


@dataclass
class ArtifactSettings:
    samples: int = 10000  # generated samples ranked by each unit's peak activation
    top: int = 500  # top-activating samples per unit whose features are compared with the real renders
    real: int = 5000  # scene-world renders
    real_seed: int = 4_000_000
    seed: int = 0
    batch: int = 100


def choose_k(units: int) -> int:
    """The paper's 20 of 512 scaled to ``units``, rounded half up, at least 1: 128 -> 5, 64 -> 3, 16 -> 1."""
    return max(1, math.floor(units * PAPER_UNITS / PAPER_WIDTH + 0.5))


# ------------------------------------------------------------------------------------------- features
def _unet(segmenter):
    from ganpaint.train.segmenter import UNet

    net = getattr(segmenter, "net", None)
    return net if isinstance(net, UNet) else None


def feature_space(segmenter) -> str:
    """A sentence naming the features ``image_features`` computes for ``segmenter``."""
    net = _unet(segmenter)
    if net is not None:
        return f"segmenter U-Net encoder blocks ({'+'.join(map(str, net.widths))} channels), each mean over space"
    return f"segmenter class probabilities ({len(segmenter.names)} classes), mean over the image"


@torch.no_grad()
def segment_and_features(segmenter, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, H, W) images in [-1, 1] -> ((N, H, W) uint8 argmax labels, (N, D) float32 features): one U-Net
    pass gives both (``feature_space``)."""
    x = images.float().clamp(-1, 1)
    net = _unet(segmenter)
    if net is None:
        p = segmenter.probabilities(x)  # (N, K, H, W)
        return p.argmax(1).to(torch.uint8).cpu().numpy(), p.mean((2, 3)).float().cpu().numpy()
    n, _, h, w = x.shape
    size = segmenter.size
    if (h, w) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    skips = []
    for i, block in enumerate(net.down):
        x = block(F.max_pool2d(x, 2) if i else x)  # (N, widths[i], S / 2**i, S / 2**i)
        skips.append(x)
    feats = torch.cat([s.mean((2, 3)) for s in skips], dim=1)  # (N, sum(widths))
    for i in reversed(range(len(net.up))):
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = net.up[i](torch.cat([x, skips[i]], dim=1))
    logits = net.head(x)  # (N, K, S, S)
    if (h, w) != (size, size):
        logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)  # (N, K, H, W)
    return logits.argmax(1).to(torch.uint8).cpu().numpy(), feats.float().cpu().numpy()


def real_features(segmenter, seed: int, n: int, size: int, batch: int = 100, progress: bool = False) -> np.ndarray:
    """(n, D) features of scene renders ``seed .. seed + n - 1`` at ``size`` px."""
    from ganpaint.train.segmenter import render_scenes

    out = []
    for a in tqdm(range(0, n, batch), desc="artifacts: real renders", disable=not progress, leave=False):
        imgs, _ = render_scenes(seed + a, min(batch, n - a), size)
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1  # (b, 3, S, S)
        out.append(segment_and_features(segmenter, x)[1])
    return np.concatenate(out)


# ------------------------------------------------------------------------------------------- ranking
@torch.no_grad()
def sample_pass(h_fn, f_fn, segmenter, z: torch.Tensor, batch: int, progress: bool = False) -> dict:
    """Every sample's per-unit peak activation (N, C) and image features (N, D)."""
    peaks, feats = [], []
    for a in tqdm(range(0, len(z), batch), desc="artifacts: samples", disable=not progress, leave=False):
        r = h_fn(z[a : a + batch])  # (B, C, h, w)
        peaks.append(r.amax((2, 3)).float().cpu().numpy())  # (B, C)
        feats.append(segment_and_features(segmenter, f_fn(r))[1])  # (B, D)
    return {"peaks": np.concatenate(peaks), "features": np.concatenate(feats)}


def robust_z(x: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 * median absolute deviation); 0 where the spread is 0."""
    med = np.median(x)
    mad = 1.4826 * np.median(np.abs(x - med))
    return (x - med) / mad if mad > 0 else np.zeros_like(x)


def score_units(peaks: np.ndarray, feats: np.ndarray, real: np.ndarray, top: int, seed: int = 0) -> dict:
    """Per unit: FD of its ``top`` samples (by peak) vs ``real``; also the FD of ``top`` random samples (the
    score of a unit with no preference: mean over 4 draws) and of all samples."""
    n, c = peaks.shape
    top = min(top, n)
    order = np.argsort(-peaks, axis=0, kind="stable")[:top]  # (top, C) sample ids, highest first
    fd = np.array([frechet_distance(feats[order[:, u]], real)["fsd"] for u in range(c)])  # (C,)
    rng = np.random.default_rng([seed, 23])
    rnd = [frechet_distance(feats[rng.choice(n, top, replace=False)], real)["fsd"] for _ in range(4)]
    return {
        "fd": fd,
        "z": robust_z(fd),
        "top_ids": order[:SHOWN].T,  # (C, SHOWN)
        "random_fd": float(np.mean(rnd)),
        "all_fd": frechet_distance(feats, real)["fsd"],
    }


def _sig(x: float) -> float:
    """x to 5 significant digits (FDs range from ~1e-9 for an untrained segmenter's features to ~1e3)."""
    return float(f"{float(x):.5g}")


def ranking_document(info: dict, layer: str, c: int, scores: dict, s: ArtifactSettings, space: str) -> dict:
    """The artifacts.json document: units worst first, the k to ablate and the rule that chose it."""
    fd, z = scores["fd"], scores["z"]
    ranking = [int(u) for u in np.argsort(-fd, kind="stable")]
    k = choose_k(c)
    return {
        "schema_version": SCHEMA_VERSION,
        **info,
        "layer": layer,
        "units_in_layer": c,
        "feature_space": space,
        "settings": {**asdict(s), "stream": ARTIFACT_STREAM},
        "all_samples_fd": _sig(scores["all_fd"]),
        "random_top_fd": _sig(scores["random_fd"]),
        "ranking": ranking,
        "k": k,
        "k_rule": f"round_half_up({c} * {PAPER_UNITS} / {PAPER_WIDTH}), at least 1 (the paper's 20 of 512)",
        "units": [
            {"unit": u, "fd": _sig(fd[u]), "z": round(float(z[u]), 3), "top": scores["top_ids"][u].tolist()}
            for u in range(c)
        ],
        "measured": None,  # bench/artifacts.py --record: held-out numbers
        "default": "kept",  # "removed" only where the held-out measurement says so
    }


# ------------------------------------------------------------------------------------------- one run
def _cached_npz(path: Path, fn) -> dict:
    if path.is_file():
        log.info("artifacts: cached %s", path.name)
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    out = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


def layer_scores(ctx, layer: str, s: ArtifactSettings) -> tuple[dict, int]:
    """(unit scores, units in the layer) for ``layer`` of ``ctx``'s model; both passes cached."""
    g = ctx.generator
    res = g.resolution
    key_real = cache_key(v=FEATURES_VERSION, seg=ctx.seg_id, seed=s.real_seed, n=s.real, size=res)
    real = _cached_npz(
        ctx.folder / f"artifacts-real-{key_real}.npz",
        lambda: {"features": real_features(ctx.segmenter, s.real_seed, s.real, res, s.batch, ctx.progress)},
    )["features"]
    h_fn, f_fn = (m.to(ctx.device) for m in g.split(layer))
    z = latents(s.samples, g.z_dim, s.seed, ARTIFACT_STREAM).to(ctx.device)
    key = cache_key(**ctx.base_key, f=FEATURES_VERSION, layer=layer, samples=s.samples, stream=ARTIFACT_STREAM)
    log.info("artifacts: %s, %d samples, %d real renders", layer, s.samples, s.real)
    passed = _cached_npz(
        ctx.folder / f"artifacts-{layer}-{key}.npz",
        lambda: sample_pass(h_fn, f_fn, ctx.segmenter, z, s.batch, ctx.progress),
    )
    return score_units(passed["peaks"], passed["features"], real, s.top, s.seed), passed["peaks"].shape[1]


def rank_layer(ctx, layer: str, s: ArtifactSettings | None = None, write: bool = True) -> dict:
    """Rank ``layer``'s units by artifact FD; writes ``precomputed/<model>/artifacts.json`` (one layer per model:
    a new layer replaces the old file; a new ranking drops earlier held-out numbers, the same one keeps them)."""
    from ganpaint import __version__

    s = s or ArtifactSettings(seed=ctx.settings.seed, batch=max(ctx.settings.batch, 1))
    scores, c = layer_scores(ctx, layer, s)
    info = {
        "created_by": f"ganpaint {__version__} dissect --artifacts",
        "model_id": ctx.model_id,
        "model_sha256": ctx.model_sha256,
        "segmenter": ctx.seg_id,
    }
    doc = ranking_document(info, layer, c, scores, s, feature_space(ctx.segmenter))
    worst = ", ".join(f"{u} ({doc['units'][u]['fd']:.1f})" for u in doc["ranking"][: doc["k"]])
    log.info("artifacts: %s worst units (FD): %s; random-sample FD %.1f", layer, worst, doc["random_top_fd"])
    if write:
        path = ctx.out_dir / ctx.model_id / "artifacts.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        _keep_measured(path, doc)
        path.write_text(json.dumps(doc, indent=1))
    return doc


def _keep_measured(path: Path, doc: dict) -> None:
    """A rerun that ranks the same units the same way keeps the file's held-out numbers and default."""
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    same = all(old.get(f) == doc[f] for f in ("model_sha256", "segmenter", "layer", "ranking", "k", "settings"))
    if same and old.get("measured"):
        doc["measured"], doc["default"] = old["measured"], old.get("default", "kept")
