"""GET /context (where a concept can go on a picture) and GET /activations (units' activation maps).

Both take a picture as other routes do: ``image`` (an image id) or ``upload`` (a projected picture's id),
with ``model`` (default: the server's, or the upload's) and ``layer`` (default: the model's). The work runs
on the engine's REST render thread. A map holds one place in the render gate (it is one job on that thread)
and one of ``MAX_MAPS`` places of its own: past either, 503 + Retry-After.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import torch
from fastapi import APIRouter, FastAPI, Query, Request

from ganpaint.api.deps import EngineDep, GuardsDep, SettingsDep, check_layer, resolve_model
from ganpaint.api.guards.admission import BusyError
from ganpaint.api.upload_lookup import find_upload, ready_upload
from ganpaint.context.gate import ACCEPT_GAIN
from ganpaint.context.probe import Render
from ganpaint.context.service import MODES, upload_target
from ganpaint.engine import Engine, LoadedModel, NotFoundError
from ganpaint.nn.proggan import MAX_IMAGE_ID

router = APIRouter(tags=["context"])
MAX_ACTIVATION_UNITS = 20  # units one /activations request may ask for
MAX_MAPS = 2  # context maps computing or waiting at once per process (each 65 renders at a 16 x 16 layer)

ImageQ = Annotated[int | None, Query(ge=0, le=MAX_IMAGE_ID, description="an image id (or give upload)")]
UploadQ = Annotated[str | None, Query(max_length=64, description="an upload id (or give image)")]
NameQ = Annotated[str | None, Query(max_length=64)]


class MapSlots:
    """At most ``limit`` context maps computing or waiting at once; BusyError (503) past it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.in_flight = 0
        self._lock = threading.Lock()

    @contextmanager
    def admit(self) -> Iterator[None]:
        with self._lock:
            if self.in_flight >= self.limit:
                busy = f"{self.in_flight} context maps computing (at most {self.limit})"
                raise BusyError(f"context: busy, {busy}; retry shortly")
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


def install(app: FastAPI) -> None:
    app.state.context_maps = MapSlots(MAX_MAPS)


@dataclass
class Picture:
    m: LoadedModel
    key: tuple  # ("image", id) or ("upload", id): the map cache's key
    r: torch.Tensor  # (1, C, h, w) at the layer
    render: Render  # features at the layer -> image


def picture(request: Request, engine: Engine, settings, model, image, upload, layer) -> tuple[Picture, str]:
    """The picture and layer a query names; errors name the field."""
    if (image is None) == (upload is None):
        raise ValueError("image/upload: give exactly one of 'image' (an image id) or 'upload' (an upload id)")
    if upload is not None:
        up = ready_upload(find_upload(request.app, engine, upload))
        if model is not None and model != up.model:
            raise ValueError(f"model: upload {up.id!r} was projected into {up.model!r}, got {model!r}")
        m = engine.model(up.model)
        layer = check_layer(m, layer or up.layer)
        up.projected.check_layer(layer)
        r, render = upload_target(up.projected, layer)
        return Picture(m, ("upload", up.id), r, render), layer
    m = resolve_model(engine, settings, model)
    layer = check_layer(m, layer)
    return Picture(m, ("image", image), engine.features(m, image, None, layer), m.split(layer)[1]), layer


def check_concept(m: LoadedModel, layer: str, concept: str, mode: str) -> None:
    pre = m.dissection(layer)
    if concept not in pre.concepts:
        have = ", ".join(sorted(pre.concepts))
        raise NotFoundError(f"concept: unknown concept {concept!r} at {layer}; available: {have}")
    if mode == "stamp" and concept not in pre.stamps:
        have = ", ".join(sorted(pre.stamps)) or "none"
        raise ValueError(f"concept: {concept!r} has no stamps at {layer} (mode 'stamp'); concepts with stamps: {have}")


@router.get("/context")
async def read_context(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    guards: GuardsDep,
    concept: Annotated[str, Query(max_length=64)],
    mode: Annotated[str, Query(max_length=16, description="draw (the unit brush) or stamp")] = "draw",
    model: NameQ = None,
    image: ImageQ = None,
    upload: UploadQ = None,
    layer: NameQ = None,
):
    """Per feature cell, the segmenter's gain of ``concept`` when a stroke of it lands there."""
    if mode not in MODES:
        raise ValueError(f"mode: expected 'draw' or 'stamp', got {mode!r}")

    def compute():
        pic, at = picture(request, engine, settings, model, image, upload, layer)
        check_concept(pic.m, at, concept, mode)
        return pic, at, engine.context.context_map(pic.m, pic.key, pic.r, pic.render, at, concept, mode)

    with guards.render_gate.admit(1), request.app.state.context_maps.admit():
        pic, at, cmap = await asyncio.wrap_future(engine.call(compute))
    return {
        "model": pic.m.id,
        pic.key[0]: pic.key[1],
        "layer": at,
        "concept": concept,
        "mode": mode,
        "shape": list(cmap.gain.shape),
        "gain": [[round(float(v), 4) for v in row] for row in cmap.gain],
        "before": [[round(float(v), 4) for v in row] for row in cmap.before],
        "accept_gain": ACCEPT_GAIN,
        "renders": cmap.renders,
        "ms": round(cmap.ms, 1),
    }


@router.get("/activations")
async def read_activations(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    units: Annotated[str, Query(max_length=200, description="comma-separated unit indices, at most 20")],
    model: NameQ = None,
    image: ImageQ = None,
    upload: UploadQ = None,
    layer: NameQ = None,
):
    """The activation maps (h, w) of a few units at ``layer`` on the picture, with each unit's top-1% level,
    best label and its IoU from the dissection (``quantile_99``, ``label``, ``iou``; null where the layer was
    not dissected)."""

    def compute():
        pic, at = picture(request, engine, settings, model, image, upload, layer)
        channels = pic.r.shape[1]
        wanted = parse_units(units, channels)
        pre = pic.m.precomputed.get(at)
        rows = []
        for u in wanted:
            grid = pic.r[0, u].float()  # (h, w)
            info = pre.units[u] if pre is not None and u < len(pre.units) else {}
            rows.append(
                {
                    "unit": u,
                    "grid": [[round(float(v), 3) for v in row] for row in grid],
                    **{k: info.get(k) for k in ("quantile_99", "label", "iou")},
                }
            )
        return pic, at, rows

    pic, at, rows = await asyncio.wrap_future(engine.call(compute))
    return {"model": pic.m.id, pic.key[0]: pic.key[1], "layer": at, "shape": list(pic.r.shape[2:]), "units": rows}


def parse_units(text: str, channels: int) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or len(parts) > MAX_ACTIVATION_UNITS:
        raise ValueError(f"units: expected 1..{MAX_ACTIVATION_UNITS} comma-separated unit indices, got {text[:60]!r}")
    out = []
    for p in parts:
        if not (p.isascii() and p.isdigit()) or not 0 <= int(p) < channels:
            raise ValueError(f"units: expected unit indices in 0..{channels - 1}, got {p[:20]!r}")
        out.append(int(p))
    return out
