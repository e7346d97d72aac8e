"""The "artifacts" model option: ablate a model's artifact units (``precomputed/<id>/artifacts.json``, written by
``ganpaint dissect --artifacts``) in every render that asks for it.

    edits = artifact_edits(engine.precomputed_dir, m, "removed") + stroke_edits   # [] for "kept"

"removed" is one fixed ``UnitEdit``: the ranking's first ``k`` units of its layer set to 0 everywhere (ICLR
section 4.2), put before the strokes so a stroke still paints over it; "kept" renders the generator as trained.
A request without the option gets the model's measured ``default`` (bench/artifacts.py --record; "kept" when
the file has none, or the model has no ranking). The ranking is read once per model (by its generator's sha256).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ganpaint.nn.intervene import UnitEdit

CHOICES = ("removed", "kept")
FILE = "artifacts.json"

_lock = threading.Lock()
_cache: dict[tuple[str, str, str], dict | None] = {}


def artifact_ranking(precomputed_dir: str | Path, model) -> dict | None:
    """The model's artifacts.json (None: there is none, or it ranks another generator or a layer it lacks)."""
    key = (str(precomputed_dir), model.id, model.sha256)
    with _lock:
        if key in _cache:
            return _cache[key]
    path = Path(precomputed_dir) / model.id / FILE
    doc = json.loads(path.read_text()) if path.is_file() else None
    if doc is not None:
        usable = doc.get("model_sha256") == model.sha256 and doc.get("layer") in model.generator.layer_names
        doc = doc if usable and doc["units_in_layer"] == model.generator.feature_shape(doc["layer"])[0] else None
    with _lock:
        _cache[key] = doc
    return doc


def default_choice(precomputed_dir: str | Path, model) -> str:
    """The model's measured default: "removed" only where its file says so."""
    doc = artifact_ranking(precomputed_dir, model)
    return "removed" if doc is not None and doc.get("default") == "removed" else "kept"


def artifact_edits(precomputed_dir: str | Path, model, choice: str | None, field: str = "artifacts") -> list[UnitEdit]:
    """[] for "kept", [the ablation] for "removed", the model's default for None; ValueError naming ``field``
    for another value, or for "removed" on a model without an artifact ranking."""
    if choice is None:
        choice = default_choice(precomputed_dir, model)
    if choice not in CHOICES:
        raise ValueError(f"{field}: expected 'removed' or 'kept', got {choice!r}")
    if choice == "kept":
        return []
    doc = artifact_ranking(precomputed_dir, model)
    if doc is None:
        raise ValueError(
            f"{field}: model {model.id!r} has no artifact ranking (ganpaint dissect --artifacts), "
            f"so 'removed' is not available; use 'kept'"
        )
    units = doc["ranking"][: doc["k"]]
    return [UnitEdit(doc["layer"], units, 0.0)]
