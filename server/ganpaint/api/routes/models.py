"""GET /models, /models/{id}, /models/{id}/concepts/{concept}: what can be painted with what; stamp thumbnails."""

import io

import numpy as np
from fastapi import APIRouter
from fastapi.responses import Response
from PIL import Image

from ganpaint.api.artifacts import artifact_info
from ganpaint.api.deps import EngineDep, SettingsDep, check_layer, concept_color
from ganpaint.api.schemas import (
    ConceptDetail,
    ConceptSummary,
    LayerInfo,
    ModelDetail,
    ModelsResponse,
    ModelSummary,
    StyleSummary,
)
from ganpaint.api.sizes import sizes
from ganpaint.engine import NotFoundError
from ganpaint.models import load_model_info
from ganpaint.stamps.templates import default_mode, default_style, offered_styles

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=ModelsResponse)
def read_models(engine: EngineDep, settings: SettingsDep) -> ModelsResponse:
    """The models on disk (their model.json; weights load on first use)."""
    out = []
    for model_id in engine.available_models():
        try:
            info = load_model_info(model_id, engine.models_dir)
        except ValueError:
            continue  # a malformed folder is not offered
        out.append(
            ModelSummary(id=info.id, name=info.name, resolution=info.resolution, default_layer=info.default_layer)
        )
    ids = [m.id for m in out]
    return ModelsResponse(default_model=settings.model if settings.model in ids else None, models=out)


@router.get("/{model_id}", response_model=ModelDetail)
def read_model(model_id: str, engine: EngineDep, layer: str | None = None) -> ModelDetail:
    """Resolution, layers, default layer, gallery ids and the concepts at ``layer`` (default layer)."""
    m = engine.model(model_id)
    layer = check_layer(m, layer)
    pre = m.precomputed.get(layer)
    concepts = [
        ConceptSummary(
            name=c.name,
            color=concept_color(c.name),
            units=max(len(c.units), len(c.units_for("erase"))),
            ranking=c.ranking,
            erase_ranking=c.erase_ranking or c.ranking,
            **stamp_summary(m.id, layer, pre, c.name),
        )
        for c in (pre.concepts.values() if pre else [])
    ]
    g = m.generator
    return ModelDetail(
        id=m.id,
        name=m.info.name,
        description=m.info.description,
        resolution=g.resolution,
        sizes=sizes(m),
        z_dim=g.z_dim,
        layers=[
            LayerInfo(name=n, feature_shape=list(g.feature_shape(n)), paintable=n in m.precomputed)
            for n in g.layer_names
        ],
        paint_layers=list(m.precomputed),
        default_layer=m.info.default_layer,
        layer=layer,
        gallery=m.info.gallery,
        concepts=concepts,
        artifacts=artifact_info(engine, m),
    )


@router.get("/{model_id}/concepts/{concept}", response_model=ConceptDetail)
def read_concept(model_id: str, concept: str, engine: EngineDep, layer: str | None = None) -> ConceptDetail:
    """A concept's units, k, levels, draw values and measured effect numbers."""
    m = engine.model(model_id)
    layer = check_layer(m, layer)
    pre = m.dissection(layer)
    c = pre.concepts.get(concept)
    if c is None:
        raise NotFoundError(f"unknown concept {concept!r} at {layer}; available: {', '.join(sorted(pre.concepts))}")
    return ConceptDetail(
        name=c.name,
        layer=layer,
        color=concept_color(c.name),
        ranking=c.ranking,
        units=c.units,
        k=c.k,
        levels=c.levels,
        draw_values=c.draw_values,
        draw_rule=c.draw_rule,
        erase_ranking=c.erase_ranking or c.ranking,
        erase_units=c.units_for("erase"),
        effect=c.effect,
        context=c.context,
    )


def stamp_summary(model_id: str, layer: str, pre, concept: str) -> dict:
    """The ConceptSummary fields of a concept's stamps (none: no fields)."""
    st = pre.stamps.get(concept)
    if st is None:
        return {}
    base = f"/models/{model_id}/concepts/{concept}/styles"
    index = pre.raw["stamps"]["concepts"].get(concept)
    return {
        "default_mode": default_mode(index),
        "default_style": default_style(index),
        "natural_size": [st.natural_size["w"], st.natural_size["h"]],
        "styles": [  # near-invisible styles by the stamp evaluation are not offered (stamps/templates.py)
            StyleSummary(
                index=s.index,
                members=s.members,
                natural_size=list(s.natural_size),
                thumbnail=f"{base}/{s.index}.png?layer={layer}",
            )
            for s in (st.styles[i] for i in offered_styles(index, len(st.styles)))
        ],
    }


@router.get("/{model_id}/concepts/{concept}/styles/{index}.png", response_class=Response)
def read_style_thumbnail(model_id: str, concept: str, index: int, engine: EngineDep, layer: str | None = None):
    """A real member of a stamp style (PNG), as the dissection found it in a generated image."""
    m = engine.model(model_id)
    layer = check_layer(m, layer)
    pre = m.dissection(layer)
    st = pre.stamps.get(concept)
    if st is None:
        raise NotFoundError(f"concept: {concept!r} has no stamps at {layer}; with stamps: {', '.join(pre.stamps)}")
    if not 0 <= index < len(st.styles):
        raise NotFoundError(f"index: style {index} of {concept!r} does not exist; styles: 0..{len(st.styles) - 1}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(st.styles[index].thumbnail)).save(buf, "PNG")
    return Response(buf.getvalue(), media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})
