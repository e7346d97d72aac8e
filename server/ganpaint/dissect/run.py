"""Orchestration: dissect one layer (or all) of a model and write ``precomputed/<model_id>/<layer>.json``.

``dissect_layer`` runs the steps of one layer in order: (1) split the generator at the layer, (2) the unit
statistics (``iou`` passes 1 and 2), (3) the unit table, (4) the held-out features and the random unit set,
(5) every concept (``concept``, ``erase``, ``context``), (6) the random baseline, (7) the layer's counts and
score, (8) the document, with (9) its stamps (``stamps``). ``dissect_layers`` runs it per layer and merges
``summary.json`` (``summary``); ``report`` writes the HTML report.

Every pass is cached under ``cache_dir/<model_id>/`` in a file named by a hash of everything it depends on
(model sha256, segmenter id, layer, sample counts, seed, settings), so a rerun skips finished passes
and an interrupted run resumes at the last finished pass or concept. Warnings go to the ``ganpaint.dissect``
logger (``ganpaint dissect`` shows them on stderr).
"""

from __future__ import annotations

import fcntl
import json
import logging
import time
from collections.abc import Callable
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
from ganpaint.dissect.common import cache_key, cached_json, derived_seed, latents
from ganpaint.dissect.concept import LayerData, dissect_concept, rounded
from ganpaint.dissect.context import measure_context
from ganpaint.dissect.erase import erase_set
from ganpaint.dissect.report import write_report
from ganpaint.dissect.stamps import layer_stamps
from ganpaint.dissect.summary import write_summary
from ganpaint.nn.proggan import layer_index
from ganpaint.precomputed import SCHEMA_VERSION, write_precomputed

log = logging.getLogger("ganpaint.dissect")

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
# tags of the seeds derived per layer (and concept): each measurement its own random stream
SEED_RANDOM_UNITS, SEED_CONTEXT, SEED_RANDOM_BASELINE, SEED_ERASE = 7, 13, 17, 19


@dataclass
class DissectSettings:
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


@torch.no_grad()
def segment_latents(generator, segmenter, z: torch.Tensor, device, batch: int, desc: str, progress: bool):
    """(N, H, W) uint8 segmenter labels of the images of latents ``z`` (N, z_dim)."""
    out = []
    for a in tqdm(range(0, len(z), batch), desc=desc, disable=not progress, leave=False):
        x = generator(z[a : a + batch].to(device))  # (B, 3, H, W)
        out.append(segmenter.probabilities(x).argmax(dim=1).to(torch.uint8).cpu().numpy())
    return np.concatenate(out)


@dataclass
class Context:
    """One model's dissection run: generator, segmenter, settings, where the cache and the output go."""

    generator: torch.nn.Module
    segmenter: object
    model_id: str
    model_sha256: str
    settings: DissectSettings
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


# ---------------------------------------------------------------------------------------- one layer


@dataclass
class UnitStats:
    """Step 2: every unit's statistics on the selection latents (C units, K classes, G quantile levels)."""

    thresholds: np.ndarray  # (C, G) activation quantiles
    k_all: np.ndarray  # (C, K) conditional-mean activation where each class is present
    top_ids: np.ndarray  # (C, T) top-activating selection latents (-1: none)
    top_scores: np.ndarray  # (C, T)
    iou_iqr: np.ndarray  # (C, K) IoU at the IQR threshold
    iou_top1: np.ndarray  # (C, K) IoU at the top-1% level
    iqr_index: np.ndarray  # (C, K) level index of the IQR threshold
    class_pixels: np.ndarray  # (K,)

    @property
    def q99(self) -> np.ndarray:
        return self.thresholds[:, iou_mod.TOP1]  # (C,)


@dataclass
class HeldOut:
    """Step 4: what every concept's causal measurements share: the evaluator, the held-out features and
    labels, each class's base share, the concepts' cache key and the layer's random unit set."""

    ev: Evaluator
    r_held: torch.Tensor  # (N, C, h, w)
    lab_held: np.ndarray  # (N, H, W)
    base_share: np.ndarray  # (K,)
    ckey: str
    rnd_units: list[int]
    rnd_conf: np.ndarray  # (K, K) confusion matrix of ablating rnd_units


@dataclass
class ConceptResults:
    """Step 5: the document of every concept present in the images, and why the others were skipped."""

    concepts: dict[str, dict]
    skipped: dict[str, str]


