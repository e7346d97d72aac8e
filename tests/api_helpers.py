"""Shared by the tests/test_api*.py files: a tiny model on disk and a TestClient app serving it."""

from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from ganpaint.api.app import create_app
from ganpaint.api.settings import Settings
from ganpaint.tiny import make_tiny_model

STROKE = {
    "concept": "tree",
    "mode": "draw",
    "strength": 20,
    "mask": {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15},
}


def tiny_settings(root: Path, **overrides) -> Settings:
    if not (root / "models" / "tiny" / "model.json").is_file():
        make_tiny_model(root / "models", root / "precomputed")
    base = dict(models_dir=root / "models", precomputed_dir=root / "precomputed", model="tiny", threads=1)
    return Settings(**{**base, **overrides})


@contextlib.contextmanager
def tiny_client(root: Path, **overrides):
    with TestClient(create_app(tiny_settings(root, **overrides))) as client:
        yield client


def png_url(arr: np.ndarray, mode: str) -> str:
    """An image as a PNG data URL (a mask form)."""
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def big_png(side: int = 1100) -> str:
    """A side x side RGBA PNG (a few KB) whose cost is over the small lane's."""
    arr = np.zeros((side, side, 4), np.uint8)
    arr[: side // 2, :, 3] = 255
    return png_url(arr, "RGBA")


# masks with numbers too large to convert: each error names the field
HUGE = [
    ({"points": [[0.5, 0.5]], "radius": 10**400}, "mask.radius: expected a number in 0..1, got an integer of 1329"),
    ({"points": [[0.5, 2**1024]], "radius": 0.1}, "mask.points[0][1]: expected a number in 0..1, got an integer of"),
    ({"shape": [2, 2], "runs": [10**400, 4]}, "mask.runs[0]: expected an integer in 0..4, got an integer of"),
    ({"shape": [10**400, 2], "runs": [4]}, "mask.shape[0]: expected an integer in 1..2048, got an integer of"),
    ({"shape": [2, 2], "bitbounds": [0, 0, 2**1024, 1], "bitstring": "1"}, "mask.bitbounds[2]: expected an integer"),
]
