"""POST /uploads, GET /uploads/{id}; painting an upload through POST /intervene and the websocket's ``open``.

An upload is a picture projected into a model (``ganpaint.project``; docs/projection.md). The body is the image
file itself (Content-Type image/png, image/jpeg or image/webp; ``model``, ``layer``, ``crop`` and ``wait`` as query
parameters) or JSON ``{"data": "<data URL>" | "scene": <seed>, "model", "layer", "crop": [x, y, w, h], "wait"}``
(``scene``: a procedural scene rendered here, seeds >= 1,000,000,000 only: never in any training range).
Limits: ``max_upload_bytes`` (413), ``max_upload_pixels`` declared width x height, checked as soon as the
header is in (413), ``max_upload_bodies`` arriving and ``max_projections`` running or waiting (503 +
Retry-After, before the body is read), ``max_uploads`` kept per process (LRU; an evicted id answers 404 naming
it). How the body is received: api/upload_body.py. ``wait`` (default true) answers once projected;
``wait=false`` answers 202 at once, and the websocket's ``open`` with the id sends ``progress`` messages until it
is ready.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ganpaint.api.deps import EngineDep, SettingsDep, data_url, wants_image
from ganpaint.api.edits import EditBuilder
from ganpaint.api.errors import format_errors
from ganpaint.api.guards.admission import BusyError
from ganpaint.api.guards.limits import reads_body_itself
from ganpaint.api.settings import Settings
from ganpaint.api.sizes import wants_refined
from ganpaint.api.upload_body import BodyRefused, receive_body
from ganpaint.api.upload_lookup import find_upload, ready_upload
from ganpaint.engine import Engine, RenderJob, encode_image
from ganpaint.project.images import FORMATS, crop_box, decode_picture, probe_picture
from ganpaint.project.projector import to_uint8
from ganpaint.uploads import BusyPool, Projections, Upload

router = APIRouter(tags=["uploads"])
MEDIA_TYPES = set(FORMATS.values())
DATA_URL = re.compile(r"data:(image/(?:png|jpeg|webp));base64,(.*)", re.S)
MIN_SCENE_SEED = 1_000_000_000  # training renders seeds 0..39,999 (data/scenes64) and evaluation a few million


Name = Annotated[str, Field(max_length=64)]


class UploadOptions(BaseModel):
    """The options of an upload: query parameters with an image body, JSON fields with a JSON body."""

    model_config = ConfigDict(extra="forbid")
    model: Name | None = Field(None, description="model id (default: the server's)")
    layer: Name | None = Field(None, description="painting layer (default: the model's)")
    crop: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        None, min_length=4, max_length=4, description="[x, y, w, h] in 0..1 (default: the centred square)"
    )
    wait: bool = Field(True, description="false: answer 202 at once; the projection runs (GET /uploads/{id})")


class UploadJSON(UploadOptions):
    """A JSON upload body: exactly one of ``data`` and ``scene``."""

    data: str | None = Field(None, description="data:image/png|jpeg|webp;base64,...")
    scene: int | None = Field(
        None, ge=MIN_SCENE_SEED, le=2**32 - 1, strict=True, description="a procedural scene's seed (never trained on)"
    )


def parse_options(model: type[BaseModel], values: dict):
    """``values`` validated as ``model``; ValueError naming the field (as the app's 422s do)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValueError(format_errors(exc.errors())) from exc


def query_options(request: Request) -> UploadOptions:
    q = dict(request.query_params)
    if "crop" in q:  # "x,y,w,h" in the query string
        try:
            q["crop"] = [float(v) for v in q["crop"].split(",")]
        except ValueError as exc:
            raise ValueError(f"crop: expected x,y,w,h numbers in 0..1, got {q['crop'][:60]!r}") from exc
    return parse_options(UploadOptions, {k: v for k, v in q.items() if k in UploadOptions.model_fields})


_BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY = {
    "required": True,
    "content": {
        "image/png": _BINARY,
        "image/jpeg": _BINARY,
        "image/webp": _BINARY,
        # ``wait`` is described in the text, not the schema: fuzzers would fill the projection slots
        "application/json": {"schema": UploadJSON.model_json_schema(mode="validation")},
    },
}
del UPLOAD_BODY["content"]["application/json"]["schema"]["properties"]["wait"]
UPLOAD_PARAMS = [
    {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
    for n, d in (
        ("model", UploadOptions.model_fields["model"].description),
        ("layer", UploadOptions.model_fields["layer"].description),
        ("crop", "x,y,w,h in 0..1 (default: the centred square)"),
    )
]


@router.post(
    "/uploads",
    status_code=200,
    responses={202: {"description": "wait=false: accepted; the projection runs (GET /uploads/{id}, ws open)"}},
    openapi_extra={"requestBody": UPLOAD_BODY, "parameters": UPLOAD_PARAMS},
)
@reads_body_itself("max_upload_bytes")  # judged early, spooled to disk (api/upload_body.py)
async def create_upload(request: Request, engine: EngineDep, settings: SettingsDep):
    """Project a picture into a model; answers {"upload": id, "model", "psnr", "ms", ...}.

    ``wait=false`` (query parameter or JSON field) answers 202 at once with ``"status": "projecting"``; the
    websocket's ``open`` with the id then reports progress (docs/projection.md). The body is received with
    bounds (api/upload_body.py): refused before it is read when ``max_upload_bodies`` are arriving or
    ``max_projections`` are running, judged by its first bytes, spooled to disk past ``upload_spool_bytes``."""
    if settings.baseline:
        raise ValueError("upload: not available in baseline mode (the original server's design has no uploads)")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    projections: Projections = request.app.state.projections
    try:
        if ctype != "application/json" and ctype not in MEDIA_TYPES:
            raise ValueError(
                f"Content-Type: expected image/png, image/jpeg, image/webp or application/json, got {ctype or 'none'!r}"
            )
        projections.check_room()  # BusyPool before a byte of the body is read
        opts = query_options(request)
    except (ValueError, BusyPool) as exc:
        raise BodyRefused(BusyError(str(exc)) if isinstance(exc, BusyPool) else exc) from exc
    with request.app.state.upload_bodies.admit():
        body = await receive_body(
            request, ctype != "application/json", settings.max_upload_bytes, settings.max_upload_pixels,
            settings.upload_spool_bytes,
        )  # fmt: skip
    if ctype == "application/json":
        with body:
            raw = json_object(body.read())
        if (raw.get("data") is None) == (raw.get("scene") is None):
            raise ValueError("data/scene: give exactly one of 'data' (an image data URL) or 'scene' (a seed)")
        obj = parse_options(UploadJSON, raw)
        opts = obj.model_copy(update={k: v for k, v in opts if k not in obj.model_fields_set})
        scene, data = obj.scene, None if obj.scene is not None else data_url_bytes(obj)
        return await project_upload(request, engine, settings, opts, scene, data)
    return await project_upload(request, engine, settings, opts, None, body)


def json_object(raw: bytes) -> dict:
    """The body as a JSON object; ValueError naming the body otherwise."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"body: invalid JSON ({str(exc)[:120]})") from exc
    if not isinstance(obj, dict):
        raise ValueError("body: expected a JSON object {data | scene, model, layer, crop, wait}")
    return obj


def data_url_bytes(obj: UploadJSON) -> bytes:
    match = DATA_URL.fullmatch(obj.data)
    if match is None:
        raise ValueError("data: expected a data URL data:image/png|jpeg|webp;base64,...")
    try:
        return base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"data: invalid base64 ({exc})") from exc


async def project_upload(request: Request, engine: Engine, settings: Settings, opts: UploadOptions, scene, data):
    """Admit and run (or queue, ``wait=false``) the projection of ``scene`` or the picture ``data`` (bytes, or the
    spooled body, which the projection closes once decoded); answers once projected, 202 at once, or 503 if the
    server starts shutting down meanwhile."""
    try:
        m = engine.model(opts.model or settings.model)
        layer = opts.layer or m.info.default_layer
        m.dissection(layer)  # NotFoundError unless the layer can be painted
        if opts.crop is not None:
            crop_box(1000, 1000, opts.crop)  # PictureError naming crop for values outside the picture
        if data is not None:
            probe_picture(data, settings.max_upload_pixels)  # the header only: format and declared size
    except BaseException:
        if data is not None and not isinstance(data, bytes):
            data.close()
        raise
    resolution = m.info.resolution
    big = resolution * m.refiner.factor if m.refiner is not None else None  # the upload's own pixels, refined view
    decoded: dict = {}

    def pixels():
        if scene is not None:
            from ganpaint.scenes import render_scene
            from ganpaint.scenes.render import MAX_SIZE

            decoded["large"] = render_scene(scene, big)[0] if big and big <= MAX_SIZE else None
            return render_scene(scene, resolution)[0]
        try:
            if big:
                decoded["large"] = decode_picture(data, big, settings.max_upload_pixels, opts.crop)
            return decode_picture(data, resolution, settings.max_upload_pixels, opts.crop)
        finally:
            if not isinstance(data, bytes):
                data.close()  # the spooled body: the projection thread owns it from here

    try:
        up = request.app.state.projections.start(
            request.app.state.uploads, m, layer, pixels, large=lambda: decoded.get("large")
        )
    except BusyPool as exc:
        raise BusyError(str(exc)) from exc
    if not opts.wait:
        return JSONResponse(with_place(request, up), status_code=202)
    done = asyncio.wrap_future(up.future)
    while not done.done():
        await asyncio.wait([done], timeout=0.25)
        if request.app.state.guards.drain.draining:
            raise BusyError(f"server: shutting down; upload {up.id!r} was not projected: upload the picture again")
    done.result()  # re-raises PictureError (422) or PictureTooLarge (413), naming the field
    return up.summary()


@router.get("/uploads/{upload_id}")
async def read_upload(upload_id: str, request: Request, engine: EngineDep):
    """An upload's status: projecting (stage, fraction, ``ahead``: projections before it), ready (psnr, ms,
    warning) or failed (error)."""
    return with_place(request, find_upload(request.app, engine, upload_id))


def with_place(request: Request, up: Upload) -> dict:
    """``up``'s summary; still projecting, with ``ahead``: how many projections run or wait before it."""
    summary = up.summary()
    if up.status == "projecting":
        summary["ahead"] = request.app.state.projections.ahead(up)
    return summary


@router.get(
    "/uploads/{upload_id}/reconstruction.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "what the model made of the picture"}},
)
async def read_reconstruction(upload_id: str, request: Request, engine: EngineDep):
    """The adapted generator's own picture of the upload, unblended (the page's "what the model made of it"), at
    the model's resolution; 503 while still projecting, 422 if the projection failed."""
    up = ready_upload(find_upload(request.app, engine, upload_id))
    pixels = await asyncio.wrap_future(engine.call(lambda: to_uint8(up.projected.generate(()))))  # (R, R, 3)
    return Response(encode_image(pixels, "png"), media_type="image/png", headers={"Cache-Control": "no-store"})


async def intervene_upload(body, request: Request, engine: Engine, guards, builder: EditBuilder) -> Response:
    """POST /intervene with "upload": the upload's adapted generator, blended with the picture."""
    if body.image is not None or body.z is not None:
        raise ValueError("image/z/upload: give exactly one of 'image', 'z' or 'upload'")
    up = ready_upload(find_upload(request.app, engine, body.upload))
    if body.model is not None and body.model != up.model:
        raise ValueError(f"model: upload {up.id!r} was projected into {up.model!r}, got {body.model!r}")
    m = engine.model(up.model)
    refined = wants_refined(m, body.size)
    layer = body.layer or up.layer
    up.projected.check_layer(layer)
    edits = await builder.build(m, body.strokes, body.edits, layer)
    for i, e in enumerate(edits):
        try:
            up.projected.check_layer(e.layer)
        except ValueError as exc:
            raise ValueError(f"edits[{i}].{exc}") from exc
    with guards.render_gate.admit(1):
        job = RenderJob(m.id, edits=edits, fmt=body.format, quality=body.quality, target=up.projected, refined=refined)
        frame = await engine.render_async(job)
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
