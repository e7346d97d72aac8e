"""api/edits.py: a request's masks costed (``max_mask_pixels``), admitted on the mask lanes (503 at once when
full), decoded inline only when short; numbers checked before any math; bad PNGs named."""

import base64
import contextlib
import struct
import threading
import zlib

from api_helpers import HUGE, STROKE, big_png, tiny_client

from ganpaint import masks
from ganpaint.api.edits import INLINE_POINTS
from ganpaint.api.guards.lanes import SMALL_COST
from ganpaint.edit_plan import EditPlan


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
