"""The refiner (ganpaint.refine): shapes and determinism, REST sizes, the websocket's refined frames (issue 34)."""

import io
import json
import struct
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from api_helpers import STROKE, tiny_client
from PIL import Image
from torch import nn

from ganpaint.refine import Refiner, load_refiner, refine
from ganpaint.refine.pairs import degrade, render_pairs, to_pixels, to_tensor
from ganpaint.refine.train import RefinerRecipe, train_refiner
from ganpaint.tiny import make_tiny_model, tiny_refiner


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("refine")
    make_tiny_model(root / "models", root / "precomputed", refiner=True)
    with tiny_client(root) as c:
        yield c


def png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


def test_refiner_shapes_determinism_and_bicubic_start():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    net = tiny_refiner(seed=3)
    a, b = refine(net, x), refine(net, x)
    assert a.shape == (2, 3, 64, 64) and torch.equal(a, b) and a.abs().max() <= 1
    assert not torch.equal(a, refine(tiny_refiner(seed=4), x))  # the seed matters
    fresh = Refiner(width=8, blocks=2).eval()  # zero last layer: exactly the bicubic enlargement
    bicubic = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
    assert torch.equal(refine(fresh, x), bicubic)


def test_flip_average_is_mirror_symmetric_and_differs_from_one_pass():
    net = tiny_refiner(seed=2)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    one = refine(net, x)
    net.flip_average = True
    both = refine(net, x)
    assert not torch.allclose(both, one)  # the seeded weights are not mirror symmetric
    assert torch.allclose(refine(net, x.flip(-1)), both.flip(-1), atol=1e-6)


def test_refiner_file_round_trip(tmp_path):
    from ganpaint.refine import save_refiner

    net = tiny_refiner(seed=1)
    net.flip_average = True
    loaded = load_refiner(save_refiner(net, tmp_path / "r.pth", seed=1))
    assert loaded.flip_average
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    assert torch.equal(refine(loaded, x), refine(net, x)) and load_refiner(None) is None


def test_pairs_are_the_same_scene_at_two_sizes():
    x, y = render_pairs([100_000, 100_001])
    assert x.shape == (2, 64, 64, 3) and y.shape == (2, 256, 256, 3)
    small = F.avg_pool2d(to_tensor(y), 4)  # the 256 px render shrunk: close to the 64 px render, not equal
    err = (small - to_tensor(x)).abs().mean()
    assert err < 0.1 and not np.array_equal(to_pixels(small), x)
    other = (F.avg_pool2d(to_tensor(y[::-1].copy()), 4) - to_tensor(x)).abs().mean()
    assert other > 2 * err  # the pairs belong together


def test_degrade_blurs_and_is_seeded():
    x = to_tensor(render_pairs([100_002])[0])
    a = degrade(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, degrade(x, torch.Generator().manual_seed(0)))
    tv = lambda t: (t[..., 1:] - t[..., :-1]).abs().mean()  # noqa: E731 - total variation
    assert a.shape == x.shape and not torch.equal(a, x)
    assert tv(degrade(x, torch.Generator().manual_seed(1), blur=1.5, noise=0)) < tv(x)


def test_train_refiner_runs_and_resumes(tmp_path):
    recipe = RefinerRecipe(pairs="render", scenes=2, steps=3, batch=2, crop=8, width=4, blocks=2)
    path = train_refiner(tmp_path / "run", recipe)
    assert load_refiner(path)(torch.zeros(1, 3, 8, 8)).shape == (1, 3, 32, 32)
    more = train_refiner(tmp_path / "run", RefinerRecipe(**{**recipe.__dict__, "steps": 5}), resume=True)
    assert torch.load(more, weights_only=True)["about"]["steps"] == 5
    with pytest.raises(ValueError, match="pairs: 'photos' is not one of"):
        RefinerRecipe(pairs="photos")


# ---------------------------------------------------------------------------------------------------- REST


def test_generate_and_intervene_sizes(client):
    body = {"model": "tiny", "ids": [3], "format": "png"}
    small = client.post("/generate", json=body, headers={"Accept": "image/png"})
    big = client.post("/generate", json={**body, "size": 128}, headers={"Accept": "image/png"})
    assert png_size(small.content) == (32, 32) and png_size(big.content) == (128, 128)
    same = client.post("/generate", json={**body, "size": 32}, headers={"Accept": "image/png"})
    assert same.content == small.content
    again = client.post("/generate", json={**body, "size": 128}, headers={"Accept": "image/png"})
    assert again.content == big.content  # deterministic
    painted = {"model": "tiny", "image": 3, "strokes": [STROKE], "format": "png", "size": 128}
    r = client.post("/intervene", json=painted, headers={"Accept": "image/png"})
    assert r.status_code == 200 and png_size(r.content) == (128, 128) and r.content != big.content


def test_model_lists_its_sizes(client):
    assert client.get("/models/tiny").json()["sizes"] == [32, 128]


@pytest.mark.parametrize("size", [64, 31, 256])
def test_bad_size_names_the_field(client, size):
    r = client.post("/generate", json={"model": "tiny", "ids": [3], "size": size})
    assert r.status_code == 422
    assert r.json()["detail"] == f"size: model 'tiny' renders 32 or 128 px, got {size}"


