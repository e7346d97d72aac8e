"""Artifact units: the finder ranks a planted artifact unit first and caches its passes; the "artifacts" option of
/generate, /intervene and the websocket applies the ablation, and bad values get errors naming the field."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from api_helpers import tiny_client
from conftest import tiny_generator
from PIL import Image

from ganpaint import REPO_ROOT
from ganpaint.dissect import artifacts as art
from ganpaint.dissect.fake import random_unet
from ganpaint.dissect.report import _artifact_section
from ganpaint.dissect.run import Context, DissectSettings
from ganpaint.train.segmenter import load_segmenter, render_scenes

LAYER, PLANTED = "layer4", 5


BANK = 64  # scene renders the planted generator returns


class _PlantedRest(torch.nn.Module):
    """A perfect generator's rest: returns one of BANK scene renders (picked by the feature map), plus a
    high-contrast 1-px checkerboard over the whole image, as strong as unit PLANTED's peak is above ``lo`` (full
    at ``hi``; the peak exceeds ``lo`` in ~15% of the samples): a pattern no render has."""

    def __init__(self, lo: float, hi: float):
        super().__init__()
        self.lo, self.hi = lo, hi
        imgs, _ = render_scenes(9_000_000, BANK, 32)
        self.bank = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1  # (BANK, 3, 32, 32)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        pick = (r[:, 0].sum((1, 2)) * 1000).long() % BANK  # (N,)
        x = self.bank[pick]  # (N, 3, H, W)
        side = x.shape[-1]
        yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
        checker = ((yy + xx) % 2 * 2 - 1).float()  # (H, W) in {-1, 1}
        strength = ((r[:, PLANTED].amax((1, 2)) - self.lo) / (self.hi - self.lo)).clamp(0, 1)  # (N,)
        return x + 0.8 * checker * strength[:, None, None, None]  # (N, 3, H, W)


class PlantedGenerator(torch.nn.Module):
    """The tiny seeded generator's layers up to LAYER, then _PlantedRest (only ``split(LAYER)`` exists)."""

    def __init__(self):
        super().__init__()
        self.g = tiny_generator()
        self.z_dim, self.resolution = self.g.z_dim, self.g.resolution
        with torch.no_grad():  # the unit's peak over 512 seeded samples: strong in the top 15 %, full in the top 5 %
            z = torch.randn(512, self.z_dim, generator=torch.Generator().manual_seed(1))
            peaks = self.g.split(LAYER)[0](z)[:, PLANTED].amax((1, 2))  # (512,)
        self.rest = _PlantedRest(float(peaks.quantile(0.85)), float(peaks.quantile(0.95)))

    def split(self, layer: str):
        assert layer == LAYER
        return self.g.split(layer)[0], self.rest

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, f = self.split(LAYER)
        return f(h(z))


SETTINGS = art.ArtifactSettings(samples=192, top=16, real=48, batch=64)


def _context(tmp_path) -> Context:
    seg = load_segmenter(REPO_ROOT / "models" / "scenes64" / "segmenter.pth")  # a random U-Net's features are flat
    settings = DissectSettings(batch=64)
    return Context(PlantedGenerator(), seg, "planted", "0" * 64, settings, tmp_path, tmp_path, progress=False)


def test_choose_k_scales_the_papers_20_of_512():
    assert [art.choose_k(c) for c in (512, 128, 64, 32, 16)] == [20, 5, 3, 1, 1]


@pytest.mark.embedded
def test_planted_artifact_unit_ranks_first_and_second_run_is_cached(tmp_path, monkeypatch):
    torch.manual_seed(0)
    ctx = _context(tmp_path)
    doc = art.rank_layer(ctx, LAYER, SETTINGS)
    assert doc["ranking"][0] == PLANTED
    fds = sorted((u["fd"] for u in doc["units"]), reverse=True)
    assert doc["units"][PLANTED]["fd"] > 1.1 * fds[1]  # first by a margin
    assert doc["units"][PLANTED]["z"] > 5  # an outlier among the layer's units
    assert doc["k"] == 1 and doc["units_in_layer"] == 16
    saved = json.loads((tmp_path / "planted" / "artifacts.json").read_text())
    assert saved["ranking"] == doc["ranking"] and saved["default"] == "kept"
    # the report shows the ranked units, worst first, each with its top samples
    section = _artifact_section(ctx, tmp_path / "planted", tmp_path / "report")
    assert section.index(f"artifact-unit{PLANTED}.png") < section.index(f"artifact-unit{doc['ranking'][1]}.png")
    strip = Image.open(tmp_path / "report" / LAYER / f"artifact-unit{PLANTED}.png")
    assert strip.size == (2 * (8 * 33 - 1), 2 * 32)  # 8 samples of 32 px, 1 px apart, zoomed 2x

    def recompute(*_a, **_k):
        raise AssertionError("recomputed a cached pass")

    monkeypatch.setattr(art, "sample_pass", recompute)
    monkeypatch.setattr(art, "real_features", recompute)
    saved.update(measured={"summary": "held out"}, default="removed")  # as bench/artifacts.py --record writes
    (tmp_path / "planted" / "artifacts.json").write_text(json.dumps(saved))
    again = art.rank_layer(_context(tmp_path), LAYER, SETTINGS)
    assert again["ranking"] == doc["ranking"]
    assert [u["fd"] for u in again["units"]] == [u["fd"] for u in doc["units"]]
    assert again["measured"] == {"summary": "held out"} and again["default"] == "removed"  # same ranking: kept


