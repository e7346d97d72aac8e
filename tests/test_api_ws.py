import io
import json
import struct

import numpy as np
import pytest
from api_helpers import STROKE, tiny_client
from PIL import Image


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("ws")) as c:
        yield c


def read_frame(ws) -> tuple[int, float, bytes]:
    msg = ws.receive()
    assert msg.get("bytes") is not None, msg
    seq, tenths = struct.unpack(">IH", msg["bytes"][:6])
    return seq, tenths / 10, msg["bytes"][6:]


def open_image(ws, **extra) -> dict:
    ws.send_json({"type": "open", "model": "tiny", "image": 3, **extra})
    return ws.receive_json()


def test_open_render_frames_in_order(client):
    with client.websocket_connect("/ws/paint") as ws:
        ready = open_image(ws)
        assert ready == {
            "type": "ready",
            "model": "tiny",
            "image": 3,
            "layer": "layer4",
            "resolution": 32,
            "format": "jpeg",
            "concepts": ["grass", "sky", "tree"],
            "refine_factor": None,
            "artifacts": "kept",
        }
        seqs = []
        for seq in range(1, 4):
            ws.send_json({"type": "render", "seq": seq, "strokes": [STROKE]})
            got, ms, data = read_frame(ws)  # one at a time: nothing to drop
            seqs.append(got)
            assert ms >= 0 and Image.open(io.BytesIO(data)).format == "JPEG"
        assert seqs == [1, 2, 3]


def test_latest_wins_drops_superseded_updates(client):
    """Updates that arrive while a frame renders replace each other: only the newest gets a frame."""
    import threading

    release = threading.Event()
    with client.websocket_connect("/ws/paint") as ws:
        open_image(ws)
        client.app.state.engine.call(lambda: release.wait(10), interactive=True)  # the render thread is busy
        for seq in range(10, 30):
            ws.send_json({"type": "render", "seq": seq, "strokes": [STROKE]})
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # messages are handled in order: all 20 are in
        release.set()
        got = [read_frame(ws)[0]]
        while got[-1] != 29:
            got.append(read_frame(ws)[0])
    assert got == [10, 29]  # the first went to the render thread at once; 11-28 were superseded by 29


def test_frame_equals_rest_render(client):
    """The websocket frame and POST /intervene agree (PNG, lossless)."""
    with client.websocket_connect("/ws/paint") as ws:
        open_image(ws, format="png")
        ws.send_json({"type": "render", "seq": 0, "strokes": [STROKE]})
        _, _, data = read_frame(ws)
    rest = client.post("/intervene", json={"image": 3, "strokes": [STROKE]}, headers={"accept": "image/png"})
    a = np.asarray(Image.open(io.BytesIO(data))).astype(int)
    b = np.asarray(Image.open(io.BytesIO(rest.content))).astype(int)
    assert np.abs(a - b).max() <= 1  # alone: identical; coalesced with other frames: within one level


def test_formats(client):
    for fmt, name in [("webp", "WEBP"), ("png", "PNG")]:
        with client.websocket_connect("/ws/paint") as ws:
            assert open_image(ws, format=fmt)["format"] == fmt
            ws.send_json({"type": "render", "seq": 5, "strokes": []})
            assert Image.open(io.BytesIO(read_frame(ws)[2])).format == name


