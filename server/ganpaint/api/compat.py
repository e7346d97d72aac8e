"""The original GANPaint (gandissect) API under /api, translated onto the same engine.

An unchanged GANPaint client can paint through ganpaint: the ``project`` is the model id. Request and
answer shapes follow netdissect/server.py (../shared/docs/anchors.md 1.1-1.3): ``{request, res}``
answers, masks ``{shape, bitbounds, bitstring}`` with a 0/1 string or a PNG data URL, max pooling
unless ``maskpooling`` is ``mean``, and several interventions composited "over" (which is what applying
them in order computes). Images come back as JPEG q99 data URLs, as the original's inline answers, at the
client's canvas size ``classic_image_size`` (256 px; upscaled nearest-neighbour from smaller models).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import torch
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from ganpaint.api.classic import classic_jpeg, classic_layer_order, classic_levels, classic_rankings, classic_size
from ganpaint.api.deps import EditsDep, EngineDep, GuardsDep, SettingsDep, check_layer, data_url
from ganpaint.api.errors import nesting_depth
from ganpaint.api.guards.shedding import carries_masks
from ganpaint.api.schemas import Finite, ImageId
from ganpaint.edit_plan import EditPlan
from ganpaint.engine import RenderJob
from ganpaint.models import load_model_info
from ganpaint.nn.intervene import UnitEdit
from ganpaint.precomputed import precomputed_layers
from ganpaint.strokes import StrokeLimits, plan_mask

router = APIRouter(prefix="/api", tags=["ganpaint-compat"])
JPEG_QUALITY = 99  # the original's
MAX_ECHO_DEPTH = 32  # lists/dicts in a field the answer echoes back


class Ablation(BaseModel):
    layer: str = Field(max_length=32)
    unit: int
    alpha: Finite = 1.0
    value: Finite = 0.0


class Intervention(BaseModel):
    ablations: list[Ablation] = []
    mask: dict[str, Any] | None = None
    maskpooling: str = "max"


class CompatGenerateRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # the client also sends wantz, ablations: ignored, as the original
    project: str = Field(max_length=64)
    ids: list[ImageId] | None = None
    zs: list[list[Finite]] | None = None
    interventions: list[Intervention] | None = None
    return_urls: Any = None  # accepted, not honoured: images always come back inline as data URLs


@router.get("/all_projects")
def read_all_projects(engine: EngineDep) -> list[dict]:
    """[{project, info: {layers}}] for every model on disk; the layer the client should open first leads (its
    first load takes the first entry: ``classic_layer_order``)."""
    res = []
    for p in engine.available_models():
        try:
            painting = load_model_info(p, engine.models_dir).default_layer
        except (OSError, ValueError):  # a broken model.json: listed, in layer order (loading it says why)
            painting = None
        layers = classic_layer_order(precomputed_layers(engine.precomputed_dir, p), painting)
        res.append({"project": p, "info": {"layers": layers}})
    return res


@router.get("/layers")
def read_layers(engine: EngineDep, project: Annotated[str, Query(max_length=64)]) -> dict:
    """The dissected layers with their channel count and feature-map shape, in /api/all_projects' order."""
    m = engine.model(project)
    res = []
    for layer in classic_layer_order(list(m.precomputed), m.info.default_layer):
        c, h, w = m.generator.feature_shape(layer)
        res.append({"layer": layer, "channels": c, "shape": [h, w]})
    return {"request": {"project": project}, "res": res}


@router.get("/units")
def read_units(engine: EngineDep, project: Annotated[str, Query(max_length=64)], layer: str) -> dict:
    """Each unit's label and IoU; ``img`` is its top-activating crops in the dissection report (null without one)."""
    m = engine.model(project)
    layer = check_layer(m, layer)
    pre = m.dissection(layer)
    report = engine.precomputed_dir / m.id / "report" / layer
    res = []
    for u in pre.units:
        name = f"unit{u['unit']}.png"
        img = f"/reports/{m.id}/{layer}/{name}" if (report / name).is_file() else None
        res.append({"unit": u["unit"], "img": img, "label": u["label"], "iou": u["iou"]})
    return {"request": {"project": project, "layer": layer}, "res": res}


@router.get("/recipes")
def read_recipes(engine: EngineDep, project: Annotated[str, Query(max_length=64)]) -> dict:
    """The brushes as recipes (the original client asks for them; its server never routed this): per concept at
    the painting layer, the ablations a full-strength draw stroke applies."""
    m = engine.model(project)
    layer = m.info.default_layer
    res = [
        {
            "name": c.name,
            "layer": layer,
            "ranking": c.ranking,
            "ablations": [
                {"layer": layer, "unit": u, "alpha": 1.0, "value": v}
                for u, v in zip(c.units, c.draw_values, strict=True)
            ],
        }
        for c in m.dissection(layer).concepts.values()
    ]
    return {"request": {"project": project}, "res": res}


@router.get("/rankings")
def read_rankings(engine: EngineDep, project: Annotated[str, Query(max_length=64)], layer: str) -> dict:
    """One ranking per concept, named '<concept>-<ranking>'; ascending scores put the best units first."""
    m = engine.model(project)
    res = classic_rankings(m.dissection(check_layer(m, layer)))  # the brush's draw units first (api/classic.py)
    return {"request": {"project": project, "layer": layer}, "res": res}


