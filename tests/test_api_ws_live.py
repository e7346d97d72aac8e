"""api/ws.py and the drain (api/guards/drain.py) on a real server under faults: SIGTERM drains, connection limit,
Origin allow-list, idle timeout (issue 9)."""

import json
import struct
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
from live_server import LiveServer
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

STROKE = {"concept": "tree", "mask": {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15}}
SLOW_RENDER = """
import time
from ganpaint import renderer as _r
_forward = _r.Renderer._forward
def _slow(self, jobs):
    time.sleep(1.0)
    return _forward(self, jobs)
_r.Renderer._forward = _slow
"""


def post(url: str, body: dict, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def open_image(ws, image: int = 3) -> dict:
    ws.send(json.dumps({"type": "open", "image": image}))
    return json.loads(ws.recv(timeout=30))


def test_sigterm_finishes_frames_in_flight_and_refuses_new_ones(tmp_path):
    with LiveServer(tmp_path, prelude=SLOW_RENDER) as server, connect(server.ws_url) as ws:
        assert open_image(ws)["type"] == "ready"
        ws.send(json.dumps({"type": "render", "seq": 1, "strokes": [STROKE]}))  # renders for about 1 s
        rest = {}
        t = threading.Thread(target=lambda: rest.update(r=post(server.url + "/intervene", {"image": 2})))
        t.start()
        time.sleep(0.4)
        server.terminate()
        time.sleep(0.2)
        ws.send(json.dumps({"type": "render", "seq": 2, "strokes": []}))
        got = []
        try:
            while True:
                msg = ws.recv(timeout=20)
                got.append(struct.unpack(">I", msg[:4])[0] if isinstance(msg, bytes) else json.loads(msg))
        except ConnectionClosed as exc:
            close_code = exc.rcvd.code if exc.rcvd else None
        assert 1 in got  # the frame in flight arrived
        assert {"type": "error", "seq": 2, "detail": "server: shutting down; no new frames (reconnect to another "
                "server)"} in got  # fmt: skip
        assert 2 not in got
        assert close_code == 1012  # service restart
        t.join(20)
        assert rest["r"][0] == 200  # the REST request in flight finished too
        code = server.p.wait(20)
        assert code in (0, -15), server.output()
        assert "Traceback" not in server.output()
        with pytest.raises(OSError):
            urllib.request.urlopen(server.url + "/health", timeout=2)


def test_connection_limit_origin_and_idle_timeout(tmp_path):
    env = {"GANPAINT_MAX_CONNECTIONS": "2", "GANPAINT_WS_IDLE_TIMEOUT": "1.5", "GANPAINT_WS_ORIGINS": "https://ok.org"}
    with LiveServer(tmp_path, **env) as server, ExitStack() as stack:
        a, b = stack.enter_context(connect(server.ws_url)), stack.enter_context(connect(server.ws_url))
        c = stack.enter_context(connect(server.ws_url))  # the third: told why, then closed with 1013 (try later)
        assert json.loads(c.recv(timeout=10)) == {
            "type": "error",
            "seq": None,
            "detail": "server: 2 connections open (the limit); try later",
        }
        with pytest.raises(ConnectionClosed) as closed:
            c.recv(timeout=10)
        assert closed.value.rcvd.code == 1013
        a.send(json.dumps({"type": "ping"}))
        assert json.loads(a.recv(timeout=10)) == {"type": "pong"}
        a.close()
        b.close()
        time.sleep(0.3)

        for origin in ("http://localhost:3000", f"http://127.0.0.1:{server.port}", "https://ok.org"):
            with connect(server.ws_url, origin=origin) as ws:
                ws.send(json.dumps({"type": "ping"}))
                assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
        with pytest.raises(InvalidStatus) as refused:
            connect(server.ws_url, origin="https://evil.example")
        assert refused.value.response.status_code == 403
        assert json.loads(refused.value.response.body) == {
            "detail": "origin: 'https://evil.example' is not allowed (set GANPAINT_WS_ORIGINS)"
        }

        with connect(server.ws_url) as ws:  # idle: closed with 1001 after GANPAINT_WS_IDLE_TIMEOUT seconds
            with pytest.raises(ConnectionClosed) as idle:
                ws.recv(timeout=20)
            assert idle.value.rcvd.code == 1001 and idle.value.rcvd.reason == "idle: no message for 1.5 s"
