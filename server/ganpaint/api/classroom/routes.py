"""The class's routes: /class/* for students (their token) and the teacher (the key); protocol in docs/classroom.md.

Students: ``GET /class`` (name, state; with a token, their own painting), ``POST /class/join``, ``POST
/class/name``, ``POST /class/hand-in``. Teacher (``X-Teacher-Key``, else 403): ``GET /class/wall`` (long poll
for changes), ``GET /class/join-code``, ``POST /class/state``, ``POST /class/students/{id}/hidden``, ``GET
/class/students/{id}/picture``, ``POST /class/end``, ``GET /class/album.zip``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from ganpaint.api.classroom.auth import RoomDep, StudentDep, TeacherDep
from ganpaint.api.classroom.wall import ClassWall
from ganpaint.api.deps import data_url
from ganpaint.api.schemas import Strict
from ganpaint.classroom.album import AlbumEntry, write_album
from ganpaint.classroom.room import ClassError, Classroom, Student
from ganpaint.engine import NotFoundError

router = APIRouter(prefix="/class", tags=["classroom"])
MAX_WAIT = 25.0  # seconds a wall poll waits for a change


class JoinRequest(Strict):
    name: str | None = Field(None, max_length=200, description="optional display name (the class's limit applies)")


class NameRequest(Strict):
    name: str = Field(max_length=200)


class StateRequest(Strict):
    state: Literal["open", "paused"]


class HiddenRequest(Strict):
    hidden: bool


def painting_json(st: Student) -> dict | None:
    p = st.painting
    if p is None:
        return None
    strokes = [s.model_dump(exclude_unset=True) for s in p.strokes]  # as the page sent them
    return {"model": p.model, "image": p.image, "layer": p.layer, "strokes": strokes}


# ----------------------------------------------------------------------------- students


@router.get("")
def read_class(request: Request, room: RoomDep) -> dict:
    """The class's name and state; with a valid ``X-Student-Token``, that student and their painting."""
    token = request.headers.get("x-student-token")
    you = None
    if token and len(token) <= 64:
        try:
            st = room.student_for(token)
            you = {"id": st.id, "name": st.name, "hand_ins": st.hand_ins, "painting": painting_json(st)}
        except ClassError:
            you = None
    return {"id": room.row.id, "name": room.row.name, "state": room.state, "you": you}


@router.post("/join", status_code=201)
def create_student(body: JoinRequest, room: RoomDep) -> dict:
    """Join with an optional display name: a random id and the token that is the student's only key."""
    st, token = room.join(body.name)
    return {"id": st.id, "name": st.name, "token": token, "class": room.row.id}


@router.post("/name")
def update_name(body: NameRequest, room: RoomDep, st: StudentDep) -> dict:
    """Change the display name."""
    room.rename(st, body.name)
    return {"id": st.id, "name": st.name}


@router.post("/hand-in", status_code=201)
def create_hand_in(room: RoomDep, st: StudentDep) -> dict:
    """Hand in the current painting (a copy kept in the database; rate-limited)."""
    room.hand_in(st)
    return {"id": st.id, "hand_ins": st.hand_ins}


# ----------------------------------------------------------------------------- teacher


def image_type(data: bytes) -> str:
    """The media type of a thumbnail (a painter's frame is PNG, JPEG or WebP, as their page asked)."""
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "image/webp" if data[8:12] == b"WEBP" else "image/png"


def student_card(room: Classroom, st: Student, since: int) -> dict:
    card = {
        "id": st.id,
        "name": st.name,
        "hidden": st.hidden,
        "hand_ins": st.hand_ins,
        "painted": st.painting is not None,
        "thumbnail_version": st.thumbnail_version,
        "shows_seq": st.thumbnail_seq,  # the update (the page's seq) the thumbnail shows, if known
    }
    if st.thumbnail is not None and st.changed > since:
        card["thumbnail"] = data_url(st.thumbnail, image_type(st.thumbnail))
    return card


async def wait_for_change(request: Request, since: int, wait: float) -> None:
    """Until the class changes past ``since``, ``wait`` seconds pass, or the server starts shutting down (a poll
    must not outlive the shutdown's grace: it is checked every second)."""
    room: Classroom = request.app.state.classroom
    deadline = time.monotonic() + wait
    while room.version <= since and time.monotonic() < deadline and not request.app.state.guards.drain.draining:
        changed = asyncio.get_running_loop().create_future()
        waiters: set = request.app.state.class_waiters
        waiters.add(changed)
        try:
            async with asyncio.timeout(min(1.0, max(0.0, deadline - time.monotonic()))):
                await changed
        except TimeoutError:
            continue
        finally:
            waiters.discard(changed)


