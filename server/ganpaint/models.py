"""Models on disk: ``models/<model_id>/model.json`` beside the generator (and segmenter) weights.

model.json::

    {"id": "scenes64", "name": "...", "resolution": 64, "z_dim": 128,
     "generator": "generator.pth",          # relative to the folder, or an absolute path (external weights)
     "segmenter": "segmenter.pth" | null,
     "refiner": "refiner.pth" | null,       # optional: a 4x refiner for sharp frames (ganpaint.refine)
     "default_layer": "layer6", "gallery": [12, 40, ...], "description": "...", "provenance": {...}}
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganpaint import REPO_ROOT

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_MODEL_ID = "scenes64"


def default_models_dir() -> Path:
    return Path(os.environ.get("GANPAINT_MODELS_DIR", REPO_ROOT / "models"))


def default_precomputed_dir() -> Path:
    return Path(os.environ.get("GANPAINT_PRECOMPUTED_DIR", REPO_ROOT / "precomputed"))


@dataclass(frozen=True)
class ModelInfo:
    id: str
    folder: Path
    name: str
    resolution: int
    z_dim: int
    generator_path: Path
    segmenter_path: Path | None
    default_layer: str
    gallery: list[int] = field(default_factory=list)
    description: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    refiner_path: Path | None = None


def check_model_id(model_id: str) -> str:
    """Reject ids that could name anything outside the models directory."""
    if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id) or ".." in model_id:
        raise ValueError(f"invalid model id {model_id!r}: use letters, digits, '_', '-', '.' (max 64)")
    return model_id


def load_model_info(model_id: str, models_dir: str | Path | None = None) -> ModelInfo:
    check_model_id(model_id)
    folder = Path(models_dir or default_models_dir()) / model_id
    meta_path = folder / "model.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"unknown model {model_id!r}: no {meta_path}")
    try:
        meta = json.loads(meta_path.read_text())
        generator = Path(meta.get("generator", "generator.pth"))
        segmenter = meta.get("segmenter")
        refiner = meta.get("refiner")
        return ModelInfo(
            id=model_id,
            folder=folder,
            name=str(meta.get("name", model_id)),
            resolution=int(meta["resolution"]),
            z_dim=int(meta["z_dim"]),
            generator_path=generator if generator.is_absolute() else folder / generator,
            segmenter_path=(folder / segmenter) if segmenter else None,
            default_layer=str(meta["default_layer"]),
            gallery=[int(i) for i in meta.get("gallery", [])],
            description=str(meta.get("description", "")),
            provenance=dict(meta.get("provenance", {})),
            refiner_path=(folder / refiner) if refiner else None,
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{meta_path}: malformed model.json ({exc!r})") from exc


def list_model_ids(models_dir: str | Path | None = None) -> list[str]:
    root = Path(models_dir or default_models_dir())
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model.json").is_file() and MODEL_ID_PATTERN.match(p.name))


def write_model_json(folder: str | Path, meta: dict[str, Any]) -> Path:
    path = Path(folder) / "model.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(meta, indent=1) + "\n")
    return path
