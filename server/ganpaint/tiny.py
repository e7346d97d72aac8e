"""A tiny seeded model with a hand-built dissection, for tests and for running the server without weights.

    make_tiny_model("/tmp/tiny/models", "/tmp/tiny/precomputed")     # or: ganpaint make-tiny --out /tmp/tiny
    ganpaint serve --models-dir /tmp/tiny/models --precomputed-dir /tmp/tiny/precomputed --model tiny

writes ``models/tiny/{generator.pth, model.json}`` (32 px by default, z_dim 16, widths 16,16,16,16,8,8,8,8 and 8
per extra layer at 64-256 px, random seeded weights; with ``refiner=True`` a random 4x ``refiner.pth``) and
``precomputed/tiny/{layer4,layer6}.json`` with three concepts (tree, grass, sky) whose units and values are
made up but valid, and at layer4 two made-up "sky" stamp styles (``layer4.stamps.npz``). Same seed, same files:
tests and other helpers rely on it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from ganpaint.models import write_model_json
from ganpaint.nn.proggan import ProgressiveGenerator
from ganpaint.precomputed import SCHEMA_VERSION, write_precomputed
from ganpaint.refine import Refiner, save_refiner
from ganpaint.stamps.templates import ConceptStamps, StampStyle, save_stamps

TINY_CHANNELS = (16, 16, 16, 16, 8, 8, 8, 8)
TINY_Z_DIM = 16
TINY_LAYERS = ("layer4", "layer6")
TINY_GALLERY = [0, 1, 2, 3, 4, 5, 6, 7]
TINY_SIZES = (32, 64, 128, 256)
STAMP_GRID = 8


def tiny_channels(size: int = 32) -> list[int]:
    """Conv widths of the tiny plan at `size` px: two narrow 8-wide convs per doubling past 32 px."""
    if size not in TINY_SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, TINY_SIZES))}, got {size}")
    return list(TINY_CHANNELS) + [8] * (2 * (size.bit_length() - 6))


def tiny_generator(seed: int = 0, size: int = 32) -> ProgressiveGenerator:
    """A seeded ProGAN (32 px unless asked) with random weights (biases random too, so they matter)."""
    gen = torch.Generator().manual_seed(seed)
    g = ProgressiveGenerator(tiny_channels(size), TINY_Z_DIM)
    with torch.no_grad():
        for name, p in g.named_parameters():
            std = 0.1 if name.endswith("wscale.b") else 1.0
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return g.eval()


def _concept(units: list[int], value: float, ranking: str) -> dict:
    n = len(units)
    return {
        "ranking": ranking,
        "units": units,
        "k": [round(value / 2, 3)] * n,
        "levels": [round(value * 0.6, 3)] * n,
        "draw_values": [value] * n,
        "draw_rule": "2k",
        "effect": {"ablation_removed": 0.5, "ace": 0.1, "random20": 0.01},
        "context": {"grass": 0.5, "sky": 0.1},
    }


def tiny_dissection(layer: str, feature_shape: tuple[int, int, int], sha256: str, model_id: str) -> dict:
    c = feature_shape[0]
    half = c // 2
    return {
        "schema_version": SCHEMA_VERSION,
        "created_by": "ganpaint tiny (hand-built)",
        "model_id": model_id,
        "model_sha256": sha256,
        "segmenter": "none",
        "layer": layer,
        "feature_shape": list(feature_shape),
        "settings": {"hand_built": True},
        "samples": {"selection": 0, "heldout": 0},
        "units": [
            {"unit": u, "label": "tree" if u < half else "grass", "iou": round(0.05 + 0.01 * u, 3), "quantile_99": 3.0}
            for u in range(c)
        ],
        "concepts": {
            "tree": _concept(list(range(half)), 4.0, "ace"),
            "grass": _concept(list(range(half, c)), 3.0, "iou"),
            "sky": {**_concept([c - 1, 0], 5.0, "iou"), "erase": {"ranking": "removal", "units": [1, 2, 3]}},
        },
    }


def tiny_stamps(feature_shape: tuple[int, int, int], seed: int = 0) -> dict[str, ConceptStamps]:
    """Hand-built stamps for "sky" (the last concept, so the page's default concept stays a unit brush): style 0
    a tall box of +3, style 1 a small disc of -3 (seeded patterns)."""
    c = feature_shape[0]
    gen = torch.Generator().manual_seed(seed + 1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, STAMP_GRID), torch.linspace(-1, 1, STAMP_GRID), indexing="ij")
    disc = ((xx**2 + yy**2) <= 1.0).float()  # (g, g)
    styles = []
    for i, (sign, foot, size, colour) in enumerate(
        ((3.0, torch.ones(STAMP_GRID, STAMP_GRID), (8.0, 12.0), (20, 110, 40)), (-3.0, disc, (6.0, 6.0), (200, 60, 40)))
    ):
        pattern = sign * (1 + torch.rand(c, STAMP_GRID, STAMP_GRID, generator=gen))  # (C, g, g)
        thumb = np.zeros((8, 8, 3), np.uint8) + np.array(colour, np.uint8)
        styles.append(StampStyle(i, 10 - 4 * i, size, pattern, foot, thumb))
    natural = {"w": 8.0, "h": 12.0, "w_iqr": [6.0, 8.0], "h_iqr": [6.0, 12.0], "aspect": 1.5}
    return {"sky": ConceptStamps("sky", 16, natural, styles)}


def tiny_refiner(seed: int = 0) -> Refiner:
    """A 4x refiner with seeded random weights (8 channels, 2 convolutions): shapes and paths, not pictures."""
    gen = torch.Generator().manual_seed(seed)
    net = Refiner(width=8, blocks=2)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return net.eval()


def make_tiny_model(
    models_dir: str | Path,
    precomputed_dir: str | Path,
    model_id: str = "tiny",
    seed: int = 0,
    size: int = 32,
    refiner: bool = False,
) -> Path:
    """Write the tiny model and its two dissections (and with ``refiner`` a seeded random 4x refiner); returns the
    model folder."""
    folder = Path(models_dir) / model_id
    folder.mkdir(parents=True, exist_ok=True)
    g = tiny_generator(seed, size)
    weights = folder / "generator.pth"
    torch.save(g.state_dict(), weights)
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    write_model_json(
        folder,
        {
            "id": model_id,
            "name": f"Tiny random generator (seed {seed})",
            "resolution": g.resolution,
            "z_dim": g.z_dim,
            "generator": "generator.pth",
            "segmenter": None,
            "refiner": "refiner.pth" if refiner else None,
            "default_layer": TINY_LAYERS[0],
            "gallery": TINY_GALLERY,
            "description": f"{size} px random seeded ProGAN with a hand-built dissection; for tests and demos.",
            "provenance": {"made_by": "ganpaint make-tiny", "seed": seed, "size": size},
        },
    )
    if refiner:
        save_refiner(tiny_refiner(seed), folder / "refiner.pth", made_by="ganpaint make-tiny", seed=seed)
    for layer in TINY_LAYERS:
        doc = tiny_dissection(layer, g.feature_shape(layer), sha, model_id)
        out = Path(precomputed_dir) / model_id / f"{layer}.json"
        if layer == TINY_LAYERS[0]:  # stamps at the default layer only: the other shows a layer without them
            out.parent.mkdir(parents=True, exist_ok=True)
            stamps = tiny_stamps(g.feature_shape(layer), seed)
            doc["stamps"] = save_stamps(stamps, out.with_name(f"{layer}.stamps.npz"), STAMP_GRID, {"hand_built": True})
        write_precomputed(doc, out)
    return folder
