"""Request strokes and raw unit edits -> the engine's ``UnitEdit`` list, with limits and exact errors."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ganpaint.api.schemas import StrokeIn, UnitEditIn
from ganpaint.api.settings import Settings
from ganpaint.engine import LoadedModel, NotFoundError
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes import Stroke, pooled_mask, stroke_edits

# masks decode here, off the event loop (one thread: a big mask delays only its own request, never the loop)
MASK_THREAD = ThreadPoolExecutor(1, thread_name_prefix="ganpaint-masks")


async def build_edits_async(*args, **kwargs) -> list[UnitEdit]:
    """``build_edits`` on the mask thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(MASK_THREAD, functools.partial(build_edits, *args, **kwargs))


def build_edits(
    m: LoadedModel,
    settings: Settings,
    strokes: Sequence[StrokeIn],
    edits: Sequence[UnitEditIn] = (),
    layer: str | None = None,
) -> list[UnitEdit]:
    """Strokes first (in order), then raw edits; ValueError/NotFoundError name the field."""
    if len(strokes) > settings.max_strokes:
        raise ValueError(f"strokes: at most {settings.max_strokes} strokes, got {len(strokes)}")
    if len(edits) > settings.max_edits:
        raise ValueError(f"edits: at most {settings.max_edits} edits, got {len(edits)}")
    if layer is not None:
        try:
            m.check_layer(layer)
        except NotFoundError as exc:
            raise NotFoundError(f"layer: {exc}") from exc
    specs = [Stroke(s.concept, s.mask, s.mode, s.strength, s.layer) for s in strokes]
    out = stroke_edits(m, specs, layer, "strokes", settings.max_points, settings.max_mask_side)
    for i, e in enumerate(edits):
        out.append(raw_edit(m, settings, e, f"edits[{i}]"))
    return out


def raw_edit(m: LoadedModel, settings: Settings, e: UnitEditIn, where: str) -> UnitEdit:
    try:
        m.check_layer(e.layer)
    except NotFoundError as exc:
        raise NotFoundError(f"{where}.layer: {exc}") from exc
    channels = m.generator.feature_shape(e.layer)[0]
    for j, u in enumerate(e.units):
        if not 0 <= u < channels:
            raise ValueError(f"{where}.units[{j}]: expected a unit in 0..{channels - 1} of {e.layer}, got {u}")
    for name in ("value", "alpha"):
        v = getattr(e, name)
        if isinstance(v, list) and len(v) != len(e.units):
            raise ValueError(f"{where}.{name}: expected one number or {len(e.units)} (one per unit), got {len(v)}")
    alphas = e.alpha if isinstance(e.alpha, list) else [e.alpha]
    for a in alphas:
        if not 0 <= a <= 1:
            raise ValueError(f"{where}.alpha: expected numbers in 0..1, got {a}")
    mask = pooled_mask(e.mask, m, e.layer, f"{where}.mask", settings.max_points, settings.max_mask_side)
    return UnitEdit(e.layer, list(e.units), e.value, e.alpha, mask)
