"""Does ablating the artifact units make the whole model more like the real renders? (ICLR section 4.2, S-6.1)

    python bench/artifacts.py                              # scenes64, layer4 and layer6, 2000 held-out latents
    python bench/artifacts.py --layers layer4 --n 500 --draws 3 --record

Per layer, with its ranking from ``ganpaint.dissect.artifacts`` (cached; computed here when missing), on held-out
latents (``latents(n, z_dim, 0, HELDOUT_STREAM)``: a stream neither the dissection nor the ranking used), for:
- ``kept``: the generator as trained;
- ``removed``: the ranking's first k units set to 0 over the whole map (k = the rule fixed before this ran:
  the paper's 20 of 512 scaled to the layer's width, ``choose_k``: 5 of 128 at layer4, 3 of 64 at layer6);
- ``random i``: k units drawn at random (``--draws`` draws, seeded);
it prints three distances to ``n`` scene renders of seeds 5,000,000.. (other seeds than the ranking's):
- FSD: the Frechet distance of the segmenter's per-class pixel shares in percent (``train.evaluate``);
- FD feat: the Frechet distance in the ranking's feature space (the segmenter's four encoder blocks);
- critic: the mean score of the training discriminator (``train.critic``; higher = more like its data);
each with a 95% bootstrap interval (``--boot`` resamples of the generated and the real images), and the paired
difference to ``kept`` (the same resampled latents) with its interval. A second table repeats this on the
fifth of the held-out latents where the removed units peak highest (before ablation): the paper's protocol,
FID of "images with high activations on these units". The rendered statistics are cached (npz beside the
ranking's), so a rerun only bootstraps.

Then the concept brushes: for tree, door and dome, ``--brush-tries`` held-out latents where the favourable
placement of ``dissect.stamp_eval.find_place`` exists (on the kept image); the unit brush (its 20 draw units at
their draw values, a disc of radius 0.06 at the painting layer) is painted there with the artifacts kept and
removed; success = the concept covers >= 30% of the disc (Wilson 95% intervals; paired difference with
mean +- 1.96 standard errors).

Decision rule, fixed before the first run: the model's default becomes "removed" only if, at the layer of
``precomputed/<model>/artifacts.json``, (a) the FSD difference removed - kept has its whole interval below 0,
(b) the critic's difference has its whole interval above 0, and (c) no brush's success difference has its
whole interval below 0. ``--record`` writes the numbers and that default into artifacts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from ganpaint.dissect.artifacts import HELDOUT_STREAM, ArtifactSettings, rank_layer, segment_and_features
from ganpaint.dissect.common import cache_key, latents
from ganpaint.dissect.run import Context, DissectSettings
from ganpaint.dissect.stamp_eval import find_place, wilson
from ganpaint.masks import rasterize_polyline
from ganpaint.models import default_precomputed_dir, load_model_info
from ganpaint.nn.hooks import edit_layer
from ganpaint.nn.intervene import UnitEdit, edit_function
from ganpaint.nn.proggan import image_latents, load_generator
from ganpaint.precomputed import load_precomputed
from ganpaint.segment import load_segmenter
from ganpaint.train.critic import Critic
from ganpaint.train.evaluate import frechet_distance, label_shares
from ganpaint.train.segmenter import render_scenes, sha256_of

REAL_SEED = 5_000_000
BRUSH = {"tree": "on grass", "door": "wall base", "dome": "roof top"}
BRUSH_RADIUS = 0.06


def measure(g, layer: str, units: list[int], z: torch.Tensor, seg, critic, batch: int = 100) -> dict:
    """Label shares (N, K), features (N, D) and critic scores (N,) of the images of ``z`` with ``units`` zeroed."""
    shares, feats, scores = [], [], []
    for a in range(0, len(z), batch):
        with torch.no_grad(), edit_layer(g, layer, edit_function([UnitEdit(layer, units, 0.0)])):
            x = g(z[a : a + batch]).clamp(-1, 1)  # (B, 3, H, W)
        labels, f = segment_and_features(seg, x)
        shares.append(label_shares(labels, len(seg.names)) * 100)
        feats.append(f)
        scores.append(critic.score(x).numpy())
    return {"shares": np.concatenate(shares), "features": np.concatenate(feats), "critic": np.concatenate(scores)}


def real_measure(seg, n: int, size: int, batch: int = 100) -> dict:
    shares, feats = [], []
    for a in range(0, n, batch):
        imgs, _ = render_scenes(REAL_SEED + a, min(batch, n - a), size)
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1  # (b, 3, S, S)
        labels, f = segment_and_features(seg, x)
        shares.append(label_shares(labels, len(seg.names)) * 100)
        feats.append(f)
    return {"shares": np.concatenate(shares), "features": np.concatenate(feats)}


def interval(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])]


def bootstrap(conds: dict[str, dict], real: dict, boots: int, subset: np.ndarray | None = None, seed: int = 0) -> dict:
    """Per condition and metric: value, 95% interval, and the paired difference to "kept" with its interval;
    over the generated images of ``subset`` (indices; default all)."""
    pool = np.arange(len(conds["kept"]["critic"])) if subset is None else np.asarray(subset)
    n, m = len(pool), len(real["shares"])
    rng = np.random.default_rng([seed, 29])
    draws = [(pool[rng.integers(n, size=n)], rng.integers(m, size=m)) for _ in range(boots)]

    def stats(c: dict, gi=None, ri=None) -> dict:
        gi = pool if gi is None else gi
        ri = np.arange(m) if ri is None else ri
        return {
            "fsd": frechet_distance(c["shares"][gi], real["shares"][ri])["fsd"],
            "fd_features": frechet_distance(c["features"][gi], real["features"][ri])["fsd"],
            "critic": float(c["critic"][gi].mean()),
        }

    boot = {name: [stats(c, gi, ri) for gi, ri in draws] for name, c in conds.items()}
    out = {}
    for name, c in conds.items():
        point, base = stats(c), stats(conds["kept"])
        out[name] = {}
        for metric in point:
            vals = np.array([b[metric] for b in boot[name]])
            diff = vals - np.array([b[metric] for b in boot["kept"]])
            out[name][metric] = {
                "value": round(point[metric], 4),
                "ci95": interval(vals),
                "minus_kept": round(point[metric] - base[metric], 4),
                "minus_kept_ci95": interval(diff),
            }
    return out


def brush_success(g, seg, pre, art_layer: str, art_units: list[int], z: torch.Tensor, tries: int) -> dict:
    """Per brush concept: success kept vs removed at favourable placements (same places, found on kept images)."""
    names, res, paint = list(seg.names), g.resolution, pre.layer
    out = {}
    for concept, where in BRUSH.items():
        c, cu = names.index(concept), pre.concepts[concept]
        rng = np.random.default_rng([0, c])
        hits = {"kept": [], "removed": []}
        for i in range(len(z)):
            if len(hits["kept"]) >= tries:
                break
            with torch.no_grad():
                before = g(z[i : i + 1])  # (1, 3, H, W)
            lab = seg.probabilities(before).argmax(1)[0].numpy()
            w = 2 * BRUSH_RADIUS * res
            place = find_place(where, lab, names, w, w, rng)
            if place is None:
                continue
            disc = {"points": [[place[0] / res, place[1] / res]], "radius": BRUSH_RADIUS}
            mask = torch.from_numpy(rasterize_polyline(disc, max(256, res)))
            region = torch.from_numpy(rasterize_polyline(disc, res)).numpy() > 0.5
            brush = UnitEdit(paint, cu.units[:20], cu.draw_values[:20], 1.0, mask)
            for cond, units in (("kept", []), ("removed", art_units)):
                x = _render(g, z[i : i + 1], {art_layer: [UnitEdit(art_layer, units, 0.0)], paint: [brush]})
                after = seg.probabilities(x).argmax(1)[0].numpy()
                hits[cond].append(float((after[region] == c).mean() >= 0.3))
        out[concept] = _success_row(hits, where)
    return out


def _render(g, z: torch.Tensor, edits: dict[str, list[UnitEdit]]) -> torch.Tensor:
    """g(z) with the edits of each layer (the same layer's lists joined, the artifact ablation first)."""
    by_layer: dict[str, list[UnitEdit]] = {}
    for layer, es in edits.items():
        by_layer.setdefault(layer, []).extend(es)
    with torch.no_grad():
        hooks = [edit_layer(g, layer, edit_function(es)) for layer, es in by_layer.items()]
        for h in hooks:
            h.__enter__()
        try:
            return g(z)  # (1, 3, H, W)
        finally:
            for h in reversed(hooks):
                h.__exit__(None, None, None)


def _success_row(hits: dict[str, list[float]], where: str) -> dict:
    kept, removed = np.array(hits["kept"]), np.array(hits["removed"])
    d = removed - kept
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return {
        "placement": where,
        "tries": len(kept),
        "kept": round(float(kept.mean()), 3) if len(kept) else None,
        "kept_ci95": wilson(int(kept.sum()), len(kept)),
        "removed": round(float(removed.mean()), 3) if len(kept) else None,
        "removed_ci95": wilson(int(removed.sum()), len(removed)),
        "removed_minus_kept": round(float(d.mean()), 3) if len(d) else None,
        "removed_minus_kept_ci95": [round(float(d.mean() - half), 3), round(float(d.mean() + half), 3)]
        if len(d)
        else None,
    }


def decide(result: dict) -> tuple[str, str]:
    """The default by the rule in the module docstring, and why."""
    r = result["conditions"]["removed"]
    fsd_ok = r["fsd"]["minus_kept_ci95"][1] < 0
    critic_ok = r["critic"]["minus_kept_ci95"][0] > 0
    brush_ok = all(b["removed_minus_kept_ci95"] is None or b["removed_minus_kept_ci95"][1] >= 0
                   for b in result["brushes"].values())  # fmt: skip
    why = f"FSD improved: {fsd_ok}; critic improved: {critic_ok}; no brush worse: {brush_ok}"
    return ("removed" if fsd_ok and critic_ok and brush_ok else "kept"), why


def measure_conditions(ctx, layer: str, conditions: dict[str, list[int]], z: torch.Tensor, critic) -> dict:
    """``measure`` of each condition, cached in an npz per (model, segmenter, layer, units, latents)."""
    out = {}
    for name, units in conditions.items():
        key = cache_key(model=ctx.model_sha256, seg=ctx.seg_id, layer=layer, units=units, n=len(z), v=1)
        path = ctx.folder / f"artifacts-bench-{layer}-{key}.npz"
        if path.is_file():
            with np.load(path) as f:
                out[name] = {k: f[k] for k in f.files}
            continue
        out[name] = measure(ctx.generator, layer, units, z, ctx.segmenter, critic)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out[name])
    return out


