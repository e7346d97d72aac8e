"""uvicorn set up to face clients directly (``ganpaint serve``): limits and timeouts it lacks by default.

- ``GuardedH11``: uvicorn's h11 protocol (h11 limits the request line and headers, ``max_header_bytes``;
  httptools has no limit) plus a header read timeout: a connection must deliver each request's headers
  within ``header_timeout`` seconds of connecting or of its previous response, else it is closed (uvicorn
  closes only idle keep-alive connections; one that sends half a header stays forever). It also applies the
  app's ``Shed`` (guards/shedding.py; the app's ``Guards`` come in the lifespan state as ``GUARDS_STATE``) to a
  request's raw head, unless CORS is on (then ``ShedWhenBusy`` does, so the 503 carries the CORS headers):
  503 and close, with no h11 events, ASGI task or body copy (a flood that ignores Retry-After otherwise
  costs the event loop about a millisecond a request, and every painter waits for its turns of the loop).
- Connection caps (``GuardedH11.connection_made``): at most ``max_open_connections`` HTTP + websocket
  connections per worker, and at most ``max_connections_per_address`` of them from one client address (0: no
  per-address cap, for a server behind a proxy whose address every client shares: the proxy caps per client,
  deploy/nginx's ``limit_conn``). A connection past either cap is answered ``503`` JSON with Retry-After at
  once and closed; one log line per address per minute at most. So one address holding half-open sockets
  cannot lock out everyone else (its own connections are refused, others' are not).
- Every answer the protocol writes itself is ``{"detail": ...}`` JSON: the 400 for a request h11 cannot
  parse, the 503s past the caps, the shed 503 (uvicorn's own are plain text).
- ``Guards.refused``: client addresses answered 503 busy (or refused for their websocket Origin) in the last
  ``REFUSAL_WINDOW`` seconds. ``GuardedH11`` leaves a new connection from such an address unread for
  ``refusal_delay`` seconds: a client that ignores Retry-After and comes straight back then loops at most
  once per delay per connection, not as fast as refusals go out (each costs the event loop an accept, a
  read and an answer, and every painter waits its turn behind them). Connections already open (a painter's
  websocket) are never held, nor is a client that honours Retry-After; the 503 itself still goes out at once.
- ``CompleteDenial``: uvicorn's websockets-sansio protocol, marking a refused handshake (an HTTP answer
  sent through the ASGI ``websocket.http.response`` extension) complete, so uvicorn does not log
  "ASGI callable returned without completing handshake" at ERROR for each refused Origin; a handshake the
  websockets library refuses (no key, bad version, oversized) is answered in the same JSON shape.
- ``uvicorn_options``: those (uvicorn's own ``limit_concurrency`` is off: the caps above replace it),
  ``timeout_keep_alive`` and ``timeout_graceful_shutdown`` (after the SIGTERM drain, requests still open
  are cancelled: SIGTERM ends the process within ``drain_timeout`` + ``shutdown_timeout`` + about a second).

Settings: the app's own (``Guards.settings``), the one ``Settings`` the app was built from.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging

import h11
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Response

from ganpaint.api.guards.answers import error_response
from ganpaint.api.guards.refusals import REFUSAL_WINDOW
from ganpaint.api.settings import Settings

# a refused websocket handshake: warnings only, through uvicorn's handler; outside the logger registry, so
# uvicorn's dictConfig does not reset its level as it does for registered children of "uvicorn.error"
DENIED = logging.Logger("uvicorn.error.denied", logging.WARNING)
DENIED.parent = logging.getLogger("uvicorn.error")
GUARDS_STATE = "ganpaint.guards"  # the lifespan state's key for the app's Guards
REFUSED_LINGER = 0.25  # seconds a refused connection stays open to read (and drop) what the client sends
log = logging.getLogger("ganpaint")


class GuardedH11(H11Protocol):
    """h11 with a header read timeout (see the module docstring)."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._held: asyncio.TimerHandle | None = None
        self._early: list[bytes] = []  # what a held connection sent (uvloop reads once whatever we ask)
        self._refused = False
        self.guards = self.app_state[GUARDS_STATE]  # the app's Guards (api/guards/__init__.py)
        over = self._over_cap()
        if over:
            return self._refuse_connection(over)
        delay = self.guards.settings.refusal_delay
        if delay and self.client and self.guards.refused.age(self.client[0]) < REFUSAL_WINDOW:
            transport.pause_reading()  # refused a moment ago: read it after the delay
            self._held = self.loop.call_later(delay, self._release)
        self._arm()

    def _over_cap(self) -> str | None:
        """Why this new connection is past a connection cap, or None (it is in ``self.connections`` already)."""
        settings = self.guards.settings
        if len(self.connections) > settings.max_open_connections:
            return f"server: {settings.max_open_connections} connections open (max_open_connections); retry shortly"
        cap, address = settings.max_connections_per_address, self.client[0] if self.client else None
        if cap and address is not None:
            mine = sum(1 for c in self.connections if (getattr(c, "client", None) or ("",))[0] == address)
            if mine > cap:
                return f"client: {cap} connections open from {address} (max_connections_per_address); retry shortly"
        return None

    def _refuse_connection(self, detail: str) -> None:
        """Answer 503 JSON at once and close a moment later (reading, and dropping, what the client sends
        meanwhile, so its request is not met by a reset); the connection no longer counts against a cap."""
        self._refused = True
        self.connections.discard(self)
        address = self.client[0] if self.client else "unknown"
        if self.guards.cap_log.allow(address):
            log.warning("ganpaint: %s (further refusals of %s are not logged for a minute)", detail, address)
        self.transport.write(error_response(503, detail, retry_after=True))
        self.loop.call_later(REFUSED_LINGER, self.transport.close)

    def send_400_response(self, msg: str) -> None:  # type: ignore[override]
        """h11 could not parse the request: 400 in the app's JSON shape (uvicorn's is plain text), then close."""
        detail = "request: not valid HTTP/1.1 (a malformed request line or header, or headers over max_header_bytes)"
        self.transport.write(error_response(400, detail))
        self.transport.close()

    def _release(self) -> None:
        self._held = None
        if self.transport.is_closing():
            return
        early, self._early = b"".join(self._early), []
        self.transport.resume_reading()
        if early:
            self.data_received(early)

    def _arm(self) -> None:
        self._disarm()
        self._waiting_for = self.cycle  # headers arrived once a new cycle replaces this one
        self._header_timer = self.loop.call_later(self.guards.settings.header_timeout, self._header_timeout)

    def _disarm(self) -> None:
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:  # closed, or a websocket now
            return
        if self.cycle is self._waiting_for:  # no request headers since the timer started
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:  # answered already: what it sends is dropped
            return
        if self._held is not None:  # kept, unparsed, until the delay is over
            self._early.append(data)
            self.transport.pause_reading()
            return
        if data[:5] == b"POST " and self._shed_unread(data):
            return
        super().data_received(data)
        if self.cycle is not self._waiting_for or self.transport.get_protocol() is not self:
            self._disarm()  # headers in (the body has its own timeout), or upgraded to a websocket

    def _shed_unread(self, data: bytes) -> bool:
        """Answer 503 and close if the app's shed refuses the request whose head ``data`` holds. Only a
        request that starts a new cycle with its whole head in ``data`` and one Content-Length; anything
        else goes the normal way (the app's ``ShedWhenBusy`` then decides on the parsed request)."""
        shed = self.guards.shed
        if not self.guards.protocol_sheds or not shed.busy() or self.cycle is not self._waiting_for:
            return False
        head, end, _ = data.partition(b"\r\n\r\n")
        if not end or self.conn.their_state is not h11.IDLE or self.conn.trailing_data[0]:
            return False
        request_line, *lines = head.split(b"\r\n")
        parts = request_line.split(b" ")
        fields = (line.partition(b":") for line in lines)
        declared = [value.strip() for name, _, value in fields if name.strip().lower() == b"content-length"]
        if len(parts) != 3 or len(declared) != 1:
            return False
        path = "/" + parts[1].partition(b"?")[0].decode("latin-1").lstrip("/")  # //api/... as the app routes it
        if not shed.refuses("POST", path, declared[0]):
            return False
        self.transport.write(error_response(503, shed.detail, retry_after=True))
        self.transport.close()
        self.guards.refused.note(self.client[0] if self.client else None)
        return True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._held is not None:
            self._held.cancel()
        super().connection_lost(exc)


