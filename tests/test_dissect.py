"""Dissection on a tiny seeded generator and a segmenter whose answer is known by construction."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_generator

from ganpaint.dissect import erase as erase_mod
from ganpaint.dissect import iou as iou_mod
from ganpaint.dissect.causal import AlphaSettings, Evaluator, ablation_effect, optimise_alpha
from ganpaint.dissect.common import parse_sizes
from ganpaint.dissect.fake import ChannelSegmenter
from ganpaint.dissect.run import (
    CURVE_SIZES,
    Context,
    DissectSettings,
    default_layers,
    dissect_layer,
    dissect_layers,
)
from ganpaint.dissect.stats import Reservoir, iqr
from ganpaint.nn.proggan import layer_index
from ganpaint.precomputed import load_precomputed, validate

PLANTED = 3  # layer7 unit that drives the red channel


def planted_generator():
    """tiny_generator with layer7 unit 3 -> layer8 unit 3 -> the red channel (the only driven colour)."""
    g = tiny_generator()
    with torch.no_grad():
        g.layer8.conv.weight[PLANTED] = 0
        g.layer8.conv.weight[PLANTED, PLANTED, 1, 1] = 20.0
        g.layer8.wscale.b[PLANTED] = 0
        g.output_32x32.conv.weight.zero_()
        g.output_32x32.wscale.b.zero_()
        g.output_32x32.conv.weight[0, PLANTED] = 4.0
        g.output_32x32.wscale.b[0] = -3.0
    for p in g.parameters():
        p.requires_grad_(False)
    return g


def small_settings(**kw):
    base = dict(
        samples=24,
        heldout=12,
        insertion=8,
        curve=6,
        context=12,
        context_concepts=("red",),
        curve_sizes=(1, 2, 4),
        top=4,
        batch=8,
        alpha=AlphaSettings(steps=6, batch=8, pool=12, probe=8),
    )
    base.update(kw)
    return DissectSettings(**base)


def make_ctx(tmp_path, g=None, cache="cache", **kw):
    g = g or planted_generator()
    return Context(
        g,
        ChannelSegmenter(),
        "tiny",
        "0" * 64,
        small_settings(**kw),
        tmp_path / cache,
        tmp_path / "out",
        progress=False,
    )


def test_reservoir_exact_when_small_and_bounded_when_large():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 500)).astype(np.float32)
    r = Reservoir(3, 1000)
    r.add(v[:, :200])
    r.add(v[:, 200:])
    assert np.allclose(r.quantiles(np.array([0.5, 0.99])), np.quantile(v, [0.5, 0.99], axis=1).T)
    small = Reservoir(3, 100, seed=1)
    for a in range(0, 500, 50):
        small.add(v[:, a : a + 50])
    assert small.values().shape == (3, 100) and small.seen == 500
    again = Reservoir(3, 100, seed=5)
    again.load_state_dict(small.state_dict())
    assert np.array_equal(again.values(), small.values())


def test_iou_and_thresholds_match_numpy():
    g, seg = tiny_generator(), ChannelSegmenter()
    z = torch.randn(10, g.z_dim, generator=torch.Generator().manual_seed(0))
    h, _ = g.split("layer5")
    with torch.no_grad():
        labels = seg.probabilities(g(z)).argmax(1).to(torch.uint8).numpy()  # (N, 32, 32)
        up = F.interpolate(h(z), size=(32, 32), mode="bilinear", align_corners=False).numpy()  # (N, C, 32, 32)
    p1 = iou_mod.pass1(h, z, labels, 4, batch=4, progress=False)
    p2 = iou_mod.pass2(h, z, labels, 4, p1["thresholds"], batch=3, progress=False)
    s = iou_mod.summarise(p2["hist"])
    vals = up.transpose(1, 0, 2, 3).reshape(up.shape[1], -1)
    t = np.quantile(vals, iou_mod.LEVELS, axis=1).T  # (C, G)
    assert np.allclose(p1["thresholds"], t, atol=1e-6)
    even, odd = np.arange(len(z)) % 2 == 0, np.arange(len(z)) % 2 == 1
    for u in range(up.shape[1]):
        for c in range(4):
            seg_c = labels == c
            act = up[:, u] > t[u, iou_mod.TOP1]
            union = (act | seg_c).sum()
            want = (act & seg_c).sum() / union if union else 0.0
            assert s["iou_top1"][u, c] == pytest.approx(want, abs=1e-9)
            # ICLR: IQR-best threshold on the even samples, IoU on the odd ones
            scores = []
            for tg in t[u]:
                a = up[even, u] > tg
                scores.append(iqr((a & seg_c[even]).sum(), a.sum(), seg_c[even].sum(), a.size))
            best = int(np.argmax(scores))
            assert s["iqr_index"][u, c] == best
            a = up[odd, u] > t[u, best]
            union = (a | seg_c[odd]).sum()
            want = (a & seg_c[odd]).sum() / union if union else 0.0
            assert s["iou_iqr"][u, c] == pytest.approx(want, abs=1e-9)


def test_k_is_coverage_weighted_conditional_mean():
    r = torch.tensor([[[[2.0, 4.0], [8.0, 16.0]]]])  # (1, 1, 2, 2)
    labels = np.zeros((1, 4, 4), np.uint8)
    labels[0, :2, :2] = 1  # the whole top-left cell is class 1
    labels[0, 0, 2] = 1  # a quarter of the top-right cell
    p1 = iou_mod.pass1(lambda z: r, torch.zeros(1, 1), labels, 2, batch=1, progress=False)
    assert p1["k"][0, 1] == pytest.approx((1.0 * 2 + 0.25 * 4) / 1.25)
    w0 = np.array([0.0, 0.75, 1.0, 1.0])  # class 0 coverage of the four cells
    assert p1["k"][0, 0] == pytest.approx((w0 * [2, 4, 8, 16]).sum() / w0.sum())


def test_planted_unit_is_found_first_by_both_rankings(tmp_path):
    doc = dissect_layer(make_ctx(tmp_path), "layer7")
    red = doc["concepts"]["red"]
    assert red["effect"]["iou_ranked"]["units"][0] == PLANTED
    assert red["effect"]["ace_ranked"]["units"][0] == PLANTED
    assert doc["units"][PLANTED]["label"] == "red"
    assert red["effect"]["iou_ranked"]["removed"] > 0.9  # ablating the planted unit removes the red
    rnd = red["effect"]["random"]  # the random set: ablated, and inserted at the brush's draw rule
    assert rnd["draw_rule"] == red["draw_rule"] and all(np.isfinite(rnd[k]) for k in ("removed", "ace", "gain"))
    planted_in_random = PLANTED in doc["layer_summary"]["random_units"]
    assert (rnd["removed"] > 0.9) == planted_in_random


@pytest.mark.parametrize(("removal", "objective"), [("image", "both"), ("window", "both"), ("image", "removal")])
def test_alpha_optimisation_raises_the_planted_unit_from_a_flat_start(removal, objective):
    g, seg = planted_generator(), ChannelSegmenter()
    h, f = g.split("layer7")
    z = torch.randn(12, g.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = seg.probabilities(g(z)).argmax(1).to(torch.uint8).numpy()  # (12, 32, 32)
        k = h(z).amax(dim=(0, 2, 3)).numpy()  # (C,) a high value for every unit
    cfg = AlphaSettings(steps=12, batch=8, lr=0.05, pool=12, probe=8, removal=removal)
    flat = np.full(len(k), 0.5, np.float32)
    alpha, info = optimise_alpha(h, Evaluator(f, seg, batch=8), z, labels, 1, k, flat, cfg, 0, objective)
    assert info["optimised"] and int(np.argmax(alpha)) == PLANTED
    assert (info["insertion_candidates"] == 0) == (objective == "removal")
    assert alpha[PLANTED] > 0.5 > np.median(np.delete(alpha, PLANTED))
    if removal == "image":  # every image where red covers >= 1% of the pixels, and only those
        assert info["removal_candidates"] == int(((labels == 1).mean(axis=(1, 2)) >= 0.01).sum()) > 0


def test_context_uses_several_windows_per_latent_and_is_cached_apart(tmp_path):
    doc = dissect_layer(make_ctx(tmp_path, context_windows=3), "layer7")
    detail = doc["concepts"]["red"]["effect"]["context_detail"]
    assert detail["samples"] == 12 and detail["windows"] == 36
    assert sum(v["n"] for v in detail["classes"].values()) == 36
    assert doc["concepts"]["none"]["context"] == {}  # not a context concept
    concept_files = sorted((tmp_path / "cache" / "tiny").glob("concept-layer7-*.json"))
    again = dissect_layer(make_ctx(tmp_path, context_windows=1), "layer7")
    # another window count re-measures only the context: the concepts' cached results are reused
    assert sorted((tmp_path / "cache" / "tiny").glob("concept-layer7-*.json")) == concept_files
    assert len(list((tmp_path / "cache" / "tiny").glob("context-layer7-red-*.json"))) == 2
    assert again["concepts"]["red"]["effect"]["context_detail"]["windows"] == 12
    assert again["concepts"]["red"]["units"] == doc["concepts"]["red"]["units"]


def test_erase_set_is_chosen_by_removal_on_unseen_latents_and_cached_apart(tmp_path):
    ctx = make_ctx(tmp_path, erase_choice=10)
    doc = dissect_layer(ctx, "layer7")
    red = doc["concepts"]["red"]
    e = red["effect"]
    assert red["erase"]["units"][0] == PLANTED and e["removal_ranked"]["units"][0] == PLANTED
    choice = e["erase"]["choice"]
    assert choice["latents"] == 10 and set(choice["removed"]) == {"removal", "ace", "iou"}
    best = max(choice["removed"].values())
    assert choice["removed"][red["erase"]["ranking"]] == best == pytest.approx(1.0, abs=0.1)
    ranked = {"removal": e["removal_ranked"], "ace": e["ace_ranked"], "iou": e["iou_ranked"]}[red["erase"]["ranking"]]
    assert red["erase"]["units"] == ranked["units"] and e["removed"] == e["erase"]["removed"] == ranked["removed"]
    assert [p[0] for p in e["curves"]["removal"]] == [1, 2, 4] and all(len(p) == 2 for p in e["curves"]["removal"])
    assert e["curves"]["removal"][0][1] > 0.9  # the planted unit alone removes the red
    ins = e[f"{red['ranking']}_ranked"]["insertion"][red["draw_rule"]]
    assert e["layer_score"] == pytest.approx(
        0.5 * (e["erase"]["removed"] - e["erase"]["collateral"]) + 0.5 * ins["score"], abs=1e-5
    )
    pre = load_precomputed(tmp_path / "out" / "tiny" / "layer7.json").concepts["red"]
    assert pre.units_for("erase") == red["erase"]["units"] and pre.units_for("draw") == red["units"]
    # another choice size re-measures only the erase sets
    concept_files = sorted(ctx.folder.glob("concept-layer7-*.json"))
    again = dissect_layer(make_ctx(tmp_path, erase_choice=6), "layer7")
    assert sorted(ctx.folder.glob("concept-layer7-*.json")) == concept_files
    assert len(list(ctx.folder.glob("erase-layer7-red-*.json"))) == 2
    assert again["concepts"]["red"]["effect"]["erase"]["choice"]["latents"] == 6
    # no erase sets: the brush erases with its draw units, and its removal and score say so
    plain = dissect_layer(make_ctx(tmp_path, erase_choice=0), "layer7")["concepts"]["red"]
    drawn = plain["effect"][f"{plain['ranking']}_ranked"]
    assert "erase" not in plain and "removal_ranked" not in plain["effect"]
    assert plain["effect"]["removed"] == drawn["removed"]
    pre = load_precomputed(tmp_path / "out" / "tiny" / "layer7.json").concepts["red"]
    assert pre.units_for("erase") == plain["units"]
    broken = json.loads(json.dumps(doc))
    broken["concepts"]["red"]["erase"]["ranking"] = "best"
    with pytest.raises(ValueError, match=r"concepts\.red\.erase\.ranking"):
        validate(broken)
    broken["concepts"]["red"]["erase"] = {"ranking": "removal", "units": [999]}
    with pytest.raises(ValueError, match=r"concepts\.red\.erase\.units"):
        validate(broken)


def test_erase_set_takes_a_draw_ranking_when_it_removes_more(tmp_path, monkeypatch, caplog):
    def alpha_without_the_planted_unit(h_fn, ev, latents, labels, c, k, init, cfg, seed, objective):
        alpha = np.ones(len(k), np.float32)
        alpha[PLANTED] = 0.0
        return alpha, {"optimised": True}

    monkeypatch.setattr(erase_mod, "optimise_alpha", alpha_without_the_planted_unit)
    red = dissect_layer(make_ctx(tmp_path), "layer7")["concepts"]["red"]
    choice = red["effect"]["erase"]["choice"]["removed"]
    assert red["effect"]["erase"]["choice"]["latents"] == 24 - 12  # the selection latents after the alpha pool
    assert PLANTED not in red["effect"]["removal_ranked"]["units"]
    assert red["erase"]["ranking"] in ("ace", "iou") and red["erase"]["units"][0] == PLANTED
    assert choice["removal"] < 0.5 < choice[red["erase"]["ranking"]]
    small = dissect_layer(make_ctx(tmp_path, samples=12), "layer7")  # no latents after the pool: no erase sets
    assert "erase" not in small["concepts"]["red"] and small["layer_summary"]["erase_sets"] is False
    assert "--samples 12 <= its pool of 12" in caplog.text  # logged (ganpaint.dissect), not printed


def test_random_baseline_nests_its_sets_and_finds_the_planted_unit(tmp_path):
    ctx = make_ctx(tmp_path, random_sizes=(1, 3, 1000), random_draws=5)
    doc = dissect_layer(ctx, "layer7")
    n_units = doc["feature_shape"][0]
    sets = json.loads(next(ctx.folder.glob("random-baseline-layer7-*.json")).read_text())
    assert [s["size"] for s in sets] == [1, 3, 1000] * 5
    for d in range(5):  # one permutation per draw: each set extends the smaller one
        one, three, every = (set(s["units"]) for s in sets[3 * d : 3 * d + 3])
        assert len(one) == 1 and len(three) == 3 and one < three < every == set(range(n_units))
    red = doc["layer_summary"]["random_baseline"]["concepts"]["red"]
    assert doc["layer_summary"]["random_baseline"]["sizes"] == [1, 3, 1000]
    singles = [ablation_effect(np.array(s["confusion"]), 1)["removed"] for s in sets if s["size"] == 1]
    assert red["mean_abs"][0] == pytest.approx(np.mean(np.abs(singles)), abs=1e-6)
    assert red["max_abs"][0] == pytest.approx(np.max(np.abs(singles)), abs=1e-6)
    assert red["mean"][2] > 0.9  # every unit ablated: the planted unit with them, the red is gone
    planted_drawn = [PLANTED in s["units"] for s in sets if s["size"] == 1]
    assert any(planted_drawn) and not all(planted_drawn)
    assert [r > 0.9 for r in singles] == planted_drawn  # only the draws of the planted unit remove the red
    # another draw count re-measures only the baseline
    concept_files = sorted(ctx.folder.glob("concept-layer7-*.json"))
    again = dissect_layer(make_ctx(tmp_path, random_sizes=(1, 3, 1000), random_draws=2), "layer7")
    assert sorted(ctx.folder.glob("concept-layer7-*.json")) == concept_files
    assert again["layer_summary"]["random_baseline"]["draws"] == 2
    assert again["concepts"] == doc["concepts"]


def test_json_validates_resumes_and_report(tmp_path):
    ctx = make_ctx(tmp_path)
    summary = dissect_layers(ctx, ["layer5", "layer7"])
    assert summary["default_layer"] in ("layer5", "layer7") and summary["why"]
    out = tmp_path / "out" / "tiny"
    for layer in ("layer5", "layer7"):
        pre = load_precomputed(out / f"{layer}.json")
        assert pre.layer == layer and "red" in pre.concepts
        assert pre.concepts["red"].draw_rule in ("k", "quantile_99", "2k", "4k")
    assert (out / "report" / "index.html").is_file()
    assert (out / "report" / "layer7" / f"unit{PLANTED}.png").is_file()
    assert (out / "report" / "layer7" / "ace-red.png").is_file()
    assert "Random baseline: ablating random units" in (out / "report" / "index.html").read_text()
    assert f'<tr id="layer7-u{PLANTED}"><td>{PLANTED}</td>' in (out / "report" / "index.html").read_text()
    assert "red #1" in (out / "report" / "index.html").read_text()  # the planted unit heads the red brush
    page = (out / "report" / "index.html").read_text()
    best = summary["default_layer"]
    u = load_precomputed(out / f"{best}.json").concepts["red"].units[0]
    assert f"Brushes at the painting layer {best}" in page  # the brush overview shows the first units' crops
    assert f'<a href="#{best}-u{u}" title="unit {u}"><img class=strip src="{best}/unit{u}.png">' in page
    curves = pre.concepts["red"].effect["curves"]
    for ranking in ("ace", "iou"):  # [size, removed, ACE] at every size the settings ask for
        assert [p[0] for p in curves[ranking]] == [1, 2, 4] and all(len(p) == 3 for p in curves[ranking])
    assert curves["ace"][0][1] > 0.9  # the planted unit alone removes the red
    first = json.loads((out / "layer7.json").read_text())
    for path, bad, field in (  # a broken document is refused with the field's name
        (("concepts", "red", "units"), [0, 0], "concepts.red.units"),
        (("concepts", "red", "k"), [1.0], "concepts.red.k"),
        (("concepts", "red", "effect", "ace_ranked", "ace"), float("nan"), "concepts.red.effect.ace_ranked"),
        (("schema_version",), 3, "schema_version"),
    ):
        broken = json.loads(json.dumps(first))
        parent = broken
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = bad
        with pytest.raises(ValueError, match=field.replace(".", r"\.")):
            validate(broken)

    # interrupted run: a concept's cached result and the output are lost; the rerun redoes only those
    for p in ctx.folder.glob("concept-layer7-red-*.json"):
        p.unlink()
    (out / "layer7.json").unlink()
    dissect_layer(make_ctx(tmp_path), "layer7")
    resumed = json.loads((out / "layer7.json").read_text())
    # a run from scratch in a fresh cache
    fresh = dissect_layer(make_ctx(tmp_path, cache="cache2"), "layer7")
    for doc in (resumed, fresh):
        assert doc["units"] == first["units"]
        assert doc["concepts"] == first["concepts"]


def test_summary_keeps_layers_of_other_settings_and_prefers_the_most_held_out(tmp_path):
    dissect_layers(make_ctx(tmp_path), ["layer5"], report=False)
    # fewer selection latents than layer5 had: the report must still find layer5's top images
    summary = dissect_layers(make_ctx(tmp_path, samples=12, heldout=8, erase_choice=0), ["layer7"], report=True)
    assert list(summary["layers"]) == ["layer5", "layer7"]
    assert summary["layers"]["layer7"]["samples"] == {"selection": 12, "heldout": 8}
    assert (tmp_path / "out" / "tiny" / "report" / "layer5" / f"unit{PLANTED}.png").is_file()
    assert summary["default_layer"] == "layer5"  # the only layer measured on 12 held-out latents
    assert "not candidates" in summary["why"] and "layer7" in summary["why"]
    assert summary["why"].endswith("(no erase sets, scored by their draw units' removal: layer7)")
    # another generator's summary is not merged
    other = make_ctx(tmp_path)
    other.model_sha256 = "1" * 64
    assert list(dissect_layers(other, ["layer7"], report=False)["layers"]) == ["layer7"]


def test_all_layers_run_from_layer3_to_the_last_before_the_output():
    g = planted_generator()
    assert default_layers(g) == [f"layer{i}" for i in range(3, 9)] and g.layer_names[-1] == "layer8"


def test_parse_curve_sizes():
    assert parse_sizes("1-40") == CURVE_SIZES == tuple(range(1, 41))
    assert parse_sizes("1-10,12-20:2,25-40:5") == (*range(1, 11), 12, 14, 16, 18, 20, 25, 30, 35, 40)
    assert parse_sizes("5,1,2,2") == (1, 2, 5)
    for bad in ("0-3", "5-2", "x", "1-4:0"):
        with pytest.raises(ValueError, match="--curve-sizes"):
            parse_sizes(bad)


def test_layer_index_parses_block_names_only():
    assert layer_index("layer4") == 4 and layer_index("layer10") == 10
    for bad in ("output_32x32", "layer", "layerX", "4"):
        with pytest.raises(ValueError, match="layer"):
            layer_index(bad)
        assert layer_index(bad, default=0) == 0
