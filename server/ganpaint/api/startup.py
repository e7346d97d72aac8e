"""Start-up checks for ``ganpaint serve``: one clear sentence for a missing or corrupt model or dissection.

Run before uvicorn starts, so a bad deployment exits non-zero with a message instead of a traceback from
the lifespan. The same files load again in each worker (they are small next to a render's cost).
"""

from __future__ import annotations

from ganpaint.api.settings import Settings

DEMO_HINT = (
    "for a demo: ganpaint make-tiny --out /tmp/tiny, then "
    "ganpaint serve --models-dir /tmp/tiny/models --precomputed-dir /tmp/tiny/precomputed --model tiny"
)


def startup_problem(settings: Settings) -> str | None:
    """What is wrong with the default model's files, or None when they load. The checks are the model
    registry's (ganpaint/model_registry.py, ``read_model``); here any problem, even one the server would work
    around (a dissection of another shape, left out), stops the start with its sentence."""
    from ganpaint.model_registry import DissectionUnreadable, ModelProblem, device_problem, read_model
    from ganpaint.models import list_model_ids

    model, models_dir, pre_dir = settings.model, settings.models_dir, settings.precomputed_dir
    problem = device_problem(settings.device)
    if problem:
        return f"{problem} (use --device cpu)"
    if not (models_dir / model / "model.json").is_file():
        have = ", ".join(list_model_ids(models_dir)) if models_dir.is_dir() else "the folder does not exist"
        return (
            f"model {model!r} not found in {models_dir} (models there: {have or 'none'}). Name one with --model, "
            f"or point --models-dir at a folder of models; {DEMO_HINT}"
        )
    try:
        files = read_model(model, models_dir, pre_dir)
    except (DissectionUnreadable, ModelProblem) as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any failure to load is one message
        return f"model {model!r} cannot be loaded: {exc}"
    if not files.layers:
        return (
            f"model {model!r} has no dissection: no {pre_dir / model}/layer*.json files. "
            f"Run 'ganpaint dissect' for it, or point --precomputed-dir at the folder that holds {model}/"
        )
    return files.problems[0] if files.problems else None
