"""The precomputed dissection of one model layer: ``precomputed/<model_id>/<layer>.json``.

Written by ``ganpaint dissect``; the server reads dissections only through ``load_precomputed``.
Schema (version 2; every field is checked on load, errors name the field; version 1 files, which have no
``stamps``, still load)::

    {
      "schema_version": 2,
      "created_by": "ganpaint 0.1.0 dissect",
      "model_id": "scenes64", "model_sha256": "<hex of generator.pth>", "segmenter": "<id>",
      "layer": "layer6", "feature_shape": [C, h, w],
      "settings": {...},                                # the dissection arguments
      "samples": {"selection": 1000, "heldout": 500},   # latents used to select units / to measure
      "units": [{"unit": 0, "label": "tree" | null, "iou": 0.31, "quantile_99": 4.2}, ...],   # C rows
      "concepts": {
        "tree": {
          "ranking": "ace" | "iou",        # which ranking the brush uses (the one that measured better)
          "units": [20 ints],              # best first; strength s uses the first s
          "k": [20 floats],                # conditional-mean activation where the concept is present
          "levels": [20 floats],           # each unit's 0.99 quantile level
          "draw_values": [20 floats],      # the per-unit value the brush writes when drawing
          "draw_rule": "2k",               # how draw_values were chosen (e.g. "k", "2k", "quantile_99")
          "erase": {"ranking": "removal" | "ace" | "iou", "units": [<= 20 ints]},   # optional: the units the
                                           #   erase brush zeroes (absent: the draw units above)
          "effect": {...},                 # measured numbers: {iou_ranked, ace_ranked, random: {removed, ace,
                                           #   ...}, curves, ...} (docs/dissection.md); may be {} (unmeasured)
          "context": {"building": 0.41, "sky": 0.02}   # insertion success by class at the location
        }
      },
      "stamps": {...}                      # optional (version 2): concept stamps, their index; the arrays are in
                                           #   a sidecar .npz beside this file (ganpaint.stamps.templates)
    }
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganpaint.nn.proggan import layer_index
from ganpaint.stamps.templates import ConceptStamps, load_stamps, validate_index

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no stamps
MAX_UNITS_PER_CONCEPT = 20


@dataclass(frozen=True)
class ConceptUnits:
    name: str
    ranking: str
    units: list[int]
    k: list[float]
    levels: list[float]
    draw_values: list[float]
    draw_rule: str
    effect: dict[str, Any] = field(default_factory=dict)
    context: dict[str, float] = field(default_factory=dict)
    erase_ranking: str = ""  # "" = the draw ranking
    erase_units: list[int] = field(default_factory=list)  # [] = the draw units

    def units_for(self, mode: str) -> list[int]:
        """The units a stroke of ``mode`` ("draw" or "erase") sets, best first."""
        return self.erase_units if mode == "erase" and self.erase_units else self.units


@dataclass(frozen=True)
class Precomputed:
    model_id: str
    layer: str
    feature_shape: tuple[int, int, int]
    concepts: dict[str, ConceptUnits]
    units: list[dict[str, Any]]
    raw: dict[str, Any]  # the whole validated document, for routes that show it
    stamps: dict[str, ConceptStamps] = field(default_factory=dict)  # by concept; empty without stamps


def _require(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"precomputed: {where}: {msg}")


def _finite_list(doc: Any, where: str, n: int | None = None, kind: type = float) -> list:
    _require(isinstance(doc, list), where, f"expected a list, got {type(doc).__name__}")
    if n is not None:
        _require(len(doc) == n, where, f"expected {n} entries, got {len(doc)}")
    for i, v in enumerate(doc):
        if kind is int:
            _require(isinstance(v, int) and not isinstance(v, bool), f"{where}[{i}]", f"expected an int, got {v!r}")
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            _require(ok, f"{where}[{i}]", f"expected a finite number, got {v!r}")
    return list(doc)


def _check_effect(effect: dict, where: str) -> None:
    """The measured sets in ``effect`` (``ganpaint dissect`` writes all three) hold finite numbers."""
    for part, keys in (
        ("iou_ranked", ("removed", "ace")),
        ("ace_ranked", ("removed", "ace")),
        ("random", ("removed",)),
        ("removal_ranked", ("removed",)),
        ("erase", ("removed",)),
    ):
        if part in effect:
            sub = effect[part]
            _require(isinstance(sub, dict), f"{where}.{part}", f"expected an object, got {sub!r}")
            _finite_list([sub.get(k) for k in keys], f"{where}.{part}.{'/'.join(keys)}")


def _unit_ids(doc: Any, where: str, channels: int) -> list[int]:
    ids = _finite_list(doc, where, kind=int)
    _require(1 <= len(ids) <= MAX_UNITS_PER_CONCEPT, where, f"expected 1..{MAX_UNITS_PER_CONCEPT} units")
    _require(all(0 <= u < channels for u in ids), where, f"unit ids must be in 0..{channels - 1}")
    _require(len(set(ids)) == len(ids), where, "unit ids must be distinct")
    return ids


def validate(doc: Any) -> Precomputed:
    """Check a parsed document against its schema version (1 or 2); ValueError names the first bad field.

    The stamps' sidecar is not read here (``load_precomputed`` reads it)."""
    _require(isinstance(doc, dict), "document", "expected a JSON object")
    version = doc.get("schema_version")
    _require(
        version in READABLE_VERSIONS and not isinstance(version, bool),
        "schema_version",
        f"expected one of {', '.join(map(str, READABLE_VERSIONS))}, got {version!r}",
    )
    _require(version >= 2 or "stamps" not in doc, "stamps", "needs schema_version 2")
    for key in ("model_id", "layer", "segmenter", "model_sha256", "created_by"):
        _require(
            isinstance(doc.get(key), str) and doc[key] != "", key, f"expected a non-empty string, got {doc.get(key)!r}"
        )
    shape = _finite_list(doc.get("feature_shape"), "feature_shape", 3, int)
    channels = shape[0]
    _require(all(s > 0 for s in shape), "feature_shape", f"expected positive sizes, got {shape}")
    _require(isinstance(doc.get("settings"), dict), "settings", "expected an object")
    samples = doc.get("samples")
    _require(
        isinstance(samples, dict) and all(isinstance(samples.get(k), int) for k in ("selection", "heldout")),
        "samples",
        f"expected {{'selection': int, 'heldout': int}}, got {samples!r}",
    )
    units = doc.get("units")
    _require(isinstance(units, list) and len(units) == channels, "units", f"expected {channels} unit rows")
    for i, row in enumerate(units):
        _require(isinstance(row, dict) and row.get("unit") == i, f"units[{i}]", "expected {'unit': i, ...} in order")
        _require(
            row.get("label") is None or isinstance(row.get("label"), str),
            f"units[{i}].label",
            "expected a string or null",
        )
        _finite_list([row.get("iou"), row.get("quantile_99")], f"units[{i}].iou/quantile_99")
    concepts_doc = doc.get("concepts")
    _require(isinstance(concepts_doc, dict), "concepts", "expected an object")
    concepts = {}
    for name, c in concepts_doc.items():
        where = f"concepts.{name}"
        _require(isinstance(c, dict), where, "expected an object")
        _require(
            c.get("ranking") in ("ace", "iou"), f"{where}.ranking", f"expected 'ace' or 'iou', got {c.get('ranking')!r}"
        )
        ids = _unit_ids(c.get("units"), f"{where}.units", channels)
        erase_ranking, erase_units = "", []
        if "erase" in c:  # optional: absent = erase with the draw units
            erase = c["erase"]
            _require(isinstance(erase, dict), f"{where}.erase", f"expected an object, got {erase!r}")
            erase_ranking = erase.get("ranking")
            _require(
                erase_ranking in ("removal", "ace", "iou"),
                f"{where}.erase.ranking",
                f"expected 'removal', 'ace' or 'iou', got {erase_ranking!r}",
            )
            erase_units = _unit_ids(erase.get("units"), f"{where}.erase.units", channels)
        lists = {key: _finite_list(c.get(key), f"{where}.{key}", len(ids)) for key in ("k", "levels", "draw_values")}
        _require(isinstance(c.get("draw_rule"), str), f"{where}.draw_rule", "expected a string")
        _require(isinstance(c.get("effect", {}), dict), f"{where}.effect", "expected an object")
        _check_effect(c.get("effect", {}), f"{where}.effect")
        context = c.get("context", {})
        _require(isinstance(context, dict), f"{where}.context", "expected an object")
        concepts[name] = ConceptUnits(
            name,
            c["ranking"],
            ids,
            lists["k"],
            lists["levels"],
            lists["draw_values"],
            c["draw_rule"],
            c.get("effect", {}),
            context,
            erase_ranking,
            erase_units,
        )
    if "stamps" in doc:
        validate_index(doc["stamps"], channels)
        unknown = sorted(set(doc["stamps"]["concepts"]) - set(concepts))
        _require(not unknown, "stamps.concepts", f"concepts without units: {unknown}")
    return Precomputed(doc["model_id"], doc["layer"], (shape[0], shape[1], shape[2]), concepts, units, doc)


def load_precomputed(path: str | Path) -> Precomputed:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"precomputed file not found: {path}")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"precomputed file {path} is not valid JSON: {exc}") from exc
    try:
        pre = validate(doc)
        if "stamps" in doc:
            pre.stamps.update(load_stamps(doc["stamps"], path.parent, pre.feature_shape[0]))
        return pre
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def write_precomputed(doc: dict[str, Any], path: str | Path) -> Path:
    """Validate and write atomically (a reader never sees half a file)."""
    validate(doc)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)
    return path


def precomputed_layers(root: str | Path, model_id: str) -> list[str]:
    """Layers with a precomputed file for ``model_id``, in layer order."""
    folder = Path(root) / model_id
    layers = [p.stem for p in folder.glob("layer*.json")] if folder.is_dir() else []
    return sorted(layers, key=lambda s: layer_index(s, default=0))
