"""Orchestration: dissect one layer (or all) of a model and write ``precomputed/<model_id>/<layer>.json``.

Every pass is cached under ``cache_dir/<model_id>/`` in a file named by a hash of everything it depends on
(model sha256, segmenter id, layer, sample counts, seed, settings), so a rerun skips finished passes
and an interrupted run resumes at the last finished pass or concept.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ganpaint import __version__
from ganpaint.dissect import iou as iou_mod
from ganpaint.dissect.causal import (
    AlphaSettings,
    Evaluator,
    measure_ablation,
    random_baseline,
    summarise_random,
    window_cells,
)
from ganpaint.dissect.concept import LayerData, dissect_concept, rounded
from ganpaint.dissect.context import measure_context
from ganpaint.dissect.erase import erase_set
from ganpaint.dissect.stamps import layer_stamps
from ganpaint.precomputed import SCHEMA_VERSION, write_precomputed

CACHE_VERSION = 1
# settings of measurements cached apart from the concepts (a new value re-measures only them)
MEASURED_APART = (
    "context",
    "context_windows",
    "context_concepts",
    "random_draws",
    "random_sizes",
    "erase_choice",
    "stamps",
    "stamp_samples",
)
LABEL_IOU = 0.05  # ICLR "confident label" (IQR threshold)
MATCH_IOU_TOP1 = 0.04  # PNAS criterion (top-1% threshold)
# ACE/removal curve set sizes: every size from 1 to 40 (--curve-sizes picks fewer for a cheaper run)
CURVE_SIZES = tuple(range(1, 41))


def parse_sizes(text: str) -> tuple[int, ...]:
    """'1-10,12,20-40:5' -> (1, ..., 10, 12, 20, 25, ..., 40): ranges with an optional step, sorted, unique."""
    sizes = set()
    for part in text.split(","):
        part = part.strip()
        span, _, step = part.partition(":")
        lo, _, hi = span.partition("-")
        try:
            a, b, s = int(lo), int(hi or lo), int(step or 1)
        except ValueError:
            raise ValueError(f"--curve-sizes: expected sizes like '1-10,12,20-40:5', got {text!r}") from None
        if a < 1 or b < a or s < 1:
            raise ValueError(f"--curve-sizes: bad range {part!r} in {text!r} (sizes >= 1, low <= high, step >= 1)")
        sizes.update(range(a, b + 1, s))
    return tuple(sorted(sizes))


@dataclass
class Settings:
    """Dissection arguments; all of them are written into the JSON ``settings``."""

    samples: int = 1000  # selection latents: IoU, thresholds, k, quantiles
    heldout: int = 120  # held-out latents: ablation effects (ACE, removal)
    insertion: int = 48  # held-out latents per insertion measurement (one window each)
    curve: int = 24  # held-out latents per point of the ablation curves
    curve_sizes: tuple[int, ...] = CURVE_SIZES
    context: int = 120  # held-out latents per context measurement
    context_windows: int = 4  # insertion windows per latent in the context measurement
    context_concepts: tuple[str, ...] = ("door", "dome", "tree")
    random_draws: int = 8  # random unit sets per size in the random baseline
    random_sizes: tuple[int, ...] = (1, 2, 3, 5, 10, 20)
    erase_choice: int = 120  # selection latents (unseen by the alpha optimisation) that pick the erase ranking
    top: int = 20  # units per concept
    seed: int = 0
    batch: int = 32
    alpha: AlphaSettings = field(default_factory=AlphaSettings)
    stamps: bool = True  # concept stamps from the selection samples (ganpaint.dissect.stamps)
    stamp_samples: int = 0  # selection latents the stamps are taken from (0: ``samples``)

    def to_json(self) -> dict:
        d = asdict(self)
        d["curve_sizes"], d["context_concepts"] = list(self.curve_sizes), list(self.context_concepts)
        d["random_sizes"] = list(self.random_sizes)
        return d


# ---------------------------------------------------------------------------------------- helpers


def cache_key(**parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def latents(n: int, z_dim: int, seed: int, stream: int) -> torch.Tensor:
    """(n, z_dim) float32; stream 0 = selection, 1 = held-out (disjoint by construction)."""
    return torch.from_numpy(np.random.default_rng([seed, stream]).standard_normal((n, z_dim)).astype(np.float32))


def load_segmenter(spec: str | None, model_info=None):
    """Resolve ``--segmenter``: None/'embedded' = the model folder's segmenter; a path to a segmenter .pth;
    'hf:FOLDER_OR_HUB_NAME[?size=S&batch=B]' (a Hugging Face ADE20K model, ``ganpaint.hf_segmenter``);
    or 'package.module:factory' (called with model_info) for other segmenters."""
    if spec and spec.startswith("hf:"):
        from ganpaint.hf_segmenter import load_hf_segmenter

        return load_hf_segmenter(spec)
    if spec and ":" in spec and not Path(spec).exists():
        module, _, attr = spec.partition(":")
        return getattr(__import__(module, fromlist=[attr]), attr)(model_info)
    from ganpaint.train.segmenter import load_segmenter as load_embedded

    if spec in (None, "", "embedded"):
        path = getattr(model_info, "segmenter_path", None)
        if path is None:
            raise ValueError(f"model {getattr(model_info, 'id', '?')!r} has no embedded segmenter: pass --segmenter")
        return load_embedded(path)
    return load_embedded(spec)


@torch.no_grad()
def segment_latents(generator, segmenter, z: torch.Tensor, device, batch: int, desc: str, progress: bool):
    out = []
    for a in tqdm(range(0, len(z), batch), desc=desc, disable=not progress, leave=False):
        x = generator(z[a : a + batch].to(device))  # (B, 3, H, W)
        out.append(segmenter.probabilities(x).argmax(dim=1).to(torch.uint8).cpu().numpy())
    return np.concatenate(out)


def _cached_json(path: Path, fn):
    if path.is_file():
        return json.loads(path.read_text())
    out = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    return out


# ---------------------------------------------------------------------------------------- one layer


@dataclass
class Context:
    generator: torch.nn.Module
    segmenter: object
    model_id: str
    model_sha256: str
    settings: Settings
    cache_dir: Path
    out_dir: Path
    device: str = "cpu"
    progress: bool = True

    def __post_init__(self):
        self.names = list(self.segmenter.names)
        self.seg_id = str(self.segmenter.id)
        self.base_key = dict(
            v=CACHE_VERSION, model=self.model_sha256, seg=self.seg_id, seed=self.settings.seed, z=self.generator.z_dim
        )
        self.folder = self.cache_dir / self.model_id

    def labels(self, stream: int, n: int) -> tuple[torch.Tensor, np.ndarray]:
        """Latents and cached base segmentation of stream 0 (selection) or 1 (held-out)."""
        z = latents(n, self.generator.z_dim, self.settings.seed, stream)
        key = cache_key(**self.base_key, stream=stream, n=n)
        path = self.folder / f"labels-{stream}-{key}.npz"
        desc = "segment " + ("selection" if stream == 0 else "held-out")
        arr = iou_mod.load_or_run(
            path,
            lambda: {
                "labels": segment_latents(
                    self.generator, self.segmenter, z, self.device, self.settings.batch, desc, self.progress
                )
            },
        )
        return z, arr["labels"]


def dissect_layer(ctx: Context, layer: str) -> dict:
    """Dissect ``layer``; writes and returns the precomputed document (with an extra ``layer_summary``)."""
    s, g, names = ctx.settings, ctx.generator, ctx.names
    erase_sets = s.erase_choice > 0 and s.samples > s.alpha.pool
    if s.erase_choice > 0 and not erase_sets:
        print(
            f"{layer}: no erase sets: they are chosen on selection latents the alpha optimisation does not use, "
            f"but --samples {s.samples} <= its pool of {s.alpha.pool} (pass more --samples); erase uses the draw units",
            file=sys.stderr,
        )
    t0 = time.time()
    n_cls = len(names)
    h_fn, f_fn = g.split(layer)
    h_fn, f_fn = h_fn.to(ctx.device), f_fn.to(ctx.device)

    def features(z: torch.Tensor) -> torch.Tensor:
        return h_fn(z.to(ctx.device))

    z_sel, lab_sel = ctx.labels(0, s.samples)
    z_held, lab_held = ctx.labels(1, s.heldout)
    key = cache_key(**ctx.base_key, layer=layer, n=s.samples)
    p1 = iou_mod.load_or_run(
        ctx.folder / f"pass1-{layer}-{key}.npz",
        lambda: iou_mod.pass1(
            features,
            z_sel,
            lab_sel,
            n_cls,
            batch=s.batch,
            seed=s.seed,
            progress=ctx.progress,
            desc=f"{layer} quantiles",
        ),
    )
    p2 = iou_mod.load_or_run(
        ctx.folder / f"pass2-{layer}-{key}.npz",
        lambda: iou_mod.pass2(
            features,
            z_sel,
            lab_sel,
            n_cls,
            p1["thresholds"],
            batch=max(1, s.batch // 2),
            progress=ctx.progress,
            desc=f"{layer} iou counts",
        ),
    )
    summ = iou_mod.summarise(p2["hist"])
    iou_iqr, iou_top1, k_all = summ["iou_iqr"], summ["iou_top1"], p1["k"]  # (C, K) each
    thresholds = p1["thresholds"]  # (C, G)
    q99 = thresholds[:, iou_mod.TOP1]
    n_units = len(q99)
    n_top = min(s.top, n_units)

    units = []
    for u in range(n_units):
        best, best1 = int(iou_iqr[u].argmax()), int(iou_top1[u].argmax())
        units.append(
            {
                "unit": u,
                "label": names[best] if iou_iqr[u, best] > LABEL_IOU else None,
                "iou": rounded(iou_iqr[u, best]),
                "quantile_99": rounded(q99[u]),
                "best_concept": names[best],
                "threshold": rounded(thresholds[u, summ["iqr_index"][u, best]]),
                "iou_top1": rounded(iou_top1[u, best1]),
                "label_top1": names[best1] if iou_top1[u, best1] > MATCH_IOU_TOP1 else None,
                "top": [int(i) for i in p1["top_ids"][u] if i >= 0],
                "top_act": [rounded(v) for v in p1["top_scores"][u] if np.isfinite(v)],
            }
        )

    # ------------------------------------------------------------------ causal, on held-out latents
    ev = Evaluator(f_fn, ctx.segmenter, batch=s.batch)
    with torch.no_grad():
        r_held = torch.cat([features(z_held[a : a + s.batch]) for a in range(0, len(z_held), s.batch)])
    base_share = np.bincount(lab_held.ravel(), minlength=n_cls) / lab_held.size
    concept_settings = {k: v for k, v in s.to_json().items() if k not in MEASURED_APART}
    ckey = cache_key(**ctx.base_key, layer=layer, settings=concept_settings)
    rnd_units = sorted(np.random.default_rng([s.seed, 7, int(layer[5:])]).permutation(n_units)[:n_top].tolist())
    rnd_conf = np.array(
        _cached_json(
            ctx.folder / f"random-{layer}-{ckey}.json",
            lambda: measure_ablation(ev, r_held, lab_held, rnd_units, n_cls).tolist(),
        )
    )
    concepts, skipped = {}, {}
    present = [c for c in range(n_cls) if summ["class_pixels"][c] > 0 and base_share[c] > 0]
    data = LayerData(
        layer,
        ev,
        h_fn,
        z_sel,
        lab_sel,
        r_held,
        lab_held,
        iou_iqr,
        iou_top1,
        k_all,
        q99,
        base_share,
        rnd_conf,
        rnd_units,
        n_top,
    )
    for c in tqdm(present, desc=f"{layer} concepts", disable=not ctx.progress, leave=False):
        name = names[c]
        res = _cached_json(
            ctx.folder / f"concept-{layer}-{name}-{ckey}.json", lambda c=c: dissect_concept(ctx, data, c)
        )
        finish_brush(res, concept_erase(ctx, data, res, c, layer, ckey) if erase_sets else None)
        in_context = name in s.context_concepts
        res["context"], res["effect"]["context_detail"] = (
            concept_context(ctx, ev, r_held, lab_held, res, c, layer, ckey) if in_context else ({}, {})
        )
        concepts[name] = res
    for c in range(n_cls):
        if c not in present:
            skipped[names[c]] = "absent from the generated images"
    rnd_key = cache_key(ckey=ckey, draws=s.random_draws, sizes=list(s.random_sizes))
    rnd_seed = int(np.random.default_rng([s.seed, 17, int(layer[5:])]).integers(1 << 30))
    rnd_sets = _cached_json(
        ctx.folder / f"random-baseline-{layer}-{rnd_key}.json",
        lambda: random_baseline(ev, r_held, lab_held, n_cls, s.random_sizes, s.random_draws, rnd_seed),
    )
    random_summary = {
        "draws": s.random_draws,
        "sizes": list(s.random_sizes),
        "concepts": {n: summarise_random(rnd_sets, names.index(n)) for n in concepts},
    }

    # ------------------------------------------------------------------ per-layer counts and score
    counts = {
        "units": n_units,
        "matching_iqr_0.05": int(sum(1 for u in units if u["iou"] > LABEL_IOU)),
        "matching_top1_0.04": int(sum(1 for u in units if u["iou_top1"] > MATCH_IOU_TOP1)),
        "concepts_iqr_0.05": sorted({u["label"] for u in units if u["label"]}),
        "concepts_top1_0.04": sorted({u["label_top1"] for u in units if u["label_top1"]}),
        "per_concept_iqr_0.05": {
            n: int(sum(1 for u in units if u["label"] == n)) for n in names if any(u["label"] == n for u in units)
        },
    }
    scored = [v["effect"]["layer_score"] for n, v in concepts.items() if base_share[names.index(n)] >= 0.005]
    layer_summary = {
        "counts": counts,
        "score": rounded(np.mean(scored)) if scored else 0.0,
        "seconds": round(time.time() - t0, 1),
        "samples": {"selection": s.samples, "heldout": s.heldout},
        "random_units": rnd_units,
        "random_baseline": random_summary,
        "erase_sets": erase_sets,  # False: the scores count the draw units' removal
    }
    doc = {
        "schema_version": SCHEMA_VERSION,
        "created_by": f"ganpaint {__version__} dissect",
        "model_id": ctx.model_id,
        "model_sha256": ctx.model_sha256,
        "segmenter": ctx.seg_id,
        "layer": layer,
        "feature_shape": list(g.feature_shape(layer)),
        "settings": {**s.to_json(), "window_cells": window_cells(g.feature_shape(layer)[1]), "levels": "see docs"},
        "samples": {"selection": s.samples, "heldout": s.heldout},
        "class_names": names,
        "base_share": {n: rounded(base_share[i]) for i, n in enumerate(names)},
        "units": units,
        "concepts": {n: {key: v for key, v in c.items() if key != "_extra"} for n, c in concepts.items()},
        "skipped_concepts": skipped,
        "layer_summary": layer_summary,
    }
    if s.stamps:
        index = layer_stamps(ctx, layer, list(concepts))
        if index["concepts"]:
            doc["stamps"] = index
    write_precomputed(doc, ctx.out_dir / ctx.model_id / f"{layer}.json")
    return doc


def add_stamps(ctx: Context, layer: str) -> dict:
    """Stamps for an existing dissection of ``layer`` (nothing else recomputed); rewrites its JSON at the
    current schema version and returns it."""
    path = ctx.out_dir / ctx.model_id / f"{layer}.json"
    if not path.is_file():
        raise FileNotFoundError(f"--layer {layer}: no dissection at {path}; run ganpaint dissect without --stamps-only")
    doc = json.loads(path.read_text())
    if doc.get("model_sha256") != ctx.model_sha256:
        raise ValueError(f"{path}: model_sha256 {doc.get('model_sha256')!r} is not the generator's; re-dissect it")
    doc["schema_version"] = SCHEMA_VERSION
    index = layer_stamps(ctx, layer, list(doc["concepts"]))
    doc.pop("stamps", None)
    if index["concepts"]:
        doc["stamps"] = index
    write_precomputed(doc, path)
    return doc


# ---------------------------------------------------------------------------------------- all layers


def concept_context(ctx: Context, ev, r_held, lab_held, res: dict, c: int, layer: str, ckey: str):
    """(context table, detail) of a concept's brush: ``context_windows`` class-stratified windows on each of
    the first ``context`` held-out latents (cached by the brush and these settings)."""
    s = ctx.settings
    n = min(s.context, len(r_held))
    key = cache_key(ckey=ckey, units=res["units"], draw=res["draw_values"], n=n, windows=s.context_windows)
    seed = int(np.random.default_rng([s.seed, 13, int(layer[5:]), c]).integers(1 << 30))
    out = _cached_json(
        ctx.folder / f"context-{layer}-{ctx.names[c]}-{key}.json",
        lambda: measure_context(
            ev, r_held[:n], lab_held[:n], res["units"], res["draw_values"], c, ctx.names, seed, s.context_windows
        ),
    )
    return out[0], out[1]


def concept_erase(ctx: Context, d: LayerData, res: dict, c: int, layer: str, ckey: str) -> dict:
    """The erase set of a concept (``erase.erase_set``), cached by the concept's key and ``erase_choice``."""
    s = ctx.settings
    e = res["effect"]
    draw = {"ace": e["ace_ranked"], "iou": e["iou_ranked"]}
    key = cache_key(ckey=ckey, erase=1, choice=s.erase_choice)
    seed = int(np.random.default_rng([s.seed, 19, int(layer[5:]), c]).integers(1 << 30))
    return _cached_json(
        ctx.folder / f"erase-{layer}-{ctx.names[c]}-{key}.json",
        lambda: erase_set(d, c, len(ctx.names), draw, s.alpha, seed, s.erase_choice, s.curve_sizes, e["curve_samples"]),
    )


