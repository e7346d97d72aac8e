"""Request and response bodies of the REST and websocket API (the OpenAPI spec is generated from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ganpaint.nn.proggan import MAX_IMAGE_ID

Finite = Annotated[float, Field(allow_inf_nan=False)]
ImageId = Annotated[int, Field(ge=0, le=MAX_IMAGE_ID)]
Format = Literal["png", "jpeg", "webp"]
Quality = Annotated[int, Field(ge=1, le=100)]
MaskSpec = Annotated[
    dict[str, Any] | str,
    Field(
        description="polyline {points: [[x, y]...], radius} in 0..1, a PNG data URL, "
        "{shape, bitbounds, bitstring} (0/1 string) or {shape, bounds, runs} (run lengths); see docs/api.md"
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


Artifacts = Literal["removed", "kept"] | None
ARTIFACTS_FIELD = Field(
    None, description="removed: the model's artifact units ablated (ganpaint dissect --artifacts); default: as measured"
)


class StrokeIn(Strict):
    concept: str = Field(max_length=64)
    mode: Literal["draw", "erase", "stamp"] = Field(
        "draw", description="draw/erase: the GANPaint unit brush; stamp: one instance of a style per point"
    )
    strength: int = Field(20, ge=1, le=20, description="number of the concept's units used, best first")
    mask: MaskSpec
    layer: str | None = Field(None, max_length=32, description="default: the request's (or model's) layer")
    style: StrictInt | None = Field(None, ge=0, le=63, description="stamp: style index (default: the default_style)")
    size: list[Finite] | None = Field(
        None, min_length=2, max_length=2, description="stamp: [w, h] in 0..1 of the image width (default natural)"
    )
    context: Literal["respect", "ignore"] = Field(
        "respect", description="stamp: respect = the unit brush where the concept does not belong (docs/context.md)"
    )
    method: Literal["fill", "units"] = Field(
        "fill", description="erase: fill = repaint from what surrounds the stroke, units = GANPaint's (docs/erase.md)"
    )


class UnitEditIn(Strict):
    layer: str = Field(max_length=32)
    units: list[int] = Field(min_length=1, max_length=4096)
    value: Finite | list[Finite] = 0.0
    alpha: Finite | list[Finite] = 1.0
    mask: MaskSpec | None = None


class GenerateRequest(Strict):
    model: str | None = Field(None, max_length=64)
    ids: list[ImageId] | None = None
    zs: list[list[Finite]] | None = None
    format: Format = "png"
    quality: Quality = 90
    size: int | None = Field(
        None, ge=1, le=4096, description="picture size in px: the model's resolution (default) or 4x it with a refiner"
    )
    artifacts: Artifacts = ARTIFACTS_FIELD


class ErrorResponse(BaseModel):
    """Every 4xx (and the 503 of a busy or draining server): one sentence naming the field and quoting the value."""

    detail: str


ERROR_RESPONSES: dict = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (404, "unknown model, layer, concept or route"),
        (413, "request body over max_body_bytes"),
        (422, "a bad field: wrong type, out of range, malformed mask, over a limit"),
        (503, "busy (max_rest_images rendering) or shutting down (SIGTERM): retry after Retry-After seconds"),
    )
}


class ImageOut(BaseModel):
    id: int | None
    data: str  # data URL


class GenerateResponse(BaseModel):
    model: str
    format: Format
    images: list[ImageOut]


class InterveneRequest(Strict):
    model: str | None = Field(None, max_length=64)
    image: ImageId | None = None
    upload: str | None = Field(None, max_length=64, description="an id from POST /uploads, in place of image/z")
    z: list[Finite] | None = None
    layer: str | None = Field(None, max_length=32)
    strokes: list[StrokeIn] = []
    edits: list[UnitEditIn] = []
    format: Format = "png"
    quality: Quality = 90
    size: int | None = Field(
        None, ge=1, le=4096, description="picture size in px: the model's resolution (default) or 4x it with a refiner"
    )
    artifacts: Artifacts = ARTIFACTS_FIELD


class InterveneResponse(BaseModel):
    model: str
    image: int | None
    format: Format
    data: str  # data URL


class HealthResponse(BaseModel):
    status: str
    models: list[str]  # loaded models
    device: str


class ModelSummary(BaseModel):
    id: str
    name: str
    resolution: int
    default_layer: str


class ModelsResponse(BaseModel):
    default_model: str | None
    models: list[ModelSummary]


class LayerInfo(BaseModel):
    name: str
    feature_shape: list[int]
    paintable: bool  # has a dissection


class StyleSummary(BaseModel):
    index: int
    members: int  # instances of the concept in the style
    natural_size: list[float]  # [w, h], pixels of the image: a stamp's default size
    thumbnail: str  # URL of a PNG: a real member of the style


class ConceptSummary(BaseModel):
    name: str
    color: str  # "#rrggbb"
    units: int  # the most units a stroke can use (draw or erase)
    ranking: str  # "ace" or "iou": the draw units' ranking
    erase_ranking: str  # "removal", "ace" or "iou": the erase units' ranking
    natural_size: list[float] | None = None  # stamps: the concept's median [w, h] in pixels; None without stamps
    styles: list[StyleSummary] = []  # stamp styles, largest first (empty: no stamps at this layer)
    default_mode: Literal["draw", "stamp"] = "draw"  # the page's mode when the concept is picked
    default_style: int = 0  # the style a stamp stroke without one uses (measured best, else the largest)


class ArtifactsInfo(BaseModel):
    available: bool  # the model has an artifact ranking: "removed" can be asked for
    default: Literal["removed", "kept"]  # what a request without the option gets (as measured)
    layer: str | None
    units: list[int]  # the units "removed" sets to 0


class ModelDetail(BaseModel):
    id: str
    name: str
    description: str
    resolution: int
    sizes: list[int]  # picture sizes it renders: [resolution], and 4x it where it ships a refiner
    z_dim: int
    layers: list[LayerInfo]
    paint_layers: list[str]
    default_layer: str
    layer: str  # the layer ``concepts`` belong to
    gallery: list[int]
    concepts: list[ConceptSummary]
    artifacts: ArtifactsInfo | None = None  # the "artifacts" option: available, default, layer, units


class ConceptDetail(BaseModel):
    name: str
    layer: str
    color: str
    ranking: str
    units: list[int]
    k: list[float]
    levels: list[float]
    draw_values: list[float]
    draw_rule: str
    erase_ranking: str  # "removal", "ace" or "iou": the ranking of erase_units
    erase_units: list[int]  # the units an erase stroke zeroes, best first
    effect: dict[str, Any]
    context: dict[str, float]


# ----------------------------------------------------------------------------- websocket messages


class OpenMessage(Strict):
    type: Literal["open"]
    model: str | None = Field(None, max_length=64)
    image: ImageId | None = None  # give image or upload
    upload: str | None = Field(None, max_length=64, description="an id from POST /uploads, in place of image")
    layer: str | None = Field(None, max_length=32)
    format: Literal["jpeg", "webp", "png"] = "jpeg"
    quality: Quality = 90
    artifacts: Artifacts = ARTIFACTS_FIELD


class RenderMessage(Strict):
    type: Literal["render"]
    seq: int = Field(ge=0, le=2**32 - 1)
    strokes: list[StrokeIn]
    refine: bool = Field(
        False, description="after this update's frame, also send its refined (4x) frame unless a newer update came"
    )
    draft: bool = Field(
        False, description="a stroke still being drawn: erases get the quick fill, not the fit (docs/erase.md)"
    )


class PingMessage(Strict):
    type: Literal["ping"]
