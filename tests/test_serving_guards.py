"""``ganpaint serve`` facing clients directly (api/serving.py, api/upload_body.py), on a real server process:
connection caps per address and in all, upload bodies judged before they are read, refusals that close, every
answer the protocol writes in the ``{"detail": ...}`` shape, SIGTERM during a projection."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib

import pytest
from live_server import LiveServer


def raw(port: int, data: bytes, source: str = "127.0.0.1", timeout: float = 10) -> bytes:
    """Send ``data`` from ``source`` and read the answer until the server closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0)) as s:
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def read_answer(s: socket.socket) -> bytes:
    """One whole answer (head and a Content-Length body) from ``s``, leaving the connection open."""
    out = b""
    while b"\r\n\r\n" not in out:
        out += s.recv(65536)
    head, _, body = out.partition(b"\r\n\r\n")
    length = int(
        next(v for k, _, v in (x.partition(b":") for x in head.split(b"\r\n")) if k.lower() == b"content-length")
    )
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def answer(reply: bytes) -> tuple[int, dict, dict]:
    """(status, headers, the JSON body) of a raw HTTP/1.1 answer; the body parsed strictly."""
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body, parse_constant=reject_constant)


def reject_constant(name: str):
    raise ValueError(f"not strict JSON: {name}")


def health(source: str, port: int) -> int:
    """GET /health's status, from the address ``source`` (the server listens on 127.0.0.1)."""
    reply = raw(port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", source)
    return int(reply.split(b" ", 2)[1])


def png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def upload_head(port: int, length: int, ctype: str = "image/png") -> bytes:
    return (
        f"POST /uploads HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("guards")
    with LiveServer(
        root, GANPAINT_MAX_CONNECTIONS_PER_ADDRESS="6", GANPAINT_MAX_UPLOAD_BODIES="1", GANPAINT_HEADER_TIMEOUT="30"
    ) as s:
        yield s


def test_one_address_cannot_take_every_connection(server):
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(6)]
    try:
        time.sleep(0.2)
        status, headers, body = answer(raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert status == 503 and headers.get("retry-after") == "1"
        assert "max_connections_per_address" in body["detail"] and "127.0.0.1" in body["detail"]
        assert health("127.0.0.2", server.port) == 200  # another address is served throughout
        for _ in range(5):  # refused again and again: logged once a minute per address
            raw(server.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert health("127.0.0.1", server.port) == 200  # freed: served again
    assert server.output().count("connections open from 127.0.0.1") == 1


def test_junk_upload_is_refused_from_its_first_bytes_and_the_connection_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(upload_head(server.port, 8 << 20) + b"GIF89a" + b"\0" * (100 << 10))  # 8 MiB declared, 100 kB sent
        status, headers, body = answer(read_answer(s))
        assert status == 422 and body["detail"].startswith("file: not a PNG")
        assert headers.get("connection") == "close"
        s.settimeout(5)
        assert s.recv(65536) == b""  # closed: the other 7.9 MiB are never read


def test_declared_pixels_judged_before_the_body_arrives(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(upload_head(server.port, 4 << 20) + png_header(20000, 20000) + b"\0" * (64 << 10))
        status, headers, body = answer(read_answer(s))
        assert status == 413 and body["detail"].startswith("file: 20000 x 20000")
        assert headers.get("connection") == "close"


def test_upload_bodies_past_the_cap_are_refused_unread(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(upload_head(server.port, 1 << 20) + png_header(64, 64))  # arriving slowly: holds the one slot
        time.sleep(0.3)
        status, headers, body = answer(raw(server.port, upload_head(server.port, 1 << 20) + png_header(64, 64)))
        assert status == 503 and "max_upload_bodies 1" in body["detail"]
        assert headers.get("retry-after") == "1" and headers.get("connection") == "close"
    time.sleep(1.1)  # the refusal delay's window


def test_busy_refusals_close_kept_alive_connections(server):
    """A 503 busy answer closes the connection: a client that ignores Retry-After must reconnect."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(upload_head(server.port, 1 << 20) + png_header(64, 64))
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10, source_address=("127.0.0.3", 0)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(s).startswith(b"HTTP/1.1 200")  # kept alive after a 200
            s.sendall(upload_head(server.port, 1000) + png_header(64, 64))
            status, headers, _ = answer(read_answer(s))
            assert status == 503 and headers.get("connection") == "close"
            s.settimeout(5)
            assert s.recv(65536) == b""
    time.sleep(1.1)


@pytest.mark.parametrize(
    "request_bytes,status,start",
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "request: not valid HTTP/1.1"),
        (b"NOT A REQUEST\r\n\r\n", 400, "request: not valid HTTP/1.1"),
        (  # a websocket handshake without its key
            b"GET /ws/paint HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n",
            400,
            "websocket handshake:",
        ),
        (
            b"GET /ws/paint HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n",
            400,
            "websocket handshake:",
        ),
    ],
)
def test_protocol_refusals_are_json(server, request_bytes, status, start):
    got, headers, body = answer(raw(server.port, request_bytes, source="127.0.0.4"))
    assert got == status and headers["content-type"].startswith("application/json")
    assert body["detail"].startswith(start)


def test_over_the_connection_limit_is_json(tmp_path):
    with LiveServer(tmp_path, GANPAINT_MAX_OPEN_CONNECTIONS="4", GANPAINT_MAX_CONNECTIONS_PER_ADDRESS="0") as s:
        held = [socket.create_connection(("127.0.0.1", s.port), timeout=10) for _ in range(4)]
        try:
            time.sleep(0.2)
            status, headers, body = answer(raw(s.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.5"))
            assert status == 503 and "max_open_connections" in body["detail"] and headers["retry-after"] == "1"
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.3)
        assert health("127.0.0.1", s.port) == 200


SLOW_PROJECTION = """
import time
from ganpaint.project import projector as _p
_project = _p.Projector.project
def _slow(self, x, progress=None):
    for _ in range(100):  # 10 s of steps that report progress (Projections.close stops them)
        time.sleep(0.1)
        progress and progress("bank", 0.0)
    return _project(self, x, progress)
_p.Projector.project = _slow
"""


def test_sigterm_during_a_projection_answers_503_json(tmp_path):
    with LiveServer(tmp_path, prelude=SLOW_PROJECTION) as server:
        got = {}

        def upload() -> None:
            body = json.dumps({"scene": 3_000_000_007}).encode()
            got["reply"] = raw(server.port, upload_head(server.port, len(body), "application/json") + body, timeout=30)

        t = threading.Thread(target=upload)
        t.start()
        time.sleep(1.0)
        t_term = time.monotonic()
        server.terminate()
        t.join(30)
        status, _, body = answer(got["reply"])
        assert status == 503 and body["detail"].startswith("server: shutting down")
        assert server.p.wait(20) in (0, -15)
        assert time.monotonic() - t_term < 8  # the projection stopped at its next step, not after 10 s
        assert "Traceback" not in server.output()