@router.get("/wall")
async def read_wall(
    request: Request,
    room: TeacherDep,
    since: Annotated[int, Query(ge=0)] = 0,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0,
) -> dict:
    """The students changed since version ``since`` (all for 0), with thumbnails as data URLs; waits up to
    ``wait`` seconds for a change first."""
    await wait_for_change(request, since, wait)
    changed = [student_card(room, st, since) for st in room.students.values() if st.changed > since]
    wall: ClassWall = request.app.state.class_wall
    return {
        "version": room.version,
        "class": {"id": room.row.id, "name": room.row.name, "state": room.state, "students": len(room.students)},
        "students": changed,
        "thumbnails": {"frames": wall.reused, "rendered": wall.rendered, "failed": wall.failed},
    }


@router.get("/join-code")
def read_join_code(request: Request, room: TeacherDep) -> dict:
    """The join URLs and a QR code of the first (SVG) to project."""
    urls = [u for u in request.app.state.class_settings.join_urls.split(",") if u] or [str(request.base_url)]
    # a viewBox and no size: the page scales it to the projector
    svg = segno.make(urls[0], error="m").svg_inline(border=2, dark="#000", light="#fff", omitsize=True)
    return {"urls": urls, "qr_svg": svg}


@router.post("/state")
def update_state(body: StateRequest, room: TeacherDep) -> dict:
    """Pause painting ("eyes on me") or open it again."""
    room.set_state(body.state)
    return {"state": room.state}


def find_student(room: Classroom, student_id: str) -> Student:
    try:
        return room.student(student_id)
    except KeyError:
        raise NotFoundError(f"student: no student {student_id[:40]!r} in this class") from None


@router.post("/students/{student_id}/hidden")
def update_hidden(student_id: str, body: HiddenRequest, room: TeacherDep) -> dict:
    """Hide a painting from the wall, the spotlight and the album (or show it again)."""
    st = find_student(room, student_id)
    room.set_hidden(st, body.hidden)
    return {"id": st.id, "hidden": st.hidden}


@router.get("/students/{student_id}/picture", response_class=Response)
async def read_picture(
    request: Request, student_id: str, room: TeacherDep, which: Literal["after", "before"] = "after"
) -> Response:
    """One painting (or the picture before it) as a PNG of ``picture_size`` px, for the spotlight."""
    st = find_student(room, student_id)
    if st.painting is None:
        raise NotFoundError(f"student: {student_id!r} has not painted yet")
    wall: ClassWall = request.app.state.class_wall
    png = await wall.picture(st.painting, which, room.settings.picture_size)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/end")
async def end_class(request: Request, room: TeacherDep) -> dict:
    """End the class (nothing more is accepted) and write the album zip."""
    room.set_state("ended")
    wall: ClassWall = request.app.state.class_wall
    entries = []
    handed = {h.student_id: h for h in room.store.hand_ins(room.row.id)}  # the latest hand-in of each
    for st in room.students.values():
        if st.hidden or st.painting is None:
            continue
        p = st.painting
        before = await wall.picture(p, "before", room.settings.picture_size)
        after = await wall.picture(p, "after", room.settings.picture_size)
        entries.append(AlbumEntry(st.name, st.id, before, after, painting_json(st), st.id in handed))
    path = room.settings.dir / room.row.id / "album.zip"  # a copy on this machine's disk
    await asyncio.to_thread(write_album, path, room.row.name, entries)
    await asyncio.to_thread(room.store.save_album, room.row.id, path.read_bytes())  # any replica serves it
    return {"state": room.state, "paintings": len(entries), "album": "/class/album.zip"}


@router.get("/album.zip", response_class=Response)
def read_album(room: TeacherDep) -> Response:
    """The album of an ended class: 512 px before/after PNGs, the strokes, an index.html that opens offline."""
    data = room.store.album(room.row.id)
    if data is None:
        raise ClassError("album: the class has not ended yet; end it first")
    disposition = f'attachment; filename="ganpaint-class-{room.row.id}.zip"'
    return Response(data, media_type="application/zip", headers={"Content-Disposition": disposition})
