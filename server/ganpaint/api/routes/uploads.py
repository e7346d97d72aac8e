"""POST /uploads, GET /uploads/{id}; painting an upload through POST /intervene and the websocket's ``open``.

An upload is a picture projected into a model (``ganpaint.project``; docs/projection.md). The body is the image
file itself (Content-Type image/png, image/jpeg or image/webp; ``model``, ``layer``, ``crop`` and ``wait`` as query
parameters) or JSON ``{"data": "<data URL>" | "scene": <seed>, "model", "layer", "crop": [x, y, w, h], "wait"}``
(``scene``: a procedural scene rendered here, seeds >= 1,000,000,000 only: never in any training range).
Limits: ``max_upload_bytes`` (413), ``max_upload_pixels`` declared width x height, checked before decoding (413),
``max_projections`` running or waiting (503 + Retry-After), ``max_uploads`` kept per process (LRU; an evicted id
answers 404 naming it). ``wait`` (default true) answers once projected; ``wait=false`` answers 202 at once, and
the websocket's ``open`` with the id sends ``progress`` messages until it is ready.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ganpaint.api.deps import EngineDep, SettingsDep, data_url, wants_image
from ganpaint.api.edits import build_edits_async
from ganpaint.api.gate import BusyError
from ganpaint.api.settings import Settings
from ganpaint.engine import Engine, RenderJob
from ganpaint.project.images import FORMATS, PictureTooLarge, crop_box, decode_picture, probe_picture
from ganpaint.uploads import BusyPool, Projections, Upload, UploadStore

router = APIRouter(tags=["uploads"])
MEDIA_TYPES = set(FORMATS.values())
DATA_URL = re.compile(r"data:(image/(?:png|jpeg|webp));base64,(.*)", re.S)
MIN_SCENE_SEED = 1_000_000_000  # training renders seeds 0..39,999 (data/scenes64) and evaluation a few million


def install(app: FastAPI, settings: Settings) -> None:
    """The app's upload store and projection threads (per process)."""
    app.state.uploads = UploadStore(settings.max_uploads, settings.upload_dir)
    app.state.projections = Projections(settings.max_projections)

    @app.exception_handler(PictureTooLarge)
    async def _too_large(_: Request, exc: PictureTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=413)


def projector_lookup(app, engine: Engine):
    """(model id, layer) -> the Projector, for uploads found in the shared folder."""
    return lambda model_id, layer: app.state.projections.projector(engine.model(model_id), layer)


def find_upload(app, engine: Engine, upload_id: str) -> Upload:
    return app.state.uploads.get(upload_id, projector_lookup(app, engine))


def _parse_crop(value, field: str = "crop") -> list[float] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError as exc:
            raise ValueError(f"{field}: expected x,y,w,h numbers in 0..1, got {value[:60]!r}") from exc
    if not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, (int, float)) for v in value):
        raise ValueError(f"{field}: expected [x, y, w, h] in 0..1, got {str(value)[:60]}")
    crop = [float(v) for v in value]
    crop_box(1000, 1000, crop)  # PictureError naming crop for values outside the picture
    return crop


def _bool(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    raise ValueError(f"{field}: expected true or false, got {str(value)[:40]!r}")


_BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "image/png": _BINARY,
        "image/jpeg": _BINARY,
        "image/webp": _BINARY,
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "data": {"type": "string", "description": "data:image/png|jpeg|webp;base64,..."},
                    "scene": {"type": "integer", "minimum": MIN_SCENE_SEED, "maximum": 2**32 - 1},
                    "model": {"type": "string", "maxLength": 64},
                    "layer": {"type": "string", "maxLength": 64},
                    "crop": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
                },
                "additionalProperties": False,
            }
        },
    },
}
UPLOAD_PARAMS = [
    {"name": n, "in": "query", "required": False, "schema": t, "description": d}
    for n, t, d in (
        ("model", {"type": "string"}, "model id (default: the server's)"),
        ("layer", {"type": "string"}, "painting layer (default: the model's)"),
        ("crop", {"type": "string"}, "x,y,w,h in 0..1 (default: the centred square)"),
    )
]


