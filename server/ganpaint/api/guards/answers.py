"""The answers guards give before any route runs: ``{"detail": ...}`` JSON, from ASGI or as raw HTTP/1.1 bytes."""

from __future__ import annotations

import http
import json


def _error(detail: str, retry_after: bool, close: bool) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"detail": detail}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after:
        headers.append((b"retry-after", b"1"))
    if close:
        headers.append((b"connection", b"close"))
    return headers, body


async def send_error(send, status: int, detail: str, retry_after: bool = False, close: bool = False) -> None:
    """Answer ``{"detail": ...}`` with ``status`` straight from ASGI middleware (before any route runs); ``close``
    for a refusal whose body is not read, or a 503 (a client that ignores Retry-After reconnects)."""
    headers, body = _error(detail, retry_after, close)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_response(status: int, detail: str, retry_after: bool = False) -> bytes:
    """``send_error``'s answer as raw HTTP/1.1 bytes, closing the connection (for the protocol itself)."""
    headers, body = _error(detail, retry_after, close=True)
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()] + [k + b": " + v for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
