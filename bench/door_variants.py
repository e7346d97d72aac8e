"""Door stamps vs the classic brush at the wall base: which variant the critic finds as real as the brush.

    python bench/door_variants.py                    # scenes64, layer6, 100 held-out tries from image id 60001
    python bench/door_variants.py --first 70000 --tries 200

Issue 19 asks that the door stamp's realism (dD: the shipped discriminator's score after minus before, as
``ganpaint stamps evaluate`` measures it) be no worse than the classic unit brush's. The stamp as shipped
scores about 0.1 below the brush. This bench paints, at the same wall-base placements (the evaluation's
rule, ``find_place``), a set of variants fixed in advance, and prints for each: success (the segmenter
calls >= 30% of the painted region door), dD, collateral, dD minus the classic brush's (paired), and dD
over only the tries where a door landed, each with a 95% interval. Variants:

- ``stamp``: the shipped stamp (style 0 at its natural size); ``style1..``: the other styles;
- ``classic``: the GANPaint unit brush (top-20 door units at their draw values, a disc of the stamp's area);
- ``shaped classic``: those top-20 values through the stamp's footprint instead of the disc;
- ``stamp + classic``: the stamp, then the shaped classic brush over it;
- ``shaped classic x s``: the shaped classic brush with its values times s;
- ``stamp, topK moved``: the stamp on only the K units it moves most here (the wall's features elsewhere);
- ``top32, classic values``: those 32 units and the classic's 20, the classic's units at its values;
- ``hybrid f``: the stamp with its top-20 units moved a fraction f toward the classic draw values;
- ``gain g``: the template's contrast to the local wall features scaled by g;
- ``shift k``: the template shifted by k times (wall features - template) around the door (lighting match);
- ``context style``: the style whose surround best matches the wall where it lands;
- ``stamp at layerN``: the layerN stamp at the same box (the same image);
- ``real door, nearest`` / ``of 20 nearest`` / ``any``: one real door's features and mask instead of the
  style's mean (instances of image ids 0..599, as the dissection finds them): the one nearest style 0's
  template, one of the 20 nearest, any.
Placements use held-out image ids (the dissection used 0..2999, the evaluation 50000+, checkers 90000+).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np
import torch

from ganpaint.dissect.stamp_eval import _dilate, find_place, mean_ci, wilson
from ganpaint.dissect.stamps import collect
from ganpaint.masks import rasterize_polyline
from ganpaint.models import default_precomputed_dir, load_model_info
from ganpaint.nn.intervene import UnitEdit, apply_edits
from ganpaint.nn.proggan import image_latents, load_generator
from ganpaint.precomputed import load_precomputed
from ganpaint.segment import load_segmenter
from ganpaint.stamps.place import opacity, stamp_edits, stamp_maps
from ganpaint.train.critic import Critic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first", type=int, default=60000, help="image ids from first + 1 (default 60000)")
    ap.add_argument("--tries", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = load_model_info("scenes64", None)
    root = default_precomputed_dir() / "scenes64"
    pres = {layer: load_precomputed(root / f"{layer}.json") for layer in ("layer5", "layer6", "layer7")}
    g = load_generator(info.generator_path).eval()
    seg = load_segmenter(None, info)
    with torch.no_grad():
        critic = Critic(info.folder / "discriminator.pth", g(image_latents([99990, 99991, 99992], g.z_dim)))
    names = list(seg.names)
    door = names.index("door")
    res, layer = g.resolution, "layer6"
    h6, f6 = g.split(layer)
    pre = pres[layer]
    concept, styles = pre.concepts["door"], pre.stamps["door"].styles
    _, fh, fw = pre.feature_shape
    top, top_values = concept.units[:20], concept.draw_values[:20]
    ids = image_latents(list(range(600)), g.z_dim)  # (600, z_dim): real doors to copy, from the dissection's ids
    with torch.no_grad():
        labels = np.concatenate([seg.probabilities(g(ids[i : i + 50])).argmax(1).numpy() for i in range(0, 600, 50)])
    real = collect(h6, f6, ids, labels, {"door": door}, 50, progress=False)["door"]
    patches, masks = torch.cat(real.patches), torch.cat(real.masks)  # (K, C, g, g), (K, g, g)
    far = ((patches - styles[0].template) ** 2 * styles[0].footprint).sum((1, 2, 3))  # (K,) from style 0
    nearest = torch.argsort(far)[:20]
    pick = np.random.default_rng(1)
    rng = np.random.default_rng([0, door, 9])
    rows: dict[str, list[dict]] = {}
    image_id, t0 = args.first, time.time()
    while len(rows.get("stamp", [])) < args.tries:
        image_id += 1
        z = image_latents([image_id], g.z_dim)  # (1, z_dim)
        with torch.no_grad():
            r = h6(z)  # (1, C, h, w)
            before = f6(r)  # (1, 3, H, W)
        lab = seg.probabilities(before).argmax(1)[0].numpy()  # (H, W)
        style = styles[0]
        w_px, h_px = style.natural_size
        place = find_place("wall base", lab, names, w_px, h_px, rng)
        if place is None:
            continue
        centre, size = (place[0] / res, place[1] / res), (w_px / res, h_px / res)

        def natural(s):  # a style's own box size, in fractions of the image
            return s.natural_size[0] / res, s.natural_size[1] / res

        def stamped(s, box=size, centre=centre):
            return stamp_edits(layer, s, [centre], box, (fh, fw), res)

        value, alpha = stamp_maps(style, centre, size, (fh, fw), res)  # (C, h, w), (h, w)
        foot = stamp_maps(style, centre, size, (res, res), res)[1] >= 0.5  # (H, W) the painted region
        disc = {"points": [list(centre)], "radius": math.sqrt(w_px * h_px / math.pi) / res}
        disc_px = torch.from_numpy(rasterize_polyline(disc, res)) > 0.5  # (H, W)
        shaped = UnitEdit(layer, top, top_values, 1.0, alpha)
        variants: dict[str, tuple[list, torch.Tensor]] = {
            "stamp": (stamped(style), foot),
            "classic": (
                [UnitEdit(layer, top, top_values, 1.0, torch.from_numpy(rasterize_polyline(disc, 256)))],
                disc_px,
            ),
            "shaped classic": ([shaped], foot),
            "stamp + classic": (stamped(style) + [shaped], foot),
        }
        for strength in (1.5, 2.0):  # the classic values, stronger, through the footprint
            vals = [strength * v for v in top_values]
            variants[f"shaped classic x{strength}"] = ([UnitEdit(layer, top, vals, 1.0, alpha)], foot)
        dev = (alpha[None] * (value - r[0]).abs()).sum((1, 2))  # (C,) how far the stamp moves each unit here
        for k_units in (16, 32):  # only the units the stamp moves most; the wall's features elsewhere
            units = sorted(torch.argsort(dev, descending=True)[:k_units].tolist())
            variants[f"stamp, top{k_units} moved"] = ([UnitEdit(layer, units, value[units], 1.0, alpha)], foot)
        units = sorted(set(torch.argsort(dev, descending=True)[:32].tolist()) | set(top))
        mixed = value.clone()
        mixed[top] = torch.tensor(top_values)[:, None, None].expand(-1, fh, fw)  # the classic's values on its units
        variants["top32, classic values"] = ([UnitEdit(layer, units, mixed[units], 1.0, alpha)], foot)
        for f in (0.25, 0.5):
            v = value.clone()
            v[top] += f * (torch.tensor(top_values)[:, None, None] - value[top])
            variants[f"hybrid {f}"] = ([UnitEdit(layer, list(range(len(v))), v, 1.0, alpha)], foot)

        def surround(s, centre=centre, r=r):  # (template, wall) mean features over the box outside the footprint
            ring = dataclasses.replace(s, footprint=0.15 + 0.35 * (1 - opacity(s.footprint)))
            v, a = stamp_maps(ring, centre, natural(s), (fh, fw), res)
            weight = a.sum().clamp_min(1e-6)
            return (v * a).sum((1, 2)) / weight, (r[0] * a).sum((1, 2)) / weight  # (C,), (C,)

        t_ring, wall = surround(style)
        for gain in (1.3, 1.6):
            s = dataclasses.replace(style, template=wall[:, None, None] + gain * (style.template - wall[:, None, None]))
            variants[f"gain {gain}"] = (stamped(s), foot)
        for k in (0.5, 1.0):
            s = dataclasses.replace(style, template=style.template + k * (wall - t_ring)[:, None, None])
            variants[f"shift {k}"] = (stamped(s), foot)
        mismatch = [float((t - w).pow(2).sum()) for t, w in map(surround, styles)]
        best = styles[int(np.argmin(mismatch))]
        variants["context style"] = (stamped(best, natural(best)), foot)
        for s in styles[1:]:
            variants[f"style{s.index}"] = (stamped(s, natural(s)), foot)
        chosen = (int(nearest[0]), int(nearest[pick.integers(20)]), int(pick.integers(len(patches))))
        for name, k in zip(("nearest", "of 20 nearest", "any"), chosen, strict=True):
            copy = dataclasses.replace(style, template=patches[k], footprint=masks[k])
            variants[f"real door, {name}"] = (stamped(copy), foot)
        with torch.no_grad():
            afters = {k: f6(apply_edits(r, e)) for k, (e, _) in variants.items()}  # each (1, 3, H, W)
            for at in ("layer5", "layer7"):
                h, f = g.split(at)
                ra = h(z)  # (1, C', h', w')
                edits = stamp_edits(at, pres[at].stamps["door"].styles[0], [centre], size, ra.shape[-2:], res)
                afters[f"stamp at {at}"] = f(apply_edits(ra, edits))
                variants[f"stamp at {at}"] = (edits, foot)
            order = list(afters)
            scores = critic.score(torch.cat([before, *(afters[k] for k in order)]))  # (1 + V,)
        for k, score in zip(order, scores[1:], strict=True):
            region = variants[k][1]
            lab_after = seg.probabilities(afters[k]).argmax(1)[0].numpy()
            diff = (afters[k] - before)[0].abs().mean(0).numpy() * 127.5  # (H, W) in 0..255
            rows.setdefault(k, []).append(
                {
                    "share": float((lab_after[region.numpy()] == door).mean()),
                    "collateral": float(diff[~_dilate(region, 2).numpy()].mean()),
                    "dD": float(score - scores[0]),
                }
            )
    print(
        f"door at the wall base, scenes64 {layer}: {args.tries} tries, image ids {args.first + 1}..{image_id}, "
        f"{time.time() - t0:.0f} s ({args.threads} threads)"
    )
    print(
        f"{'variant':24s} {'success':>18s} {'dD':>24s} {'collateral':>10s} {'dD - classic (paired)':>28s}"
        f"   {'dD where a door landed':>26s}"
    )

    def ci(values: list[float]) -> str:
        if len(values) < 2:
            return f"{'(n < 2)':>24s}"
        m = mean_ci(values)
        return f"{m['mean']:+.3f} [{m['ci95'][0]:+.3f}, {m['ci95'][1]:+.3f}]"

    for k, rs in rows.items():
        ok = sum(x["share"] >= 0.3 for x in rs)
        paired = [x["dD"] - y["dD"] for x, y in zip(rs, rows["classic"], strict=True)]
        landed = [x["dD"] for x in rs if x["share"] >= 0.3]
        lo, hi = wilson(ok, len(rs))
        print(
            f"{k:24s} {ok / len(rs):5.2f} [{lo:.2f}, {hi:.2f}]   {ci([x['dD'] for x in rs])} "
            f"{mean_ci([x['collateral'] for x in rs])['mean']:10.2f}   "
            + (ci(paired) if k != "classic" else f"{'':24s}")
            + f"   {ci(landed)} (n={len(landed)})"
        )


if __name__ == "__main__":
    main()
