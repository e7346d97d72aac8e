"""The "artifacts" option of /generate, /intervene and the websocket's "open" (``ganpaint.artifacts``)."""

from __future__ import annotations

from ganpaint.engine import Engine, LoadedModel
from ganpaint.nn.intervene import UnitEdit


def request_artifact_edits(engine: Engine, m: LoadedModel | None, choice: str | None) -> list[UnitEdit]:
    """The edits a request's ``artifacts`` asks for (before its strokes); ``m`` None: an uploaded picture, which
    its own adapted generator renders, so only "kept" (or no choice) is possible."""
    if m is None:
        if choice == "removed":
            raise ValueError("artifacts: 'removed' is not available for uploaded pictures; use 'kept'")
        return []
    return engine.artifacts.edits(m, choice)


def artifact_info(engine: Engine, m: LoadedModel) -> dict:
    """What a page needs to offer the option: {available, default, layer, units}."""
    doc = engine.artifacts.ranking(m)
    if doc is None:
        return {"available": False, "default": "kept", "layer": None, "units": []}
    return {
        "available": True,
        "default": engine.artifacts.default_choice(m),
        "layer": doc["layer"],
        "units": doc["ranking"][: doc["k"]],
    }
