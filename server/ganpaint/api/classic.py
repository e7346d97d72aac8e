"""What the original GANPaint client needs beyond /api: its image size, its draw recipe, demo mode's data route
and its own files at /client/ (docs/api.md, "Running the original GANPaint client").

The client (gandissect client/ts/ganpaint.ts, read, not copied) draws on a 256 px canvas, the picture at its
natural size in the top-left corner and a 32 x 32 mask canvas stretched over the whole canvas. So /api images
come at ``classic_image_size`` px (upscaled without smoothing from smaller models), and the mask, which then
covers exactly the picture, maps onto the whole image. Its brush for a ranking ``r`` at strength ``n`` sets the
first ``n`` units of an ascending sort of ``r``'s scores to ``levels[unit][0]`` (alpha 1; 0 to erase), ``n``
4, 10 or 15 (the default). ``classic_rankings`` and ``classic_levels`` choose what those routes answer so that
this recipe paints as close as it can to ganpaint's own draw brush (scripts/classic_recipe_table.py measures it).
"""

from __future__ import annotations

import io
import logging
import mimetypes
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from PIL import Image

from ganpaint.api.deps import EngineDep, GateDep, SettingsDep
from ganpaint.api.notice import notice_png
from ganpaint.engine import LoadedModel, NotFoundError, RenderJob
from ganpaint.precomputed import Precomputed

log = logging.getLogger("ganpaint")
router = APIRouter(tags=["ganpaint-compat"])
JPEG_QUALITY = 99  # the original's
DEMO_PROJECT = "churchoutdoor"  # the only project the client's demo mode knows (its built-in rankings and levels)
DEMO_LAYER, DEMO_CHANNELS = "layer4", 512
LEVEL_RULES = ("draw", "quantile_99")
ERROR_HEADER = "X-Ganpaint-Error"  # demo mode's 404 pictures: the reason, for scripts
NOTICE_SIDE = 256  # the client's canvas: the notice's side when classic_image_size is 0
_warned: set[str] = set()


# ------------------------------------------------------------------------------ images at the client's size


def classic_size(m: LoadedModel, size: int) -> int:
    """The side of /api images: ``size`` (the client's canvas), or the model's own when it is larger (never
    downscaled; logged once, as the client's canvas then shows only the top-left part)."""
    res = m.generator.resolution
    if size and res > size and m.id not in _warned:
        _warned.add(m.id)
        log.warning(
            "ganpaint: model %r is %d px, larger than classic_image_size %d: /api images stay %d px (never "
            "downscaled); the original client's canvas shows their top-left %d px, and its strokes miss",
            *(m.id, res, size, res, size),
        )
    return max(res, size)


def classic_jpeg(png: bytes, side: int) -> bytes:
    """A rendered PNG -> JPEG q99 at ``side`` px, upscaled nearest-neighbour (each pixel a block) if smaller."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    if img.size != (side, side):
        img = img.resize((side, side), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


# ------------------------------------------------------------------------------ the layer it opens


def classic_layer_order(layers: list[str], painting_layer: str | None = None) -> list[str]:
    """The dissected layers in the order /api lists them: the one the client should open first. On first load
    the client shows the first entry of the list: it marks the layer ending in 4 as ``selected`` (ganpaint.ts,
    updateLayerSelector) on d3's update selection, which is still empty while the options are being created.
    So the layer it means, the first whose name ends in 4 (where its recipe paints like the brushes: docs/api.md),
    else the model's painting layer, leads; the others follow in layer order."""
    first = next((x for x in layers if x.endswith("4")), painting_layer if painting_layer in layers else None)
    return ([first] if first else []) + [x for x in layers if x != first]


# ------------------------------------------------------------------------------ the client's draw recipe


MISMATCH_WEIGHT = 0.5  # against rank; chosen on the selection latents of scenes64 layer4 and layer6
FIT_ROUNDS = 5


