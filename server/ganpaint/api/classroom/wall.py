"""The class wall: each student's painting as the server renders it from the strokes.

``ClassWall.run`` wakes every ``TICK`` seconds and asks the class which thumbnails are due (a painting changed, at
most one per student per ``thumbnail_interval`` s: so a stroke shows within interval + one tick, under 3 s). A
due thumbnail is the latest frame the engine rendered for the student (``Classroom.note_frame``: the painter's
own render of their strokes, so the wall costs the painters nothing; measured in bench/classroom.py). Without
one (after a restart, a page that left before its frame) it is rendered here, one at a time, on the engine's
background render thread (``interactive=False``: lowest CPU priority, stepping aside before every layer while a
painter's frame renders, ``ganpaint.priority``), through the same cached features and edits. Pictures for the
spotlight and the album are that render through the model's 4x refiner where it has one (the page's "sharp"
view), scaled to ``picture_size`` (nearest-neighbour upwards: without a refiner each model pixel is a sharp
square, the page's "pixels" view). ``run`` also writes changed paintings to the database every
``flush_interval`` (in a thread).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time

from PIL import Image
from pydantic import TypeAdapter

from ganpaint.api.edits import EditBuilder
from ganpaint.api.schemas import StrokeIn
from ganpaint.classroom.room import Classroom, Painting, Student
from ganpaint.engine import Engine, RenderJob

log = logging.getLogger("ganpaint")
TICK = 0.25  # seconds between looks for due thumbnails
THUMBNAIL_MAX = 128  # px: larger models' thumbnails rendered here are scaled down to this
# seconds to wait for a painter's frame before the wall renders the painting itself: on an overloaded server
# frames take seconds, and rendering the same strokes a second time would only add to the load
FRAME_GRACE = 3.0


STROKE_LIST = TypeAdapter(list[StrokeIn])


def dump_strokes(strokes: list[StrokeIn]) -> str:
    """JSON of a stroke list, in pydantic's compiled serializer: 32 paintings of 12 strokes of 20 points take
    0.75 ms each here against 2.1 ms through ``model_dump`` + ``json.dumps`` (the flush runs every second)."""
    return STROKE_LIST.dump_json(strokes, exclude_unset=True).decode()


def load_strokes(text: str) -> list[StrokeIn]:
    return STROKE_LIST.validate_json(text)


def stroke_points(strokes: list[StrokeIn]) -> int:
    """Polyline points over all strokes (the class bounds it); a mask in another form counts its length."""
    total = 0
    for s in strokes:
        points = s.mask.get("points") if isinstance(s.mask, dict) else None
        total += len(points) if isinstance(points, list) else len(str(s.mask)) // 8 + 1
    return total


def scaled_png(png: bytes, side: int, smaller_only: bool = False) -> bytes:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    if img.width == side or (smaller_only and img.width <= side):
        return png
    resample = Image.Resampling.NEAREST if side > img.width else Image.Resampling.LANCZOS
    out = io.BytesIO()
    img.resize((side, side), resample).save(out, "PNG", compress_level=6)
    return out.getvalue()


class ClassWall:
    """Renders the class's paintings; ``run()`` keeps the wall's thumbnails and the database current."""

    def __init__(self, room: Classroom, engine: Engine, edits: EditBuilder):
        self.room, self.engine, self.edits = room, engine, edits
        self.rendered = 0  # thumbnails rendered here (tests, bench)
        self.reused = 0  # thumbnails that were the painter's own frame
        self.failed = 0

    async def render(self, p: Painting, with_strokes: bool = True, refined: bool = False) -> bytes:
        """The painting (or, without strokes, the picture before it) as a PNG at the model's resolution, or 4x
        through the model's refiner with ``refined`` (where it has one)."""
        m = self.engine.model(p.model)
        strokes = p.strokes if with_strokes else []
        edits = await self.edits.build(m, strokes, (), p.layer)  # the painters' own way from strokes to edits
        job = RenderJob(m.id, p.image, None, edits, "png", interactive=False, refined=refined and m.refiner is not None)
        frame = await self.engine.render_async(job)
        return frame.data

    async def picture(self, p: Painting, which: str, side: int) -> bytes:
        """The spotlight's and the album's picture: the refined render where the model has a refiner."""
        return scaled_png(await self.render(p, with_strokes=which == "after", refined=True), side)

    async def update_thumbnail(self, st: Student) -> None:
        """The wall's next thumbnail of ``st``: their own newest frame; rendered here only when no frame came
        for ``FRAME_GRACE`` s after the update (a restart, a page that left)."""
        newer = self.room.newer_frame(st)
        if newer is not None:  # the painter's own frame of these strokes: nothing to render
            self.reused += 1
            self.room.set_thumbnail(st, *newer)
            return
        p, painted_at = st.painting, st.painted_at
        seq = st.updates[-1][0] if st.updates else None
        if time.monotonic() - painted_at < FRAME_GRACE:
            return  # its frame is on the way
        try:
            png = scaled_png(await self.render(p), THUMBNAIL_MAX, smaller_only=True)
        except Exception as exc:  # noqa: BLE001 - a painting that no longer renders (model gone): say so once
            self.failed += 1
            log.warning("ganpaint classroom: thumbnail of %s failed: %s", st.id, exc)
            st.thumbnail_of, st.thumbnail_at = painted_at, time.monotonic()
            return
        self.rendered += 1
        self.room.set_thumbnail(st, png, painted_at, seq)

    async def run(self) -> None:
        """Thumbnails as they fall due, the database every ``flush_interval``; until cancelled."""
        next_flush = time.monotonic() + self.room.settings.flush_interval
        while True:
            for st in self.room.due_thumbnails():
                await self.update_thumbnail(st)
            if time.monotonic() >= next_flush:
                next_flush = time.monotonic() + self.room.settings.flush_interval
                try:
                    await asyncio.to_thread(self.room.flush)
                except Exception:  # noqa: BLE001 - keep serving; the next flush retries
                    log.exception("ganpaint classroom: saving paintings failed")
            await asyncio.sleep(TICK)
