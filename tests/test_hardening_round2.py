"""Hardening, round two (issue 23): mask work admitted before it is done, numbers checked before any math,
uvicorn set up for direct exposure, refusals logged once, error shapes. The soak is bench/attack_soak.py."""

import asyncio
import base64
import contextlib
import io
import json
import signal
import socket
import struct
import threading
import time
import tracemalloc
import urllib.request
import zlib

import numpy as np
import pytest
import torch
from api_helpers import STROKE, tiny_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import LiveServer
from PIL import Image

from ganpaint import masks
from ganpaint.api.edits import INLINE_POINTS
from ganpaint.api.errors import nesting_depth
from ganpaint.api.guards.lanes import SMALL_COST
from ganpaint.api.guards.limits import BodyTimeout
from ganpaint.api.guards.protocol import uvicorn_options
from ganpaint.api.guards.refusals import RecentAddresses, RefusalLog
from ganpaint.api.settings import Settings
from ganpaint.edit_plan import EditPlan
from ganpaint.masks import decode_mask, encode_runs, mask_cost, pool_spec
from ganpaint.nn.intervene import pool_mask

FAST = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, max_examples=150)


def png_url(arr: np.ndarray, mode: str) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def big_png(side: int = 1100) -> str:
    """A side x side RGBA PNG (a few KB) whose cost is over the small lane's."""
    arr = np.zeros((side, side, 4), np.uint8)
    arr[: side // 2, :, 3] = 255
    return png_url(arr, "RGBA")


# --- pooling straight to the feature map equals rasterise-then-pool -----------------------------------------


@st.composite
def mask_and_size(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dense = rng.random((h, w)) < draw(st.floats(0, 1))
    y0, x0 = draw(st.integers(0, h)), draw(st.integers(0, w))
    y1, x1 = draw(st.integers(y0, h)), draw(st.integers(x0, w))
    box = dense[y0:y1, x0:x1]
    inner = np.zeros((draw(st.integers(1, 9)), draw(st.integers(1, 9)), 4), np.uint8)
    inner[..., 3] = (rng.random(inner.shape[:2]) < 0.5) * 255
    runs = {**encode_runs(box.astype(np.float32)), "shape": [h, w], "bounds": [y0, x0, y1, x1]}
    form = draw(st.sampled_from(["runs", "runs-bounds", "bits", "png", "bits-png", "polyline"]))
    spec = {
        "runs": encode_runs(dense.astype(np.float32)),
        "runs-bounds": runs if box.size else encode_runs(dense.astype(np.float32)),
        "bits": {"shape": [h, w], "bitbounds": [y0, x0, y1, x1], "bitstring": "".join("01"[int(b)] for b in box.flat)},
        "png": png_url(np.dstack([np.zeros((h, w, 3), np.uint8), dense.astype(np.uint8) * 9]), "RGBA"),
        "bits-png": {"shape": [h, w], "bitbounds": [y0, x0, y1, x1], "bitstring": png_url(inner, "RGBA")},
        "polyline": {"points": [[0.1, 0.2], [0.8, 0.6]], "radius": 0.07},
    }[form]
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    return spec, size, draw(st.sampled_from(["area", "max"]))


@FAST
@given(mask_and_size())
def test_pool_spec_equals_rasterise_then_pool(case):
    spec, size, pooling = case
    want = pool_mask(decode_mask(spec, 64), size, pooling)[0]  # (h, w)
    got = pool_spec(spec, 64, size, pooling)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-6)


def test_a_2048_run_length_mask_is_never_rasterised():
    """Area-pooled from its runs: well under the 16 MB float32 raster (and the 4 MB a byte mask would take)."""
    spec = {"shape": [2048, 2048], "runs": [1234567, 4194304 - 1234567]}
    tracemalloc.start()
    try:
        pooled = pool_spec(spec, 256, (16, 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, peak  # under a 1-byte raster, a quarter of the float32 one
    assert torch.allclose(pooled, pool_mask(decode_mask(spec, 256), (16, 16))[0], atol=1e-6)


def test_mask_cost_reads_sizes_without_decoding():
    assert mask_cost({"points": [[0, 0]] * 3, "radius": 0.1}, 256) == 256 * 256 + 3
    assert mask_cost(big_png(1100), 256) == 1100 * 1100
    assert mask_cost({"shape": [2048, 2048], "runs": [1, 4194303] * 40000}, 256) == 80000 + 2048
    assert mask_cost({"shape": [10, 10], "bitstring": "1" * 100}, 256) == masks.MIN_COST  # the floor
    assert mask_cost({"bitstring": big_png(1100), "shape": [2048, 2048]}, 256) == 1100 * 1100 + 2048 * 2048
    assert mask_cost({"bitstring": big_png(1100), "shape": [], "bitbounds": []}, 256) == 1100 * 1100
    for junk in (None, 5, "x", {"runs": 10**400}, {"points": "x"}, {"bitstring": [1]}, "data:image/png;base64,@@"):
        assert mask_cost(junk, 256) >= 0


# --- numbers checked before any math -------------------------------------------------------------------------

HUGE = [
    ({"points": [[0.5, 0.5]], "radius": 10**400}, "mask.radius: expected a number in 0..1, got an integer of 1329"),
    ({"points": [[0.5, 2**1024]], "radius": 0.1}, "mask.points[0][1]: expected a number in 0..1, got an integer of"),
    ({"shape": [2, 2], "runs": [10**400, 4]}, "mask.runs[0]: expected an integer in 0..4, got an integer of"),
    ({"shape": [10**400, 2], "runs": [4]}, "mask.shape[0]: expected an integer in 1..2048, got an integer of"),
    ({"shape": [2, 2], "bitbounds": [0, 0, 2**1024, 1], "bitstring": "1"}, "mask.bitbounds[2]: expected an integer"),
]


@pytest.mark.parametrize("spec, message", HUGE)
def test_huge_numbers_in_masks_are_named_errors(spec, message):
    for fn in (lambda: decode_mask(spec, 64), lambda: pool_spec(spec, 64, (4, 4))):
        with pytest.raises(ValueError) as info:
            fn()
        assert str(info.value).startswith(message)


def test_huge_numbers_are_422_on_rest_and_an_error_message_on_the_websocket(tmp_path):
    with tiny_client(tmp_path) as c:
        for spec, message in HUGE:
            r = c.post("/intervene", json={"image": 1, "strokes": [{**STROKE, "mask": spec}]})
            assert r.status_code == 422 and r.json()["detail"].startswith(f"strokes[0].{message}"), r.text
            body = {"project": "tiny", "ids": [1], "interventions": [{"ablations": [{"layer": "layer4", "unit": 1}]}]}
            body["interventions"][0]["mask"] = spec
            r = c.post("/api/generate", json=body)
            assert r.status_code == 422 and r.json()["detail"].startswith(f"interventions[0].{message}"), r.text
        with c.websocket_connect("/ws/paint") as ws:
            ws.send_json({"type": "open", "image": 1})
            assert ws.receive_json()["type"] == "ready"
            for i, (spec, message) in enumerate(HUGE):
                ws.send_json({"type": "render", "seq": i, "strokes": [{**STROKE, "mask": spec}]})
                got = ws.receive_json()
                assert got["type"] == "error" and got["seq"] == i and got["detail"].startswith(f"strokes[0].{message}")
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}  # still open


# --- mask work admitted before it is done --------------------------------------------------------------------


def test_a_request_over_the_mask_budget_is_422_naming_the_mask(tmp_path):
    with tiny_client(tmp_path, max_mask_pixels=100_000) as c:  # one polyline costs 256**2 + points
        second = {**STROKE, "mask": {"points": [[0.1, 0.1]], "radius": 0.2}}
        r = c.post("/intervene", json={"image": 1, "strokes": [STROKE, second]})
        assert r.status_code == 422
        assert r.json()["detail"].startswith("strokes[1].mask: the request's masks decode to 131,075 pixels"), r.text
        assert "max_mask_pixels" in r.json()["detail"]
        assert c.post("/intervene", json={"image": 1, "strokes": [STROKE]}).status_code == 200


@contextlib.contextmanager
def busy_large_lane(lanes):
    """``lanes``' large lane decoding someone else's big mask until the block ends."""
    release = threading.Event()
    future = lanes.submit(lambda: release.wait(60), SMALL_COST + 1)
    try:
        yield
    finally:
        release.set()
        future.result(60)


def test_a_full_mask_backlog_answers_503_at_once_and_small_requests_still_pass(tmp_path):
    with tiny_client(tmp_path, max_mask_backlog=2 * SMALL_COST) as c, busy_large_lane(c.app.state.guards.lanes):
        big = {**STROKE, "mask": big_png(1100)}  # 1.21 M pixels: the large lane, over the backlog left
        r = c.post("/intervene", json={"image": 1, "strokes": [big]})
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert r.json()["detail"].startswith("server: busy, masks of cost"), r.text
        body = {"project": "tiny", "ids": [1], "interventions": [{"ablations": [{"layer": "layer4", "unit": 1}]}]}
        body["interventions"][0]["mask"] = {"shape": [], "bitbounds": [], "bitstring": big_png(1100)}
        assert c.post("/api/generate", json=body).status_code == 503
        with c.websocket_connect("/ws/paint") as ws:
            ws.send_json({"type": "open", "image": 1})
            assert ws.receive_json()["type"] == "ready"
            ws.send_json({"type": "render", "seq": 7, "strokes": [big]})
            got = ws.receive_json()
            assert got["type"] == "error" and got["seq"] == 7 and got["detail"].startswith("server: busy"), got
            ws.send_json({"type": "render", "seq": 8, "strokes": [STROKE]})  # a page stroke: the small lane
            assert ws.receive_bytes()[:4] == struct.pack(">I", 8)
        assert c.post("/intervene", json={"image": 2, "strokes": [STROKE]}).status_code == 200


def test_masks_decode_on_the_mask_threads_or_inline_when_short(tmp_path, monkeypatch):
    """Never on AnyIO's thread pool (which serves /health). Short polylines decode where the edits are built
    (the event loop: a hop to a decoder thread costs a painter two turns of the loop); every other form, and
    polylines of more than INLINE_POINTS points, on the mask threads."""
    where = []
    real = masks.decode_compact

    def spy(spec, *args, **kwargs):
        points = spec.get("points") if isinstance(spec, dict) else None
        form = "short polyline" if points is not None and len(points) <= INLINE_POINTS else "other"
        where.append((form, threading.current_thread().name))
        return real(spec, *args, **kwargs)

    monkeypatch.setattr("ganpaint.edit_plan.decode_compact", spy)  # every decode goes through it
    long_line = {"points": [[0.1 + 0.02 * i, 0.5] for i in range(INLINE_POINTS + 1)], "radius": 0.05}
    with tiny_client(tmp_path) as c:
        for mask in ({"points": [[0.3, 0.3]], "radius": 0.11}, long_line):
            assert c.post("/intervene", json={"image": 1, "strokes": [{**STROKE, "mask": mask}]}).status_code == 200
        body = {"project": "tiny", "ids": [1], "interventions": [{"ablations": [{"layer": "layer6", "unit": 1}]}]}
        body["interventions"][0]["mask"] = {"shape": [8, 8], "bitbounds": [], "bitstring": "01" * 32}
        assert c.post("/api/generate", json=body).status_code == 200
        with c.websocket_connect("/ws/paint") as ws:
            ws.send_json({"type": "open", "image": 1})
            ws.receive_json()
            for seq, mask in enumerate(({"shape": [4, 4], "runs": [16]}, {"points": [[0.6, 0.6]], "radius": 0.1}), 1):
                ws.send_json({"type": "render", "seq": seq, "strokes": [{**STROKE, "mask": mask}]})
                assert ws.receive_bytes()[:4] == struct.pack(">I", seq)
    loop_thread = next(t for form, t in where if form == "short polyline")
    assert not loop_thread.startswith(("ganpaint-masks", "AnyIO")), where
    assert sum(form == "short polyline" for form, _ in where) == 2, where
    assert all(t == loop_thread for form, t in where if form == "short polyline"), where
    assert sum(form == "other" for form, _ in where) == 3, where
    assert all(t.startswith("ganpaint-masks") for form, t in where if form == "other"), where


def test_what_decodes_inline_is_short_polylines_only():
    from ganpaint.api.edits import INLINE_COST, decodes_inline
    from ganpaint.lru import LRU

    def plan_of(*specs, stamp: bool = False) -> EditPlan:
        plan = EditPlan(budget=1 << 30, eager=False)
        for spec in specs:
            plan.mask(spec, 256, (4, 4), "m", (4096, 2048), "area")
        if stamp:
            plan.work("stamp", lambda: [], 1 << 16, LRU(1))
        return plan

    line = {"points": [[0.2, 0.2], [0.8, 0.8]], "radius": 0.1}
    assert decodes_inline(plan_of(line)) and decodes_inline(plan_of(line, {**line, "radius": 0.2}))
    assert plan_of(line, {**line, "radius": 0.2}).pending_cost <= INLINE_COST
    assert not decodes_inline(plan_of(line, {**line, "radius": 0.2}, {**line, "radius": 0.3}))  # over the cost
    assert not decodes_inline(plan_of({"points": [[0.5, 0.5]] * (INLINE_POINTS + 1), "radius": 0.1}))
    assert not decodes_inline(plan_of(line, stamp=True))
    assert not decodes_inline(plan_of({"shape": [2048, 2048], "runs": [1, 2048 * 2048 - 1]}))  # cheap cost, slow


def test_a_mask_pooled_to_several_layers_is_decoded_and_costed_once(monkeypatch):
    calls = []
    real = masks.decode_compact
    monkeypatch.setattr("ganpaint.edit_plan.decode_compact", lambda *a, **k: calls.append(1) or real(*a, **k))
    plan = EditPlan(budget=1 << 30, eager=False)
    spec = {"shape": [64, 64], "runs": [100, 3996]}
    for size in ((4, 4), (8, 8), (16, 16)):
        plan.mask(spec, 256, size, "m", (2048, 2048), "max")
    assert plan.cost == plan.pending_cost == mask_cost(spec, 256) and len(plan.pending()) == 3
    plan.run()
    assert len(calls) == 1 and all(j.value.shape == j.size for j in plan.mask_jobs.values())


def test_a_request_the_busy_lane_will_refuse_stops_planning_at_its_first_big_mask(tmp_path, monkeypatch):
    """Planning (costing) on the event loop is itself work: a flood that will get 503 must not pay for it."""
    costed = []
    real = masks.mask_cost
    monkeypatch.setattr("ganpaint.edit_plan.mask_cost", lambda *a, **k: costed.append(1) or real(*a, **k))
    side = 2048
    strokes = [{"concept": "tree", "mask": {"shape": [side, side], "runs": [k, side * side - k]}} for k in range(1, 65)]
    with tiny_client(tmp_path, max_mask_backlog=1 << 22) as client:
        lanes = client.app.state.guards.lanes
        lanes.large.backlog = 1 << 22  # other requests' masks fill the large lane
        try:
            r = client.post("/intervene", json={"image": 1, "strokes": strokes})
            assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
            assert "max_mask_backlog" in r.json()["detail"]
            # refused at the first mask that takes the request past the small lane, not after costing all 64
            one = real(strokes[0]["mask"], 256, side)
            assert len(costed) == SMALL_COST // one + 1 < 64
        finally:
            lanes.large.backlog = 0
        costed.clear()
        assert client.post("/intervene", json={"image": 1, "strokes": strokes}).status_code == 200  # idle: admitted
        assert len(costed) == 64


def test_a_png_chunk_bomb_names_the_field(tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
    raw += chunk(b"zTXt", b"bomb\x00\x00" + zlib.compress(b"\x00" * (8 << 20), 9))
    raw += chunk(b"IDAT", zlib.compress(b"\x00" * 20)) + chunk(b"IEND", b"")
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    with tiny_client(tmp_path) as c:
        r = c.post("/intervene", json={"image": 1, "strokes": [{**STROKE, "mask": url}]})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("strokes[0].mask: not a readable PNG ("), r.text
    assert "too large" in r.json()["detail"].lower()


def test_error_shapes(tmp_path):
    with tiny_client(tmp_path) as c:
        r = c.get("/reports/tiny/%00")
        assert r.status_code == 404 and r.json()["detail"].startswith("path: no report file"), r.text
        deep: object = 1
        for _ in range(300):
            deep = [deep]
        frames = c.app.state.engine.frames
        r = c.post("/api/generate", json={"project": "tiny", "ids": [1], "wantz": deep})
        assert r.status_code == 422 and r.json() == {"detail": "wantz: nested deeper than 32 levels"}
        assert c.app.state.engine.frames == frames  # refused before rendering
        r = c.post("/api/generate", json={"project": "tiny", "ids": [1], "wantz": [[1]]})
        assert r.status_code == 200 and r.json()["request"]["wantz"] == [[1]]  # shallow extras still echo
    assert nesting_depth({"a": [1, {"b": 2}]}, 10) == 4 and nesting_depth(deep, 5) == 6


# --- logging, timeouts, uvicorn -----------------------------------------------------------------------------


def test_refusals_are_logged_once_a_minute_per_address():
    log = RefusalLog(interval=60, size=2)
    assert log.allow("a", 0) and not log.allow("a", 59) and log.allow("b", 59) and log.allow("a", 61)
    assert log.suppressed == 1
    log.allow("c", 62)  # forgets the oldest beyond size: "b"
    assert log.allow("b", 63) and not log.allow("c", 63)


def stalled_body(timeout: float) -> tuple:
    """``BodyTimeout`` around an app that waits for a body that never comes; (call, messages sent)."""
    sent: list[dict] = []

    async def app(scope, receive, send):
        await receive()
        raise AssertionError("unreachable")

    async def stalled_receive():
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    return lambda: BodyTimeout(app, timeout)({"type": "http"}, stalled_receive, send), sent


def test_body_timeout_answers_408():
    call, sent = stalled_body(0.05)
    asyncio.run(call())
    assert sent[0]["status"] == 408 and b"request body: not received in full" in sent[1]["body"]


def test_a_request_cancelled_while_its_body_stalls_ends_quietly():
    """uvicorn's shutdown cut cancels a request whose client stalls mid-body: nothing to answer, no error
    (on Python 3.12 uvicorn logged the cancellation as "Exception in ASGI application" with a traceback)."""
    call, sent = stalled_body(60)

    async def main():
        task = asyncio.create_task(call())
        await asyncio.sleep(0.05)
        task.cancel("timeout graceful shutdown exceeded")
        return await asyncio.wait_for(task, 5)  # ends without raising

    assert asyncio.run(main()) is None and sent == []


def test_uvicorn_options_for_direct_exposure():
    opts = uvicorn_options(Settings(), "info")
    assert opts["h11_max_incomplete_event_size"] == 64 * 1024
    assert "limit_concurrency" not in opts  # GuardedH11 caps connections, in all and per address
    assert opts["timeout_graceful_shutdown"] == 3 and opts["timeout_keep_alive"] == 5
    assert opts["http"].__name__ == "GuardedH11" and opts["ws"].__name__ == "CompleteDenial"
    assert opts["log_config"]["loggers"]["ganpaint"]["level"] == "INFO"


def test_live_server_timeouts_refusals_and_sigterm_with_a_stalled_body(tmp_path):
    """A real ``ganpaint serve``: half-sent headers are cut, a 200 KB header is refused, refused origins log one
    line and no ERROR, and SIGTERM ends the process while a client holds a request with an incomplete body."""
    from websockets.sync.client import connect

    env = {"GANPAINT_HEADER_TIMEOUT": "1", "GANPAINT_BODY_TIMEOUT": "600", "GANPAINT_SHUTDOWN_TIMEOUT": "1"}
    with LiveServer(tmp_path, "--log-level", "info", **env) as server:
        half = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        assert half.recv(100) == b""  # closed by the server (the timeout is a hang guard, not a measurement)
        big = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        big.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 200_000 + b"\r\n\r\n")
        assert big.recv(100).startswith(b"HTTP/1.1 400")
        for _ in range(3):
            with pytest.raises(Exception, match="403"):
                connect(server.ws_url, origin="https://evil.example", open_timeout=30)
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        stalled.sendall(b"POST /intervene HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        stalled.sendall(b"Content-Length: 1000\r\n\r\n" + json.dumps({"image": 1})[:-1].encode())
        with urllib.request.urlopen(server.url + "/health", timeout=60) as r:  # the stalled request is open
            assert r.status == 200
        server.p.send_signal(signal.SIGTERM)
        assert server.p.wait(60) is not None
        log = server.output()
    assert "without completing handshake" not in log and "Traceback" not in log
    assert log.count("refused: origin: 'https://evil.example' is not allowed") == 1, log
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in log, log


class _Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed or paused the connection."""

    def __init__(self, peer: str = "127.0.0.1"):
        super().__init__()
        self.written, self.closed, self.paused, self.protocol = b"", False, False, None
        self.peer = peer

    def set_protocol(self, protocol):
        self.protocol = protocol

    def get_protocol(self):
        return self.protocol

    def get_extra_info(self, name, default=None):
        return {"peername": (self.peer, 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data):
        self.written += bytes(data)

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False


def test_the_http_protocol_sheds_big_mask_bodies_from_their_raw_head(monkeypatch):
    """``ganpaint serve``'s protocol applies the app's Shed before h11, an ASGI task or a body copy: 503 with
    Retry-After and close for a request whose whole head is in hand; anything it cannot judge goes on to the
    app (whose ShedWhenBusy middleware then decides)."""
    import uvicorn
    from uvicorn.server import ServerState

    from ganpaint.api.guards import GUARDS_STATE, Guards
    from ganpaint.api.guards.protocol import GuardedH11
    from ganpaint.api.guards.shedding import SHED_BODY

    called = []

    async def app(scope, receive, send):
        called.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guards = Guards(Settings(max_mask_backlog=1000))
    guards.shed.paths = frozenset({"/intervene", "/api/generate"})  # what the app's routes declare
    decoder, shed = guards.lanes, guards.shed
    body = b"x" * (SHED_BODY + 1)

    def request(path: bytes, length: int, extra: bytes = b"") -> bytes:
        return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"Content-Length: %d\r\n\r\n" % length

    async def main(chunks: list[bytes], backlog: int) -> tuple[_Transport, list]:
        called.clear()
        guards.refused = RecentAddresses()  # no connection held
        decoder.large.backlog = backlog
        config = uvicorn.Config(app, **uvicorn_options(Settings()))
        config.load()
        protocol = GuardedH11(config=config, server_state=ServerState(), app_state={GUARDS_STATE: guards})
        transport = _Transport()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        for chunk in chunks:
            protocol.data_received(chunk)
        await asyncio.sleep(0.05)  # an ASGI task, if one was made, runs
        protocol.connection_lost(None)
        return transport, list(called)

    try:
        t, seen = asyncio.run(main([request(b"/intervene?x=1", len(body)) + body[:1000]], backlog=500))
        assert t.written.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and t.closed and seen == []
        head, _, detail = t.written.partition(b"\r\n\r\n")
        assert b"retry-after: 1" in head and json.loads(detail)["detail"] == shed.detail
        assert b"content-length: %d" % len(detail) in head
        assert guards.refused.age("127.0.0.1") < 1  # noted: its next connections wait refusal_delay
        t, seen = asyncio.run(main([request(b"/api/generate", len(body), b"content-LENGTH: 5\r\n")], 500))
        assert seen == [] and not t.written.startswith(b"HTTP/1.1 503")  # two lengths: h11 answers 400
        cases = [
            ([request(b"/intervene", len(body)) + body], 499),  # the large lane under half full
            ([request(b"/intervene", SHED_BODY)], 500),  # small enough
            ([request(b"/health", len(body)) + body], 500),  # not a mask route
            ([request(b"/intervene", len(body))[:30], request(b"/intervene", len(body))[30:] + body], 500),  # split
        ]
        for chunks, backlog in cases:
            t, seen = asyncio.run(main(chunks, backlog))
            assert len(seen) == 1 and t.written.startswith(b"HTTP/1.1 200"), (chunks[0][:40], backlog, t.written)
    finally:
        guards.close()


def test_a_new_connection_from_a_just_refused_address_waits_unread(monkeypatch):
    """After a 503 busy to an address, its new connections are read only after ``refusal_delay`` (a client that
    ignores Retry-After cannot loop faster than that); other addresses, and the same one a window later, at
    once."""
    import uvicorn
    from uvicorn.server import ServerState

    from ganpaint.api.guards import GUARDS_STATE, Guards
    from ganpaint.api.guards.protocol import GuardedH11
    from ganpaint.api.guards.refusals import REFUSAL_WINDOW

    guards = Guards(Settings())
    refused = guards.refused
    delay = guards.settings.refusal_delay
    assert delay == 0.1  # the default

    answered = []

    async def app(scope, receive, send):
        answered.append(scope["client"][0])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> list:
        config = uvicorn.Config(app, **uvicorn_options(Settings()))
        config.load()
        seen = []
        for peer, refused_ago in [("10.0.0.1", 0.0), ("10.0.0.2", None), ("10.0.0.3", REFUSAL_WINDOW + 0.1)]:
            if refused_ago is not None:
                refused.note(peer, time.monotonic() - refused_ago)
            transport = _Transport(peer)
            protocol = GuardedH11(config=config, server_state=ServerState(), app_state={GUARDS_STATE: guards})
            transport.set_protocol(protocol)
            protocol.connection_made(transport)
            protocol.data_received(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # a loop may read it anyway
            await asyncio.sleep(0.02)
            early = (transport.paused, peer in answered)
            await asyncio.sleep(delay)
            seen.append((early, (transport.paused, peer in answered)))
            protocol.connection_lost(None)
        return seen

    held, at_once = ((True, False), (False, True)), ((False, True), (False, True))
    assert asyncio.run(main()) == [held, at_once, at_once]


def test_big_mask_bodies_are_refused_unread_while_the_large_lane_is_full(tmp_path):
    """A flood of big bodies that ignore Retry-After must not fill the event loop with JSON parsing."""
    from ganpaint.api.guards.shedding import SHED_BODY

    junk = b"{" + b"x" * (SHED_BODY + 10)  # not even JSON: refused before it is read
    with tiny_client(tmp_path, max_mask_backlog=1000) as client:
        post = lambda path: client.post(path, content=junk, headers={"content-type": "application/json"})  # noqa: E731
        assert post("/intervene").status_code == 422  # idle: read, parsed, refused for what it is
        lanes = client.app.state.guards.lanes
        lanes.large.backlog = 500  # half the backlog limit taken by other requests
        try:
            for path in ("/intervene", "/api/generate"):
                r = post(path)
                assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
                assert "max_mask_backlog" in r.json()["detail"]
            small = client.post("/intervene", json={"image": 1, "strokes": []})  # small bodies still pass
            assert small.status_code == 200
        finally:
            lanes.large.backlog = 0