def test_segment_and_features_matches_the_segmenter_labels():
    seg = random_unet()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    labels, feats = art.segment_and_features(seg, x)
    assert feats.shape == (3, sum(seg.net.widths))
    assert np.array_equal(labels, seg.segment(x).numpy())


# ----------------------------------------------------------------------------------------------------- the API
UNITS = [2, 7]


def _write_ranking(root, layer: str = "layer4", units_in_layer: int = 16) -> None:
    """A hand-made artifacts.json for the tiny model (units 2 and 7 of layer4), default "kept"."""
    sha = hashlib.sha256((root / "models" / "tiny" / "generator.pth").read_bytes()).hexdigest()
    doc = {
        "schema_version": 1,
        "model_id": "tiny",
        "model_sha256": sha,
        "layer": layer,
        "units_in_layer": units_in_layer,
        "ranking": [*UNITS, 0, 1],
        "k": 2,
        "units": [],
        "default": "kept",
    }
    (root / "precomputed" / "tiny" / "artifacts.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from api_helpers import tiny_settings

    root = tmp_path_factory.mktemp("artifacts")
    tiny_settings(root)  # writes the tiny model
    _write_ranking(root)
    with tiny_client(root) as c:
        yield c


def _png(client, path: str, body: dict) -> bytes:
    res = client.post(path, json=body, headers={"Accept": "image/png"})
    assert res.status_code == 200, res.text
    return res.content


def test_removed_is_the_ablation_of_the_ranked_units(client):
    kept = _png(client, "/generate", {"ids": [3], "artifacts": "kept"})
    removed = _png(client, "/generate", {"ids": [3], "artifacts": "removed"})
    default = _png(client, "/generate", {"ids": [3]})
    assert kept != removed and default == kept  # the file's default is "kept"
    ablated = _png(client, "/intervene", {"image": 3, "edits": [{"layer": "layer4", "units": UNITS, "value": 0}]})
    assert removed == ablated
    assert _png(client, "/intervene", {"image": 3, "artifacts": "removed"}) == ablated
    info = client.get("/models/tiny").json()["artifacts"]
    assert info == {"available": True, "default": "kept", "layer": "layer4", "units": UNITS}


def test_bad_value_names_the_field(client):
    for path, body in (("/generate", {"ids": [3]}), ("/intervene", {"image": 3})):
        res = client.post(path, json={**body, "artifacts": "gone"})
        assert res.status_code == 422
        assert res.json()["detail"] == "artifacts: Input should be 'removed' or 'kept', got 'gone'"


def test_removed_without_a_ranking_names_the_field(tmp_path):
    with tiny_client(tmp_path) as c:
        res = c.post("/generate", json={"ids": [3], "artifacts": "removed"})
        assert res.status_code == 422
        assert res.json()["detail"] == (
            "artifacts: model 'tiny' has no artifact ranking (ganpaint dissect --artifacts), "
            "so 'removed' is not available; use 'kept'"
        )
        assert c.post("/generate", json={"ids": [3], "artifacts": "kept"}).status_code == 200
        assert c.get("/models/tiny").json()["artifacts"]["available"] is False
        with c.websocket_connect("/ws/paint") as ws:
            ws.send_json({"type": "open", "model": "tiny", "image": 3, "artifacts": "removed"})
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["detail"].startswith("artifacts: model 'tiny' has no artifact")


def test_websocket_open_applies_the_option(client):
    ablated = _png(client, "/intervene", {"image": 3, "edits": [{"layer": "layer4", "units": UNITS, "value": 0}]})
    with client.websocket_connect("/ws/paint") as ws:
        ws.send_json({"type": "open", "model": "tiny", "image": 3, "format": "png", "artifacts": "removed"})
        ready = ws.receive_json()
        assert ready["artifacts"] == "removed"
        ws.send_json({"type": "render", "seq": 1, "strokes": []})
        frame = ws.receive()["bytes"][6:]
        assert frame == ablated
        ws.send_json({"type": "open", "model": "tiny", "image": 3, "format": "png", "artifacts": "bad"})
        assert ws.receive_json()["detail"] == "artifacts: Input should be 'removed' or 'kept', got 'bad'"


def test_removed_at_another_layer_than_the_strokes(tmp_path):
    """A ranking at layer6 with strokes at layer4: two edit layers in one render (the hook path)."""
    from api_helpers import STROKE, tiny_settings

    tiny_settings(tmp_path)
    _write_ranking(tmp_path, layer="layer6", units_in_layer=8)
    with tiny_client(tmp_path) as c:
        body = {"image": 3, "layer": "layer4", "strokes": [STROKE]}
        removed = _png(c, "/intervene", {**body, "artifacts": "removed"})
        explicit = _png(c, "/intervene", {**body, "edits": [{"layer": "layer6", "units": UNITS, "value": 0}]})
        assert removed == explicit != _png(c, "/intervene", body)
