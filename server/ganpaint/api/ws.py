"""WS /ws/paint: stroke lists in, frames out, latest wins (protocol in docs/api.md; limits in docs/reliability.md).

A connection holds one open image and at most one queued update. The receive loop validates each
update at once (errors go back immediately, tagged with its seq) and hands it straight to the render
thread when nothing of this connection renders, else queues it (replacing any queued one); a render loop
sends each frame and starts the queued update. So a fast painter never builds a backlog: updates that
arrive while a frame renders are superseded, and only the newest gets a frame. At most one frame renders
and one waits per connection; a frame that a client does not read within ``ws_send_timeout`` ends the
connection (the server never buffers frames for a slow consumer).

An update takes as few turns of the event loop as it can (under load each turn waits for every other
connection's work): timeouts with ``asyncio.timeout`` (``wait_for`` adds a task, two turns, before 3.12),
small masks decoded on the loop (``api/edits.py``), the render submitted from the receive loop.

The app's ``PaintRegistry`` counts connections (``max_connections``; past it a clear refusal) and says when
none has a frame in flight (the SIGTERM drain waits for that: api/guards/drain.py); the origin policy is the
app's guard (api/guards/origin.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import time
from dataclasses import replace

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from ganpaint.api.edits import EditBuilder
from ganpaint.api.errors import format_errors
from ganpaint.api.guards import Guards
from ganpaint.api.guards.admission import BusyError
from ganpaint.api.schemas import OpenMessage, PingMessage, RenderMessage
from ganpaint.api.ws_open import OpenImage, open_generated, open_upload
from ganpaint.engine import Engine, RenderJob
from ganpaint.erase import FillErase
from ganpaint.values import short_repr

router = APIRouter(tags=["paint"])
log = logging.getLogger("ganpaint")

MESSAGES = {"open": OpenMessage, "render": RenderMessage, "ping": PingMessage}
CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_RESTART, CLOSE_TRY_LATER = 1001, 1008, 1012, 1013
SHUTTING_DOWN = "server: shutting down; no new frames (reconnect to another server)"


def frame_header(seq: int, render_ms: float) -> bytes:
    """4-byte big-endian seq, 2-byte big-endian render time in tenths of ms (capped at 65535)."""
    return struct.pack(">IH", seq, min(65535, max(0, round(render_ms * 10))))


class PaintRegistry:
    """The app's open connections (the SIGTERM drain waits until none renders: ``wait_idle``)."""

    def __init__(self):
        self.sessions: set[PaintSession] = set()
        self.refused = 0

    def busy(self) -> bool:
        return any(s.busy for s in self.sessions)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no connection has a frame rendering or queued (True), or ``timeout`` seconds (False)."""
        deadline = time.monotonic() + timeout
        while self.busy():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True


class SlowConsumer(Exception):
    """A send did not complete within ``ws_send_timeout``: the client does not read."""


class PaintSession:
    def __init__(self, ws: WebSocket):
        self.ws = ws
        self.engine: Engine = ws.app.state.engine
        self.settings = ws.app.state.settings
        self.registry: PaintRegistry = ws.app.state.paint
        self.guards: Guards = ws.app.state.guards
        self.edits: EditBuilder = ws.app.state.edits
        self.observer = getattr(ws.app.state, "paint_observer", None)  # a class's: records, may refuse (api/classroom)
        self.open: OpenImage | None = None
        self.pending: tuple[int, RenderJob, int] | None = None  # (seq, job, generation)
        self.rendering: tuple[int, asyncio.Future, int] | None = None  # (seq, the frame to come, generation)
        self.wake = asyncio.Event()
        self.generation = 0
        self.superseded = 0
        self.closed = False
        self.opening: asyncio.Task | None = None  # an upload's open, waiting for its projection (api/ws_open.py)
        self.updates = 0  # render messages queued so far: a refined frame is for the newest one only
        self.refine_request: tuple[int, RenderJob] | None = None  # (update number, its 4x job)
        self.refining: set[asyncio.Task] = set()  # refined frames rendering (api.md: "Refined frames")
        self.binary = asyncio.Lock()  # a "refined" message and its frame go out with no frame between them

    @property
    def busy(self) -> bool:
        return self.rendering is not None or self.pending is not None or bool(self.refining)

    async def send(self, text: str | None = None, data: bytes | None = None) -> None:
        """Send text or bytes; SlowConsumer if the client does not take it within ``ws_send_timeout``."""
        try:
            async with asyncio.timeout(self.settings.ws_send_timeout):
                await (self.ws.send_text(text) if data is None else self.ws.send_bytes(data))
        except TimeoutError as exc:
            raise SlowConsumer(f"a message waited over {self.settings.ws_send_timeout:g} s for the client") from exc

    async def send_json(self, message: dict) -> None:
        """Send ``message`` as strict JSON (NaN or Infinity raise here rather than reach a strict parser)."""
        await self.send(json.dumps(message, allow_nan=False))

    async def error(self, seq: int | None, detail: str) -> None:
        await self.send_json({"type": "error", "seq": seq, "detail": detail})

    async def handle(self, text: str) -> None:
        seq = None
        size = len(text.encode())
        if size > self.settings.max_ws_message_bytes:
            limit = self.settings.max_ws_message_bytes
            return await self.error(None, f"message: {size} bytes exceeds the limit of {limit} bytes")
        try:
            msg = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, nesting too deep
            return await self.error(None, f"message: invalid JSON ({str(exc)[:200]})")
        if isinstance(msg, dict) and isinstance(msg.get("seq"), int):
            seq = msg["seq"]
        kind = msg.get("type") if isinstance(msg, dict) else None
        if not isinstance(kind, str) or kind not in MESSAGES:
            return await self.error(seq, f"type: expected 'open', 'render' or 'ping', got {short_repr(kind)}")
        try:
            parsed = MESSAGES[kind].model_validate(msg)
        except ValidationError as exc:
            return await self.error(seq, format_errors(exc.errors()))
        try:
            if kind == "ping":
                await self.send('{"type":"pong"}')
            elif kind == "open":
                await self.open_image(parsed)
            else:
                await self.queue_render(parsed)
        except (ValueError, BusyError) as exc:  # NotFoundError too; busy: the mask decoders' backlog is full
            await self.error(seq, str(exc))
        except (SlowConsumer, WebSocketDisconnect, RuntimeError, OSError):  # the client is slow or gone
            raise
        except Exception as exc:  # a bug must not drop the connection: say so, keep the connection
            log.exception("ganpaint: /ws/paint message failed")
            await self.error(seq, f"server: internal error ({type(exc).__name__}); the connection stays open")

    async def open_image(self, msg: OpenMessage) -> None:
        """An image id or an uploaded picture (api/ws_open.py)."""
        if msg.upload is not None or msg.image is None:
            return await open_upload(self, msg)
        await open_generated(self, msg)

    async def queue_render(self, msg: RenderMessage) -> None:
        received = time.perf_counter()
        if self.guards.drain.draining:
            raise ValueError(SHUTTING_DOWN)
        if self.open is None:
            raise ValueError("render: send an 'open' message first")
        o = self.open
        # big masks decode off the event loop, so one client's masks do not stall the others' frames
        edits = [*o.base_edits, *await self.edits.build(o.model, msg.strokes, (), o.layer)]  # artifacts first
        if self.observer is not None:
            self.observer.on_render(self, msg)  # ValueError refuses the update
        # a fill erase's fit (0.2-0.3 s at scenes64) renders on the background thread, stepping aside for the
        # painters' frames: on the interactive thread two erasing painters of eight held the others' p95 at 1.9 s;
        # while a stroke is drawn ("draft") its erases get the quick fill (no fit) on the interactive thread
        fitting = not msg.draft and any(isinstance(e, FillErase) for e in edits)
        job = RenderJob(o.model.id, o.image, None, edits, o.fmt, o.quality, batchable=True, interactive=not fitting,
                        submitted=received, target=o.target, draft=msg.draft)  # fmt: skip
        if self.pending is not None:
            self.superseded += 1
        self.updates += 1
        want = msg.refine and o.model.refiner is not None
        # the refined frame renders on the background thread: painters' 64 px frames never wait behind it
        # (on the interactive thread, 16 painters ending strokes together took the others' p95 from 20 to 80 ms)
        self.refine_request = (self.updates, replace(job, refined=True, interactive=False)) if want else None
        self.pending = (msg.seq, job, o.generation)
        if self.rendering is None:
            self.start_pending()

    def start_pending(self) -> None:
        """Submit the queued update to the render thread; the render loop sends its frame."""
        seq, job, generation = self.pending
        self.pending = None
        self.rendering = (seq, self.submit(job), generation)
        self.wake.set()

    def submit(self, job: RenderJob) -> asyncio.Future:
        """The job on the render thread now; its frame is the future's result."""
        return asyncio.wrap_future(self.engine.submit(job))

    async def receive_loop(self) -> tuple[int, str]:
        """Handle messages until the client leaves or idles; returns the (code, reason) to close with."""
        while not self.closed:
            try:
                async with asyncio.timeout(self.settings.ws_idle_timeout):
                    message = await self.ws.receive()
            except TimeoutError:
                idle = self.settings.ws_idle_timeout
                return CLOSE_GOING_AWAY, f"idle: no message for {idle:g} s"
            if message["type"] == "websocket.disconnect":
                return 1000, ""
            text = message.get("text")
            if text is None:
                await self.error(None, "message: expected JSON text, got a binary message")
                continue
            await self.handle(text)
        return 1000, ""

    async def render_loop(self) -> None:
        while not self.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.rendering is not None:
                seq, future, generation = self.rendering
                try:
                    frame = await future
                except ValueError as exc:
                    await self.error(seq, str(exc))
                    continue
                except Exception as exc:  # noqa: BLE001 - report it; the connection stays usable
                    await self.error(seq, f"render failed: {type(exc).__name__}: {exc}")
                    continue
                finally:
                    self.rendering = None
                    if self.pending is not None and not self.closed:
                        self.start_pending()  # renders while this frame goes out
                if generation == self.generation:  # not for an image the client has left
                    async with self.binary:
                        await self.send(data=frame_header(seq, frame.render_ms) + frame.data)
                    if self.observer is not None:
                        self.observer.on_frame(self, seq, frame)  # a class's wall shows it (api/classroom)
                    if self.rendering is None and self.refine_request is not None:  # nothing newer in flight
                        task = asyncio.create_task(self.send_refined(seq, generation))  # the render loop goes on
                        self.refining.add(task)
                        task.add_done_callback(self.refining.discard)
                        task.add_done_callback(retrieve_exception)

    async def send_refined(self, seq: int, generation: int) -> None:
        """The 4x frame of the newest update (``refine`` in its message), announced by a ``refined`` message;
        dropped if a newer update or another image arrives while it renders (latest wins). A task of its own,
        rendered on the background thread: the painter's next frames never wait for it."""
        request, self.refine_request = self.refine_request, None
        if request is None or request[0] != self.updates:
            return
        try:
            frame = await self.submit(request[1])
        except Exception as exc:  # noqa: BLE001 - the 64 px frame stands; say why there is no sharp one
            return await self.error(seq, f"refined frame failed: {type(exc).__name__}: {exc}")
        async with self.binary:
            if request[0] != self.updates or generation != self.generation or self.closed:
                self.superseded += 1
                return
            await self.send_json({"type": "refined", "seq": seq, "size": int(frame.size)})
            await self.send(data=frame_header(seq, frame.render_ms) + frame.data)

    async def stop(self, *tasks: asyncio.Task) -> None:
        """End the connection's tasks: cancel them and wait until they have ended.

        Waits with ``asyncio.wait``, not ``gather``: the handler calling this may itself be cancelled meanwhile
        (TestClient's ``__exit__`` cancels it right after the disconnect; a server may on shutdown). ``gather``
        would then raise a child's CancelledError (from our message-less ``cancel()``) in place of the
        handler's own, and the canceller (anyio's cancel scope) would not recognise it as its own and let it
        escape (``CancelledError`` from TestClient's ``__exit__`` when a render was slow to end).
        ``asyncio.wait`` raises the handler's own cancellation and leaves the children to finish ending.
        ``closed`` (and the wake) also end a loop whose cancellation was lost (``wait_for`` before Python 3.12
        can drop one that lands as its operation completes).
        """
        self.closed = True
        self.pending = None
        self.wake.set()
        tasks = (*tasks, *self.refining)
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


