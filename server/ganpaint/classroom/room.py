"""One running class: who joined, what each student paints now, hand-ins, and the class state. No web code.

    room = Classroom(SqliteStore(path), ClassSettings(name="7B"), dump=strokes_to_json)
    student, token = room.join("Ada")            # the token is the student's only key to their painting
    room.record_painting(student, "scenes64", 12, "layer4", strokes, points=40)   # every update the page sends
    room.hand_in(student)                        # a durable copy, rate-limited
    room.set_state("paused")                     # record_painting raises ClassPaused until "open" again
    room.flush()                                 # changed paintings and thumbnails -> the database (a thread)

Every update a painter sends is recorded in memory (an assignment: the page sends up to 33 a second); the
database gets the changed paintings every ``flush_interval`` and each hand-in at once. ``version`` counts the
changes the teacher's wall shows (it starts at the time in microseconds, so it grows across restarts); each
student carries the version of their last change, so the wall asks for what changed since the version it has.
Strokes stay opaque here: ``dump`` turns them into JSON when saved.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ganpaint.classroom.settings import ClassSettings
from ganpaint.classroom.store import ClassRow, ClassStore, PaintingRow, StudentRow
from ganpaint.values import short_repr

STATES = ("open", "paused", "ended")


class ClassError(Exception):
    """A request the class refuses in its present state; ``status`` is the HTTP answer."""

    status = 409
    retry_after: float | None = None


class ClassClosed(ClassError):
    pass


class ClassPaused(ClassError):
    pass


class NotJoined(ClassError):
    status = 403


class TooSoon(ClassError):
    status = 429

    def __init__(self, detail: str, retry_after: float):
        super().__init__(detail)
        self.retry_after = retry_after


CLOSED = "class: this class has ended; it accepts nothing more"
PAUSED = "class: your teacher paused painting (eyes on the teacher); it resumes when they press Resume"


@dataclass
class Painting:
    model: str
    image: int
    layer: str
    strokes: Any  # as recorded (the api's stroke objects); ``Classroom.dump`` makes JSON of them
    json: str | None = None  # strokes as saved, once dumped


@dataclass
class Student:
    id: str
    name: str
    token_hash: str
    joined_at: float
    hidden: bool = False
    painting: Painting | None = None
    hand_ins: int = 0
    last_hand_in: float = float("-inf")
    changed: int = 0  # the class version of this student's last change the wall shows
    painted_at: float = 0.0  # time.monotonic() of the last recorded update
    unsaved: bool = False  # painting changed since the last flush
    updates: deque = field(default_factory=lambda: deque(maxlen=8))  # (seq, painted_at) of the latest updates
    frame: bytes | None = None  # the painter's own frame of ``frame_of`` (the wall shows it: no render again)
    frame_of: float = -1.0
    frame_seq: int | None = None
    thumbnail: bytes | None = None  # image of the current painting (the wall's): PNG, or the frame's format
    thumbnail_of: float = -1.0  # painted_at the thumbnail shows
    thumbnail_at: float = float("-inf")  # time.monotonic() it was rendered
    thumbnail_version: int = 0
    thumbnail_seq: int | None = None  # the page's seq of the update the thumbnail shows (bench/classroom.py)
    thumbnail_unsaved: bool = False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Classroom:
    store: ClassStore
    settings: ClassSettings
    dump: Callable[[Any], str] = json.dumps
    load: Callable[[str], Any] = json.loads
    row: ClassRow = field(init=False)
    students: dict[str, Student] = field(init=False, default_factory=dict)
    version: int = 0
    listeners: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_token: dict[str, Student] = {}
        self._flush_lock = threading.Lock()
        self.origin = secrets.token_hex(4)  # this replica, in the notices it sends
        self.row = self.store.current_or_create_class(secrets.token_hex(6), self.settings.name)
        self._reload()

    def _reload(self) -> None:
        """Students, paintings (thumbnails too) and hand-in counts from the database: a restart loses nothing."""
        for s in self.store.students(self.row.id):
            self._add(Student(s.id, s.name, s.token_hash, s.joined_at, s.hidden))
        for p in self.store.paintings(self.row.id):
            st = self.students[p.student_id]
            st.painting = Painting(p.model, p.image, p.layer, self.load(p.strokes), p.strokes)
            st.thumbnail, st.thumbnail_version = p.thumbnail, 1 if p.thumbnail else 0
            st.thumbnail_of = st.painted_at if p.thumbnail else -1.0
        for h in self.store.hand_ins(self.row.id):
            st = self.students[h.student_id]
            st.hand_ins += 1
        # versions only grow, across restarts too (a wall that polled the last server asks for what it lacks)
        self.version = max(self.version, time.time_ns() // 1000)
        for st in self.students.values():
            st.changed = self.version

    def _add(self, st: Student) -> None:
        self.students[st.id] = st
        self._by_token[st.token_hash] = st

    def _changed(self, st: Student | None = None) -> None:
        # microseconds of the clock: versions stay comparable between replicas (a wall poll may move between them)
        self.version = max(self.version + 1, time.time_ns() // 1000)
        if st is not None:
            st.changed = self.version
        for listener in self.listeners:
            listener()

    # ---------------------------------------------------------------- class state

    @property
    def state(self) -> str:
        return self.row.state

    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"state: expected one of {', '.join(STATES)}, got {short_repr(state)}")
        if self.row.state == "ended":
            raise ClassClosed(CLOSED)
        if state == "ended":
            self.flush()
        self.store.set_class_state(self.row.id, state)
        self.row.state = state
        self._changed()
        self._tell("class")

    def check_open(self, painting: bool = False) -> None:
        """ClassClosed once ended; with ``painting``, ClassPaused while the teacher pauses painting."""
        if self.row.state == "ended":
            raise ClassClosed(CLOSED)
        if painting and self.row.state == "paused":
            raise ClassPaused(PAUSED)

    # ---------------------------------------------------------------- students

    def clean_name(self, name: str | None) -> str:
        """The display name as stored: trimmed; ValueError for control characters or past ``max_name_chars``."""
        name = (name or "").strip()
        limit = self.settings.max_name_chars
        if len(name) > limit:
            raise ValueError(f"name: at most {limit} characters, got {len(name)}")
        if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name):
            raise ValueError(f"name: control characters are not allowed, got {short_repr(name)}")
        return name

    def join(self, name: str | None) -> tuple[Student, str]:
        """A new student with a random id and secret token (only its hash is kept)."""
        self.check_open()
        name = self.clean_name(name)
        if len(self.students) >= self.settings.max_students:
            raise ClassError(f"class: {self.settings.max_students} students have joined (the limit); ask your teacher")
        token = secrets.token_urlsafe(24)
        st = Student("s" + secrets.token_hex(5), name, token_hash(token), time.time())
        self.store.add_student(StudentRow(st.id, self.row.id, st.token_hash, st.name, False, st.joined_at))
        self._add(st)
        self._changed(st)
        self._tell("students", [st.id])
        return st, token

    def student_for(self, token: str | None) -> Student:
        """The student holding ``token``; NotJoined otherwise."""
        st = self._by_token.get(token_hash(token)) if token else None
        if st is None and token:  # joined through another replica a moment ago?
            row = self.store.student_by_token(self.row.id, token_hash(token))
            st = self.refresh_student(row.id) if row is not None else None
        if st is None:
            raise NotJoined("student token: missing or not of this class; join the class again")
        return st

    def student(self, student_id: str) -> Student:
        st = self.students.get(student_id)
        if st is None:
            raise KeyError(student_id)
        return st

    def rename(self, st: Student, name: str | None) -> None:
        self.check_open()
        st.name = self.clean_name(name)
        self.store.set_name(st.id, st.name)
        self._changed(st)
        self._tell("students", [st.id])

    def set_hidden(self, st: Student, hidden: bool) -> None:
        self.check_open()
        st.hidden = hidden
        self.store.set_hidden(st.id, hidden)
        self._changed(st)
        self._tell("students", [st.id])

    # ---------------------------------------------------------------- paintings

    def record_painting(
        self, st: Student, model: str, image: int, layer: str, strokes: Any, points: int, seq: int | None = None
    ) -> None:
        """The student's current painting (what their page just sent, tagged ``seq``); refused while paused or
        ended."""
        self.check_open(painting=True)
        limit = self.settings.max_painting_points
        if points > limit:
            raise ValueError(f"strokes: {points} points in all exceeds the class limit of {limit}")
        st.painting = Painting(model, image, layer, strokes)
        st.painted_at = time.monotonic()
        st.updates.append((seq, st.painted_at))
        st.unsaved = True

    def note_frame(self, st: Student, seq: int, data: bytes) -> None:
        """The frame the server rendered for the student's update ``seq`` (one of their latest): the wall's next
        thumbnail is this frame (the engine's own render of the strokes, at no extra cost)."""
        for sent, painted_at in st.updates:
            if sent == seq and painted_at > st.frame_of:
                st.frame, st.frame_of, st.frame_seq = data, painted_at, seq

    def hand_in(self, st: Student) -> int:
        """Keep a copy of the current painting; TooSoon within ``hand_in_interval`` or past ``max_hand_ins``."""
        self.check_open()
        if st.painting is None:
            raise ClassError("hand in: nothing painted yet; paint something first")
        now = time.monotonic()
        wait = st.last_hand_in + self.settings.hand_in_interval - now
        if wait > 0:
            raise TooSoon(f"hand in: handed in {now - st.last_hand_in:.0f} s ago; try again in {wait:.0f} s", wait)
        if st.hand_ins >= self.settings.max_hand_ins:
            raise TooSoon(f"hand in: {self.settings.max_hand_ins} hand-ins already (the limit)", 3600)
        p = st.painting
        row = PaintingRow(st.id, p.model, p.image, p.layer, self._json(p), time.time())
        hand_in_id = self.store.add_hand_in(row, row.updated_at)
        st.hand_ins += 1
        st.last_hand_in = now
        self._changed(st)
        self._tell("students", [st.id])
        return hand_in_id

    def _json(self, p: Painting) -> str:
        if p.json is None:
            p.json = self.dump(p.strokes)
        return p.json

    # ---------------------------------------------------------------- thumbnails and saving

    def due_thumbnails(self, now: float | None = None) -> list[Student]:
        """Students whose painting changed since their thumbnail, at most one per ``thumbnail_interval``;
        the longest waiting first."""
        now = time.monotonic() if now is None else now
        due = [
            st
            for st in self.students.values()
            if st.painting is not None
            and st.painted_at != st.thumbnail_of
            and now - st.thumbnail_at >= self.settings.thumbnail_interval
        ]
        return sorted(due, key=lambda st: st.thumbnail_at)

    def newer_frame(self, st: Student) -> tuple[bytes, float, int | None] | None:
        """The painter's latest frame and the ``painted_at`` it shows, if newer than the wall's thumbnail. While
        a student drags, their newest update is always still rendering; the frame before it is a few tens of
        milliseconds behind, and the next thumbnail catches up."""
        if st.frame is None or st.frame_of <= st.thumbnail_of:
            return None
        return st.frame, st.frame_of, st.frame_seq

    def set_thumbnail(self, st: Student, image: bytes, painted_at: float, seq: int | None = None) -> None:
        st.thumbnail, st.thumbnail_of, st.thumbnail_at = image, painted_at, time.monotonic()
        st.thumbnail_seq = seq
        st.thumbnail_version += 1
        st.thumbnail_unsaved = True
        self._changed(st)

    def flush(self) -> int:
        """Write changed paintings (and their thumbnails) to the database; how many. Safe from a thread."""
        with self._flush_lock:
            rows = []
            for st in list(self.students.values()):
                p = st.painting
                if p is None or not (st.unsaved or st.thumbnail_unsaved):
                    continue
                st.unsaved = st.thumbnail_unsaved = False
                text = self._json(p)
                rows.append(PaintingRow(st.id, p.model, p.image, p.layer, text, time.time(), st.thumbnail, None))
            if rows:
                self.store.save_paintings(rows)
                self._tell("students", [r.student_id for r in rows])
            return len(rows)

    # ---------------------------------------------------------------- other replicas (PostgreSQL)

    def _tell(self, kind: str, ids: list[str] | None = None) -> None:
        """Tell the other replicas what changed (``store.notify``: nothing with SQLite)."""
        self.store.notify(json.dumps({"origin": self.origin, "kind": kind, "ids": ids or []}))

    def on_notice(self, payload: str) -> None:
        """Another replica changed the class state or some students: read them again from the database."""
        notice = json.loads(payload)
        if notice.get("origin") == self.origin:
            return
        if notice.get("kind") == "class":
            row = self.store.get_class(self.row.id)
            if row is not None:
                self.row = row
                self._changed()
        for student_id in notice.get("ids", []):
            self.refresh_student(student_id)

    def refresh_student(self, student_id: str) -> Student | None:
        """A student as the database has them (joined, renamed, hidden, handed in or painted elsewhere). A
        painting this replica records and has not saved yet is newer than the database's: kept."""
        row = self.store.student(student_id)
        if row is None or row.class_id != self.row.id:
            return None
        st = self.students.get(student_id)
        if st is None:
            st = Student(row.id, row.name, row.token_hash, row.joined_at)
            self._add(st)
        st.name, st.hidden = row.name, row.hidden
        st.hand_ins = self.store.hand_in_count(student_id)
        p = self.store.painting(student_id)
        if p is not None and not st.unsaved:
            st.painting = Painting(p.model, p.image, p.layer, self.load(p.strokes), p.strokes)
            if p.thumbnail is not None and p.thumbnail != st.thumbnail:
                st.thumbnail, st.thumbnail_version = p.thumbnail, st.thumbnail_version + 1
            st.thumbnail_of = st.painted_at  # its own replica makes its thumbnails
        self._changed(st)
        return st