def test_size_out_of_range_and_model_without_refiner(client, tmp_path):
    r = client.post("/intervene", json={"model": "tiny", "image": 3, "size": 0})
    assert r.status_code == 422 and r.json()["detail"].startswith("size:")
    m = client.app.state.engine.model("tiny")
    saved, m.refiner = m.refiner, None
    try:
        r = client.post("/generate", json={"model": "tiny", "ids": [3], "size": 128})
    finally:
        m.refiner = saved
    assert r.json()["detail"] == "size: model 'tiny' renders 32 px (it ships no refiner), got 128"


# ---------------------------------------------------------------------------------------------------- websocket


def receive(ws) -> tuple[str, object]:
    msg = ws.receive()
    if msg.get("bytes") is not None:
        seq, _ = struct.unpack(">IH", msg["bytes"][:6])
        return "frame", (seq, png_size(msg["bytes"][6:]))
    return "text", json.loads(msg["text"])


def test_ready_says_the_factor_and_a_refined_frame_follows(client):
    with client.websocket_connect("/ws/paint") as ws:
        ws.send_json({"type": "open", "model": "tiny", "image": 3, "format": "png"})
        ready = ws.receive_json()
        assert ready["refine_factor"] == 4 and ready["resolution"] == 32
        ws.send_json({"type": "render", "seq": 1, "strokes": [STROKE]})  # no refine asked: none sent
        ws.send_json({"type": "render", "seq": 2, "strokes": [STROKE], "refine": True})
        got = [receive(ws) for _ in range(4)]
        assert got == [
            ("frame", (1, (32, 32))),
            ("frame", (2, (32, 32))),
            ("text", {"type": "refined", "seq": 2, "size": 128}),
            ("frame", (2, (128, 128))),
        ]


class Held(nn.Module):
    """A refiner that waits for ``release`` before refining (holds the render thread meanwhile)."""

    def __init__(self, inner: nn.Module, release: threading.Event, started: threading.Event):
        super().__init__()
        self.inner, self.release, self.started, self.factor = inner, release, started, inner.factor

    def forward(self, x):
        self.started.set()
        self.release.wait(10)
        return self.inner(x)


def test_refined_frame_of_a_superseded_state_is_dropped(client):
    m = client.app.state.engine.model("tiny")
    release, started = threading.Event(), threading.Event()
    saved, m.refiner = m.refiner, Held(m.refiner, release, started)
    try:
        with client.websocket_connect("/ws/paint") as ws:
            ws.send_json({"type": "open", "model": "tiny", "image": 3, "format": "png"})
            ws.receive_json()
            ws.send_json({"type": "render", "seq": 1, "strokes": [STROKE], "refine": True})
            assert receive(ws) == ("frame", (1, (32, 32)))
            assert started.wait(10)  # seq 1's refined frame is rendering
            ws.send_json({"type": "render", "seq": 2, "strokes": []})  # a newer state arrives meanwhile
            ws.send_json({"type": "ping"})
            got = [receive(ws), receive(ws)]  # seq 2's frame does not wait for seq 1's refined frame
            assert sorted(got, key=str) == sorted([("text", {"type": "pong"}), ("frame", (2, (32, 32)))], key=str)
            release.set()
            ws.send_json({"type": "ping"})
            assert receive(ws) == ("text", {"type": "pong"})  # and no refined frame for seq 1 came
    finally:
        release.set()
        m.refiner = saved


def test_cli_trains_and_ships_a_refiner_the_engine_loads(tmp_path, capsys):
    from ganpaint.cli import main
    from ganpaint.engine import Engine

    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    args = "--scenes 2 --steps 2 --batch 2 --crop 8 --width 4 --blocks 2 --pairs render --threads 1"
    main(["train", "refiner", "--run", str(tmp_path / "run"), *args.split(), "--ship", str(tmp_path / "models/tiny")])
    assert "shipped" in capsys.readouterr().out
    engine = Engine(tmp_path / "models", tmp_path / "precomputed", threads=1)
    try:
        assert engine.model("tiny").refiner.width == 4
    finally:
        engine.close()


def test_refined_upload_keeps_the_uploads_own_pixels_outside_the_edit(client):
    from test_uploads import FAST, pixels_of, png

    from ganpaint.project.images import decode_picture

    client.app.state.projections.settings = FAST
    data = png(200, 160)
    up = client.post("/uploads", content=data, headers={"Content-Type": "image/png"}).json()["upload"]
    body = {"upload": up, "format": "png", "size": 128}
    plain = pixels_of(client.post("/intervene", json=body, headers={"Accept": "image/png"}).content)
    assert np.array_equal(plain, decode_picture(data, 128))  # unpainted: the upload itself at 128 px
    small = {"upload": up, "strokes": [STROKE], "format": "png"}
    painted = pixels_of(client.post("/intervene", json={**small, "size": 128}, headers={"Accept": "image/png"}).content)
    changed = pixels_of(client.post("/intervene", json=small, headers={"Accept": "image/png"}).content)
    assert painted.shape == (128, 128, 3) and not np.array_equal(painted, plain)
    same32 = (changed == decode_picture(data, 32)).all(-1)  # where the 32 px frame kept the upload's bytes
    kept = np.kron(same32, np.ones((4, 4), bool))  # those pixels at 128 px, eroded by the blend's soft edge
    kept &= np.roll(kept, 4, 0) & np.roll(kept, -4, 0) & np.roll(kept, 4, 1) & np.roll(kept, -4, 1)
    assert kept.sum() > 100 and np.array_equal(painted[kept], plain[kept])