@router.post(
    "/uploads",
    status_code=200,
    # ``wait`` (query or JSON) is described in the text, not the schema: fuzzers would fill the projection slots
    responses={202: {"description": "wait=false: accepted; the projection runs (GET /uploads/{id}, ws open)"}},
    openapi_extra={"requestBody": UPLOAD_BODY, "parameters": UPLOAD_PARAMS},
)
async def create_upload(request: Request, engine: EngineDep, settings: SettingsDep):
    """Project a picture into a model; answers {"upload": id, "model", "psnr", "ms", ...}.

    ``wait=false`` (query parameter or JSON field) answers 202 at once with ``"status": "projecting"``; the
    websocket's ``open`` with the id then reports progress (docs/projection.md)."""
    if settings.baseline:
        raise ValueError("upload: not available in baseline mode (the original server's design has no uploads)")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > settings.max_upload_bytes:
        raise PictureTooLarge(f"file: {len(body)} bytes exceeds the limit of {settings.max_upload_bytes} bytes")
    q = request.query_params
    opts: dict = {k: q[k] for k in ("model", "layer", "crop", "wait") if k in q}
    scene = None
    if ctype == "application/json":
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise ValueError(f"body: invalid JSON ({str(exc)[:120]})") from exc
        if not isinstance(obj, dict):
            raise ValueError("body: expected a JSON object {data | scene, model, layer, crop, wait}")
        extra = sorted(set(obj) - {"data", "scene", "model", "layer", "crop", "wait"})
        if extra:
            raise ValueError(f"{extra[0]}: unknown field")
        opts.update({k: obj[k] for k in ("model", "layer", "crop", "wait") if k in obj})
        if ("data" in obj) == ("scene" in obj):
            raise ValueError("data/scene: give exactly one of 'data' (an image data URL) or 'scene' (a seed)")
        if "scene" in obj:
            scene = obj["scene"]
            if not isinstance(scene, int) or isinstance(scene, bool) or not MIN_SCENE_SEED <= scene < 2**32:
                raise ValueError(
                    f"scene: expected a seed in {MIN_SCENE_SEED}..{2**32 - 1} (never trained on), got {scene!r}"
                )
            data = b""
        else:
            match = DATA_URL.fullmatch(obj["data"]) if isinstance(obj["data"], str) else None
            if match is None:
                raise ValueError("data: expected a data URL data:image/png|jpeg|webp;base64,...")
            try:
                data = base64.b64decode(match.group(2), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"data: invalid base64 ({exc})") from exc
    elif ctype in MEDIA_TYPES:
        data = body
    else:
        raise ValueError(
            f"Content-Type: expected image/png, image/jpeg, image/webp or application/json, got {ctype or 'none'!r}"
        )
    for key in ("model", "layer"):
        if key in opts and opts[key] is not None and (not isinstance(opts[key], str) or len(opts[key]) > 64):
            raise ValueError(f"{key}: expected a name, got {str(opts[key])[:60]!r}")
    crop = _parse_crop(opts.get("crop"))
    wait = _bool(opts.get("wait", True), "wait")
    m = engine.model(opts.get("model") or settings.model)
    layer = opts.get("layer") or m.info.default_layer
    m.dissection(layer)  # NotFoundError unless the layer can be painted
    resolution = m.info.resolution
    if scene is not None:

        def pixels():
            from ganpaint.scenes import render_scene

            return render_scene(scene, resolution)[0]
    else:
        probe_picture(data, settings.max_upload_pixels)  # the header only: format and declared size

        def pixels():
            return decode_picture(data, resolution, settings.max_upload_pixels, crop)

    try:
        up = request.app.state.projections.start(request.app.state.uploads, m, layer, pixels)
    except BusyPool as exc:
        raise BusyError(str(exc)) from exc
    if not wait:
        return JSONResponse(up.summary(), status_code=202)
    await asyncio.wrap_future(up.future)  # re-raises PictureError (422) or PictureTooLarge (413), naming the field
    return up.summary()


@router.get("/uploads/{upload_id}")
async def read_upload(upload_id: str, request: Request, engine: EngineDep):
    """An upload's status: projecting (stage, fraction), ready (psnr, ms) or failed (error)."""
    return find_upload(request.app, engine, upload_id).summary()