@router.get("/levels")
def read_levels(
    engine: EngineDep, project: Annotated[str, Query(max_length=64)], layer: str, quantiles: float = 0.99
) -> dict:
    """The value the original client writes into each unit when it draws (levels[unit][0]): the brushes' draw
    values (a unit shared by several brushes: their mean), the 0.99 quantile for units no brush uses."""
    m = engine.model(project)
    pre = m.dissection(check_layer(m, layer))
    if quantiles != 0.99:
        raise ValueError(f"quantiles: only 0.99 is precomputed, got {quantiles}")
    return {
        "request": {"project": project, "layer": layer, "quantiles": quantiles},
        "res": [[v] for v in classic_levels(pre)],
    }


@router.post("/generate")
@carries_masks
async def create_generation(
    body: CompatGenerateRequest, engine: EngineDep, settings: SettingsDep, guards: GuardsDep, builder: EditsDep
) -> dict:
    """The original POST /api/generate: ids or zs, interventions -> {request, res: [{id, d}]}."""
    check_echo(body)  # before any work: the answer echoes the request
    m = engine.model(body.project)
    if (body.ids is None) == (body.zs is None):
        raise ValueError("ids/zs: give exactly one of 'ids' or 'zs'")
    rows = body.ids if body.ids is not None else body.zs
    field = "ids" if body.ids is not None else "zs"
    if not 1 <= len(rows) <= settings.max_images:
        raise ValueError(f"{field}: expected 1..{settings.max_images} entries, got {len(rows)}")
    # masks costed and admitted, then decoded off AnyIO's pool (api/edits.py)
    plan = builder.plan()
    translate(plan, m, settings, body.interventions or [])
    edits = await builder.finish(plan)
    res = []
    side = classic_size(m, settings.classic_image_size)  # the client's canvas (api/classic.py)
    with guards.render_gate.admit(len(rows)):
        for i, row in enumerate(rows):
            if body.ids is not None:
                job = RenderJob(m.id, image=row, edits=edits, fmt="png")
            else:
                if len(row) != m.generator.z_dim:
                    raise ValueError(f"zs[{i}]: expected {m.generator.z_dim} numbers, got {len(row)}")
                z = torch.tensor(row, dtype=torch.float32)  # (z_dim,)
                job = RenderJob(m.id, z=z, edits=edits, fmt="png")
            frame = await engine.render_async(job)  # baseline mode renders here under the global lock
            item = {"d": data_url(await asyncio.to_thread(classic_jpeg, frame.data, side), "image/jpeg")}
            if body.ids is not None:
                item["id"] = row
            res.append(item)
    return {"request": body.model_dump(exclude_none=True), "res": res}


def check_echo(body: CompatGenerateRequest) -> None:
    """The answer echoes the request (as the original's): unknown fields, ``return_urls`` and masks nested
    deeper than ``MAX_ECHO_DEPTH`` are refused (422 naming the field, not quoting it) before any work."""
    fields = {**(body.model_extra or {}), "return_urls": body.return_urls}
    for i, iv in enumerate(body.interventions or []):
        fields[f"interventions[{i}].mask"] = iv.mask
    for name, value in fields.items():
        if nesting_depth(value, MAX_ECHO_DEPTH) > MAX_ECHO_DEPTH:
            raise ValueError(f"{name[:40]}: nested deeper than {MAX_ECHO_DEPTH} levels")


def translate(plan: EditPlan, m, settings, interventions: list[Intervention]) -> None:
    """Each intervention -> one UnitEdit per layer, in order ("over" compositing), as parts of ``plan``."""
    if len(interventions) > settings.max_strokes:
        raise ValueError(f"interventions: at most {settings.max_strokes}, got {len(interventions)}")
    limits = StrokeLimits(settings.max_points, settings.max_mask_side)
    for i, iv in enumerate(interventions):
        where = f"interventions[{i}]"
        if iv.maskpooling not in ("max", "mean"):
            raise ValueError(f"{where}.maskpooling: expected 'max' or 'mean', got {iv.maskpooling!r}")
        pooling = "max" if iv.maskpooling == "max" else "area"
        by_layer: dict[str, list[Ablation]] = {}
        for j, a in enumerate(iv.ablations):
            layer = check_layer(m, a.layer, f"{where}.ablations[{j}].layer")
            channels = m.generator.feature_shape(layer)[0]
            if not 0 <= a.unit < channels:
                raise ValueError(f"{where}.ablations[{j}].unit: expected 0..{channels - 1}, got {a.unit}")
            by_layer.setdefault(layer, []).append(a)
        for layer, abl in by_layer.items():
            mask = plan_mask(plan, iv.mask, m, layer, f"{where}.mask", limits, pooling)
            plan.add(lambda layer=layer, abl=abl, mask=mask: [ablation_edit(layer, abl, mask.value)])


def ablation_edit(layer: str, abl: list[Ablation], mask) -> UnitEdit:
    return UnitEdit(layer, [a.unit for a in abl], [a.value for a in abl], [a.alpha for a in abl], mask)