def classic_recipe(pre: Precomputed, strength: int = 15) -> tuple[dict[str, list[int]], list[float]]:
    """The client's recipe made to paint like the brushes: per concept the order it should take units in, and
    the one value per unit it writes. Brushes share units, each with its own draw value, and the client has one
    level per unit. So, a few rounds of: each unit's level = the mean of the draw values of the brushes that
    take it (least squares); each brush takes the ``strength`` units of its (up to 20) draw units whose rank
    plus ``MISMATCH_WEIGHT`` x |level - its draw value| / its mean |draw value| is smallest. The order: those
    units (in the brush's order), the brush's other units, units no brush draws with, then the rest."""
    chosen = {name: list(c.units[:strength]) for name, c in pre.concepts.items()}
    levels = _fit_levels(pre, chosen)
    for _ in range(FIT_ROUNDS):
        chosen = {name: _pick(c, levels, strength) for name, c in pre.concepts.items()}
        levels = _fit_levels(pre, chosen)
    channels = pre.feature_shape[0]
    best_rank = [len(pre.units)] * channels
    for c in pre.concepts.values():
        for i, u in enumerate(c.units):
            best_rank[u] = min(best_rank[u], i)
    rest = sorted(range(channels), key=lambda u: (-best_rank[u], u))  # no brush first, then the least used
    orders = {}
    for name, c in pre.concepts.items():
        first = chosen[name] + [u for u in c.units if u not in chosen[name]]
        orders[name] = first + [u for u in rest if u not in set(first)]
    return orders, levels


def _fit_levels(pre: Precomputed, chosen: dict[str, list[int]]) -> list[float]:
    total, count = [0.0] * len(pre.units), [0] * len(pre.units)
    for name, units in chosen.items():
        value = dict(zip(pre.concepts[name].units, pre.concepts[name].draw_values, strict=True))
        for u in units:
            total[u] += value[u]
            count[u] += 1
    return [t / n if n else float(q["quantile_99"]) for t, n, q in zip(total, count, pre.units, strict=True)]


def _pick(c, levels: list[float], strength: int) -> list[int]:
    scale = sum(abs(v) for v in c.draw_values[:strength]) / len(c.draw_values[:strength]) or 1.0
    n = len(c.units)
    pairs = enumerate(zip(c.units, c.draw_values, strict=True))
    cost = [i / n + MISMATCH_WEIGHT * abs(levels[u] - v) / scale for i, (u, v) in pairs]  # rank + mismatch
    keep = sorted(sorted(range(n), key=lambda i: (cost[i], i))[:strength])
    return [c.units[i] for i in keep]


def classic_rankings(pre: Precomputed) -> list[dict]:
    """One ranking per concept, '<concept>-<ranking>'; ascending scores give ``classic_recipe``'s order."""
    channels = pre.feature_shape[0]
    res = []
    for name, order in classic_recipe(pre)[0].items():
        scores = [0.0] * channels
        for i, u in enumerate(order):
            scores[u] = float(i - channels)
        c = pre.concepts[name]
        res.append({"name": f"{name}-{c.ranking}", "metric": c.ranking, "scores": scores})
    return sorted(res, key=lambda r: r["name"])


def classic_levels(pre: Precomputed, rule: str = "draw") -> list[float]:
    """The one value per unit the client writes when drawing: ``draw``, ``classic_recipe``'s levels;
    ``quantile_99``, each unit's 0.99 activation quantile (the original server's answer, for comparison)."""
    if rule not in LEVEL_RULES:
        raise ValueError(f"rule: expected one of {', '.join(LEVEL_RULES)}, got {rule!r}")
    if rule == "quantile_99":
        return [float(u["quantile_99"]) for u in pre.units]
    return classic_recipe(pre)[1]


# ------------------------------------------------------------------------------ demo mode's data route


class DemoUnavailable(NotFoundError):
    """Why demo mode cannot paint on this server: ``str()`` the whole reason, ``body`` the short one its picture
    shows, ``action`` what to do instead."""

    def __init__(self, detail: str, body: str, action: str):
        super().__init__(detail)
        self.body, self.action = body, action