def run_layer(ctx, layer: str, args, real: dict, critic, pre) -> dict:
    """Rank (cached), then measure every condition on the held-out latents."""
    s = ArtifactSettings(samples=args.samples, top=args.top, batch=100)
    doc = rank_layer(ctx, layer, s, write=False)
    k, n_units = doc["k"], doc["units_in_layer"]
    conditions = {"kept": [], "removed": doc["ranking"][:k]}
    rng = np.random.default_rng([0, 31, n_units])
    for i in range(args.draws):
        conditions[f"random {i + 1}"] = sorted(rng.choice(n_units, k, replace=False).tolist())
    z = latents(args.n, ctx.generator.z_dim, 0, HELDOUT_STREAM)
    t0 = time.time()
    measured = measure_conditions(ctx, layer, conditions, z, critic)
    seconds = time.time() - t0
    with torch.no_grad():
        h, _ = ctx.generator.split(layer)
        peak = torch.cat([h(z[a : a + 200])[:, conditions["removed"]].amax((1, 2, 3)) for a in range(0, len(z), 200)])
    top = np.argsort(-peak.numpy(), kind="stable")[: max(2, args.n // 5)]  # the fifth where the units peak highest
    result = {
        "layer": layer,
        "k": k,
        "k_rule": doc["k_rule"],
        "units": conditions,
        "heldout": {"stream": HELDOUT_STREAM, "n": args.n, "real_seed": REAL_SEED},
        "conditions": bootstrap(measured, real, args.boot),
        "conditions_top_fifth": bootstrap(measured, real, args.boot, subset=top),
        "seconds_measuring": round(seconds, 1),
    }
    zb = latents(args.brush_latents, ctx.generator.z_dim, 0, HELDOUT_STREAM)
    result["brushes"] = brush_success(
        ctx.generator, ctx.segmenter, pre, layer, doc["ranking"][:k], zb, args.brush_tries
    )
    result["default"], result["why"] = decide(result)
    return result


def print_table(result: dict, args) -> None:
    print(f"\n{result['layer']}: k = {result['k']} ({result['k_rule']}); removed units {result['units']['removed']}")
    print(f"held-out latents: {args.n} (stream {HELDOUT_STREAM}); real renders: {args.n} from seed {REAL_SEED}")
    _condition_table(result, "conditions")
    print(f"\nthe fifth of the held-out latents ({max(2, args.n // 5)}) where the removed units peak highest:")
    _condition_table(result, "conditions_top_fifth")
    _brush_table(result)
    print(f"default by the rule: {result['default']} ({result['why']}); measuring took {result['seconds_measuring']} s")


def _condition_table(result: dict, part: str) -> None:
    print("| condition | units | FSD [95%] | dFSD [95%] | FD feat [95%] | dFD feat | critic [95%] | dcritic [95%] |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in result[part].items():
        f, e, c = row["fsd"], row["fd_features"], row["critic"]
        print(
            f"| {name} | {' '.join(map(str, result['units'][name])) or '-'} | {f['value']:.2f} {f['ci95']} "
            f"| {f['minus_kept']:+.2f} {f['minus_kept_ci95']} | {e['value']:.3f} {e['ci95']} "
            f"| {e['minus_kept']:+.3f} {e['minus_kept_ci95']} | {c['value']:.3f} {c['ci95']} "
            f"| {c['minus_kept']:+.3f} {c['minus_kept_ci95']} |"
        )


def _brush_table(result: dict) -> None:
    print("| brush | placement | tries | success kept [95%] | removed [95%] | removed - kept [95%] |")
    print("|---|---|---|---|---|---|")
    for concept, b in result["brushes"].items():
        print(
            f"| {concept} | {b['placement']} | {b['tries']} | {b['kept']} {b['kept_ci95']} | {b['removed']} "
            f"{b['removed_ci95']} | {b['removed_minus_kept']} {b['removed_minus_kept_ci95']} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--layers", default="layer4,layer6")
    ap.add_argument("--n", type=int, default=2000, help="held-out latents, and real renders (default 2000)")
    ap.add_argument("--draws", type=int, default=5, help="random unit sets of size k (default 5)")
    ap.add_argument("--boot", type=int, default=500, help="bootstrap resamples (default 500)")
    ap.add_argument("--samples", type=int, default=10000, help="ranking samples (default 10000, as the CLI)")
    ap.add_argument("--top", type=int, default=500, help="ranking top samples per unit (default 500)")
    ap.add_argument("--brush-tries", type=int, default=100)
    ap.add_argument("--brush-latents", type=int, default=1500, help="held-out latents searched for placements")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache-dir", default="cache/dissect")
    ap.add_argument("--record", action="store_true", help="write the numbers and the default into artifacts.json")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    info = load_model_info(args.model, None)
    g = load_generator(info.generator_path).eval()
    seg = load_segmenter(None, info)
    with torch.no_grad():
        critic = Critic(info.folder / "discriminator.pth", g(image_latents([99990, 99991, 99992], g.z_dim)))
    out_dir = default_precomputed_dir()
    ctx = Context(g, seg, args.model, sha256_of(info.generator_path), DissectSettings(), _path(args.cache_dir), out_dir)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {args.threads} thread(s); load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    real = real_measure(seg, args.n, g.resolution)
    pre = load_precomputed(out_dir / args.model / f"{info.default_layer}.json")
    results = {}
    for layer in args.layers.split(","):
        results[layer] = run_layer(ctx, layer, args, real, critic, pre)
        print_table(results[layer], args)
    if args.json:
        _path(args.json).write_text(json.dumps(results, indent=1))
    if args.record:
        record(out_dir / args.model / "artifacts.json", results)


def _path(p: str):
    from pathlib import Path

    return Path(p)


def record(path, results: dict) -> None:
    """The held-out numbers of the file's layer, and its default by the rule, into artifacts.json."""
    doc = json.loads(path.read_text())
    result = results.get(doc["layer"])
    if result is None:
        print(f"--record: {path} ranks {doc['layer']}, which was not measured; nothing written")
        return
    r = result["conditions"]["removed"]
    summary = (
        f"Held out ({result['heldout']['n']} latents): FSD {r['fsd']['value']:.2f} removed vs "
        f"{result['conditions']['kept']['fsd']['value']:.2f} kept (difference {r['fsd']['minus_kept']:+.2f}, "
        f"95% {r['fsd']['minus_kept_ci95']}); critic {r['critic']['minus_kept']:+.3f} "
        f"{r['critic']['minus_kept_ci95']}; "
        f"default {result['default']} ({result['why']})."
    )
    doc["measured"] = {**result, "summary": summary}
    doc["default"] = result["default"]
    path.write_text(json.dumps(doc, indent=1))
    print(f"recorded in {path}: default {result['default']}")


if __name__ == "__main__":
    main()
