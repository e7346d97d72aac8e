"""The embedded segmenter: interface (names, shapes, probabilities), save/load, a few training steps, eval."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ganpaint.scenes import NAMES
from ganpaint.segment import Segmenter
from ganpaint.train import segmenter as S
from ganpaint.train.segmenter_cli import parse_seed_range

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "scenes64" / "segmenter.pth"


@pytest.fixture
def tiny_file(tmp_path) -> Path:
    torch.manual_seed(0)
    net = S.UNet((4, 8, 8, 8), len(NAMES))
    return S.save_segmenter(net, NAMES, 32, tmp_path / "tinymodel" / "segmenter.pth", trained={"images_seen": 0})


def test_interface_names_shapes_and_probabilities(tiny_file):
    seg = S.load_segmenter(tiny_file)
    assert isinstance(seg, Segmenter)
    assert seg.names == list(NAMES)
    assert seg.id.startswith("tinymodel-segmenter@") and len(seg.id.split("@")[1]) == 12
    for shape in [(3, 3, 32, 32), (2, 3, 64, 64), (1, 3, 40, 24), (0, 3, 32, 32)]:
        x = torch.rand(shape) * 2 - 1
        p = seg.probabilities(x)
        assert p.shape == (shape[0], len(NAMES), shape[2], shape[3])
        assert torch.allclose(p.sum(1), torch.ones(shape[0], shape[2], shape[3]), atol=1e-5)
        assert (p >= 0).all()
    ids = seg.probabilities(torch.zeros(2, 3, 32, 32)).argmax(dim=1)  # (N, H, W) class ids
    assert ids.shape == (2, 32, 32) and ids.dtype == torch.int64


def test_batches_agree_with_one_call(tiny_file):
    seg = S.load_segmenter(tiny_file, batch=2)
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    whole = S.load_segmenter(tiny_file, batch=64).probabilities(x)
    assert torch.allclose(seg.probabilities(x), whole, atol=1e-5)


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        S.load_segmenter(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="format"):
        S.load_segmenter(bad)


def test_augment_keeps_labels_aligned_and_range():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    labs = rng.integers(0, len(NAMES), (6, 32, 32), dtype=np.uint8)
    x, y = S.augment(imgs, labs, rng)
    assert x.shape == (6, 3, 32, 32) and y.shape == (6, 32, 32)
    assert x.min() >= -1 and x.max() <= 1
    for i in range(6):  # labels either untouched or mirrored
        same = np.array_equal(y[i].numpy(), labs[i])
        assert same or np.array_equal(y[i].numpy(), labs[i][:, ::-1])


def test_few_training_steps_reduce_loss():
    rng = np.random.default_rng(1)
    imgs, labs = S.render_scenes(0, 8, 32)
    cfg = S.SegConfig(size=32, widths=[8, 16, 16, 16], batch=8, lr=1e-2, warmup_steps=1, minutes=1e6)
    t = S.SegTrainer(cfg, "unused", imgs, labs)
    t.rng = rng
    for _ in range(25):
        t.train_step()
    assert all(np.isfinite(t.losses))
    assert np.mean(t.losses[-5:]) < 0.8 * np.mean(t.losses[:3])


def test_checkpoint_resume_continues(tmp_path):
    imgs, labs = S.render_scenes(0, 4, 32)
    cfg = S.SegConfig(size=32, widths=[4, 8, 8, 8], batch=2, minutes=1e6)
    t = S.SegTrainer(cfg, tmp_path / "run", imgs, labs)
    t.train_step()
    t.save()
    r = S.SegTrainer.resume(tmp_path / "run", imgs, labs)
    assert (r.step, r.imgs_seen) == (1, 2)
    for k, v in t.net.state_dict().items():
        assert torch.equal(v, r.net.state_dict()[k])
    r.train_step()
    assert r.step == 2


def test_scores_and_heldout_eval(tiny_file):
    conf = np.array([[8, 2], [0, 10]])
    sc = S.scores(conf, ["a", "b"])
    assert sc["pixel_accuracy"] == pytest.approx(0.9)
    assert sc["iou"] == {"a": pytest.approx(0.8), "b": pytest.approx(10 / 12)}
    res = S.evaluate_heldout(S.load_segmenter(tiny_file), 1_000_000, 3, 32)
    assert set(res["clean"]["iou"]) == set(NAMES) and 0 <= res["clean"]["miou"] <= 1
    assert "| **mIoU** |" in S.iou_table(res)


def test_parse_seed_range():
    assert parse_seed_range("1000000..", 50) == (1_000_000, 50)
    assert parse_seed_range("5..15", 50) == (5, 10)
    with pytest.raises(ValueError, match="heldout-seeds"):
        parse_seed_range("x..", 5)


@pytest.mark.embedded
@pytest.mark.skipif(not SHIPPED.is_file(), reason="models/scenes64/segmenter.pth not trained yet")
def test_shipped_segmenter_on_fresh_scenes():
    seg = S.load_segmenter(SHIPPED)
    assert seg.names == list(NAMES) and seg.id.startswith("scenes64-segmenter@")
    assert SHIPPED.stat().st_size < 10e6
    res = S.evaluate_heldout(seg, 1_500_000, 40, 64, augmented=False)
    assert res["clean"]["pixel_accuracy"] > 0.9