def dissect_layer(ctx: Context, layer: str) -> dict:
    """Dissect ``layer``; writes and returns the precomputed document (with an extra ``layer_summary``)."""
    erase_sets = _erase_sets_possible(ctx.settings, layer)
    t0 = time.time()
    h_fn, f_fn = (m.to(ctx.device) for m in ctx.generator.split(layer))  # 1

    def features(z: torch.Tensor) -> torch.Tensor:
        return h_fn(z.to(ctx.device))  # (B, C, h, w)

    z_sel, lab_sel = ctx.labels(0, ctx.settings.samples)
    z_held, lab_held = ctx.labels(1, ctx.settings.heldout)
    stats = unit_statistics(ctx, layer, features, z_sel, lab_sel)  # 2
    units = unit_table(stats, ctx.names)  # 3
    n_top = min(ctx.settings.top, len(units))
    held = held_out(ctx, layer, f_fn, features, z_held, lab_held, n_top)  # 4
    data = LayerData(
        layer=layer,
        ev=held.ev,
        h_fn=h_fn,
        z_sel=z_sel,
        lab_sel=lab_sel,
        r_held=held.r_held,
        lab_held=held.lab_held,
        iou_iqr=stats.iou_iqr,
        iou_top1=stats.iou_top1,
        k_all=stats.k_all,
        q99=stats.q99,
        base_share=held.base_share,
        rnd_conf=held.rnd_conf,
        rnd_units=held.rnd_units,
        n_top=n_top,
    )
    results = measure_concepts(ctx, data, stats, held.ckey, erase_sets)  # 5
    baseline = random_baseline_summary(ctx, data, held.ckey, list(results.concepts))  # 6
    summary = layer_summary(ctx, units, results.concepts, held, baseline, erase_sets, time.time() - t0)  # 7
    doc = layer_document(ctx, layer, units, results, held.base_share, summary)  # 8
    if ctx.settings.stamps:  # 9
        index = layer_stamps(ctx, layer, list(results.concepts))
        if index["concepts"]:
            doc["stamps"] = index
    write_precomputed(doc, ctx.out_dir / ctx.model_id / f"{layer}.json")
    return doc


def _erase_sets_possible(s: DissectSettings, layer: str) -> bool:
    """Erase sets are chosen on selection latents the alpha optimisation does not use: are there any?"""
    possible = s.erase_choice > 0 and s.samples > s.alpha.pool
    if s.erase_choice > 0 and not possible:
        log.warning(
            "%s: no erase sets: they are chosen on selection latents the alpha optimisation does not use, "
            "but --samples %s <= its pool of %s (pass more --samples); erase uses the draw units",
            layer,
            s.samples,
            s.alpha.pool,
        )
    return possible


def unit_statistics(
    ctx: Context, layer: str, features: Callable[[torch.Tensor], torch.Tensor], z_sel: torch.Tensor, lab_sel
) -> UnitStats:
    """Step 2: pass 1 (quantiles, k, top images) and pass 2 (IoU counts) on the selection latents, cached."""
    s, n_cls = ctx.settings, len(ctx.names)
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
    return UnitStats(
        thresholds=p1["thresholds"],
        k_all=p1["k"],
        top_ids=p1["top_ids"],
        top_scores=p1["top_scores"],
        iou_iqr=summ["iou_iqr"],
        iou_top1=summ["iou_top1"],
        iqr_index=summ["iqr_index"],
        class_pixels=summ["class_pixels"],
    )


def unit_table(stats: UnitStats, names: list[str]) -> list[dict]:
    """Step 3: the document's ``units``: each unit's best concepts (IQR and top-1% IoU), levels, top images."""
    units = []
    q99 = stats.q99
    for u in range(len(q99)):
        iqr, top1 = stats.iou_iqr[u], stats.iou_top1[u]  # (K,) each
        best, best1 = int(iqr.argmax()), int(top1.argmax())
        units.append(
            {
                "unit": u,
                "label": names[best] if iqr[best] > LABEL_IOU else None,
                "iou": rounded(iqr[best]),
                "quantile_99": rounded(q99[u]),
                "best_concept": names[best],
                "threshold": rounded(stats.thresholds[u, stats.iqr_index[u, best]]),
                "iou_top1": rounded(top1[best1]),
                "label_top1": names[best1] if top1[best1] > MATCH_IOU_TOP1 else None,
                "top": [int(i) for i in stats.top_ids[u] if i >= 0],
                "top_act": [rounded(v) for v in stats.top_scores[u] if np.isfinite(v)],
            }
        )
    return units


