"""Websocket clients for the abuse tests and bench/soak.py: a well-behaved painter and the abusive kinds.

Each abuser is a function ``abuser(url) -> None`` doing one abusive session; none of them raises for what
the server does (they are meant to misbehave, not to check). ``GoodPainter`` paints in a thread and keeps
the latency of every frame it asked for.
"""

from __future__ import annotations

import base64
import json
import os
import random
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

STROKE = {"concept": "tree", "mask": {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15}}
CLIENT_ERRORS = (OSError, WebSocketException, TimeoutError)


class GoodPainter(threading.Thread):
    """Opens an image and sends one render at a time, waiting for its frame (like a page that draws slowly)."""

    def __init__(self, url: str, image: int = 3, timeout: float = 30):
        super().__init__(daemon=True)
        self.url, self.image, self.timeout = url, image, timeout
        self.latencies: list[float] = []  # seconds from send to frame
        self.server_ms: list[float] = []  # the frame header's time from the server's receipt to the frame
        self.errors: list[str] = []
        self.stopping = threading.Event()

    @property
    def frames(self) -> int:
        return len(self.latencies)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.session()
            except CLIENT_ERRORS as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.2)

    def session(self) -> None:
        with connect(self.url, open_timeout=self.timeout) as ws:
            ws.send(json.dumps({"type": "open", "image": self.image, "format": "jpeg"}))
            ready = json.loads(ws.recv(timeout=self.timeout))
            if ready.get("type") != "ready":
                self.errors.append(f"open: {ready}")
                return
            seq = 0
            while not self.stopping.is_set():
                seq += 1
                x = random.random()
                stroke = {**STROKE, "mask": {"points": [[x, 0.3], [0.7, x]], "radius": 0.1}}
                t0 = time.perf_counter()
                ws.send(json.dumps({"type": "render", "seq": seq, "strokes": [stroke]}))
                msg = ws.recv(timeout=self.timeout)
                if not isinstance(msg, bytes) or struct.unpack(">I", msg[:4])[0] != seq:
                    self.errors.append(f"render {seq}: got {msg[:80]!r}")
                    return
                self.latencies.append(time.perf_counter() - t0)
                self.server_ms.append(struct.unpack(">H", msg[4:6])[0] / 10)
                time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.join(self.timeout + 5)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


# ----------------------------------------------------------------------------- abusers (one session each)

MALFORMED = [
    '{"type": "open"',
    "[1, 2",
    "not json at all",
    "\x00\x01\x02",
    "[" * 50_000 + "]" * 50_000,  # nesting too deep for json
    '{"type": "render", "seq": ' + "9" * 5000 + "}",  # an integer with too many digits
    "NaN",
    '{"type": "ping", "type": "open"}',
]
WRONG_TYPES = [
    "null",
    '"open"',
    "[]",
    "17",
    '{"type": 5}',
    '{"type": ["open"]}',
    '{"type": {"a": 1}}',
    '{"type": "open", "image": -1}',
    '{"type": "open", "image": 3.5}',
    '{"type": "open", "image": 3, "model": ["tiny"]}',
    '{"type": "open", "image": 3, "layer": 4}',
    '{"type": "render", "seq": "x", "strokes": []}',
    '{"type": "render", "seq": 1, "strokes": {}}',
    '{"type": "render", "seq": 1, "strokes": [{"concept": 1, "mask": null}]}',
    '{"type": "render", "seq": 1, "strokes": [{"concept": "tree", "mask": [1, 2]}]}',
    '{"type": "render", "seq": 1, "strokes": [{"concept": "tree", "mask": {"points": "x", "radius": 0.1}}]}',
    '{"type": "render", "seq": 1, "strokes": [{"concept": "tree", "mask": {"runs": [1e308]}}]}',
    '{"type": "render", "seq": 1, "strokes": [{"concept": "tree", "mask": "data:image/png;base64,!!"}]}',
    '{"type": "render", "seq": -1, "strokes": []}',
    '{"type": "render", "seq": 1, "strokes": [], "extra": true}',
]


def _exchange(url: str, messages: list, timeout: float = 30) -> list:
    """Open an image, send each message and read the answer to each (ends with a ping: the answers)."""
    out = []
    with connect(url, open_timeout=timeout, max_size=None) as ws:
        ws.send(json.dumps({"type": "open", "image": 1}))
        out.append(ws.recv(timeout=timeout))
        for m in messages:
            ws.send(m)
            out.append(ws.recv(timeout=timeout))
        ws.send('{"type": "ping"}')
        out.append(ws.recv(timeout=timeout))
    return out


