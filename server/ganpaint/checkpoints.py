"""Bring your own GAN: register an external ProGAN ``.pth`` as ``models/<id>/model.json`` (absolute path).

    model_id_from_checkpoint("dl/churchoutdoor_lsun.pth")         # -> "churchoutdoor_lsun"
    register_checkpoint("dl/churchoutdoor_lsun.pth", "church")    # writes models/church/model.json

Used by ``ganpaint dissect --checkpoint`` (after the dissection, with the chosen default layer) and by
``ganpaint serve --checkpoint`` (which also works when only precomputed/<id>/ exists). The weights stay
where they are; model.json names them by absolute path (``ganpaint.models`` reads absolute paths as is).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ganpaint.models import check_model_id, default_models_dir, default_precomputed_dir, write_model_json
from ganpaint.nn.proggan import layer_index

REGISTERED_BY = "ganpaint --checkpoint"
GALLERY = list(range(12))


def model_id_from_checkpoint(path: str | Path) -> str:
    """The file name without its extension, made a valid model id ('proggan_churchoutdoor-7e701dd5')."""
    stem = Path(path).name
    for ext in (".pth", ".pt", ".pkl", ".bin"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    mid = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).lstrip("._-").replace("..", ".")[:64]
    if not mid:
        raise ValueError(f"cannot derive a model id from {str(path)!r}: pass one (--model-id)")
    return check_model_id(mid)


def _default_layer(precomputed: Path, layers: list[str]) -> str:
    """summary.json's choice, else the first dissected layer, else layer4 (GANPaint's church layer)."""
    summary = precomputed / "summary.json"
    if summary.is_file():
        try:
            best = json.loads(summary.read_text()).get("default_layer")
            if best in layers:
                return best
        except (OSError, ValueError):
            pass
    done = sorted((p.stem for p in precomputed.glob("layer*.json")), key=lambda n: layer_index(n, default=0))
    done = [n for n in done if n in layers]
    return done[0] if done else ("layer4" if "layer4" in layers else layers[len(layers) // 2])


def register_checkpoint(
    weights: str | Path,
    model_id: str,
    models_dir: str | Path | None = None,
    precomputed_dir: str | Path | None = None,
    default_layer: str | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``models_dir/<model_id>/model.json`` for the external ``weights``; returns the folder.

    An existing model.json is rewritten only if it already names the same weights file (keeping its
    name, description and gallery); one that names other weights is an error (choose another id).
    """
    from ganpaint.nn.proggan import load_generator

    check_model_id(model_id)
    weights = Path(weights).expanduser().resolve()
    g = load_generator(weights)  # validates the file (FileNotFoundError / ValueError name it)
    folder = Path(models_dir or default_models_dir()) / model_id
    pre = Path(precomputed_dir or default_precomputed_dir()) / model_id
    old: dict[str, Any] = {}
    if (folder / "model.json").is_file():
        old = json.loads((folder / "model.json").read_text())
        gen = Path(old.get("generator", "generator.pth"))
        gen = gen if gen.is_absolute() else folder / gen
        if gen.resolve() != weights:
            raise ValueError(
                f"model id {model_id!r}: {folder / 'model.json'} already names other weights ({gen}); "
                "pick another id (--model-id)"
            )
    layer = default_layer or _default_layer(pre, g.layer_names)
    if layer not in g.layer_names:
        raise ValueError(f"default_layer {layer!r} is not a layer of {weights.name} ({', '.join(g.layer_names)})")
    meta = {
        "id": model_id,
        "name": old.get("name", model_id),
        "resolution": g.resolution,
        "z_dim": g.z_dim,
        "generator": str(weights),
        "segmenter": None,
        "default_layer": layer,
        "gallery": old.get("gallery", GALLERY),
        "description": old.get("description", f"external ProGAN checkpoint {weights.name} ({g.resolution} px)"),
        "provenance": {**old.get("provenance", {}), "registered_by": REGISTERED_BY, **(provenance or {})},
    }
    write_model_json(folder, meta)
    return folder


def prepare_serve(
    weights: str | Path,
    model_id: str | None = None,
    models_dir: str | Path | None = None,
    precomputed_dir: str | Path | None = None,
) -> tuple[str, str | None]:
    """``ganpaint serve --checkpoint``: make sure models/<id>/model.json names ``weights``.

    Returns (model id, a warning or None): the warning says when precomputed/<id>/ holds no dissection
    (the images render, but there are no brushes until ``ganpaint dissect --checkpoint`` has run).
    """
    mid = model_id or model_id_from_checkpoint(weights)
    pre = Path(precomputed_dir or default_precomputed_dir()) / mid
    register_checkpoint(weights, mid, models_dir, precomputed_dir)
    warning = None
    if not any(pre.glob("layer*.json")):
        warning = (
            f"no dissection in {pre}/: images render but no brush is offered; run "
            f"ganpaint dissect --checkpoint {weights} --model-id {mid} --segmenter hf:FOLDER (docs/byo-gan.md)"
        )
    return mid, warning