def demo_model(engine, project: str) -> LoadedModel:
    """The model demo mode paints on, or DemoUnavailable saying why demo mode cannot work on this server."""
    have = ", ".join(engine.available_models()) or "none"
    expert = f"open the client with ?expert=1 to paint this server's models ({have})"
    action = f"Open this page with ?expert=1 to paint this server's models: {have}"
    if project != DEMO_PROJECT:
        raise DemoUnavailable(
            f"project: demo mode of the original GANPaint client paints only {DEMO_PROJECT!r} (its built-in "
            f"rankings and levels), got {project!r}: {expert}",
            f"Demo mode paints only {DEMO_PROJECT!r} (its built-in brushes), not the project it was asked for.",
            action,
        )
    if project not in engine.available_models():
        raise DemoUnavailable(
            f"project: demo mode of the original GANPaint client paints {DEMO_PROJECT!r}, which this server does "
            f"not have: {expert}, or register the LSUN church ProGAN as {DEMO_PROJECT!r} (docs/api.md)",
            f"Demo mode paints only the LSUN church ProGAN, registered as {DEMO_PROJECT!r}; this server has no "
            "such model.",
            action,
        )
    m = engine.model(project)
    c = m.generator.feature_shape(DEMO_LAYER)[0] if DEMO_LAYER in m.generator.layer_names else 0
    if c != DEMO_CHANNELS:
        raise DemoUnavailable(
            f"project: demo mode's built-in rankings and levels are for {DEMO_LAYER} of the LSUN church ProGAN "
            f"({DEMO_CHANNELS} units); model {project!r} has {c} {DEMO_LAYER} units: {expert}",
            f"{project!r} here is not the LSUN church ProGAN: its {DEMO_LAYER} has {c} units, demo mode's built-in "
            f"brushes are for {DEMO_CHANNELS}.",
            action,
        )
    return m


@lru_cache(maxsize=32)
def _notice(body: str, action: str, side: int) -> bytes:  # the texts name no requested value: a few per server
    return notice_png("Demo mode cannot paint on this server", body, action, side)


def demo_notice(exc: DemoUnavailable, side: int) -> Response:
    """404 whose body is a picture of the reason (the client shows only images) and whose ``X-Ganpaint-Error``
    header carries the whole reason for scripts (ASCII: anything else backslash-escaped)."""
    detail = str(exc).encode("ascii", "backslashreplace").decode()
    return Response(
        _notice(exc.body, exc.action, side or NOTICE_SIDE),
        status_code=404,
        media_type="image/png",
        headers={ERROR_HEADER: detail, "Cache-Control": "no-store"},
    )


@router.get(
    "/data/{project}/cache/img/id/{image}.jpg",
    response_class=Response,
    responses={404: {"description": "demo mode cannot paint here: a PNG saying why, the reason in X-Ganpaint-Error"}},
)
def read_demo_image(
    project: Annotated[str, PathParam(max_length=64)],
    image: Annotated[int, PathParam(ge=0, le=99999)],
    engine: EngineDep,
    settings: SettingsDep,
    gate: GateDep,
) -> Response:
    """Demo mode's picture of image ``image`` (the original served a cached file): JPEG q99 at the client's size;
    where demo mode cannot paint, 404 with a picture that says why and what to do (``demo_notice``)."""
    try:
        m = demo_model(engine, project)
    except DemoUnavailable as exc:
        return demo_notice(exc, settings.classic_image_size)
    with gate.admit(1):
        frame = engine.render(RenderJob(m.id, image=image, fmt="png"))  # this (pool) thread waits
    data = classic_jpeg(frame.data, classic_size(m, settings.classic_image_size))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})


# ------------------------------------------------------------------------------ the client's own files


def classic_client_file(folder: Path, path: str) -> Path:
    """The file ``path`` names inside ``folder`` (a folder: its index.html), or NotFoundError. Refused: any
    '.', '..' or hidden (dot) part, backslashes, NUL, and anything that resolves (symlinks included) outside
    the folder; only plain files are served."""
    root = folder.resolve()
    parts = [p for p in path.split("/") if p]
    if any(p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        raise NotFoundError(f"path: no file {path!r} in the classic client folder")
    try:
        target = root.joinpath(*parts)
        if target.is_dir():
            target = target / "index.html"
        target = target.resolve()
        found = target.is_relative_to(root) and target.is_file()
    except OSError:  # a name too long for the file system, and the like: no such file either
        found = False
    if not found:
        raise NotFoundError(f"path: no file {path[:200]!r} in the classic client folder")
    return target


def add_classic_client(app, folder: Path) -> None:
    """GET/HEAD /client/<path>: the files of a client folder the user downloaded (read-only, path-safe), as the
    original server served its client_dist/ (same origin as /api, so the client needs no ``api=`` parameter)."""
    if not Path(folder).is_dir():
        raise ValueError(f"classic_client: {str(folder)!r} is not a folder")

    @app.get("/client", include_in_schema=False)
    def read_classic_client_root() -> RedirectResponse:
        return RedirectResponse("/client/ganpaint.html", status_code=307)

    @app.api_route("/client/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def read_classic_client(path: str) -> FileResponse:
        target = classic_client_file(Path(folder), path)
        media = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=media)
