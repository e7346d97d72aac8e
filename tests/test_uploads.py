"""POST /uploads and painting an upload (REST and websocket): limits, errors naming the field, blending, LRU."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

import numpy as np
import pytest
from api_helpers import STROKE, tiny_client
from PIL import Image

from ganpaint.project import ProjectSettings

FAST = ProjectSettings(bank=32, z_steps=20, feature_steps=30, adapt_steps=20)


def png(w: int = 48, h: int = 40, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (90, 150, 230)  # sky
    img[h // 2 :] = (60, 160, 50)  # grass
    img += rng.integers(0, 20, img.shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def pixels_of(data_url_or_bytes) -> np.ndarray:
    data = data_url_or_bytes
    if isinstance(data, str):
        data = base64.b64decode(data.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("up")) as c:
        c.app.state.projections.settings = FAST
        yield c


@pytest.fixture(scope="module")
def uploaded(client):
    r = client.post("/uploads?crop=0,0,0.8,1", content=png(), headers={"Content-Type": "image/png"})
    assert r.status_code == 200, r.text
    return r.json()


def test_upload_answers_id_and_numbers(uploaded):
    assert uploaded["model"] == "tiny" and uploaded["status"] == "ready" and len(uploaded["upload"]) >= 24
    assert set(uploaded["psnr"]) >= {"bank", "features", "adapted"} and set(uploaded["ms"]) >= {"adapted"}


def test_paint_an_upload_outside_stays_identical(client, uploaded):
    plain = client.post("/intervene", json={"upload": uploaded["upload"], "format": "png"})
    assert plain.status_code == 200, plain.text
    original = pixels_of(plain.json()["data"])  # no strokes: the picture itself (the crop at 32 px)
    small = {**STROKE, "mask": {"points": [[0.2, 0.2]], "radius": 0.1}}
    painted = client.post("/intervene", json={"upload": uploaded["upload"], "strokes": [small], "format": "png"})
    assert painted.status_code == 200, painted.text
    out = pixels_of(painted.json()["data"])
    assert out.shape == original.shape == (32, 32, 3)
    changed = np.abs(out.astype(int) - original.astype(int)).max(axis=2) > 0
    assert changed.any()
    assert not changed[20:, 20:].any()  # far from the stroke: the upload's bytes


def test_upload_as_data_url_and_as_scene(client):
    url = "data:image/png;base64," + base64.b64encode(png(seed=1)).decode()
    r = client.post("/uploads", json={"data": url, "model": "tiny"})
    assert r.status_code == 200, r.text
    r = client.post("/uploads", json={"scene": 3_000_000_123})
    assert r.status_code == 200, r.text
    r = client.post("/uploads", json={"scene": 12})
    assert r.status_code == 422 and r.json()["detail"].startswith("scene:")


@pytest.mark.parametrize(
    "body,ctype,status,start",
    [
        (b"GIF89a" + b"\0" * 40, "image/png", 422, "file: not a PNG"),
        (png(), "text/plain", 422, "Content-Type:"),
        (b"", "image/png", 422, "file: empty"),
        (b'{"data": "nope"}', "application/json", 422, "data:"),
        (b'{"data": "x", "scene": 1}', "application/json", 422, "data/scene:"),
        (b'{"scene": 3000000000, "color": 1}', "application/json", 422, "color: unknown field"),
        (b'{"scene": 3000000000, "crop": [2, 0, 1, 1]}', "application/json", 422, "crop:"),
        (b'{"scene": 3000000000, "model": "nope"}', "application/json", 404, "unknown model 'nope'"),
    ],
)
def test_upload_errors_name_the_field(client, body, ctype, status, start):
    r = client.post("/uploads", content=body, headers={"Content-Type": ctype})
    assert r.status_code == status, r.text
    assert start in r.json()["detail"]


def test_bad_crop_of_a_file(client):
    r = client.post("/uploads?crop=0.5,0.5,0.9,0.9", content=png(), headers={"Content-Type": "image/png"})
    assert r.status_code == 422 and r.json()["detail"].startswith("crop:")


def test_size_limits_are_413(tmp_path):
    with tiny_client(tmp_path, max_upload_bytes=4096, max_upload_pixels=10_000) as c:
        big = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 60, 3), dtype=np.uint8)).save(big, "PNG")
        r = c.post("/uploads", content=big.getvalue(), headers={"Content-Type": "image/png"})
        assert r.status_code == 413 and "4096" in r.json()["detail"]
        bomb = io.BytesIO()
        Image.new("1", (2000, 2000)).save(bomb, "PNG")  # 4 million 1-bit zeros compress to under a kB
        assert len(bomb.getvalue()) < 4096
        r = c.post("/uploads", content=bomb.getvalue(), headers={"Content-Type": "image/png"})
        assert r.status_code == 413 and r.json()["detail"].startswith("file: 2000 x 2000")


def test_unknown_and_evicted_ids_are_404_naming_the_id(tmp_path):
    with tiny_client(tmp_path, max_uploads=1) as c:
        c.app.state.projections.settings = FAST
        first = c.post("/uploads", json={"scene": 3_000_000_001}).json()["upload"]
        second = c.post("/uploads", json={"scene": 3_000_000_002}).json()["upload"]
        r = c.post("/intervene", json={"upload": first})
        assert r.status_code == 404 and first in r.json()["detail"]
        assert c.get(f"/uploads/{second}").json()["status"] == "ready"
        r = c.get("/uploads/not-an-id")
        assert r.status_code == 404 and "not-an-id" in r.json()["detail"]
        r = c.post("/intervene", json={"upload": second, "image": 3})
        assert r.status_code == 422 and r.json()["detail"].startswith("image/z/upload")


def hold_projections(client):
    """Make the server's projections (FAST settings) wait until the returned event is set (at most 10 s);
    returns (the event, the projection pool, its own projector factory to put back)."""
    gate = threading.Event()
    pool = client.app.state.projections
    real = pool.projector

    class Slow:
        def __init__(self, p):
            self.p = p

        def project(self, x, progress=None):
            gate.wait(10)
            return self.p.project(x, progress)

    pool.settings = FAST
    pool.projector = lambda m, layer: Slow(real(m, layer))
    return gate, pool, real


def test_projections_past_the_limit_get_503(tmp_path):
    with tiny_client(tmp_path, max_projections=1) as c:
        gate, pool, real = hold_projections(c)
        first = c.post("/uploads", json={"scene": 3_000_000_005, "wait": False})
        assert first.status_code == 202 and first.json()["status"] == "projecting"
        second = c.post("/uploads", json={"scene": 3_000_000_006, "wait": False})
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        assert "max_projections" in second.json()["detail"]
        gate.set()
        pool.projector = real
        up = first.json()["upload"]
        pool.executor.submit(lambda: None).result(10)  # the first has finished
        assert c.get(f"/uploads/{up}").json()["status"] == "ready"


def test_websocket_open_with_upload_sends_progress_then_ready_then_frames(client):
    up = client.post("/uploads", json={"scene": 3_000_000_007, "wait": False}).json()["upload"]
    with client.websocket_connect("/ws/paint") as ws:
        ws.send_text(json.dumps({"type": "open", "upload": up, "format": "png"}))
        kinds = []
        while True:
            msg = json.loads(ws.receive_text())
            kinds.append(msg["type"])
            if msg["type"] != "progress":
                break
        assert msg["type"] == "ready", msg
        assert msg["upload"] == up and msg["image"] is None and "adapted" in msg["psnr"]
        ws.send_text(json.dumps({"type": "render", "seq": 1, "strokes": [STROKE]}))
        frame = ws.receive_bytes()
        assert int.from_bytes(frame[:4], "big") == 1
        assert pixels_of(frame[6:]).shape == (32, 32, 3)
        ws.send_text(json.dumps({"type": "open", "upload": "x" * 30}))
        err = json.loads(ws.receive_text())
        assert err["type"] == "error" and "x" * 30 in err["detail"]
        ws.send_text(json.dumps({"type": "open"}))
        err = json.loads(ws.receive_text())
        assert err["type"] == "error" and err["detail"].startswith("image/upload")


def test_upload_folder_is_shared_by_replicas(tmp_path):
    folder = tmp_path / "uploads"
    with tiny_client(tmp_path, upload_dir=folder) as a:
        a.app.state.projections.settings = FAST
        up = a.post("/uploads", json={"scene": 3_000_000_009}).json()["upload"]
        want = a.post("/intervene", json={"upload": up, "strokes": [STROKE], "format": "png"}).json()["data"]
    assert [p.name for p in folder.iterdir()] == [f"{up}.pt"]
    with tiny_client(tmp_path, upload_dir=folder) as b:  # another process's store: finds it in the folder
        b.app.state.projections.settings = FAST
        got = b.post("/intervene", json={"upload": up, "strokes": [STROKE], "format": "png"})
        assert got.status_code == 200, got.text
        assert np.array_equal(pixels_of(got.json()["data"]), pixels_of(want))


def test_a_stamp_paints_an_upload(client, uploaded):
    stamp = {"concept": "sky", "mode": "stamp", "mask": {"points": [[0.3, 0.3]], "radius": 0.1}}
    plain = pixels_of(client.post("/intervene", json={"upload": uploaded["upload"], "format": "png"}).json()["data"])
    r = client.post("/intervene", json={"upload": uploaded["upload"], "strokes": [stamp], "format": "png"})
    assert r.status_code == 200, r.text
    assert not np.array_equal(pixels_of(r.json()["data"]), plain)


def test_another_open_while_projecting_supersedes_the_upload(tmp_path):
    with tiny_client(tmp_path) as c:
        gate, pool, real = hold_projections(c)
        up = c.post("/uploads", json={"scene": 3_000_000_011, "wait": False}).json()["upload"]
        with c.websocket_connect("/ws/paint") as ws:
            ws.send_text(json.dumps({"type": "open", "upload": up}))
            assert json.loads(ws.receive_text())["type"] == "progress"
            ws.send_text(json.dumps({"type": "open", "image": 3}))  # answered while the upload still projects
            msg = json.loads(ws.receive_text())
            while msg["type"] == "progress":
                msg = json.loads(ws.receive_text())
            assert msg["type"] == "ready" and msg["image"] == 3
            gate.set()
            for _ in range(200):
                if c.get(f"/uploads/{up}").json()["status"] == "ready":
                    break
                time.sleep(0.05)
            time.sleep(0.5)  # the superseded task's last poll
            ws.send_text(json.dumps({"type": "ping"}))
            assert json.loads(ws.receive_text())["type"] == "pong"  # no late 'ready' for the superseded upload
        pool.projector = real


@pytest.mark.embedded
def test_embedded_model_projects_a_fresh_scene_from_its_encoder_and_paints_it():
    from fastapi.testclient import TestClient

    from ganpaint import REPO_ROOT
    from ganpaint.api.app import create_app
    from ganpaint.api.settings import Settings

    settings = Settings(models_dir=REPO_ROOT / "models", precomputed_dir=REPO_ROOT / "precomputed", model="scenes64",
                        threads=1)  # fmt: skip
    with TestClient(create_app(settings)) as c:
        r = c.post("/uploads", json={"scene": 3_000_000_005})
        assert r.status_code == 200, r.text
        psnr = r.json()["psnr"]
        assert "encoder" in psnr and psnr["adapted"] >= 28, psnr  # the shipped encoder.pth is the start
        up = r.json()["upload"]
        tree = {"concept": "tree", "mask": {"points": [[0.5, 0.8]], "radius": 0.08}}
        plain = pixels_of(c.post("/intervene", json={"upload": up, "format": "png"}).json()["data"])
        out = pixels_of(c.post("/intervene", json={"upload": up, "strokes": [tree], "format": "png"}).json()["data"])
        changed = np.abs(out.astype(int) - plain.astype(int)).max(axis=2) > 0
        assert changed[44:60, 24:40].any() and not changed[:20].any()  # near the stroke only


def test_reconstruction_route_and_fit_warning(client, uploaded):
    r = client.get(f"/uploads/{uploaded['upload']}/reconstruction.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    recon = pixels_of(r.content)
    assert recon.shape == (32, 32, 3)
    plain = pixels_of(client.post("/intervene", json={"upload": uploaded["upload"], "format": "png"}).json()["data"])
    assert (recon != plain).any()  # the generator's own version, not the picture's bytes
    assert client.get("/uploads/" + "x" * 24 + "/reconstruction.png").status_code == 404
    from ganpaint.uploads import FIT_FLOORS, fit_warning

    assert fit_warning({"features": FIT_FLOORS["features"] + 1, "adapted": 30.0}) is None
    warning = fit_warning({"features": 21.3, "adapted": 30.0})
    assert "21.3 dB" in warning and "far from the scenes this model knows" in warning
    assert "warning" in uploaded  # None or the text: always there for the page


def test_upload_folder_is_bounded_and_expires(tmp_path):
    import os

    from ganpaint.uploads import UploadStore

    folder = tmp_path / "saved"
    folder.mkdir()
    store = UploadStore(4, folder, max_saved=3, ttl=3600)
    ids = [f"{'a' * 20}{i:04d}" for i in range(5)]
    for i, upload_id in enumerate(ids):
        path = folder / f"{upload_id}.pt"
        path.write_bytes(b"x")
        os.utime(path, (1e9 + i, time.time() - 10 * (5 - i)))  # the later, the more recently used
    os.utime(folder / f"{ids[4]}.pt", (1e9, time.time() - 7200))  # unused for two hours: past the ttl
    assert store.prune() == 2  # the oldest of five (over max_saved 3 with the expired one) and the expired one
    assert sorted(p.stem for p in folder.glob("*.pt")) == ids[1:4]


def test_projections_queue_with_their_place(tmp_path):
    """Three "Fresh scene"s at once: one projects, two wait with their place (was: the third refused)."""
    with tiny_client(tmp_path, max_projections=3) as c:
        gate, pool, real = hold_projections(c)
        ups = [c.post("/uploads", json={"scene": 3_000_000_010 + i, "wait": False}) for i in range(3)]
        assert [r.status_code for r in ups] == [202, 202, 202]
        deadline = time.monotonic() + 10
        while len(pool.waiting) > 2 and time.monotonic() < deadline:  # until the first has started
            time.sleep(0.02)
        assert [c.get(f"/uploads/{r.json()['upload']}").json()["ahead"] for r in ups] == [0, 1, 2]
        fourth = c.post("/uploads", json={"scene": 3_000_000_020, "wait": False})
        assert fourth.status_code == 503 and "max_projections 3" in fourth.json()["detail"]
        with c.websocket_connect("/ws/paint") as ws:
            ws.send_text(json.dumps({"type": "open", "upload": ups[2].json()["upload"]}))
            msg = json.loads(ws.receive_text())
            assert msg["type"] == "progress" and msg["stage"] == "queued" and msg["ahead"] == 2
            gate.set()
            pool.projector = real
            while msg["type"] == "progress":
                msg = json.loads(ws.receive_text())
            assert msg["type"] == "ready"