def retrieve_exception(task: asyncio.Task) -> None:
    """Mark a connection task's exception as seen (its handler reports it, or the client is gone)."""
    if not task.cancelled():
        task.exception()


async def refuse(ws: WebSocket, code: int, detail: str) -> None:
    """Accept, say why in one error message, close with ``code`` (browsers cannot read a refused handshake)."""
    await ws.accept()
    await ws.send_text(json.dumps({"type": "error", "seq": None, "detail": detail}))
    await ws.close(code, detail[:120])


@router.websocket("/ws/paint")
async def paint(ws: WebSocket) -> None:
    """Open an image, send stroke lists, receive frames tagged with their seq."""
    settings = ws.app.state.settings
    registry: PaintRegistry = ws.app.state.paint
    guards: Guards = ws.app.state.guards
    address = ws.client.host if ws.client else "unknown"
    detail = guards.origin.refusal(ws.headers.get("origin"), ws.headers.get("host"), address)
    if detail is not None:
        registry.refused += 1
        try:
            await ws.send_denial_response(JSONResponse({"detail": detail}, status_code=403))
        except RuntimeError:  # the server cannot send an HTTP answer: a plain refusal (403)
            await ws.close(CLOSE_POLICY)
        return
    try:
        if guards.drain.draining:
            registry.refused += 1
            return await refuse(ws, CLOSE_RESTART, SHUTTING_DOWN)
        if len(registry.sessions) >= settings.max_connections:
            registry.refused += 1
            return await refuse(
                ws, CLOSE_TRY_LATER, f"server: {settings.max_connections} connections open (the limit); try later"
            )
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
    await ws.accept()
    session = PaintSession(ws)
    registry.sessions.add(session)
    receiver = asyncio.create_task(session.receive_loop())
    renderer = asyncio.create_task(session.render_loop())
    for task in (receiver, renderer):
        task.add_done_callback(retrieve_exception)
    code, reason = 1000, ""
    try:
        done, _ = await asyncio.wait({receiver, renderer}, return_when=asyncio.FIRST_COMPLETED)
        task = done.pop()
        exc = asyncio.CancelledError() if task.cancelled() else task.exception()
        if isinstance(exc, SlowConsumer):
            code, reason = CLOSE_POLICY, f"slow consumer: {exc}"
        elif exc is None and task is receiver:
            code, reason = task.result()
        else:
            code = None  # the client is gone (WebSocketDisconnect, RuntimeError) or already closed
    finally:
        registry.sessions.discard(session)
        await session.stop(receiver, renderer)
    if code is not None and code != 1000:
        try:
            await asyncio.wait_for(ws.close(code, reason[:120]), settings.ws_send_timeout)
        except (TimeoutError, RuntimeError, WebSocketDisconnect, OSError):
            pass
