"""Start-up checks for ``ganpaint serve``: one clear sentence for a missing or corrupt model or dissection.

Run before uvicorn starts, so a bad deployment exits non-zero with a message instead of a traceback from
the lifespan. The same files load again in each worker (they are small next to a render's cost).
"""

from __future__ import annotations

import warnings

from ganpaint.api.settings import Settings

DEMO_HINT = (
    "for a demo: ganpaint make-tiny --out /tmp/tiny, then "
    "ganpaint serve --models-dir /tmp/tiny/models --precomputed-dir /tmp/tiny/precomputed --model tiny"
)


def startup_problem(settings: Settings) -> str | None:
    """What is wrong with the default model's files, or None when they load."""
    import torch

    from ganpaint.models import list_model_ids, load_model_info
    from ganpaint.nn.proggan import load_generator
    from ganpaint.precomputed import load_precomputed, precomputed_layers

    model, models_dir, pre_dir = settings.model, settings.models_dir, settings.precomputed_dir
    if settings.device.startswith("cuda") and not torch.cuda.is_available():
        return f"device: {settings.device!r} requested but CUDA is not available (use --device cpu)"
    if not (models_dir / model / "model.json").is_file():
        have = ", ".join(list_model_ids(models_dir)) if models_dir.is_dir() else "the folder does not exist"
        return (
            f"model {model!r} not found in {models_dir} (models there: {have or 'none'}). Name one with --model, "
            f"or point --models-dir at a folder of models; {DEMO_HINT}"
        )
    try:
        info = load_model_info(model, models_dir)
        with warnings.catch_warnings():  # torch warns about odd pickles before it fails on them
            warnings.simplefilter("ignore")
            g = load_generator(info.generator_path)
    except Exception as exc:  # noqa: BLE001 - any failure to load is one message
        return f"model {model!r} cannot be loaded: {exc}"
    layers = precomputed_layers(pre_dir, model)
    if not layers:
        return (
            f"model {model!r} has no dissection: no {pre_dir / model}/layer*.json files. "
            f"Run 'ganpaint dissect' for it, or point --precomputed-dir at the folder that holds {model}/"
        )
    for layer in layers:
        path = pre_dir / model / f"{layer}.json"
        try:
            pre = load_precomputed(path)
        except Exception as exc:  # noqa: BLE001
            return f"the dissection of model {model!r} at {layer} cannot be loaded: {exc}"
        if layer not in g.layer_names:
            return f"dissection {path}: {layer!r} is not a layer of model {model!r} ({', '.join(g.layer_names)})"
        if tuple(pre.feature_shape) != g.feature_shape(layer):
            return (
                f"dissection {path}: feature_shape {list(pre.feature_shape)} does not match the generator's "
                f"{list(g.feature_shape(layer))} at {layer} (a dissection of another model?)"
            )
    if info.default_layer not in g.layer_names:
        return f"model {model!r}: default_layer {info.default_layer!r} is not a generator layer"
    return None