def finish_brush(res: dict, erase: dict | None) -> None:
    """Put the erase set into a concept's document (``erase`` {ranking, units}, its numbers in ``effect``)
    and the brush's ``effect.removed`` and layer score: removal by the erase set (None: by the draw units,
    which then erase), insertion by the draw set."""
    e = res["effect"]
    removal = e[f"{res['ranking']}_ranked"]
    if erase is not None:
        res["erase"] = {"ranking": erase["ranking"], "units": erase["units"]}
        e["removal_ranked"], e["erase"] = erase["removal_ranked"], erase["chosen"]
        e["curves"]["removal"], e["alpha_removal"] = erase["curve"], erase["alpha"]
        removal = erase["chosen"]
    e["removed"] = removal["removed"]
    ins = e[f"{res['ranking']}_ranked"]["insertion"][res["draw_rule"]]
    e["layer_score"] = rounded(0.5 * (removal["removed"] - removal["collateral"]) + 0.5 * ins["score"])


def default_layers(generator) -> list[str]:
    """layer3 .. the last layer before the output (toRGB): layer3..layer10 at 64 px."""
    return generator.layer_names[2:]


def _heldout(layer_summary: dict) -> int:
    return int(layer_summary.get("samples", {}).get("heldout", 0))


def choose_layer(summaries: dict[str, dict]) -> tuple[str, str]:
    """The layer with the best mean concept score (0.5*(removal - collateral) of its erase set + 0.5*(insertion
    gain - spill) of its draw set, over concepts covering >= 0.5% of pixels); ties go to the earlier layer. Only
    layers measured on the most held-out latents compete (a layer dissected with fewer samples is noisier)."""
    most = max(_heldout(v) for v in summaries.values())
    candidates = [n for n, v in summaries.items() if _heldout(v) == most]
    best = max(candidates, key=lambda n: (summaries[n]["score"], -int(n[5:])))
    others = [n for n in summaries if n not in candidates]
    plain = [n for n, v in summaries.items() if v.get("erase_sets") is False]  # (older summaries: unknown)
    why = (
        f"{best} has the highest mean brush score {summaries[best]['score']:.3f} "
        "(per concept: 0.5*(share of its pixels removed by ablating its erase units - share of other pixels changed) "
        "+ 0.5*(window gain of insertion at its draw value - spill outside the window)); scores: "
        + ", ".join(f"{n} {v['score']:.3f}" for n, v in summaries.items())
        + (f" (not candidates, fewer held-out latents than {most}: {', '.join(others)})" if others else "")
        + (f" (no erase sets, scored by their draw units' removal: {', '.join(plain)})" if plain else "")
    )
    return best, why


