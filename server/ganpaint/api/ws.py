"""WS /ws/paint: stroke lists in, frames out, latest wins (protocol in docs/api.md).

A connection holds one open image and at most one queued update. The receive loop validates each
update at once (errors go back immediately, tagged with its seq) and replaces any queued one; a
render loop renders the queued update, sends the frame, and repeats. So a fast painter never builds a
backlog: updates that arrive while a frame renders are superseded, and only the newest gets a frame.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from dataclasses import dataclass

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from ganpaint.api.edits import build_edits
from ganpaint.api.errors import format_errors
from ganpaint.api.schemas import OpenMessage, PingMessage, RenderMessage
from ganpaint.engine import Engine, LoadedModel, RenderJob

router = APIRouter(tags=["paint"])

MESSAGES = {"open": OpenMessage, "render": RenderMessage, "ping": PingMessage}


def frame_header(seq: int, render_ms: float) -> bytes:
    """4-byte big-endian seq, 2-byte big-endian render time in tenths of ms (capped at 65535)."""
    return struct.pack(">IH", seq, min(65535, max(0, round(render_ms * 10))))


@dataclass
class OpenImage:
    model: LoadedModel
    image: int
    layer: str
    fmt: str
    quality: int
    generation: int


class PaintSession:
    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.engine: Engine = ws.app.state.engine
        self.settings = ws.app.state.settings
        self.open: OpenImage | None = None
        self.pending: tuple[int, RenderJob, int] | None = None  # (seq, job, generation)
        self.wake = asyncio.Event()
        self.generation = 0
        self.superseded = 0

    async def error(self, seq: int | None, detail: str) -> None:
        await self.ws.send_text(json.dumps({"type": "error", "seq": seq, "detail": detail}))

    async def handle(self, text: str) -> None:
        seq = None
        if len(text.encode()) > self.settings.max_ws_message_bytes:
            limit = self.settings.max_ws_message_bytes
            return await self.error(None, f"message: {len(text.encode())} bytes exceeds the limit of {limit} bytes")
        try:
            msg = json.loads(text)
        except json.JSONDecodeError as exc:
            return await self.error(None, f"message: invalid JSON ({exc})")
        if isinstance(msg, dict) and isinstance(msg.get("seq"), int):
            seq = msg["seq"]
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind not in MESSAGES:
            return await self.error(seq, f"type: expected 'open', 'render' or 'ping', got {kind!r}")
        try:
            parsed = MESSAGES[kind].model_validate(msg)
        except ValidationError as exc:
            return await self.error(seq, format_errors(exc.errors()))
        try:
            if kind == "ping":
                await self.ws.send_text('{"type":"pong"}')
            elif kind == "open":
                await self.open_image(parsed)
            else:
                self.queue_render(parsed)
        except ValueError as exc:  # NotFoundError too
            await self.error(seq, str(exc))

    async def open_image(self, msg: OpenMessage) -> None:
        m = self.engine.model(msg.model or self.settings.model)
        layer = msg.layer or m.info.default_layer
        m.dissection(layer)  # NotFoundError unless the layer can be painted
        self.generation += 1
        self.pending = None
        self.open = OpenImage(m, msg.image, layer, msg.format, msg.quality, self.generation)
        await asyncio.to_thread(self.engine.features, m, msg.image, None, layer)  # warm the cache off the loop
        ready = {
            "type": "ready",
            "model": m.id,
            "image": msg.image,
            "layer": layer,
            "resolution": m.info.resolution,
            "format": msg.format,
            "concepts": sorted(m.precomputed[layer].concepts),
        }
        await self.ws.send_text(json.dumps(ready))

    def queue_render(self, msg: RenderMessage) -> None:
        received = time.perf_counter()
        if self.open is None:
            raise ValueError("render: send an 'open' message first")
        o = self.open
        edits = build_edits(o.model, self.settings, msg.strokes, (), o.layer)
        job = RenderJob(o.model.id, o.image, None, edits, o.fmt, o.quality, batchable=True, submitted=received)
        if self.pending is not None:
            self.superseded += 1
        self.pending = (msg.seq, job, o.generation)
        self.wake.set()

    async def render_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending is not None:
                seq, job, generation = self.pending
                self.pending = None
                try:
                    frame = await self.engine.render_async(job)
                except ValueError as exc:
                    await self.error(seq, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - report it; the connection stays usable
                    await self.error(seq, f"render failed: {type(exc).__name__}: {exc}")
                    continue
                if generation == self.generation:  # not for an image the client has left
                    await self.ws.send_bytes(frame_header(seq, frame.render_ms) + frame.data)


@router.websocket("/ws/paint")
async def paint(ws: WebSocket) -> None:
    """Open an image, send stroke lists, receive frames tagged with their seq."""
    await ws.accept()
    session = PaintSession(ws)
    renderer = asyncio.create_task(session.render_loop())
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                await session.error(None, "message: expected JSON text, got a binary message")
                continue
            await session.handle(text)
            if renderer.done():
                break
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        renderer.cancel()
