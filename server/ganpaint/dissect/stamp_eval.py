"""Stamp vs classic brush, measured on held-out latents (``ganpaint stamps evaluate``).

For each concept with stamps, placements are found with the segmenter on the unedited image, by rules
fixed before looking at any result (PLACES): favourable (door: the base of a wall, standing on the ground;
dome: on the highest roof or tower top; window: inside a wall; tree: standing on grass; cloud: in open
sky; tower: standing on the ground beside a building; building: standing on grass; brick: inside a wall;
roof: on the top of a wall) and unfavourable (door and dome in open sky, on
grass). At each placement the stamp (style 0 = the largest, at its natural size) and the classic GANPaint
unit brush (the concept's draw units at their draw values, a disc of the stamp box's area) are painted.

Per try: success = the concept covers >= 30% of the painted region after (segmenter); the region is the
stamp's footprint (alpha >= 0.5 at pixel resolution) or the brush's disc. Collateral = mean absolute
change of the pixels (0..255) outside the region dilated by 2 px. Realism = dD, the critic's score after
minus before (``ganpaint.train.critic``), when the model ships a discriminator, over all tries and over the
tries that succeeded (``dD_succeeded``: an edit that paints nothing looks as real as the original). Intervals are 95%:
Wilson for rates, mean +- 1.96 standard errors for means (paired differences for stamp - classic).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganpaint.masks import rasterize_polyline
from ganpaint.nn.intervene import UnitEdit, apply_edits
from ganpaint.nn.proggan import image_latents
from ganpaint.precomputed import Precomputed
from ganpaint.stamps.place import stamp_edits, stamp_maps

SUCCESS_SHARE = 0.3
DILATE = 2
FIRST_ID = 50000  # held-out image ids: the gallery and the dissection use others (checkers use 90000+)

WALL, GROUND, OPEN = ("building", "brick"), ("grass", "earth"), ("sky", "cloud")
# concept -> [(placement, kind)]; kind "favourable" or "unfavourable"
PLACES: dict[str, list[tuple[str, str]]] = {
    "door": [("wall base", "favourable"), ("sky", "unfavourable"), ("grass", "unfavourable")],
    "dome": [("roof top", "favourable"), ("sky", "unfavourable"), ("grass", "unfavourable")],
    "window": [("wall", "favourable")],
    "tree": [("on grass", "favourable")],
    "cloud": [("sky", "favourable")],
    "tower": [("beside a building", "favourable")],
    "building": [("on grass", "favourable")],
    "brick": [("wall", "favourable")],
    "roof": [("wall top", "favourable")],
}


def _box(cx: float, cy: float, w: float, h: float, size: int) -> tuple[int, int, int, int] | None:
    x0, y0 = round(cx - w / 2), round(cy - h / 2)
    x1, y1 = x0 + max(1, round(w)), y0 + max(1, round(h))
    return (x0, y0, x1, y1) if x0 >= 0 and y0 >= 0 and x1 <= size and y1 <= size else None


def _share(lab: np.ndarray, box, ids) -> float:
    x0, y0, x1, y1 = box
    return float(np.isin(lab[y0:y1, x0:x1], ids).mean())


def find_place(where: str, lab: np.ndarray, names: list[str], w: float, h: float, rng) -> tuple[float, float] | None:
    """A stamp centre (x, y) in pixels for placement ``where`` on label map ``lab`` (H, W), or None."""
    ids = {n: names.index(n) for n in names}
    wall = [ids[n] for n in WALL if n in ids]
    ground = [ids[n] for n in GROUND if n in ids]
    sky = [ids[n] for n in OPEN if n in ids]
    size = lab.shape[0]
    below = np.zeros_like(lab, dtype=bool)
    below[:-1] = np.isin(lab[1:], ground)  # the pixel under is ground
    above_open = np.zeros_like(lab, dtype=bool)
    above_open[1:] = np.isin(lab[:-1], sky)
    cands: list[tuple[float, float]] = []
    if where == "wall base":  # bottom of the box on the wall's last row, the box mostly wall, no door yet
        ys, xs = np.nonzero(np.isin(lab, wall) & below)
        for y, x in zip(ys, xs, strict=True):
            b = _box(x + 0.5, y + 1 - h / 2, w, h, size)
            if b and _share(lab, b, [*wall, ids["window"]]) >= 0.7 and _share(lab, b, [ids["door"]]) <= 0.1:
                cands.append((x + 0.5, y + 1 - h / 2))
    elif where == "roof top":  # on the highest roof or tower top: the box's bottom row covers its top pixel
        tops = [ids[n] for n in ("roof", "tower") if n in ids]
        ys, xs = np.nonzero(np.isin(lab, tops) & above_open)
        if len(ys):
            keep = ys <= ys.min() + 1
            for y, x in zip(ys[keep], xs[keep], strict=True):
                b = _box(x + 0.5, y + 1 - h / 2, w, h, size)
                if b and _share(lab, b, sky) >= 0.5:
                    cands.append((x + 0.5, y + 1 - h / 2))
    elif where in ("wall", "sky", "grass"):  # the box inside one kind of region
        region = {"wall": wall, "sky": [ids["sky"]], "grass": [ids["grass"]]}[where]
        need = {"wall": 0.7, "sky": 0.9, "grass": 0.9}[where]
        ys, xs = np.nonzero(np.isin(lab, region))
        for y, x in zip(ys, xs, strict=True):
            b = _box(x + 0.5, y + 0.5, w, h, size)
            if b and _share(lab, b, region) >= need and (where != "wall" or _share(lab, b, [ids["door"]]) == 0):
                cands.append((x + 0.5, y + 0.5))
    elif where == "wall top":  # on a wall's top row, the box's bottom row on it and the rest mostly open
        ys, xs = np.nonzero(np.isin(lab, wall) & above_open)
        for y, x in zip(ys, xs, strict=True):
            b = _box(x + 0.5, y + 1 - h / 2, w, h, size)
            if b and _share(lab, b, sky) >= 0.5:
                cands.append((x + 0.5, y + 1 - h / 2))
    elif where == "on grass":  # standing on grass: the box's bottom row on a grass pixel, the rest open or grass
        ys, xs = np.nonzero(lab == ids["grass"])
        for y, x in zip(ys, xs, strict=True):
            b = _box(x + 0.5, y + 1 - h / 2, w, h, size)
            if b and _share(lab, b, [*sky, ids["grass"], ids.get("mountain", -1)]) >= 0.8:
                cands.append((x + 0.5, y + 1 - h / 2))
    elif where == "beside a building":  # standing on the ground within a box width of a wall, not on it
        ys, xs = np.nonzero(~np.isin(lab, wall) & below)
        for y, x in zip(ys, xs, strict=True):
            near = lab[y, max(0, int(x - w)) : int(x + w) + 1]
            b = _box(x + 0.5, y + 1 - h / 2, w, h, size)
            if b and np.isin(near, wall).any() and _share(lab, b, wall) <= 0.3:
                cands.append((x + 0.5, y + 1 - h / 2))
    else:
        raise ValueError(f"placement: unknown {where!r}")
    return cands[int(rng.integers(len(cands)))] if cands else None


def wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [0.0, 0.0]
    p, z = k / n, 1.96
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(mid - half, 3), round(mid + half, 3)]


def mean_ci(x) -> dict:
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return {"mean": None, "ci95": None, "n": 0}
    half = float(1.96 * x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else 0.0
    mean = float(x.mean())
    ci95 = [round(mean - half, 4), round(mean + half, 4)] if len(x) > 1 else None  # one value: no interval
    return {"mean": round(mean, 4), "ci95": ci95, "n": len(x)}


def _dilate(region: torch.Tensor, px: int) -> torch.Tensor:
    return F.max_pool2d(region[None, None].float(), 2 * px + 1, stride=1, padding=px)[0, 0] > 0


def evaluate_concept(
    generator,
    segmenter,
    critic,
    pre: Precomputed,
    concept: str,
    tries: int,
    seed: int = 0,
    progress: bool = True,
    keep_images: int = 12,
    style_index: int = 0,
    kinds: tuple[str, ...] = ("favourable", "unfavourable"),
    context: bool = False,
) -> dict:
    """Every placement of ``concept`` (PLACES): per method, success, collateral, dD; and example images.
    ``context``: also the stamp that respects context (``ganpaint.context.gate``; method "stamp in context",
    its region the stamp's footprint, a fourth row in the examples)."""
    layer = pre.layer
    h_fn, f_fn = generator.split(layer)
    names = list(segmenter.names)
    c = names.index(concept)
    cu = pre.concepts[concept]
    style = pre.stamps[concept].styles[style_index]
    res = generator.resolution
    w_px, h_px = style.natural_size
    size = (w_px / res, h_px / res)
    _, fh, fw = pre.feature_shape
    radius = math.sqrt(w_px * h_px / math.pi) / res
    out = {"style": style_index, "natural_size": [w_px, h_px], "placements": {}}

    def seg(x: torch.Tensor) -> np.ndarray:
        return segmenter.probabilities(x).argmax(1).cpu().numpy()  # (N, H, W)

    for where, kind in PLACES[concept]:
        if kind not in kinds:
            continue
        rng = np.random.default_rng([seed, c, len(where)])
        rows: dict[str, list] = {"stamp": [], "classic": [], **({"stamp in context": []} if context else {})}
        examples = []
        next_id, limit = FIRST_ID + 1000 * PLACES_INDEX[(concept, where)], tries * 6
        bar = tqdm(total=tries, desc=f"{concept} {where}", disable=not progress, leave=False)
        while len(rows["stamp"]) < tries and next_id < FIRST_ID + 1000 * PLACES_INDEX[(concept, where)] + limit:
            image_id, next_id = next_id, next_id + 1
            z = image_latents([image_id], generator.z_dim)  # (1, z_dim)
            with torch.no_grad():
                r = h_fn(z)  # (1, C, h, w)
                before = f_fn(r)  # (1, 3, H, W)
            lab = seg(before)[0]
            place = find_place(where, lab, names, w_px, h_px, rng)
            if place is None:
                continue
            centre = (place[0] / res, place[1] / res)
            stamp = stamp_edits(layer, style, [centre], size, (fh, fw), res)
            foot = stamp_maps(style, centre, size, (res, res), res)[1] >= 0.5  # (H, W)
            disc = {"points": [list(centre)], "radius": radius}
            classic_mask = torch.from_numpy(rasterize_polyline(disc, max(256, res)))
            n = min(20, len(cu.units))
            classic = [UnitEdit(layer, cu.units[:n], cu.draw_values[:n], 1.0, classic_mask)]
            disc_px = torch.from_numpy(rasterize_polyline(disc, res)) > 0.5
            methods = [("stamp", stamp), ("classic", classic)]
            if context:
                methods.append(("stamp in context", in_context(r, f_fn, segmenter, pre, concept, stamp, centre, res)))
            with torch.no_grad():
                after = {m: f_fn(apply_edits(r, e)) for m, e in methods}
                scores = critic.score(torch.cat([before, *after.values()])) if critic else None
            regions = (("stamp", foot), ("classic", disc_px), ("stamp in context", foot))[: len(methods)]
            for i, (method, region) in enumerate(regions):
                dd = float(scores[i + 1] - scores[0]) if scores is not None else None
                rows[method].append(try_row(image_id, lab, seg(after[method])[0], before, after[method], region, c, dd))
            if len(examples) < keep_images:
                shown = [before, after["classic"], after["stamp"]] + ([after["stamp in context"]] if context else [])
                examples.append(torch.cat(shown))  # (3 or 4, 3, H, W)
            bar.update(1)
        bar.close()
        out["placements"][where] = {"kind": kind, **summarise(rows), "examples": examples}
    return out


def try_row(image_id: int, lab, lab_after, before, after, region: torch.Tensor, c: int, dd: float | None) -> dict:
    """One try of one method: the concept's share of the region before and after, collateral, dD."""
    outside = ~_dilate(region, DILATE).numpy()
    diff = (after - before)[0].abs().mean(0).numpy() * 127.5  # (H, W) in 0..255
    return {
        "id": image_id,
        "share_before": float((lab[region.numpy()] == c).mean()),
        "share_after": float((lab_after[region.numpy()] == c).mean()),
        "collateral": float(diff[outside].mean()),
        "dD": dd,
    }


def in_context(
    r: torch.Tensor, f_fn, segmenter, pre: Precomputed, concept: str, stamp: list[UnitEdit], centre, resolution: int
) -> list[UnitEdit]:
    """The stamp as a stroke with context "respect" paints it: the stamp, or the brush through its footprint."""
    from ganpaint.context.gate import Decisions, context_stamps, resolve

    if not stamp:
        return []
    cu = pre.concepts[concept]
    n = min(20, len(cu.units))
    cs = context_stamps(pre.layer, concept, cu.units[:n], cu.draw_values[:n], [(centre, stamp[0])], ())
    with torch.no_grad():
        return resolve(cs, r, f_fn, segmenter.probabilities, segmenter.names, resolution, Decisions())


def summarise(rows: dict[str, list[dict]]) -> dict:
    summ = {}
    for method, rs in rows.items():
        ok = sum(r["share_after"] >= SUCCESS_SHARE for r in rs)
        dd = [r["dD"] for r in rs if r["dD"] is not None]
        summ[method] = {
            "tries": len(rs),
            "success": round(ok / len(rs), 3) if rs else None,
            "success_ci95": wilson(ok, len(rs)),
            "share_after": mean_ci([r["share_after"] for r in rs]),
            "collateral": mean_ci([r["collateral"] for r in rs]),
            "dD": mean_ci(dd) if dd else None,
            # realism where the concept did appear (an edit that paints nothing changes little)
            "dD_succeeded": mean_ci([r["dD"] for r in rs if r["dD"] is not None and r["share_after"] >= SUCCESS_SHARE])
            if dd
            else None,
        }
    paired = [(a["dD"], b["dD"]) for a, b in zip(rows["stamp"], rows["classic"], strict=True) if a["dD"] is not None]
    if paired:
        summ["dD_stamp_minus_classic"] = mean_ci([a - b for a, b in paired])
    summ["collateral_stamp_minus_classic"] = mean_ci(
        [a["collateral"] - b["collateral"] for a, b in zip(rows["stamp"], rows["classic"], strict=True)]
    )
    summ["ids"] = [r["id"] for r in rows["stamp"]]
    return summ


PLACES_INDEX = {(c, w): i for i, (c, w) in enumerate((c, w) for c, ps in PLACES.items() for w, _ in ps)}


def example_grid(examples: list[torch.Tensor], scale: int = 3) -> np.ndarray:
    """Rows: before, classic brush, stamp (and the stamp in context); one column per example; uint8 (H, W, 3)."""
    cols = torch.stack(examples)  # (K, 3 rows, 3, H, W)
    k, rows, _, h, w = cols.shape
    pad = 2
    canvas = torch.ones(3, rows * (h + pad) - pad, k * (w + pad) - pad)
    for j in range(k):
        for i in range(rows):
            canvas[:, i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = cols[j, i]
    img = ((canvas.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    return img.repeat(scale, 0).repeat(scale, 1)