def write_summary(ctx: Context, summaries: dict[str, dict]) -> dict:
    best, why = choose_layer(summaries)
    doc = {
        "model_id": ctx.model_id,
        "model_sha256": ctx.model_sha256,
        "segmenter": ctx.seg_id,
        "default_layer": best,
        "why": why,
        "layers": summaries,
        "settings": ctx.settings.to_json(),  # of the latest run; each layer's own counts are in its JSON
    }
    path = ctx.out_dir / ctx.model_id / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return doc


def dissect_layers(ctx: Context, layers: list[str], report: bool = True) -> dict:
    """Dissect ``layers`` in order, merge them into summary.json (keeping the other layers of the same
    generator, whatever their settings), choose the default layer, and write the report. Several
    ``ganpaint dissect`` processes may run side by side on one model: the merge holds a file lock."""
    done = {}
    for layer in tqdm(layers, desc="layers", disable=not ctx.progress or len(layers) < 2):
        done[layer] = dissect_layer(ctx, layer)["layer_summary"]
    path = ctx.out_dir / ctx.model_id / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name("summary.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        summaries: dict[str, dict] = {}
        if path.is_file():
            old = json.loads(path.read_text())
            if old.get("model_sha256") == ctx.model_sha256:
                summaries = old.get("layers", {})
        summaries.update(done)
        summaries = dict(sorted(summaries.items(), key=lambda kv: int(kv[0][5:])))
        summary = write_summary(ctx, summaries)
        if report:  # under the lock too: the last writer's report has every layer
            from ganpaint.dissect.report import write_report

            write_report(ctx, summary, fresh=tuple(done))
    return summary
