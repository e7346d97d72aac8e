"""api/guards: one ``Guards`` per app, built from the app's one ``Settings``; routes declare what they carry."""

from __future__ import annotations

import asyncio

import pytest
from api_helpers import STROKE as STROKE_JSON
from api_helpers import tiny_client, tiny_settings

from ganpaint.api.app import create_app
from ganpaint.api.guards import GUARDS_STATE
from ganpaint.api.guards.admission import BusyError, RenderGate
from ganpaint.api.guards.limits import BodyTimeout
from ganpaint.api.guards.refusals import RefusalLog


def test_one_guards_object_per_app_from_its_settings(tmp_path):
    settings = tiny_settings(tmp_path, max_mask_backlog=1234, max_rest_images=5, refusal_delay=0.3)
    a, b = create_app(settings), create_app(tiny_settings(tmp_path))
    guards = a.state.guards
    assert guards.settings is a.state.settings is settings
    assert guards.lanes.max_backlog == 1234 and guards.render_gate.limit == 5
    assert guards.shed.lanes is guards.lanes and guards.origin.refused is guards.refused
    assert guards.lifespan_state() == {GUARDS_STATE: guards}
    guards.refused.note("10.0.0.9")
    assert b.state.guards.refused.age("10.0.0.9") == float("inf")  # nothing shared between apps
    assert b.state.guards.lanes is not guards.lanes


def test_routes_declare_that_they_carry_masks_or_read_their_body(tmp_path):
    guards = create_app(tiny_settings(tmp_path, max_upload_bytes=5000)).state.guards
    assert guards.shed.paths == {"/intervene", "/api/generate"}  # @carries_masks on their handlers
    assert guards.streamed == {"/uploads": 5000}  # @reads_body_itself("max_upload_bytes")


def test_with_cors_the_middleware_sheds_not_the_protocol(tmp_path):
    assert create_app(tiny_settings(tmp_path)).state.guards.protocol_sheds
    cors = create_app(tiny_settings(tmp_path, cors_origins="https://a.org")).state.guards
    assert not cors.protocol_sheds and cors.cors_origins == ["https://a.org"]


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


@pytest.mark.parametrize(
    "origin, host, extra, allowed",
    [
        (None, "x.org", "", True),  # not a browser
        ("https://x.org", "x.org", "", True),
        ("http://x.org:8080", "x.org:8080", "", True),
        ("http://x.org:8080", "x.org", "", True),  # nginx's $host drops the port
        ("http://x.org:8080", "x.org:9090", "", False),
        ("http://evil.org", "x.org", "", False),
        ("http://localhost:3000", "x.org", "", True),
        ("http://[::1]:3000", "x.org", "", True),
        ("https://paint.example.org", "x.org", "https://a.org, https://paint.example.org/", True),
        ("https://evil.org", "x.org", "*", True),
        ("null", "x.org", "", False),
        ("http://[bad", "x.org", "", False),
    ],
)
def test_origin_allow_list(origin, host, extra, allowed):
    from ganpaint.api.guards.origin import origin_allowed

    assert origin_allowed(origin, host, extra) is allowed


def test_render_gate_caps_images_in_flight():
    gate = RenderGate(4)
    with gate.admit(3):
        with pytest.raises(BusyError, match=r"busy, 3 images rendering .*max_rest_images 4"):
            with gate.admit(2):
                pass
        with gate.admit(1):
            assert gate.in_flight == 4
    assert gate.in_flight == 0
    with gate.admit(10):  # a request alone is admitted whatever its size
        assert gate.in_flight == 10
    assert gate.in_flight == 0


def test_busy_server_answers_503_with_retry_after(tmp_path):
    with tiny_client(tmp_path, max_rest_images=2) as c:
        with c.app.state.guards.render_gate.admit(2):  # two images of other requests rendering
            for path, body in (
                ("/generate", {"ids": [1]}),
                ("/intervene", {"image": 1, "strokes": [STROKE_JSON]}),
                ("/api/generate", {"project": "tiny", "ids": [1]}),
            ):
                r = c.post(path, json=body)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["retry-after"] == "1"
                assert r.json()["detail"].startswith("server: busy, 2 images rendering"), r.json()
        assert c.post("/generate", json={"ids": [1]}).status_code == 200  # released: served again