def held_out(ctx: Context, layer: str, f_fn, features, z_held: torch.Tensor, lab_held, n_top: int) -> HeldOut:
    """Step 4: the held-out features, the classes' base shares, the concepts' cache key (the settings they
    depend on), and the layer's random set of ``n_top`` units with its ablation (cached)."""
    s, n_cls = ctx.settings, len(ctx.names)
    ev = Evaluator(f_fn, ctx.segmenter, batch=s.batch)
    with torch.no_grad():
        r_held = torch.cat([features(z_held[a : a + s.batch]) for a in range(0, len(z_held), s.batch)])
    base_share = np.bincount(lab_held.ravel(), minlength=n_cls) / lab_held.size  # (K,)
    concept_settings = {k: v for k, v in s.to_json().items() if k not in MEASURED_APART}
    ckey = cache_key(**ctx.base_key, layer=layer, settings=concept_settings)
    n_units = r_held.shape[1]
    rng = np.random.default_rng([s.seed, SEED_RANDOM_UNITS, layer_index(layer)])
    rnd_units = sorted(rng.permutation(n_units)[:n_top].tolist())
    rnd_conf = np.array(
        cached_json(
            ctx.folder / f"random-{layer}-{ckey}.json",
            lambda: measure_ablation(ev, r_held, lab_held, rnd_units, n_cls).tolist(),
        )
    )
    return HeldOut(ev, r_held, lab_held, base_share, ckey, rnd_units, rnd_conf)


def measure_concepts(ctx: Context, d: LayerData, stats: UnitStats, ckey: str, erase_sets: bool) -> ConceptResults:
    """Step 5: each concept present in the images: its draw set and brush (``concept``, cached), erase set
    (``erase``) and, for ``context_concepts``, its context table."""
    names = ctx.names
    present = [c for c in range(len(names)) if stats.class_pixels[c] > 0 and d.base_share[c] > 0]
    concepts = {}
    for c in tqdm(present, desc=f"{d.layer} concepts", disable=not ctx.progress, leave=False):
        name = names[c]
        res = cached_json(ctx.folder / f"concept-{d.layer}-{name}-{ckey}.json", lambda c=c: dissect_concept(ctx, d, c))
        finish_brush(res, concept_erase(ctx, d, res, c, ckey) if erase_sets else None)
        in_context = name in ctx.settings.context_concepts
        res["context"], res["effect"]["context_detail"] = (
            concept_context(ctx, d, res, c, ckey) if in_context else ({}, {})
        )
        concepts[name] = res
    skipped = {names[c]: "absent from the generated images" for c in range(len(names)) if c not in present}
    return ConceptResults(concepts, skipped)


def random_baseline_summary(ctx: Context, d: LayerData, ckey: str, concepts: list[str]) -> dict:
    """Step 6: ``random_draws`` random unit sets of each of ``random_sizes`` ablated (cached), summarised per
    measured concept."""
    s = ctx.settings
    rnd_key = cache_key(ckey=ckey, draws=s.random_draws, sizes=list(s.random_sizes))
    seed = derived_seed(s.seed, SEED_RANDOM_BASELINE, layer_index(d.layer))
    sets = cached_json(
        ctx.folder / f"random-baseline-{d.layer}-{rnd_key}.json",
        lambda: random_baseline(d.ev, d.r_held, d.lab_held, len(ctx.names), s.random_sizes, s.random_draws, seed),
    )
    return {
        "draws": s.random_draws,
        "sizes": list(s.random_sizes),
        "concepts": {n: summarise_random(sets, ctx.names.index(n)) for n in concepts},
    }


def unit_counts(units: list[dict], names: list[str]) -> dict:
    """Units matching concepts (ICLR Fig. 6 style): at the IQR and top-1% IoU criteria, and per concept."""
    return {
        "units": len(units),
        "matching_iqr_0.05": int(sum(1 for u in units if u["iou"] > LABEL_IOU)),
        "matching_top1_0.04": int(sum(1 for u in units if u["iou_top1"] > MATCH_IOU_TOP1)),
        "concepts_iqr_0.05": sorted({u["label"] for u in units if u["label"]}),
        "concepts_top1_0.04": sorted({u["label_top1"] for u in units if u["label_top1"]}),
        "per_concept_iqr_0.05": {
            n: int(sum(1 for u in units if u["label"] == n)) for n in names if any(u["label"] == n for u in units)
        },
    }


