"""ganpaint.project: a tiny generator recovers its own sample; bounded adaptation; blending; determinism."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from conftest import tiny_generator
from PIL import Image

from ganpaint.nn.intervene import UnitEdit
from ganpaint.nn.proggan import serving_copy
from ganpaint.project import Projector, ProjectSettings, image_tensor
from ganpaint.project.images import PictureError, PictureTooLarge, decode_picture
from ganpaint.project.projector import to_uint8

FAST = ProjectSettings(bank=64, z_steps=100, feature_steps=100, adapt_steps=50)


@pytest.fixture(scope="module")
def g():
    torch.set_num_threads(1)
    return serving_copy(tiny_generator())


@pytest.fixture(scope="module")
def sample(g):
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(123))  # not in the bank (bank_seed 0)
    with torch.no_grad():
        return image_tensor(to_uint8(g(z)))  # (1, 3, 32, 32): the generator's own picture, as an upload


@pytest.fixture(scope="module")
def projected(g, sample):
    return Projector(g, "layer4", FAST).project(sample)


def test_own_sample_is_recovered(projected):
    p = projected.psnr
    assert p["adapted"] >= 35, p
    assert p["features"] >= p["bank"] and p["adapted"] >= p["features"] - 0.5, p
    assert set(projected.ms) == {"bank", "z", "features", "adapted"}
    assert projected.project_layer == "layer2" and projected.features.shape == (1, 16, 8, 8)


def test_adaptation_stays_within_its_bound(g, sample):
    tight = ProjectSettings(bank=16, feature_steps=20, adapt_steps=40, adapt_lr=0.05, delta_l2=0.0, max_delta=0.02)
    proj = Projector(g, "layer4", tight).project(sample)
    per_tensor = {k: v for k, v in proj.delta.items() if k != "total"}
    assert per_tensor and max(per_tensor.values()) <= 0.02 + 1e-5, per_tensor
    assert 0 < proj.delta["total"] <= 0.02 + 1e-5
    # the shared generator is untouched: its own tail still renders the original sample
    assert all(not p.requires_grad for p in g.parameters())


def test_blending_leaves_outside_pixels_bit_identical(projected):
    assert np.array_equal(projected.render([]), projected.original)  # no edit: the upload itself
    mask = torch.zeros(32, 32)
    mask[4:12, 4:12] = 1
    edit = UnitEdit("layer4", list(range(8)), 5.0, 1.0, mask)
    out = projected.render([edit])
    edited, unedited = projected.generate([edit]), projected.generate([])
    from ganpaint.project import blend_mask

    m = blend_mask(edited, unedited, projected.settings).numpy()
    assert (m > 0).any() and (m == 0).any()
    outside = m == 0
    assert np.array_equal(out[outside], projected.original[outside])
    assert not np.array_equal(out[~outside], projected.original[~outside])


def test_edits_before_the_projection_layer_are_refused(projected):
    with pytest.raises(ValueError, match="layer1"):
        projected.render([UnitEdit("layer1", [0], 1.0)])


def test_projection_is_deterministic(g, sample, projected):
    again = Projector(g, "layer4", FAST).project(sample)
    assert torch.equal(again.project_features, projected.project_features)
    assert again.psnr == projected.psnr
    assert np.array_equal(to_uint8(again.generate()), to_uint8(projected.generate()))


def test_state_round_trip(g, projected):
    state = projected.state()
    buf = io.BytesIO()
    torch.save(state, buf)
    loaded = Projector(g, "layer4", FAST).load(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    edit = UnitEdit("layer4", [0, 1, 2], 4.0, 1.0, None)
    assert np.array_equal(loaded.render([edit]), projected.render([edit]))


def _png(w: int, h: int, color=(10, 200, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, "PNG")
    return buf.getvalue()


def test_decode_picture_limits_and_crop():
    px = decode_picture(_png(100, 50), 32)
    assert px.shape == (32, 32, 3) and tuple(px[0, 0]) == (10, 200, 30)
    with pytest.raises(PictureTooLarge, match="file: 3000 x 3000"):
        decode_picture(_png(3000, 3000), 32, max_pixels=1_000_000)
    with pytest.raises(PictureError, match="file: not a PNG"):
        decode_picture(b"GIF89a" + b"\0" * 64, 32)
    with pytest.raises(PictureError, match="crop"):
        decode_picture(_png(10, 10), 32, crop=[0.5, 0.5, 0.9, 0.9])
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    with pytest.raises(PictureError, match="not a PNG, JPEG or WebP"):
        decode_picture(gif.getvalue(), 32)


def test_cli_writes_reconstruction_numbers_and_state(tmp_path):
    from ganpaint.cli import main
    from ganpaint.tiny import make_tiny_model

    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    (tmp_path / "pic.png").write_bytes(_png(40, 40, (120, 130, 250)))
    out = tmp_path / "out"
    main(["project", str(tmp_path / "pic.png"), "--model", "tiny", "--models-dir", str(tmp_path / "models"),
          "--out", str(out), "--feature-steps", "10", "--adapt-steps", "10", "--threads", "1"])  # fmt: skip
    numbers = json.loads((out / "numbers.json").read_text())
    assert numbers["model"] == "tiny" and set(numbers["psnr"]) >= {"bank", "features", "adapted"}
    assert Image.open(out / "reconstruction.png").size == (32, 32)
    state = torch.load(out / "state.pt", weights_only=True)
    assert state["paint_layer"] == "layer4" and state["original"].shape == (32, 32, 3)


def test_adapting_only_the_last_blocks_shares_the_rest(g, sample):
    s = ProjectSettings(bank=16, feature_steps=10, adapt_steps=10, adapt_last=2)
    proj = Projector(g, "layer4", s).project(sample)
    own = {n for n, b in proj.tail.named_children() if b is not getattr(g, n)}  # copies; the rest shared
    assert own == {"layer8", "output_32x32"}
    state = proj.state()
    assert {k.split(".")[0] for k in state["tail"]} == own
    again = Projector(g, "layer4", s).load(state)
    assert np.array_equal(to_uint8(again.generate()), to_uint8(proj.generate()))


def test_encoder_trains_resumes_and_starts_the_projection(g, sample, tmp_path):
    from ganpaint.project.encoder import ENCODER_FILE, load_encoder, projector_for, train_encoder

    out, run = tmp_path / ENCODER_FILE, tmp_path / "run.pt"
    first = train_encoder(g, "layer4", out, run, minutes=0.002, batch=4, progress=False)
    again = train_encoder(g, "layer4", out, run, minutes=0.002, batch=4, progress=False)  # resumes
    assert first["steps"] >= 1 and again["steps"] > first["steps"]
    assert first["project_layer"] == "layer2" and load_encoder(out).meta["steps"] == again["steps"]
    projector = projector_for(g, "layer4", tmp_path, FAST)
    assert projector.encoder is not None
    proj = projector.project(sample)
    assert "encoder" in proj.psnr and "bank" not in proj.psnr and proj.psnr["adapted"] > proj.psnr["encoder"]
    assert projector_for(g, "layer6", tmp_path).encoder is None  # trained for another painting layer: the bank
    assert projector_for(g, "layer4", tmp_path / "none").encoder is None


def test_the_projected_picture_keeps_its_own_bytes(g):
    """ProjectedImage.original is the picture given, byte for byte (every value 0..255 survives the round trip)."""
    px = np.arange(32 * 32 * 3, dtype=np.int64).reshape(32, 32, 3) % 256
    px = px.astype(np.uint8)  # (32, 32, 3), every byte value
    proj = Projector(g, "layer4", ProjectSettings(bank=8, feature_steps=2, adapt_steps=2)).project(image_tensor(px))
    assert np.array_equal(proj.original, px)
    assert np.array_equal(proj.render(), px)  # painting nothing shows the picture itself
