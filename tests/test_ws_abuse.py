"""Abusive websocket clients against a live server while a well-behaved painter keeps getting frames (issue 9).

One of each kind (bench/soak.py runs them for minutes): malformed JSON, wrong types, oversized messages,
binary junk, rapid connect/disconnect, a slow consumer that never reads, clients that vanish mid-frame.
"""

import asyncio
import json
import time
import urllib.request
from types import SimpleNamespace

import pytest
import ws_clients
from live_server import LiveServer
from websockets.exceptions import ConnectionClosed

from ganpaint.api.settings import Settings
from ganpaint.api.ws import PaintRegistry, PaintSession, SlowConsumer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("abuse"), GANPAINT_WS_SEND_TIMEOUT="2") as s:
        yield s


@pytest.fixture(scope="module")
def painter(server):
    p = ws_clients.GoodPainter(server.ws_url)
    p.rss_start = server.rss_mb()
    p.start()
    yield p
    p.stop()


@pytest.fixture
def keeps_painting(painter):
    """The painter got frames while the test's abuser ran."""
    before = painter.frames
    yield
    for _ in range(300):  # frames during the abuse, or at the latest right after it
        if painter.frames > before:
            break
        time.sleep(0.1)
    assert painter.frames > before, painter.errors
    assert painter.errors == []


def texts(answers) -> list:
    return [json.loads(a) if isinstance(a, str) else a for a in answers]


def assert_errors_then_pong(answers, n: int) -> list[dict]:
    got = texts(answers)
    assert got[0]["type"] == "ready" and got[-1] == {"type": "pong"}
    errors = got[1:-1]
    assert len(errors) == n and all(e["type"] == "error" for e in errors), errors
    return errors


def test_malformed_json(server, keeps_painting):
    errors = assert_errors_then_pong(ws_clients.malformed_json(server.ws_url), len(ws_clients.MALFORMED))
    by_msg = dict(zip(ws_clients.MALFORMED, errors, strict=True))
    for msg, e in by_msg.items():
        if msg not in ("NaN", '{"type": "ping", "type": "open"}'):
            assert e["seq"] is None and e["detail"].startswith("message: invalid JSON ("), e
    assert by_msg["NaN"]["detail"] == "type: expected 'open', 'render' or 'ping', got None"
    assert by_msg['{"type": "ping", "type": "open"}']["detail"].startswith("image/upload: give one of")  # last key wins


def test_wrong_types(server, keeps_painting):
    errors = assert_errors_then_pong(ws_clients.wrong_types(server.ws_url), len(ws_clients.WRONG_TYPES))
    for msg, e in zip(ws_clients.WRONG_TYPES, errors, strict=True):
        assert e["detail"] and len(e["detail"]) < 400, (msg, e)
    assert errors[4]["detail"] == "type: expected 'open', 'render' or 'ping', got 5"
    assert errors[7]["detail"] == "image: Input should be greater than or equal to 0, got -1"
    assert errors[16]["seq"] == 1 and errors[16]["detail"].startswith("strokes[0].mask.")


def test_binary_junk(server, keeps_painting):
    errors = assert_errors_then_pong(ws_clients.binary_junk(server.ws_url), 3)
    assert {e["detail"] for e in errors} == {"message: expected JSON text, got a binary message"}


def test_oversized(server, keeps_painting):
    answers = ws_clients.oversized(server.ws_url)
    errors = assert_errors_then_pong(answers[:-1], 1)
    detail = errors[0]["detail"]
    assert detail.startswith("message: 1048") and detail.endswith("bytes exceeds the limit of 1048576 bytes")
    assert isinstance(answers[-1], ConnectionClosed) and answers[-1].rcvd.code == 1009  # over the transport limit


def test_rapid_connect_disconnect(server, keeps_painting):
    assert ws_clients.rapid_connect(server.ws_url, 50) == 50
    assert urllib.request.urlopen(server.url + "/health", timeout=10).status == 200


def test_slow_consumer(server, keeps_painting):
    got = ws_clients.slow_consumer(server.ws_url, renders=300, hold=3)
    assert 1 <= got["frames"] < 300  # latest wins: superseded updates never became frames


def test_a_frame_the_client_does_not_take_ends_the_connection():
    """The send timeout: a frame waits at most ws_send_timeout for a client that does not read."""

    class Stuck:
        app = SimpleNamespace(
            state=SimpleNamespace(
                engine=None, settings=Settings(ws_send_timeout=0.2), paint=PaintRegistry(), guards=None, edits=None
            )
        )

        async def send_bytes(self, data):
            await asyncio.sleep(3600)

    session = PaintSession(Stuck())
    with pytest.raises(SlowConsumer, match=r"^a message waited over 0.2 s for the client$"):
        asyncio.run(session.send(data=b"frame"))


def test_vanish_mid_frame(server, keeps_painting):
    for _ in range(5):
        ws_clients.vanish_mid_frame(server.ws_url)
    assert urllib.request.urlopen(server.url + "/health", timeout=10).status == 200


def test_memory_and_no_5xx(server, painter):
    """Last: the painter never saw an error and the server's memory stayed put."""
    assert painter.errors == [] and painter.frames > 0
    assert server.rss_mb() - painter.rss_start < 100
    assert "Traceback" not in server.output(), server.output()[-3000:]
