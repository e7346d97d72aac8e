"""Ground truth for erasing (issue 33): scenes rendered with chosen objects removed, and the erase bench."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganpaint.scenes import ID, render_scene
from ganpaint.scenes.removal import KINDS, removal, removals, scene_instances

SEED = 1_000_000_006  # held out; a church with a door, a tower with a dome on it, clouds
TREES = 1_000_000_003  # held out; seven trees, no building
ROOT = Path(__file__).resolve().parents[1]


def grown(mask: np.ndarray, px: int = 1) -> np.ndarray:
    m = torch.from_numpy(mask.astype(np.float32))[None, None]  # (1, 1, H, W)
    return F.max_pool2d(m, 2 * px + 1, stride=1, padding=px)[0, 0].numpy() > 0


def test_no_removal_is_the_frozen_render():
    for seed in (0, 3, SEED):
        a, b = render_scene(seed, 64), render_scene(seed, 64, remove=())
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_instances_listed_in_drawing_order_same_at_every_size():
    inst = scene_instances(SEED, 64)
    assert [i.id for i in inst] == [i.id for i in scene_instances(SEED, 128)]
    assert {i.kind for i in inst} <= set(KINDS)
    trees = [i.id for i in inst if i.kind == "tree"]
    assert trees == [f"tree:{k}" for k in range(len(trees))] and len(trees) >= 3
    assert [i.id for i in scene_instances(SEED, 64, "tree")] == trees
    domes = [i for i in inst if i.kind == "dome"]
    assert any(d.parent == "tower:0" for d in domes)  # the tower's cap


def test_removing_a_tree_changes_its_pixels_and_nothing_else():
    base_rgb, base_lab = render_scene(TREES, 64)
    rgb, lab = render_scene(TREES, 64, remove=["tree:5"])
    changed = (rgb != base_rgb).any(-1) | (lab != base_lab)
    assert changed.sum() >= 30  # the foreground tree is gone...
    tree = base_lab == ID["tree"]
    assert not (changed & ~grown(tree)).any()  # ...and only where a tree was (its anti-aliased edge included)
    assert (lab[changed] == ID["tree"]).mean() < 0.2  # what it hid is drawn: grass, wall, not tree
    # every other tree stays: removing another one changes other pixels
    other = removal(TREES, 64, "tree:0")
    assert other.pixels > 0 and not (other.footprint & changed).all()


def test_removal_record_and_footprint():
    r = removal(SEED, 64, "door:0")
    assert r.pixels > 10 and r.ids == ("door:0",)
    assert np.array_equal(r.footprint, (r.rgb != r.rgb_without).any(-1) | (r.labels != r.labels_without))
    assert (r.labels[r.footprint] == ID["door"]).mean() > 0.8
    wall = np.isin(r.labels_without[r.footprint], [ID["building"], ID["brick"], ID["tower"]])
    assert wall.mean() > 0.8  # behind a door: its wall
    assert (r.labels_without == ID["door"]).sum() == 0  # the scene's only door


def test_removing_a_tower_takes_its_dome():
    r = removal(SEED, 64, "tower:0")
    assert (r.labels[r.footprint] == ID["dome"]).any()
    assert not (r.labels_without[r.footprint] == ID["dome"]).any()
    assert not (r.labels_without == ID["tower"]).any()


def test_removals_filter_by_kind_and_size():
    rs = removals(SEED, 64, "cloud", min_pixels=20)
    assert rs and all(r.ids[0].startswith("cloud:") and r.pixels >= 20 for r in rs)


@pytest.mark.parametrize(
    "remove,match",
    [(["tree:99"], "tree:99"), (["house:0"], "house:0"), ("tree:0", "collection")],
)
def test_bad_remove_named(remove, match):
    with pytest.raises(ValueError, match=match):
        render_scene(SEED, 64, remove=remove)


def test_unknown_kind_named():
    with pytest.raises(ValueError, match="kind"):
        scene_instances(SEED, 64, "spaceship")


def load_bench():
    spec = importlib.util.spec_from_file_location("erase_truth", ROOT / "bench" / "erase_truth.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_baselines_touch_only_the_footprint():
    bench = load_bench()
    r = removal(SEED, 64, "door:0")
    out = bench.mean_fill(r.rgb, r.footprint)
    assert np.array_equal(out[~r.footprint], r.rgb[~r.footprint]) and not np.array_equal(out, r.rgb)
    assert bench.psnr_in(r.rgb_without, r.rgb_without, r.footprint) == 99.0
    assert bench.ssim_map(r.rgb, r.rgb).min() > 0.999
    out = bench.harmonic_pixels(r.rgb, r.footprint)
    assert np.array_equal(out[~r.footprint], r.rgb[~r.footprint]) and not np.array_equal(out, r.rgb)
    with pytest.raises(ValueError, match="steps=x"):
        bench.variant_settings("steps=x")
    with pytest.raises(ValueError, match="'colour=1' is not field=value"):
        bench.variant_settings("colour=1")
    assert bench.variant_settings("steps=0+seam_iters=0").steps == 0
    if bench.have_opencv():
        for method in ("telea", "ns"):
            out = bench.inpaint(r.rgb, r.footprint, method)
            assert np.array_equal(out[~r.footprint], r.rgb[~r.footprint])


def test_erase_bench_runs_on_the_tiny_model(tmp_path):
    from ganpaint.scenes import NAMES
    from ganpaint.tiny import make_tiny_model
    from ganpaint.train.segmenter import UNet, save_segmenter

    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    torch.manual_seed(0)
    judge = save_segmenter(UNet((4, 8), len(NAMES)), NAMES, 32, tmp_path / "judge.pth")  # an untrained judge
    bench = load_bench()
    out = tmp_path / "erase.json"
    result = bench.main([
        "--models-dir", str(tmp_path / "models"), "--precomputed-dir", str(tmp_path / "precomputed"),
        "--model", "tiny", "--kinds", "tree,dome", "--per-kind", "2", "--min-pixels", "8", "--segmenter", "none",
        "--quick", "--out", str(out), "--grids", str(tmp_path / "img"), "--variants", "steps=0,seam_iters=0",
        "--judge", str(judge),
    ])  # fmt: skip
    assert out.is_file() and (tmp_path / "img" / "erase_truth_variants_tree.png").is_file()
    rows = result["rows"]
    assert len(rows) == 2 and {r["kind"] for r in rows} == {"tree"}  # the tiny model has no dome concept
    for r in rows:
        assert r["seed"] >= 1_000_000_000 and r["pixels"] >= 8
        for method in ("upload", "regen", "upload_units", "regen_units", "harmonic", "mean", "leave", "steps=0",
                       "seam_iters=0"):  # fmt: skip
            assert np.isfinite(r[method]["psnr"]) and -1 <= r[method]["ssim"] <= 1
        assert r["mean"]["outside"] == 0 and r["leave"]["outside"] == 0 and r["harmonic"]["outside"] == 0
        assert r["upload"]["outside"] == 0  # the fill erase on an upload keeps every pixel outside its stroke
        assert 0 <= r["upload"]["judge_seg_agree"] <= 1 and "seg_agree" not in r["upload"]  # judged, not segmented
    assert result["summary"]["tree"]["upload"]["psnr"]["n"] == 2
