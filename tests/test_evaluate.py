"""FSD and generated-vs-data concept statistics (``ganpaint evaluate``) on a tiny model folder."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_generator

from ganpaint.cli import main
from ganpaint.models import write_model_json
from ganpaint.scenes import NAMES
from ganpaint.train import evaluate as E
from ganpaint.train.segmenter import UNet, save_segmenter


def test_fsd_of_a_sample_with_itself_is_zero_and_grows_with_difference():
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.ones(5), 400) * 100
    assert abs(E.frechet_distance(a, a)["fsd"]) < 1e-4  # shares sum to 100: singular covariance
    b = rng.dirichlet(np.ones(5), 400) * 100  # same distribution, other sample
    c = rng.dirichlet([5, 1, 1, 1, 1], 400) * 100  # shifted
    d = rng.dirichlet([20, 1, 1, 1, 1], 400) * 100  # shifted further
    same, shifted, further = (E.frechet_distance(a, x)["fsd"] for x in (b, c, d))
    assert same < shifted < further
    f = E.frechet_distance(a, c)
    assert f["fsd"] == pytest.approx(f["mean_term"] + f["cov_term"])


def test_fsd_matches_scipy_sqrtm():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(3)
    a = rng.normal(size=(60, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(50, 4)) @ rng.normal(size=(4, 4)) + 1.5
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b).real
    direct = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root)
    assert E.frechet_distance(a, b)["fsd"] == pytest.approx(direct, rel=1e-6)


def test_fsd_handles_a_class_that_never_appears():
    rng = np.random.default_rng(1)
    a = np.c_[rng.random((30, 3)), np.zeros(30)]  # last column: zero variance
    b = np.c_[rng.random((30, 3)), np.zeros(30)]
    assert np.isfinite(E.frechet_distance(a, b)["fsd"])
    with pytest.raises(ValueError, match="feature matrices"):
        E.frechet_distance(a, b[:, :3])


def test_shares_and_concept_stats():
    labels = torch.zeros(2, 4, 4, dtype=torch.long)
    labels[0, :2] = 3  # half grass in image 0
    shares = E.label_shares(labels, len(NAMES))
    assert shares.shape == (2, len(NAMES)) and np.allclose(shares.sum(1), 1)
    st = E.concept_stats(shares, NAMES)
    assert set(st) == set(NAMES)
    assert st["grass"]["image_fraction"] == 0.5 and st["grass"]["pixel_share"] == 0.25
    assert st["grass"]["pixel_fraction_present"] == 0.5 and st["door"]["image_fraction"] == 0.0
    cmp = E.compare_stats(st, st)
    assert cmp["sky"]["image_ratio"] == 1.0 and cmp["door"]["image_ratio"] is None
    assert E.brush_check(cmp) == {b: b in ("sky", "grass") for b in E.BRUSH_CONCEPTS}


@pytest.fixture
def tiny_model_dir(tmp_path):
    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    g = tiny_generator(0)
    torch.save(g.state_dict(), folder / "generator.pth")
    torch.manual_seed(0)
    save_segmenter(UNet((4, 8, 8, 8), len(NAMES)), NAMES, 32, folder / "segmenter.pth")
    write_model_json(
        folder,
        {
            "id": "tiny",
            "resolution": 32,
            "z_dim": 16,
            "generator": "generator.pth",
            "segmenter": "segmenter.pth",
            "default_layer": "layer4",
        },
    )
    return tmp_path / "models"


def test_evaluate_command_writes_report_with_every_concept(tiny_model_dir, capsys):
    out = tiny_model_dir / "tiny" / "metrics.json"
    main(
        [
            "evaluate",
            "--model",
            "tiny",
            "--models-dir",
            str(tiny_model_dir),
            "--n",
            "12",
            "--batch",
            "5",
            "--no-progress",
        ]
    )
    report = json.loads(out.read_text())
    assert report["model"] == "tiny" and report["n"] == 12 and report["size"] == 32
    assert set(report["concepts"]) == set(NAMES)
    for row in report["concepts"].values():
        assert {"generated", "data", "data_labels", "image_ratio", "pixel_ratio"} <= set(row)
    assert report["fsd"]["fsd"] >= 0 and report["fsd_floor"]["fsd"] >= 0
    assert set(report["brush_check"]) == set(E.BRUSH_CONCEPTS)
    text = capsys.readouterr().out
    assert "FSD floor" in text
    for name in NAMES:
        assert f"| {name} |" in text


def test_evaluate_rejects_overlapping_seeds(tiny_model_dir):
    with pytest.raises(ValueError, match="overlap"):
        E.evaluate(tiny_generator(0), None, n=10, data_seed=5, floor_seed=8)