class CompleteDenial(WebSocketsSansIOProtocol):
    """websockets-sansio that counts a sent denial response as a completed handshake (see the docstring) and
    leaves logging it to the app (api/ws.py: once a minute per address), not two INFO lines per refusal."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        reject = self.conn.reject

        def reject_as_json(status, text: str) -> Response:
            """The library's refusals (no key, bad version, oversized head) in the app's ``{"detail"}`` shape."""
            response = reject(status, text)
            body = json.dumps({"detail": f"websocket handshake: {text.strip() or response.reason_phrase}"}).encode()
            for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(body)))):
                del response.headers[name]
                response.headers[name] = value
            return Response(response.status_code, response.reason_phrase, response.headers, body)

        self.conn.reject = reject_as_json

    async def send(self, message) -> None:  # type: ignore[override]
        if message["type"] == "websocket.http.response.start":
            self.logger = self.conn.logger = DENIED
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            self.handshake_complete = True


def log_config(level: str) -> dict:
    """uvicorn's logging, plus the ``ganpaint`` logger on the same handler at ``level``."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ganpaint"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def uvicorn_options(settings: Settings, log_level: str = "warning") -> dict:
    """Keyword arguments for ``uvicorn.run`` beyond host, port and workers."""
    return {
        "log_level": log_level,
        "log_config": log_config(log_level),
        "http": GuardedH11,
        "ws": CompleteDenial,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "ws_max_size": 2 * settings.max_ws_message_bytes,
    }
