"""GET /models, /models/{id}, /models/{id}/concepts/{concept}: what can be painted with what."""

from fastapi import APIRouter

from ganpaint.api.deps import EngineDep, SettingsDep, check_layer, concept_color
from ganpaint.api.schemas import ConceptDetail, ConceptSummary, LayerInfo, ModelDetail, ModelsResponse, ModelSummary
from ganpaint.engine import NotFoundError
from ganpaint.models import load_model_info

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
        )
        for c in (pre.concepts.values() if pre else [])
    ]
    g = m.generator
    return ModelDetail(
        id=m.id,
        name=m.info.name,
        description=m.info.description,
        resolution=g.resolution,
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