@pytest.mark.parametrize(
    "message, reply",
    [
        (
            "not json",
            {
                "type": "error",
                "seq": None,
                "detail": "message: invalid JSON (Expecting value: line 1 column 1 (char 0))",
            },
        ),
        (
            {"type": "paint"},
            {"type": "error", "seq": None, "detail": "type: expected 'open', 'render' or 'ping', got 'paint'"},
        ),
        (
            {"type": "render", "seq": 4, "strokes": [{**STROKE, "strength": 30}]},
            {
                "type": "error",
                "seq": 4,
                "detail": "strokes[0].strength: Input should be less than or equal to 20, got 30",
            },
        ),
        (
            {"type": "render", "seq": 5, "strokes": [{**STROKE, "concept": "lava"}]},
            {
                "type": "error",
                "seq": 5,
                "detail": "strokes[0].concept: unknown concept 'lava' at layer4; available: grass, sky, tree",
            },
        ),
        (
            {"type": "render", "seq": -1, "strokes": []},
            {"type": "error", "seq": -1, "detail": "seq: Input should be greater than or equal to 0, got -1"},
        ),
        (
            {"type": "render", "seq": 6, "strokes": [STROKE] * 65},
            {"type": "error", "seq": 6, "detail": "strokes: at most 64 strokes, got 65"},
        ),
        (
            {"type": "open", "model": "nope", "image": 1},
            {"type": "error", "seq": None, "detail": "unknown model 'nope'; available: tiny"},
        ),
        (
            {"type": "open", "image": 1, "layer": "layer2"},
            {
                "type": "error",
                "seq": None,
                "detail": "layer 'layer2' of model 'tiny' has no dissection; dissected layers: layer4, layer6",
            },
        ),
        (
            {"type": "open", "image": 123456},
            {"type": "error", "seq": None, "detail": "image: Input should be less than or equal to 99999, got 123456"},
        ),
    ],
)
def test_bad_messages_get_errors_and_connection_stays_open(client, message, reply):
    with client.websocket_connect("/ws/paint") as ws:
        open_image(ws)
        ws.send_text(message if isinstance(message, str) else json.dumps(message))
        assert ws.receive_json() == reply
        ws.send_json({"type": "render", "seq": 7, "strokes": [STROKE]})
        assert read_frame(ws)[0] == 7


def test_render_before_open(client):
    with client.websocket_connect("/ws/paint") as ws:
        ws.send_json({"type": "render", "seq": 1, "strokes": []})
        assert ws.receive_json() == {"type": "error", "seq": 1, "detail": "render: send an 'open' message first"}


def test_oversized_message(tmp_path):
    with tiny_client(tmp_path, max_ws_message_bytes=2048) as client, client.websocket_connect("/ws/paint") as ws:
        open_image(ws)
        text = json.dumps({"type": "render", "seq": 1, "strokes": [STROKE] * 40})
        ws.send_text(text)
        assert ws.receive_json() == {
            "type": "error",
            "seq": None,
            "detail": f"message: {len(text)} bytes exceeds the limit of 2048 bytes",
        }


def test_reopen_switches_image(client):
    with client.websocket_connect("/ws/paint") as ws:
        open_image(ws, format="png")
        ws.send_json({"type": "render", "seq": 1, "strokes": []})
        first = read_frame(ws)[2]
        ws.send_json({"type": "open", "model": "tiny", "image": 4, "format": "png"})
        assert ws.receive_json()["image"] == 4
        ws.send_json({"type": "render", "seq": 2, "strokes": []})
        seq, _, second = read_frame(ws)
        assert seq == 2 and second != first


def test_close_while_render_is_slow_to_let_go(client, monkeypatch):
    """Leaving the ``with`` block while a frame renders closes cleanly, whatever order the teardown runs in.

    TestClient's ``__exit__`` sends the disconnect and then cancels the handler's task. The handler, on the
    disconnect, cancels its render task and waits for it; a render that takes a while to let go (a slow render
    thread) is still ending when the handler's own cancellation arrives. The handler must then raise its own
    cancellation (which TestClient's cancel scope absorbs), not the render task's, or ``__exit__`` raises
    ``CancelledError`` (seen in CI under load as a flaky ``test_formats``).
    """
    import asyncio
    import contextlib
    import threading

    import ganpaint.api.ws as ws_module

    hosts: list[asyncio.Task] = []

    class Session(ws_module.PaintSession):
        def __init__(self, ws):
            super().__init__(ws)
            hosts.append(asyncio.current_task())  # the connection handler's task

        def submit(self, job):
            return asyncio.ensure_future(slow_render(job))

    started = threading.Event()

    async def slow_render(job):
        started.set()
        try:
            await asyncio.Event().wait()  # a render that does not finish before the client leaves
        except asyncio.CancelledError:  # ends with this (the handler's) cancellation, however often re-cancelled
            for _ in range(500):  # let go only once the handler itself is being cancelled (at most 5 s)
                if hosts[-1].cancelling():
                    break
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(0.01)
            raise

    monkeypatch.setattr(ws_module, "PaintSession", Session)
    with client.websocket_connect("/ws/paint") as ws:
        open_image(ws)
        ws.send_json({"type": "render", "seq": 1, "strokes": []})
        assert started.wait(10)
    assert hosts[-1].done()
