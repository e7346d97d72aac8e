"""Shared by the tests/test_api*.py files: a tiny model on disk and a TestClient app serving it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi.testclient import TestClient

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
