"""POST /generate and POST /intervene: images from ids or z, with strokes and raw unit edits."""

from __future__ import annotations

import asyncio

import torch
from fastapi import APIRouter, Request, Response

from ganpaint.api.artifacts import request_artifact_edits
from ganpaint.api.deps import EditsDep, EngineDep, GuardsDep, SettingsDep, data_url, resolve_model, wants_image
from ganpaint.api.guards.shedding import carries_masks
from ganpaint.api.routes.uploads import intervene_upload
from ganpaint.api.schemas import GenerateRequest, GenerateResponse, ImageOut, InterveneRequest, InterveneResponse
from ganpaint.api.sizes import wants_refined
from ganpaint.engine import LoadedModel, RenderJob

router = APIRouter(tags=["render"])

IMAGE_RESPONSES = {200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}}


def check_z(m: LoadedModel, z: list[float], where: str) -> torch.Tensor:
    if len(z) != m.generator.z_dim:
        raise ValueError(f"{where}: expected {m.generator.z_dim} numbers (z_dim of model {m.id!r}), got {len(z)}")
    return torch.tensor(z, dtype=torch.float32)  # (z_dim,)


@router.post("/generate", response_model=GenerateResponse, responses=IMAGE_RESPONSES)
async def create_generation(
    body: GenerateRequest, request: Request, engine: EngineDep, settings: SettingsDep, guards: GuardsDep
):
    """Images for ids (seeds) or explicit z vectors; one image and an image Accept header give bytes."""
    m = resolve_model(engine, settings, body.model)
    if (body.ids is None) == (body.zs is None):
        raise ValueError("ids/zs: give exactly one of 'ids' (image ids) or 'zs' (latent vectors)")
    rows = body.ids if body.ids is not None else body.zs
    field = "ids" if body.ids is not None else "zs"
    if not 1 <= len(rows) <= settings.max_images:
        raise ValueError(f"{field}: expected 1..{settings.max_images} entries, got {len(rows)}")
    refined = wants_refined(m, body.size)
    jobs, pre = [], request_artifact_edits(engine, m, body.artifacts)
    for i, row in enumerate(rows):
        if body.ids is not None:
            jobs.append(RenderJob(m.id, image=row, edits=pre, fmt=body.format, quality=body.quality, refined=refined))
        else:
            z = check_z(m, row, f"zs[{i}]")
            jobs.append(RenderJob(m.id, z=z, edits=pre, fmt=body.format, quality=body.quality, refined=refined))
    with guards.render_gate.admit(len(jobs)):
        frames = await asyncio.gather(*(engine.render_async(j) for j in jobs))
    if len(frames) == 1 and wants_image(request):
        return Response(frames[0].data, media_type=frames[0].media_type)
    ids = body.ids if body.ids is not None else [None] * len(frames)
    images = [ImageOut(id=i, data=data_url(f.data, f.media_type)) for i, f in zip(ids, frames, strict=True)]
    return GenerateResponse(model=m.id, format=body.format, images=images)


@router.post("/intervene", response_model=InterveneResponse, responses=IMAGE_RESPONSES)
@carries_masks
async def create_intervention(
    body: InterveneRequest,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    guards: GuardsDep,
    builder: EditsDep,
):
    """One image with strokes (concept brushes) and raw unit edits applied in order."""
    if body.upload is not None:  # an uploaded picture (api/routes/uploads.py)
        request_artifact_edits(engine, None, body.artifacts)  # "removed": not for uploads
        return await intervene_upload(body, request, engine, guards, builder)
    m = resolve_model(engine, settings, body.model)
    if (body.image is None) == (body.z is None):
        raise ValueError("image/z: give exactly one of 'image' (an image id) or 'z' (a latent vector)")
    z = check_z(m, body.z, "z") if body.z is not None else None
    refined = wants_refined(m, body.size)
    edits = request_artifact_edits(engine, m, body.artifacts)
    edits += await builder.build(m, body.strokes, body.edits, body.layer)
    with guards.render_gate.admit(1):
        job = RenderJob(m.id, body.image, z, edits, body.format, body.quality, refined=refined)
        frame = await engine.render_async(job)
    if wants_image(request):
        return Response(frame.data, media_type=frame.media_type)
    return InterveneResponse(
        model=m.id, image=body.image, format=body.format, data=data_url(frame.data, frame.media_type)
    )