def malformed_json(url: str) -> list:
    return _exchange(url, MALFORMED)


def wrong_types(url: str) -> list:
    return _exchange(url, WRONG_TYPES)


def binary_junk(url: str) -> list:
    return _exchange(url, [os.urandom(n) for n in (1, 7, 4096)])


def oversized(url: str, limit: int = 1024 * 1024) -> list:
    """One message over the application limit (an error), then one over the transport limit (closed 1009)."""
    out = _exchange(url, ['{"type": "ping", "pad": "' + "x" * (limit + 10) + '"}'])
    try:
        with connect(url, max_size=None) as ws:
            ws.send("x" * (3 * limit))
            out.append(ws.recv(timeout=30))
    except CLIENT_ERRORS as exc:
        out.append(exc)
    return out


def rapid_connect(url: str, count: int = 50) -> int:
    """Connect and disconnect ``count`` times as fast as possible (half of them after sending an open)."""
    done = 0
    for i in range(count):
        try:
            with connect(url, open_timeout=30) as ws:
                if i % 2:
                    ws.send(json.dumps({"type": "open", "image": i % 100}))
            done += 1
        except CLIENT_ERRORS:
            pass
    return done


def _raw(url: str, rcvbuf: int | None = None) -> socket.socket:
    """A hand-made websocket handshake on a plain socket (for clients that misbehave below the library)."""
    parts = urlsplit(url)
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect((parts.hostname, parts.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s


def _frame(payload: bytes | str, opcode: int = 1) -> bytes:
    """One masked client frame."""
    data = payload.encode() if isinstance(payload, str) else payload
    n = len(data)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def _server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each complete unmasked server frame in ``data``."""
    out, i = [], 0
    while i + 2 <= len(data):
        opcode, n, j = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if n == 126:
            n, j = struct.unpack(">H", data[j : j + 2])[0], j + 2
        elif n == 127:
            n, j = struct.unpack(">Q", data[j : j + 8])[0], j + 8
        if j + n > len(data):
            break
        out.append((opcode, data[j : j + n]))
        i = j + n
    return out


def slow_consumer(url: str, renders: int = 400, hold: float = 3.0) -> dict:
    """Ask for many PNG frames with a tiny receive buffer and do not read for ``hold`` seconds; then read
    what came. Returns {"frames", "bytes", "closed"}: frames stay few (latest wins, one frame at a time)."""
    s = _raw(url, rcvbuf=4096)
    data = b""
    closed = False
    try:
        s.sendall(_frame(json.dumps({"type": "open", "image": 5, "format": "png"})))
        for seq in range(renders):
            x = (seq % 97) / 97
            stroke = {**STROKE, "mask": {"points": [[x, 0.5]], "radius": 0.2}}
            s.sendall(_frame(json.dumps({"type": "render", "seq": seq, "strokes": [stroke]})))
        time.sleep(hold)
        s.settimeout(2)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except TimeoutError:
        pass  # nothing more to read: the connection is still open
    except CLIENT_ERRORS:
        closed = True
    finally:
        s.close()
    frames = [f for f in _server_frames(data) if f[0] == 2]
    return {"frames": len(frames), "bytes": len(data), "closed": closed}


def vanish_mid_frame(url: str) -> None:
    """Ask for a frame and drop the TCP connection at once; then send half a frame and drop again."""
    s = _raw(url)
    s.sendall(_frame(json.dumps({"type": "open", "image": 7})))
    s.sendall(_frame(json.dumps({"type": "render", "seq": 1, "strokes": [STROKE]})))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, no close handshake
    s.close()
    s = _raw(url)
    s.sendall(_frame(json.dumps({"type": "render", "seq": 1, "strokes": [STROKE]}))[:9])
    s.close()


ABUSERS = {
    "malformed_json": malformed_json,
    "wrong_types": wrong_types,
    "binary_junk": binary_junk,
    "oversized": oversized,
    "rapid_connect": rapid_connect,
    "slow_consumer": slow_consumer,
    "vanish_mid_frame": vanish_mid_frame,
}
