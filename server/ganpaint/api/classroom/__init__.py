"""Classroom mode in the app: one ``install(app)`` line in ``create_app``; nothing happens without a class.

    GANPAINT_CLASS_ENABLED=1 GANPAINT_CLASS_TEACHER_KEY=... ganpaint serve    # what ganpaint classroom does

With ``ClassSettings().enabled`` it adds the class's routes (``routes.py``), the student page and ``/teacher``
(``page.py``), the painting websocket's observer (``observer.py``: updates become paintings, refused while
paused), error answers for class refusals (409 ended/full, 403 not joined, 429 too soon) and, in the lifespan,
the class (``ganpaint.classroom``: SQLite under ``ClassSettings.dir``, or PostgreSQL at ``GANPAINT_DATABASE_URL``
with other replicas' changes arriving by ``LISTEN``) and its wall renderer (``wall.py``).
Teacher guide and protocol: docs/classroom.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ganpaint.api.classroom import page, routes
from ganpaint.api.classroom.observer import ClassPaintObserver
from ganpaint.api.classroom.wall import ClassWall, dump_strokes, load_strokes
from ganpaint.classroom.room import ClassError, Classroom
from ganpaint.classroom.settings import ClassSettings
from ganpaint.classroom.store import open_store


def install(app: FastAPI, class_settings: ClassSettings | None = None) -> None:
    """Classroom mode, if ``class_settings`` (default: from GANPAINT_CLASS_*) enables it."""
    cs = class_settings or ClassSettings()
    if not cs.enabled:
        return
    if not cs.teacher_key and cs.database_url:  # replicas must share one key, or no teacher can use all of them
        raise ValueError("GANPAINT_CLASS_TEACHER_KEY: a class in PostgreSQL needs the key every replica shares")
    if not cs.teacher_key:
        cs.teacher_key = secrets.token_urlsafe(18)  # a server started without one: nobody can act as teacher
    app.state.class_settings = cs
    app.state.class_waiters = set()  # futures of wall polls waiting for a change
    app.include_router(routes.router)
    app.include_router(page.router)

    @app.exception_handler(ClassError)
    async def _class_refused(_: Request, exc: ClassError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else {}
        return JSONResponse({"detail": str(exc)}, exc.status, headers=headers)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with inner(app) as state:
            room = open_class(app, cs)
            loop = asyncio.get_running_loop()
            # other replicas' changes (PostgreSQL LISTEN/NOTIFY), handled on the event loop
            stop_listening = room.store.listen(lambda payload: loop.call_soon_threadsafe(room.on_notice, payload))
            task = asyncio.create_task(app.state.class_wall.run())
            try:
                yield state
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                stop_listening()
                room.flush()
                room.store.close()

    app.router.lifespan_context = lifespan


def open_class(app: FastAPI, cs: ClassSettings) -> Classroom:
    """The class in its database (the running one continues after a restart), its wall and websocket observer."""
    room = Classroom(open_store(cs.database_url, cs.dir), cs, dump=dump_strokes, load=load_strokes)
    app.state.classroom = room
    app.state.class_wall = ClassWall(room, app.state.engine, app.state.edits)
    app.state.paint_observer = ClassPaintObserver(room)
    waiters = app.state.class_waiters

    def wake_wall_polls() -> None:
        for f in waiters:
            if not f.done():
                f.set_result(None)
        waiters.clear()

    room.listeners.append(wake_wall_polls)
    return room