async def intervene_upload(body, request: Request, engine: Engine, settings: Settings, gate) -> Response:
    """POST /intervene with "upload": the upload's adapted generator, blended with the picture."""
    if body.image is not None or body.z is not None:
        raise ValueError("image/z/upload: give exactly one of 'image', 'z' or 'upload'")
    up = find_upload(request.app, engine, body.upload)
    if up.status != "ready":
        if up.status == "failed":
            raise ValueError(f"upload: {up.id!r} failed: {up.error}")
        raise BusyError(f"upload: {up.id!r} is still projecting ({up.stage}, {up.fraction:.0%}); retry shortly")
    if body.model is not None and body.model != up.model:
        raise ValueError(f"model: upload {up.id!r} was projected into {up.model!r}, got {body.model!r}")
    m = engine.model(up.model)
    layer = body.layer or up.layer
    up.projected.check_layer(layer)
    edits = await build_edits_async(m, settings, body.strokes, body.edits, layer)
    for i, e in enumerate(edits):
        try:
            up.projected.check_layer(e.layer)
        except ValueError as exc:
            raise ValueError(f"edits[{i}].{exc}") from exc
    with gate.admit(1):
        frame = await engine.render_async(RenderJob(m.id, edits=edits, fmt=body.format, quality=body.quality,
                                                    upload=up.projected))  # fmt: skip
    if wants_image(request):
        return Response(frame.data, media_type=frame.media_type)
    return JSONResponse(
        {
            "model": m.id,
            "image": None,
            "upload": up.id,
            "format": body.format,
            "data": data_url(frame.data, frame.media_type),
        }  # fmt: skip
    )


async def open_upload(session, msg) -> None:
    """The websocket's ``open`` with "upload": ``ready`` at once if projected; else ``progress`` messages from a
    task of its own until it is (the connection keeps reading: another ``open`` meanwhile supersedes it)."""
    if msg.image is not None and msg.upload is not None:
        raise ValueError("image/upload: give exactly one of 'image' (an image id) or 'upload' (an upload id)")
    if msg.upload is None:
        raise ValueError("image/upload: give one of 'image' (an image id) or 'upload' (an id from POST /uploads)")
    up = find_upload(session.ws.app, session.engine, msg.upload)
    if msg.model is not None and msg.model != up.model:
        raise ValueError(f"model: upload {up.id!r} was projected into {up.model!r}, got {msg.model!r}")
    session.generation += 1
    session.pending = None
    session.open = None
    if up.status == "projecting" and up.future is not None:
        task = asyncio.create_task(_open_when_projected(session, msg, up, session.generation))
        session.upload_task = task  # a reference, so the task is not collected
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return
    await _ready(session, msg, up)


async def _open_when_projected(session, msg, up: Upload, generation: int) -> None:
    done = asyncio.wrap_future(up.future)
    last = None
    try:
        while not done.done() and session.generation == generation and not session.closed:
            now = (up.stage, round(up.fraction, 2))
            if now != last:
                last = now
                await session.send(json.dumps({"type": "progress", "upload": up.id, "stage": up.stage,
                                               "fraction": round(up.fraction, 3)}))  # fmt: skip
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


async def _ready(session, msg, up: Upload) -> None:
    from ganpaint.api.ws import OpenImage

    if up.status != "ready":
        raise ValueError(f"upload: {up.id!r} failed: {up.error}")
    m = session.engine.model(up.model)
    layer = msg.layer or up.layer
    m.dissection(layer)
    up.projected.check_layer(layer)
    o = OpenImage(m, None, layer, msg.format, msg.quality, session.generation)
    o.upload = up.projected
    session.open = o
    summary = up.summary()
    ready = {
        "type": "ready",
        "model": m.id,
        "image": None,
        "upload": up.id,
        "layer": layer,
        "resolution": m.info.resolution,
        "format": msg.format,
        "concepts": sorted(m.precomputed[layer].concepts),
        "psnr": summary.get("psnr"),
        "ms": summary.get("ms"),
    }
    await session.send(json.dumps(ready))
