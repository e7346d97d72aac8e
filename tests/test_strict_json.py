"""Every JSON the server emits is strict: no NaN or Infinity in any kind of REST answer or websocket message
(strict parsers such as JavaScript's JSON.parse reject them). An all-black picture, whose reconstruction can be
perfect, reports a finite PSNR (``PSNR_MAX``)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from api_helpers import STROKE, tiny_client
from PIL import Image

from ganpaint.project import ProjectSettings
from ganpaint.project.projector import PSNR_MAX, psnr

FAST = ProjectSettings(bank=16, z_steps=10, feature_steps=10, adapt_steps=10)


def strict(text: str | bytes):
    def reject(name: str):
        raise AssertionError(f"not strict JSON: {name} in {text[:200]!r}")

    return json.loads(text, parse_constant=reject)


def black_png(side: int = 48) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((side, side, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_psnr_of_identical_pictures_is_finite():
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    assert psnr(x, x) == PSNR_MAX
    assert psnr(torch.full_like(x, -3.0), torch.full_like(x, -1.0)) == PSNR_MAX  # clamped: identical
    assert 0 < psnr(x + 0.01, x) < PSNR_MAX


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("strict")) as c:
        c.app.state.projections.settings = FAST
        yield c


def test_every_rest_answer_kind_is_strict(client):
    up = client.post("/uploads", content=black_png(), headers={"Content-Type": "image/png"})
    assert up.status_code == 200, up.text
    summary = strict(up.text)
    assert all(0 < v <= PSNR_MAX for v in summary["psnr"].values())
    calls = [
        client.get("/health"),
        client.get("/models"),
        client.get("/models/tiny"),
        client.get("/models/tiny/concepts/tree"),
        client.get(f"/uploads/{summary['upload']}"),
        client.post("/uploads", json={"scene": 3_000_000_001, "wait": False}),
        client.post("/generate", json={"ids": [1, 2]}),
        client.post("/intervene", json={"image": 1, "strokes": [STROKE]}),
        client.post("/intervene", json={"upload": summary["upload"], "strokes": [STROKE]}),
        client.get("/api/all_projects"),
        client.get("/api/layers?project=tiny"),
        client.get("/api/units?project=tiny&layer=layer4"),
        client.get("/api/rankings?project=tiny&layer=layer4"),
        client.get("/api/levels?project=tiny&layer=layer4&quantiles=0.99"),
        client.post("/api/generate", json={"project": "tiny", "ids": [1], "interventions": []}),
        client.get("/models/nope"),  # 404
        client.post("/intervene", json={"image": -1}),  # 422
        client.post("/uploads", content=b"x" * 100, headers={"Content-Type": "image/gif"}),  # 422
    ]
    for r in calls:
        assert r.headers["content-type"].startswith("application/json"), (r.request.url, r.headers)
        strict(r.text)
    assert {r.status_code for r in calls} >= {200, 202, 404, 422}


def test_every_websocket_message_kind_is_strict(client):
    black = client.post("/uploads", content=black_png(), headers={"Content-Type": "image/png"}).json()["upload"]
    slow = client.post("/uploads", json={"scene": 3_000_000_002, "wait": False}).json()["upload"]
    kinds = set()
    with client.websocket_connect("/ws/paint") as ws:
        for message in (
            {"type": "open", "image": 1},
            {"type": "ping"},
            {"type": "render", "seq": "x"},
            {"type": "open", "upload": black},
            {"type": "open", "upload": slow},
        ):
            ws.send_text(json.dumps(message))
            while True:
                msg = strict(ws.receive_text())
                kinds.add(msg["type"])
                if msg["type"] != "progress":
                    break
            if msg["type"] == "ready" and msg.get("upload") == black:
                assert all(0 < v <= PSNR_MAX for v in msg["psnr"].values())
    assert kinds >= {"ready", "pong", "error"}
