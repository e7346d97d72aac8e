"""The FastAPI app: ``create_app(settings)`` wires routers, errors, limits and the page; the lifespan loads.

Nothing heavy happens at import: the engine (and the default model) load in the lifespan, so importing
this module or building the app for the OpenAPI spec costs no weights.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ganpaint import __version__
from ganpaint.api import classic, classroom, compat, errors, ws
from ganpaint.api.cors import CORS, LeadingSlashes
from ganpaint.api.docs_pages import install_redoc
from ganpaint.api.edits import MASK_DECODER
from ganpaint.api.gate import RenderGate, Shed, ShedWhenBusy
from ganpaint.api.routes import health, models, render, reports, uploads
from ganpaint.api.schemas import ERROR_RESPONSES
from ganpaint.api.serving import SHED_STATE, BodyTimeout, send_error
from ganpaint.api.settings import Settings
from ganpaint.engine import Engine

log = logging.getLogger("ganpaint")
PLACEHOLDER = "<!doctype html><title>ganpaint</title><p>ganpaint API: see <a href='/docs'>/docs</a>.</p>"


class BodyLimit:
    """ASGI middleware: 413 for HTTP bodies over ``limit`` bytes (declared or streamed). ``streamed``: paths whose
    route reads its body itself, with its own limit (only a declared length over it is refused here)."""

    def __init__(self, app, limit: int, streamed: dict[str, int] | None = None):
        self.app, self.limit, self.streamed = app, limit, streamed or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        limit = self.streamed.get(path, self.limit)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await self._reject(send, int(declared), limit)
        if path in self.streamed:
            return await self.app(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > limit:
                return await self._reject(send, size, limit)
            chunks.append(message)
            more = message.get("more_body", False)

        async def replay():
            return chunks.pop(0) if chunks else await receive()

        return await self.app(scope, replay, send)

    async def _reject(self, send, size: int, limit: int) -> None:
        # closing: the rest of the body is never read
        await send_error(send, 413, f"request body: {size} bytes exceeds the limit of {limit} bytes", close=True)


class Draining:
    """ASGI middleware: 503 for new HTTP requests once SIGTERM started the drain (requests in flight finish)."""

    def __init__(self, app, registry: ws.PaintRegistry):
        self.app, self.registry = app, registry

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.registry.draining:
            return await self.app(scope, receive, send)
        await send_error(send, 503, "server: shutting down; retry on another server", retry_after=True, close=True)


def drain_on_sigterm(registry: ws.PaintRegistry, timeout: float) -> None:
    """Put a SIGTERM handler in front of uvicorn's: refuse new work, let frames in flight finish (at most
    ``timeout`` s), then hand the signal to uvicorn, which closes the sockets and waits for HTTP requests.
    Only in the main thread of a server process (uvicorn installs its handler before the lifespan runs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return
    loop = asyncio.get_running_loop()
    tasks = set()

    async def drain(sig, frame) -> None:
        idle = await registry.wait_idle(timeout)
        log.warning("ganpaint: SIGTERM: %s; shutting down", "frames in flight done" if idle else "drain timed out")
        previous(sig, frame)

    def on_sigterm(sig, frame) -> None:
        if registry.draining:  # a second SIGTERM: no more waiting
            return previous(sig, frame)
        registry.draining = True
        loop.call_soon_threadsafe(lambda: tasks.add(loop.create_task(drain(sig, frame))))

    signal.signal(signal.SIGTERM, on_sigterm)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    shed = Shed(MASK_DECODER, settings.max_mask_backlog)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = Engine(
            settings.models_dir,
            settings.precomputed_dir,
            device=settings.device,
            dtype=settings.dtype,
            cache_size=settings.cache_size,
            max_batch=settings.max_batch,
            threads=settings.threads,
            baseline=settings.baseline,
        )
        try:
            if settings.model:
                engine.model(settings.model)  # fail at startup, not at the first request
            app.state.engine = engine
            drain_on_sigterm(app.state.paint, settings.drain_timeout)
            if getattr(app.state, "freeze_after_startup", False):
                # what startup built (the model, routes, schemas) lives as long as the process: out of the
                # collector's sight, a full collection under load took 15 ms, not 117-144 ms that stalled every
                # thread (docs/reliability.md, round four); only ganpaint serve, not apps built in-process
                gc.collect()
                gc.freeze()
            # ganpaint serve's protocol sheds before parsing (api/serving.py); with CORS on, the middleware
            # does, so its 503s carry the CORS headers a browser needs to read them
            yield {} if origins else {SHED_STATE: shed}
        finally:
            app.state.projections.close()
            engine.close()

    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, not a CDN (work offline);
    # /redoc is ganpaint's, with the one address in ReDoc's bundle that leaves the server replaced (api/docs_pages.py)
    app = FastAPIOffline(
        redoc_url=None,
        title="ganpaint",
        version=__version__,
        description="Semantic painting on a Progressive GAN. Protocol and errors: docs/api.md.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,  # {"detail": "<one string>"}, not FastAPI's default 422 list
    )
    app.state.settings = settings
    app.state.paint = ws.PaintRegistry()
    # the baseline reproduces the original server, which queued every request without a cap
    app.state.render_gate = RenderGate(1 << 30 if settings.baseline else settings.max_rest_images)
    uploads.install(app, settings)  # the upload store, the projection thread, body admission (api/routes/uploads.py)
    # POST /uploads receives its body itself: judged early, spooled to disk (api/upload_body.py)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, streamed={"/uploads": settings.max_upload_bytes})
    app.add_middleware(Draining, registry=app.state.paint)
    app.add_middleware(ShedWhenBusy, shed=shed)
    app.add_middleware(BodyTimeout, timeout=settings.body_timeout)  # 408 for a stalled body (api/serving.py)
    if origins:  # around the others, so refusals (413, 503) carry the headers too; websockets pass untouched
        allow = ["*"] if "*" in origins else origins
        app.add_middleware(
            CORS,  # Starlette's, whose refused preflights carry no CORS headers (api/cors.py)
            allow_origins=allow,
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    app.add_middleware(LeadingSlashes)  # the original client with api=<url>/ asks //api/...: outermost of all
    install_redoc(app)
    errors.install(app)
    for module in (health, models, render, reports, uploads):
        app.include_router(module.router)
    app.include_router(ws.router)
    app.include_router(compat.router)
    classroom.install(app)  # a class (ganpaint classroom): /class/*, /teacher, the student page (api/classroom/)
    app.include_router(classic.router)  # demo mode's /data/<project>/cache/img/id/<id>.jpg
    if settings.classic_client is not None:
        classic.add_classic_client(app, settings.classic_client)
    if (settings.web_dir / "index.html").is_file():
        # mounted last, so it never shadows an API route
        app.mount("/", StaticFiles(directory=settings.web_dir, html=True), name="web")
    else:

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def read_index() -> str:
            return PLACEHOLDER

    return app


def create_app_from_env() -> FastAPI:
    """The uvicorn factory used by ``ganpaint serve`` (settings from GANPAINT_* variables)."""
    app = create_app(Settings())
    app.state.freeze_after_startup = True  # a server process: startup's objects are never collected (gc.freeze)
    return app
