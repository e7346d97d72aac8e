"""The websocket's ``open`` message: what a connection paints on (an ``OpenImage``) and the ``ready`` message.

``open`` with ``image`` opens the generator's image of that id (its features warmed on the render thread);
with ``upload`` an uploaded picture (api/routes/uploads.py): ``ready`` at once if it is projected, else
``progress`` messages from a task of its own until it is (the connection keeps reading: another ``open``
meanwhile supersedes it). Either way the session holds an ``OpenImage`` whose ``target`` the engine renders
(ganpaint/targets.py). Functions here take the ``PaintSession`` (api/ws.py) they act for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ganpaint.api.artifacts import request_artifact_edits
from ganpaint.api.schemas import OpenMessage
from ganpaint.api.sizes import refine_factor
from ganpaint.api.upload_lookup import find_upload
from ganpaint.engine import LoadedModel
from ganpaint.targets import GENERATED, PaintTarget
from ganpaint.uploads import Projections, Upload


@dataclass
class OpenImage:
    model: LoadedModel
    image: int | None  # an image id (None for an upload)
    layer: str
    fmt: str
    quality: int
    generation: int
    target: PaintTarget = GENERATED  # what the engine paints: the generator's image, or the projected upload
    base_edits: tuple = ()  # before every render's strokes: the "artifacts" option (api/artifacts.py)


async def open_generated(session, msg: OpenMessage) -> None:
    """``open`` with ``image``: the generator's image of that id."""
    m = session.engine.model(msg.model or session.settings.model)
    layer = msg.layer or m.info.default_layer
    m.dissection(layer)  # NotFoundError unless the layer can be painted
    base = tuple(request_artifact_edits(session.engine, m, msg.artifacts))
    session.generation += 1
    session.pending = None
    session.open = OpenImage(m, msg.image, layer, msg.format, msg.quality, session.generation, base_edits=base)
    warm = session.engine.call(lambda: session.engine.features(m, msg.image, None, layer), interactive=True)
    await asyncio.wrap_future(warm)
    await session.send_json(ready_message(m, msg, msg.image, layer) | {"artifacts": "removed" if base else "kept"})


def ready_message(m: LoadedModel, msg: OpenMessage, image: int | None, layer: str, upload: str | None = None) -> dict:
    """The ``ready`` message (its keys in this order; ``upload`` only for an upload)."""
    return {
        "type": "ready",
        "model": m.id,
        "image": image,
        **({"upload": upload} if upload is not None else {}),
        "layer": layer,
        "resolution": m.info.resolution,
        "format": msg.format,
        "concepts": sorted(m.precomputed[layer].concepts),
        "refine_factor": refine_factor(m),
    }


async def open_upload(session, msg: OpenMessage) -> None:
    """``open`` with ``upload``: ``ready`` at once if projected, else progress until it is (module docstring)."""
    if msg.image is not None and msg.upload is not None:
        raise ValueError("image/upload: give exactly one of 'image' (an image id) or 'upload' (an upload id)")
    if msg.upload is None:
        raise ValueError("image/upload: give one of 'image' (an image id) or 'upload' (an id from POST /uploads)")
    request_artifact_edits(session.engine, None, msg.artifacts)  # "removed": not for uploads
    up = find_upload(session.ws.app, session.engine, msg.upload)
    if msg.model is not None and msg.model != up.model:
        raise ValueError(f"model: upload {up.id!r} was projected into {up.model!r}, got {msg.model!r}")
    session.generation += 1
    session.pending = None
    session.open = None
    if up.status == "projecting" and up.future is not None:
        task = asyncio.create_task(_open_when_projected(session, msg, up, session.generation))
        session.opening = task  # a reference, so the task is not collected
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return
    await _ready(session, msg, up)


async def _open_when_projected(session, msg: OpenMessage, up: Upload, generation: int) -> None:
    done = asyncio.wrap_future(up.future)
    pool: Projections = session.ws.app.state.projections
    last = None
    try:
        while not done.done() and session.generation == generation and not session.closed:
            now = (up.stage, round(up.fraction, 2), pool.ahead(up))
            if now != last:
                last = now
                await session.send_json({"type": "progress", "upload": up.id, "stage": up.stage,
                                         "fraction": round(up.fraction, 3), "ahead": now[2]})  # fmt: skip
            await asyncio.wait([done], timeout=0.2)
        if done.done() and not done.cancelled():
            done.exception()  # seen: the upload's status says what happened
        if session.generation != generation or session.closed:
            return  # superseded by another open, or the client left
        try:
            await _ready(session, msg, up)
        except ValueError as exc:  # NotFoundError too
            await session.error(None, str(exc))
    except Exception:  # noqa: BLE001 - the client went away (the connection's own loops report that)
        return


async def _ready(session, msg: OpenMessage, up: Upload) -> None:
    if up.status != "ready":
        raise ValueError(f"upload: {up.id!r} failed: {up.error}")
    m = session.engine.model(up.model)
    layer = msg.layer or up.layer
    m.dissection(layer)
    up.projected.check_layer(layer)
    session.open = OpenImage(m, None, layer, msg.format, msg.quality, session.generation, target=up.projected)
    summary = up.summary()
    ready = ready_message(m, msg, None, layer, upload=up.id)
    ready |= {"psnr": summary.get("psnr"), "ms": summary.get("ms"), "warning": summary.get("warning")}
    await session.send_json(ready)
