"""api/guards/protocol.py: uvicorn set up for direct exposure (``ganpaint serve``): shedding on the raw head, the
refusal delay, timeouts, a live server under a stalled body and SIGTERM. The soak is bench/attack_soak.py."""

import asyncio
import json
import signal
import socket
import time
import urllib.request

import pytest
from live_server import LiveServer

from ganpaint.api.guards.protocol import uvicorn_options
from ganpaint.api.guards.refusals import RecentAddresses
from ganpaint.api.settings import Settings


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
