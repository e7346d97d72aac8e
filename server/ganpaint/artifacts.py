"""The "artifacts" model option: ablate a model's artifact units (``precomputed/<id>/artifacts.json``, written by
``ganpaint dissect --artifacts``) in every render that asks for it.

    rankings = ArtifactRankings(precomputed_dir)                    # one per engine: engine.artifacts
    edits = rankings.edits(m, "removed") + stroke_edits             # [] for "kept"

"removed" is one fixed ``UnitEdit``: the ranking's first ``k`` units of its layer set to 0 everywhere (ICLR
section 4.2), put before the strokes so a stroke still paints over it; "kept" renders the generator as trained.
A request without the option gets the model's measured ``default`` (bench/artifacts.py --record; "kept" when
the file has none, or the model has no ranking). The ranking is read once per model (by its generator's sha256)
and engine.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ganpaint.nn.intervene import UnitEdit

CHOICES = ("removed", "kept")
FILE = "artifacts.json"


class ArtifactRankings:
    """Each model's artifacts.json, read once (per model id and generator sha256; as many entries as models the
    registry loads). One per engine (``engine.artifacts``); thread-safe."""

    def __init__(self, precomputed_dir: str | Path):
        self.precomputed_dir = Path(precomputed_dir)
        self._lock = threading.Lock()
        self._docs: dict[tuple[str, str], dict | None] = {}

    def ranking(self, model) -> dict | None:
        """The model's ranking (None: no file, or it ranks another generator or a layer the model lacks)."""
        key = (model.id, model.sha256)
        with self._lock:
            if key in self._docs:
                return self._docs[key]
        path = self.precomputed_dir / model.id / FILE
        doc = json.loads(path.read_text()) if path.is_file() else None
        if doc is not None:
            g = model.generator
            usable = doc.get("model_sha256") == model.sha256 and doc.get("layer") in g.layer_names
            doc = doc if usable and doc.get("units_in_layer") == g.feature_shape(doc["layer"])[0] else None
        with self._lock:
            self._docs[key] = doc
        return doc

    def default_choice(self, model) -> str:
        """The model's measured default: "removed" only where its file says so."""
        doc = self.ranking(model)
        return "removed" if doc is not None and doc.get("default") == "removed" else "kept"

    def edits(self, model, choice: str | None, field: str = "artifacts") -> list[UnitEdit]:
        """[] for "kept", [the ablation] for "removed", the model's default for None; ValueError naming
        ``field`` for another value, or for "removed" on a model without an artifact ranking."""
        if choice is None:
            choice = self.default_choice(model)
        if choice not in CHOICES:
            raise ValueError(f"{field}: expected 'removed' or 'kept', got {choice!r}")
        if choice == "kept":
            return []
        doc = self.ranking(model)
        if doc is None:
            raise ValueError(
                f"{field}: model {model.id!r} has no artifact ranking (ganpaint dissect --artifacts), "
                f"so 'removed' is not available; use 'kept'"
            )
        return [UnitEdit(doc["layer"], doc["ranking"][: doc["k"]], 0.0)]
