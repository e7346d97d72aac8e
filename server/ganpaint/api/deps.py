"""Shared route dependencies and helpers: the engine, the settings, the guards, model lookup, colours."""

from __future__ import annotations

import base64
import colorsys
import hashlib
from typing import Annotated

from fastapi import Depends, Request

from ganpaint.api.edits import EditBuilder
from ganpaint.api.guards import Guards
from ganpaint.api.guards.admission import RenderGate
from ganpaint.api.settings import Settings
from ganpaint.engine import Engine, LoadedModel, NotFoundError
from ganpaint.scenes.concepts import COLORS, NAMES


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_guards(request: Request) -> Guards:
    return request.app.state.guards


def get_edits(request: Request) -> EditBuilder:
    return request.app.state.edits


def get_gate(request: Request) -> RenderGate:
    return request.app.state.guards.render_gate


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
GuardsDep = Annotated[Guards, Depends(get_guards)]
EditsDep = Annotated[EditBuilder, Depends(get_edits)]
GateDep = Annotated[RenderGate, Depends(get_gate)]


def resolve_model(engine: Engine, settings: Settings, model_id: str | None) -> LoadedModel:
    """The named model (or the default); NotFoundError names the bad id."""
    return engine.model(model_id or settings.model)


def check_layer(m: LoadedModel, layer: str | None, field: str = "layer") -> str:
    layer = layer or m.info.default_layer
    try:
        return m.check_layer(layer)
    except NotFoundError as exc:
        raise NotFoundError(f"{field}: {exc}") from exc


def concept_color(name: str) -> str:
    """The scene world's display colour, else a deterministic one from the name's hash."""
    if name in NAMES:
        r, g, b = COLORS[NAMES.index(name)]
    else:
        hue = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") / 65536
        r, g, b = (round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.5, 0.65))
    return f"#{r:02x}{g:02x}{b:02x}"


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def wants_image(request: Request) -> bool:
    """Content negotiation: an Accept header naming an image type asks for the bytes."""
    return "image/" in request.headers.get("accept", "")
