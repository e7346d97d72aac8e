"""Ship a trained run as a model folder: ``models/<id>/{generator.pth, model.json, samples.png}``.

The generator is the EMA copy in the published ProGAN layout. The gallery is curated by the model's
own segmenter: images where it sees the most brush concepts (building or brick, door, window, tree,
dome, cloud) come first, so a classroom starts on scenes with something to paint.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path

import torch

from ganpaint.models import write_model_json
from ganpaint.nn.proggan import ProgressiveGenerator, generator_from_state_dict, image_latents
from ganpaint.train.gan import Trainer, export_generator
from ganpaint.train.images import save_grid

GALLERY_CONCEPTS = (("building", "brick"), ("door",), ("window",), ("tree",), ("dome",), ("cloud",), ("tower",))


def curate_gallery(g: ProgressiveGenerator, segmenter, candidates: int = 300, keep: int = 16) -> list[int]:
    """Image ids among 0..candidates-1 ranked by how many brush concepts cover >= 1% of the image."""
    ids = list(range(candidates))
    scores = []
    with torch.inference_mode():
        for start in range(0, candidates, 50):
            x = g(image_latents(ids[start : start + 50], g.z_dim))  # (B, 3, R, R)
            labels = segmenter.probabilities(x).argmax(1)  # (B, R, R)
            for lab in labels:
                frac = torch.bincount(lab.flatten(), minlength=len(segmenter.names)).float() / lab.numel()
                present = [max(frac[segmenter.names.index(n)] for n in group) >= 0.01 for group in GALLERY_CONCEPTS]
                scores.append(sum(present))
    ranked = sorted(ids, key=lambda i: (-scores[i], i))
    return sorted(ranked[:keep])


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def export_model(run: str | Path, out: str | Path, model_id: str, default_layer: str, gallery_size: int = 16) -> dict:
    trainer = Trainer.resume(run)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = export_generator(trainer)
    torch.save(state, out / "generator.pth")
    g = generator_from_state_dict(state)
    with torch.inference_mode():
        save_grid(g(image_latents(range(32), g.z_dim)), out / "samples.png", cols=8)
    segmenter_path = out / "segmenter.pth"
    gallery = list(range(gallery_size))
    if segmenter_path.is_file():
        from ganpaint.train.segmenter import load_segmenter

        gallery = curate_gallery(g, load_segmenter(segmenter_path), keep=gallery_size)
    previous = json.loads((out / "model.json").read_text()) if (out / "model.json").is_file() else {}
    cfg = trainer.cfg
    meta = {
        "id": model_id,
        "name": previous.get("name", "Scene world, 64 px (ganpaint's embedded default)"),
        "resolution": g.resolution,
        "z_dim": g.z_dim,
        "generator": "generator.pth",
        "segmenter": "segmenter.pth" if segmenter_path.is_file() else None,
        "default_layer": previous.get("default_layer", default_layer),
        "gallery": gallery,
        "description": "A Progressive GAN trained by ganpaint on its procedural church/village scenes, on CPU.",
        "provenance": {
            "run": str(run),
            "images_seen": trainer.imgs_seen,
            "train_minutes": round(trainer.wall / 60, 1),
            "config": {k: v for k, v in vars(cfg).items() if k != "data"},
            "data": cfg.data,
            "generator_sha256": hashlib.sha256((out / "generator.pth").read_bytes()).hexdigest(),
            "hardware": f"{platform.machine()} CPU, torch {torch.__version__}",
            "commit": git_commit(),
        },
    }
    write_model_json(out, meta)
    return meta
