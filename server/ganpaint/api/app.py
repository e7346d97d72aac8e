"""The FastAPI app: ``create_app(settings)`` wires routers, errors, limits and the page; the lifespan loads.

Nothing heavy happens at import: the engine (and the default model) load in the lifespan, so importing
this module or building the app for the OpenAPI spec costs no weights.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ganpaint import __version__
from ganpaint.api import compat, errors, ws
from ganpaint.api.routes import health, models, render
from ganpaint.api.settings import Settings
from ganpaint.engine import Engine

PLACEHOLDER = "<!doctype html><title>ganpaint</title><p>ganpaint API: see <a href='/docs'>/docs</a>.</p>"


class BodyLimit:
    """ASGI middleware: 413 for HTTP bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._reject(send, int(declared))
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                return await self._reject(send, size)
            chunks.append(message)
            more = message.get("more_body", False)

        async def replay():
            return chunks.pop(0) if chunks else await receive()

        return await self.app(scope, replay, send)

    async def _reject(self, send, size: int) -> None:
        body = f'{{"detail":"request body: {size} bytes exceeds the limit of {self.limit} bytes"}}'.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

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
            yield
        finally:
            engine.close()

    app = FastAPI(
        title="ganpaint",
        version=__version__,
        description="Semantic painting on a Progressive GAN. Protocol and errors: docs/api.md.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    errors.install(app)
    for module in (health, models, render):
        app.include_router(module.router)
    app.include_router(ws.router)
    app.include_router(compat.router)
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
    return create_app(Settings())