def layer_summary(
    ctx: Context, units: list[dict], concepts: dict, held: HeldOut, baseline: dict, erase_sets: bool, seconds: float
) -> dict:
    """Step 7: the layer's counts and score (the mean layer score of the concepts covering >= 0.5% of the
    pixels), which ``summary.choose_layer`` compares."""
    s, names = ctx.settings, ctx.names
    scored = [v["effect"]["layer_score"] for n, v in concepts.items() if held.base_share[names.index(n)] >= 0.005]
    return {
        "counts": unit_counts(units, names),
        "score": rounded(np.mean(scored)) if scored else 0.0,
        "seconds": round(seconds, 1),
        "samples": {"selection": s.samples, "heldout": s.heldout},
        "random_units": held.rnd_units,
        "random_baseline": baseline,
        "erase_sets": erase_sets,  # False: the scores count the draw units' removal
    }


def layer_document(
    ctx: Context, layer: str, units: list[dict], results: ConceptResults, base_share: np.ndarray, summary: dict
) -> dict:
    """Step 8: the precomputed document of the layer (``ganpaint.precomputed`` schema), without stamps."""
    s, names, shape = ctx.settings, ctx.names, ctx.generator.feature_shape(layer)
    return {
        "schema_version": SCHEMA_VERSION,
        "created_by": f"ganpaint {__version__} dissect",
        "model_id": ctx.model_id,
        "model_sha256": ctx.model_sha256,
        "segmenter": ctx.seg_id,
        "layer": layer,
        "feature_shape": list(shape),
        "settings": {**s.to_json(), "window_cells": window_cells(shape[1]), "levels": "see docs"},
        "samples": {"selection": s.samples, "heldout": s.heldout},
        "class_names": names,
        "base_share": {n: rounded(base_share[i]) for i, n in enumerate(names)},
        "units": units,
        "concepts": {n: {key: v for key, v in c.items() if key != "_extra"} for n, c in results.concepts.items()},
        "skipped_concepts": results.skipped,
        "layer_summary": summary,
    }


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


# ---------------------------------------------------------------------------------------- one concept's extras


def concept_context(ctx: Context, d: LayerData, res: dict, c: int, ckey: str):
    """(context table, detail) of a concept's brush: ``context_windows`` class-stratified windows on each of
    the first ``context`` held-out latents (cached by the brush and these settings)."""
    s = ctx.settings
    n = min(s.context, len(d.r_held))
    key = cache_key(ckey=ckey, units=res["units"], draw=res["draw_values"], n=n, windows=s.context_windows)
    seed = derived_seed(s.seed, SEED_CONTEXT, layer_index(d.layer), c)
    out = cached_json(
        ctx.folder / f"context-{d.layer}-{ctx.names[c]}-{key}.json",
        lambda: measure_context(
            d.ev, d.r_held[:n], d.lab_held[:n], res["units"], res["draw_values"], c, ctx.names, seed, s.context_windows
        ),
    )
    return out[0], out[1]


def concept_erase(ctx: Context, d: LayerData, res: dict, c: int, ckey: str) -> dict:
    """The erase set of a concept (``erase.erase_set``), cached by the concept's key and ``erase_choice``."""
    s = ctx.settings
    e = res["effect"]
    draw = {"ace": e["ace_ranked"], "iou": e["iou_ranked"]}
    key = cache_key(ckey=ckey, erase=1, choice=s.erase_choice)
    seed = derived_seed(s.seed, SEED_ERASE, layer_index(d.layer), c)
    return cached_json(
        ctx.folder / f"erase-{d.layer}-{ctx.names[c]}-{key}.json",
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


# ---------------------------------------------------------------------------------------- all layers


def default_layers(generator) -> list[str]:
    """layer3 .. the last layer before the output (toRGB): layer3..layer10 at 64 px."""
    return generator.layer_names[2:]


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
        summaries = dict(sorted(summaries.items(), key=lambda kv: layer_index(kv[0])))
        summary = write_summary(ctx, summaries)
        if report:  # under the lock too: the last writer's report has every layer
            write_report(ctx, summary, fresh=tuple(done))
    return summary
