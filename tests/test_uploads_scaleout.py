"""Uploads across server processes: with GANPAINT_UPLOAD_DIR on a shared folder (a volume), a picture uploaded
through one replica paints through another, byte for byte; without it, the other answers 404 naming the id."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from live_server import LiveServer, tiny_dirs


def _post(url: str, body: dict, accept: str = "application/json") -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", "Accept": accept}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_an_upload_paints_through_another_replica_sharing_the_folder(tmp_path):
    dirs = tiny_dirs(tmp_path)
    shared = str(tmp_path / "uploads")
    stroke = {"concept": "tree", "mask": {"points": [[0.3, 0.3]], "radius": 0.15}}
    with (
        LiveServer(tmp_path, dirs=dirs, GANPAINT_UPLOAD_DIR=shared) as a,
        LiveServer(tmp_path, dirs=dirs, GANPAINT_UPLOAD_DIR=shared) as b,
        LiveServer(tmp_path, dirs=dirs) as alone,
    ):
        a.wait_ready(), b.wait_ready(), alone.wait_ready()
        status, body = _post(a.url + "/uploads", {"scene": 3_000_000_321})
        assert status == 200, body
        up = json.loads(body)["upload"]
        paint = {"upload": up, "strokes": [stroke], "format": "png"}
        sa, via_a = _post(a.url + "/intervene", paint, "image/png")
        sb, via_b = _post(b.url + "/intervene", paint, "image/png")
        assert sa == sb == 200 and via_a == via_b
        status, body = _post(alone.url + "/intervene", paint)
        assert status == 404 and up in json.loads(body)["detail"]
