"""The app's uploads, found by id (POST /intervene, GET /uploads/{id}, the websocket's ``open``): the upload store
and the projection pool are built and closed in the lifespan (``open_upload_state``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI

from ganpaint.api.guards.admission import BusyError
from ganpaint.api.settings import Settings
from ganpaint.engine import Engine
from ganpaint.priority import Foreground
from ganpaint.uploads import Projections, Upload, UploadStore


@contextmanager
def upload_state(app: FastAPI, settings: Settings, foreground: Foreground) -> Iterator[None]:
    """For the lifespan: the app's upload store (``app.state.uploads``) and projection thread
    (``app.state.projections``), stopped when the app stops (what waits is cancelled, what runs stops at its
    next step)."""
    app.state.uploads = UploadStore(
        settings.max_uploads, settings.upload_dir, settings.max_saved_uploads, settings.upload_ttl_hours * 3600
    )
    app.state.projections = Projections(settings.max_projections, foreground=foreground)
    try:
        yield
    finally:
        app.state.projections.close()


def find_upload(app: FastAPI, engine: Engine, upload_id: str) -> Upload:
    """The upload ``upload_id`` (404 naming it if unknown or evicted); one found in the shared folder gets its
    projector from the app's pool."""
    projections: Projections = app.state.projections
    return app.state.uploads.get(upload_id, lambda model, layer: projections.projector(engine.model(model), layer))


def ready_upload(up: Upload) -> Upload:
    """``up`` if it is projected; ValueError (failed) or BusyError (still projecting) naming it otherwise."""
    if up.status != "ready":
        if up.status == "failed":
            raise ValueError(f"upload: {up.id!r} failed: {up.error}")
        raise BusyError(f"upload: {up.id!r} is still projecting ({up.stage}, {up.fraction:.0%}); retry shortly")
    return up
