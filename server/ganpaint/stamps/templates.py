"""The stored concept stamps of one dissected layer: ``precomputed/<model>/<layer>.stamps.npz`` + its index.

The layer's JSON (schema version 2) carries the index under ``"stamps"``; the arrays live in the sidecar::

    "stamps": {
      "file": "layer6.stamps.npz", "grid": 8, "min_area": 12,
      "style_rule": "k in 1..6 by silhouette, every style >= 5% of instances",
      "concepts": {
        "dome": {"instances": 183,
                 "natural_size": {"w": 13.0, "h": 12.0, "w_iqr": [11, 15], "h_iqr": [10, 14], "aspect": 0.92},
                 "styles": [{"index": 0, "members": 68, "natural_size": [14.0, 13.0]}, ...],  # largest first
                 "measured": {"placement": "roof top", "tries": 100,       # optional: ganpaint stamps evaluate
                              "style": 1,                                   # the default style (else 0)
                              "stamp_success": 1.0, "classic_success": 0.98,
                              "dD": 0.21,                                   # optional: critic, stamp - brush
                              "style_success": [1.0, 1.0, 0.71, ...]}}      # optional (--all-styles): per style
      }
    }

Sidecar arrays per concept ``c`` with S styles, C units, grid g: ``c/templates`` (S, C, g, g) float16, the mean
feature patch of the style's instances aligned on their bounding boxes; ``c/footprints`` (S, g, g) float16 in
0..1, the mean instance mask; ``c/thumbnails`` (S, T, T, 3) uint8, a real member near the style's centre.
Sizes are in pixels of the generated image (w = width, h = height); aspect = h / w.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

MAX_STYLES = 6


@dataclass(frozen=True)
class StampStyle:
    index: int
    members: int  # instances in the style
    natural_size: tuple[float, float]  # median (w, h) in image pixels
    template: torch.Tensor  # (C, g, g) float32
    footprint: torch.Tensor  # (g, g) float32 in 0..1
    thumbnail: np.ndarray  # (T, T, 3) uint8


@dataclass(frozen=True)
class ConceptStamps:
    concept: str
    instances: int
    natural_size: dict[str, Any]  # {"w", "h", "w_iqr", "h_iqr", "aspect"}
    styles: list[StampStyle]  # largest first; index = position


def _require(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"precomputed: {where}: {msg}")


def _number(v: Any, where: str, positive: bool = True) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v > 0 or not positive)
    _require(ok, where, f"expected a {'positive ' if positive else ''}finite number, got {v!r}")
    return float(v)


def _pair(v: Any, where: str) -> tuple[float, float]:
    _require(isinstance(v, list) and len(v) == 2, where, f"expected [w, h], got {v!r}")
    return _number(v[0], f"{where}[0]"), _number(v[1], f"{where}[1]")


def validate_index(doc: Any, channels: int) -> dict[str, Any]:
    """Check the ``stamps`` index of a layer document (without the sidecar); returns it."""
    _require(isinstance(doc, dict), "stamps", f"expected an object, got {type(doc).__name__}")
    f = doc.get("file")
    _require(
        isinstance(f, str) and f.endswith(".npz") and "/" not in f and "\\" not in f and not f.startswith("."),
        "stamps.file",
        f"expected a file name ending in .npz beside the JSON, got {f!r}",
    )
    g = doc.get("grid")
    _require(
        isinstance(g, int) and not isinstance(g, bool) and 1 <= g <= 64,
        "stamps.grid",
        f"expected an int in 1..64, got {g!r}",
    )
    concepts = doc.get("concepts")
    _require(isinstance(concepts, dict), "stamps.concepts", "expected an object")
    for name, c in concepts.items():
        where = f"stamps.concepts.{name}"
        _require(isinstance(c, dict), where, "expected an object")
        _require(
            isinstance(c.get("instances"), int) and c["instances"] >= 1,
            f"{where}.instances",
            f"expected a positive int, got {c.get('instances')!r}",
        )
        nat = c.get("natural_size")
        _require(isinstance(nat, dict), f"{where}.natural_size", f"expected an object, got {nat!r}")
        for key in ("w", "h", "aspect"):
            _number(nat.get(key), f"{where}.natural_size.{key}")
        styles = c.get("styles")
        _require(
            isinstance(styles, list) and 1 <= len(styles) <= MAX_STYLES,
            f"{where}.styles",
            f"expected 1..{MAX_STYLES} styles",
        )
        for i, s in enumerate(styles):
            _require(
                isinstance(s, dict) and s.get("index") == i,
                f"{where}.styles[{i}]",
                "expected {'index': i, ...} in order",
            )
            _require(
                isinstance(s.get("members"), int) and s["members"] >= 1,
                f"{where}.styles[{i}].members",
                f"expected a positive int, got {s.get('members')!r}",
            )
            _pair(s.get("natural_size"), f"{where}.styles[{i}].natural_size")
        if "measured" in c:
            m = c["measured"]
            _require(isinstance(m, dict), f"{where}.measured", f"expected an object, got {m!r}")
            for key in ("stamp_success", "classic_success"):
                v = _number(m.get(key), f"{where}.measured.{key}", positive=False)
                _require(0 <= v <= 1, f"{where}.measured.{key}", f"expected a share in 0..1, got {v!r}")
            if "dD" in m:
                _number(m["dD"], f"{where}.measured.dD", positive=False)
            st = m.get("style", 0)
            _require(
                isinstance(st, int) and not isinstance(st, bool) and 0 <= st < len(styles),
                f"{where}.measured.style",
                f"expected a style index in 0..{len(styles) - 1}, got {st!r}",
            )
            if "style_success" in m:
                per = m["style_success"]
                _require(
                    isinstance(per, list) and len(per) == len(styles),
                    f"{where}.measured.style_success",
                    f"expected one share per style ({len(styles)}), got {per!r}",
                )
                for i, v in enumerate(per):
                    at = f"{where}.measured.style_success[{i}]"
                    _require(0 <= _number(v, at, positive=False) <= 1, at, f"expected a share in 0..1, got {v!r}")
    return doc


def default_style(index_concept: dict[str, Any] | None) -> int:
    """A stamp stroke's style when it names none: the measured default (``ganpaint stamps evaluate
    --all-styles``), else 0, the largest."""
    return (index_concept or {}).get("measured", {}).get("style", 0)


MIN_STYLE_SUCCESS = 0.25  # a style measured below it is near-invisible: not offered (``offered_styles``)


def offered_styles(index_concept: dict[str, Any] | None, count: int) -> list[int]:
    """The indices of the ``count`` styles the API lists (and so the page offers): all, less those near-invisible
    by ``ganpaint stamps evaluate --all-styles`` (``measured.style_success``): at the concept's favourable
    placement and natural size, the concept covered 30% of the stamp's footprint in fewer than
    ``MIN_STYLE_SUCCESS`` of the tries. The default style is always offered; unmeasured styles are offered.
    A stroke may still name any style (paintings saved before keep painting the same)."""
    success = (index_concept or {}).get("measured", {}).get("style_success")
    if success is None:
        return list(range(count))
    keep = default_style(index_concept)
    return [i for i in range(count) if i == keep or success[i] >= MIN_STYLE_SUCCESS]


REALISM_FLOOR = -0.25  # a stamp the critic scores this much below the unit brush's result is not the default


def default_mode(index_concept: dict[str, Any] | None) -> str:
    """The page's default mode for a concept: "stamp" when it has stamps, unless a measurement found the
    classic unit brush ("draw") more successful at the concept's favourable placements, or the critic
    scored the stamps' results far below the brush's (by more than -REALISM_FLOOR)."""
    if index_concept is None:
        return "draw"
    m = index_concept.get("measured")
    if not m:
        return "stamp"
    worse = m["stamp_success"] < m["classic_success"] or m.get("dD", 0.0) < REALISM_FLOOR
    return "draw" if worse else "stamp"


def load_stamps(index: dict[str, Any], folder: str | Path, channels: int) -> dict[str, ConceptStamps]:
    """The sidecar named by a validated index, checked against it; ValueError names the array."""
    path = Path(folder) / index["file"]
    _require(path.is_file(), "stamps.file", f"sidecar not found: {path}")
    g = index["grid"]
    out = {}
    with np.load(path, allow_pickle=False) as arrays:
        for name, c in index["concepts"].items():
            n = len(c["styles"])
            shapes = {"templates": (n, channels, g, g), "footprints": (n, g, g)}
            got = {}
            for part, shape in shapes.items():
                key = f"{name}/{part}"
                _require(key in arrays.files, f"{path.name}:{key}", "missing")
                a = arrays[key].astype(np.float32)
                _require(a.shape == shape, f"{path.name}:{key}", f"expected shape {shape}, got {a.shape}")
                _require(bool(np.isfinite(a).all()), f"{path.name}:{key}", "expected finite numbers")
                got[part] = torch.from_numpy(a)
            key = f"{name}/thumbnails"
            _require(key in arrays.files, f"{path.name}:{key}", "missing")
            thumbs = arrays[key]
            _require(
                thumbs.dtype == np.uint8 and thumbs.ndim == 4 and thumbs.shape[0] == n and thumbs.shape[3] == 3,
                f"{path.name}:{key}",
                f"expected ({n}, T, T, 3) uint8, got {thumbs.shape} {thumbs.dtype}",
            )
            fp = got["footprints"]
            _require(bool(((fp >= 0) & (fp <= 1)).all()), f"{path.name}:{name}/footprints", "expected values in 0..1")
            styles = [
                StampStyle(i, s["members"], tuple(s["natural_size"]), got["templates"][i], fp[i], thumbs[i])
                for i, s in enumerate(c["styles"])
            ]
            out[name] = ConceptStamps(name, c["instances"], dict(c["natural_size"]), styles)
    return out


def save_stamps(stamps: dict[str, ConceptStamps], path: str | Path, grid: int, extra: dict | None = None) -> dict:
    """Write the sidecar (atomically) and return its index for the layer document."""
    path = Path(path)
    arrays, concepts = {}, {}
    for name, c in stamps.items():
        arrays[f"{name}/templates"] = np.stack([s.template.numpy() for s in c.styles]).astype(np.float16)
        arrays[f"{name}/footprints"] = np.stack([s.footprint.numpy() for s in c.styles]).clip(0, 1).astype(np.float16)
        arrays[f"{name}/thumbnails"] = np.stack([s.thumbnail for s in c.styles]).astype(np.uint8)
        concepts[name] = {
            "instances": c.instances,
            "natural_size": c.natural_size,
            "styles": [
                {"index": s.index, "members": s.members, "natural_size": [round(v, 2) for v in s.natural_size]}
                for s in c.styles
            ],
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return {"file": path.name, "grid": grid, **(extra or {}), "concepts": concepts}
