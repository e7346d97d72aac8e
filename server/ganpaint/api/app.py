"""The FastAPI app: ``create_app(settings)`` wires routers, errors, guards and the page; the lifespan loads.

A request crosses, in order: the protocol's connection caps and timeouts (``ganpaint serve`` only), leading
slashes, CORS (if on), the body timeout, shedding, the drain, the body limit, then its route, where the
websocket's origin policy, REST image admission and the mask lanes apply (each layer: api/guards/__init__.py,
built once per app from its one ``Settings``).

Nothing heavy happens at import: the engine (and the default model) load in the lifespan, so importing
this module or building the app for the OpenAPI spec costs no weights.
"""

from __future__ import annotations

import gc
import logging
from contextlib import ExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from ganpaint import __version__
from ganpaint.api import classic, classroom, compat, errors, ws
from ganpaint.api.docs_pages import install_redoc
from ganpaint.api.edits import EditBuilder
from ganpaint.api.guards import Guards
from ganpaint.api.guards.drain import drain_on_sigterm
from ganpaint.api.routes import context, health, models, render, reports, uploads
from ganpaint.api.schemas import ERROR_RESPONSES
from ganpaint.api.settings import Settings
from ganpaint.api.upload_body import UploadBodies
from ganpaint.api.upload_lookup import upload_state
from ganpaint.engine import Engine
from ganpaint.priority import Foreground

log = logging.getLogger("ganpaint")
PLACEHOLDER = "<!doctype html><title>ganpaint</title><p>ganpaint API: see <a href='/docs'>/docs</a>.</p>"


def lifespan_for(settings: Settings, guards: Guards, foreground: Foreground):
    """The app's lifespan: the engine (and the default model), the upload store and projection thread, the SIGTERM
    drain; all stopped in reverse when the app stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        stack = ExitStack()
        engine = Engine(
            settings.models_dir,
            settings.precomputed_dir,
            device=settings.device,
            dtype=settings.dtype,
            cache_size=settings.cache_size,
            max_batch=settings.max_batch,
            threads=settings.threads,
            baseline=settings.baseline,
            foreground=foreground,
        )
        try:
            if settings.model:
                engine.model(settings.model)  # fail at startup, not at the first request
            stack.enter_context(upload_state(app, settings, foreground))  # the upload store and projection thread
            app.state.engine = engine
            drain_on_sigterm(guards.drain, app.state.paint.wait_idle, settings.drain_timeout)
            if getattr(app.state, "freeze_after_startup", False):
                # what startup built (the model, routes, schemas) lives as long as the process: out of the
                # collector's sight, a full collection under load took 15 ms, not 117-144 ms that stalled every
                # thread (docs/reliability.md, round four); only ganpaint serve, not apps built in-process
                gc.collect()
                gc.freeze()
            yield guards.lifespan_state()  # ganpaint serve's protocol finds the guards here (api/guards/protocol.py)
        finally:
            stack.close()
            guards.close()
            engine.close()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    foreground = Foreground()  # painters first: the engine's frames, which mask lanes and projections step aside for
    guards = Guards(settings, foreground)  # every protective layer, in the order a request crosses them

    # /docs and /redoc load Swagger UI and ReDoc from the fastapi-offline package, not a CDN (work offline);
    # /redoc is ganpaint's, with the one address in ReDoc's bundle that leaves the server replaced (api/docs_pages.py)
    app = FastAPIOffline(
        redoc_url=None,
        title="ganpaint",
        version=__version__,
        description="Semantic painting on a Progressive GAN. Protocol and errors: docs/api.md.",
        lifespan=lifespan_for(settings, guards, foreground),
        responses=ERROR_RESPONSES,  # {"detail": "<one string>"}, not FastAPI's default 422 list
    )
    app.state.settings = settings
    app.state.guards = guards
    app.state.edits = EditBuilder(settings, guards.lanes)  # strokes -> edits: prepare, admit, run, assemble
    app.state.paint = ws.PaintRegistry()
    app.state.upload_bodies = UploadBodies(settings.max_upload_bodies)  # bodies arriving at once (api/upload_body.py)
    context.install(app)  # context maps computing at once (api/routes/context.py)
    install_redoc(app)
    errors.install(app)
    # classic: demo mode's /data/<project>/cache/img/id/<id>.jpg
    routers = [module.router for module in (health, models, render, reports, uploads, context, ws, compat, classic)]
    for router in routers:
        app.include_router(router)
    classroom.install(app)  # a class (ganpaint classroom): /class/*, /teacher, the student page (api/classroom/)
    if settings.classic_client is not None:
        classic.add_classic_client(app, settings.classic_client)
    guards.install(app, routers)  # the middlewares, told what the routes declare they carry (api/guards)
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
