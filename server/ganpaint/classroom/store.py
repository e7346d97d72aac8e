"""A class's data in SQLite (stdlib ``sqlite3``): classes, students, their current painting, hand-ins.

    store = ClassStore(Path("data/classroom/classroom.sqlite"))
    c = store.current_class() or store.create_class("Year 7 art")
    store.add_student(c.id, "s-1a2b", token_hash, "Ada")
    store.save_paintings([PaintingRow("s-1a2b", "scenes64", 12, "layer4", "[...]", 1.5e9)])

Nothing about a student but a random id, the hash of their token and an optional display name. The schema is
versioned: ``MIGRATIONS`` is the ordered list of steps, the ``migrations`` table records which ran, and opening
a file applies the missing ones in one transaction each (an old file is upgraded, a newer one refused).
One connection per store, used under a lock (the event loop and one flush thread share it); WAL journal, so a
crash loses at most the last flush, never a committed hand-in.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MIGRATIONS: list[tuple[str, str]] = [
    (
        "classes, students, paintings, hand-ins",
        """
        CREATE TABLE classes (
            id TEXT PRIMARY KEY, name TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'paused', 'ended')),
            created_at REAL NOT NULL, ended_at REAL);
        CREATE TABLE students (
            id TEXT PRIMARY KEY, class_id TEXT NOT NULL REFERENCES classes(id),
            token_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
            hidden INTEGER NOT NULL DEFAULT 0, joined_at REAL NOT NULL);
        CREATE INDEX students_class ON students(class_id);
        CREATE TABLE paintings (
            student_id TEXT PRIMARY KEY REFERENCES students(id),
            model TEXT NOT NULL, image INTEGER NOT NULL, layer TEXT NOT NULL,
            strokes TEXT NOT NULL, updated_at REAL NOT NULL,
            thumbnail BLOB, thumbnail_at REAL);
        CREATE TABLE hand_ins (
            id INTEGER PRIMARY KEY AUTOINCREMENT, student_id TEXT NOT NULL REFERENCES students(id),
            model TEXT NOT NULL, image INTEGER NOT NULL, layer TEXT NOT NULL,
            strokes TEXT NOT NULL, handed_at REAL NOT NULL);
        CREATE INDEX hand_ins_student ON hand_ins(student_id);
        """,
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass
class ClassRow:
    id: str
    name: str
    state: str  # open, paused, ended
    created_at: float
    ended_at: float | None = None


@dataclass
class StudentRow:
    id: str
    class_id: str
    token_hash: str
    name: str
    hidden: bool
    joined_at: float


@dataclass
class PaintingRow:
    student_id: str
    model: str
    image: int
    layer: str
    strokes: str  # JSON: the stroke list as the page sent it
    updated_at: float
    thumbnail: bytes | None = None
    thumbnail_at: float | None = None


@dataclass
class HandInRow:
    id: int
    student_id: str
    model: str
    image: int
    layer: str
    strokes: str
    handed_at: float


def migrate(db: sqlite3.Connection) -> int:
    """Apply the missing ``MIGRATIONS``; the schema version after. A file newer than this code is refused."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
    have = db.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()[0]
    if have > SCHEMA_VERSION:
        raise ValueError(f"class database: schema version {have} is newer than this ganpaint's ({SCHEMA_VERSION})")
    for version, (name, sql) in enumerate(MIGRATIONS[have:], start=have + 1):
        with db:  # one transaction per step
            db.execute("BEGIN")
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute("INSERT INTO migrations VALUES (?, ?, ?)", (version, name, time.time()))
    return SCHEMA_VERSION


class ClassStore:
    """The class database at ``path`` (created with its folder); thread-safe."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self.version = migrate(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _all(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(sql, rows)

    # ---------------------------------------------------------------- classes

    def create_class(self, class_id: str, name: str) -> ClassRow:
        row = ClassRow(class_id, name, "open", time.time())
        self._write("INSERT INTO classes VALUES (?, ?, ?, ?, ?)", [tuple(vars(row).values())])
        return row

    def current_class(self) -> ClassRow | None:
        """The newest class that has not ended, if any."""
        rows = self._all("SELECT * FROM classes WHERE state != 'ended' ORDER BY created_at DESC LIMIT 1")
        return ClassRow(**dict(rows[0])) if rows else None

    def get_class(self, class_id: str) -> ClassRow | None:
        rows = self._all("SELECT * FROM classes WHERE id = ?", (class_id,))
        return ClassRow(**dict(rows[0])) if rows else None

    def set_class_state(self, class_id: str, state: str) -> None:
        ended = time.time() if state == "ended" else None
        self._write("UPDATE classes SET state = ?, ended_at = ? WHERE id = ?", [(state, ended, class_id)])

    # ---------------------------------------------------------------- students

    def add_student(self, row: StudentRow) -> None:
        values = (row.id, row.class_id, row.token_hash, row.name, int(row.hidden), row.joined_at)
        self._write("INSERT INTO students VALUES (?, ?, ?, ?, ?, ?)", [values])

    def students(self, class_id: str) -> list[StudentRow]:
        rows = self._all("SELECT * FROM students WHERE class_id = ? ORDER BY joined_at, id", (class_id,))
        return [StudentRow(**{**dict(r), "hidden": bool(r["hidden"])}) for r in rows]

    def set_hidden(self, student_id: str, hidden: bool) -> None:
        self._write("UPDATE students SET hidden = ? WHERE id = ?", [(int(hidden), student_id)])

    def set_name(self, student_id: str, name: str) -> None:
        self._write("UPDATE students SET name = ? WHERE id = ?", [(name, student_id)])

    # ---------------------------------------------------------------- paintings and hand-ins

    def save_paintings(self, rows: list[PaintingRow]) -> None:
        """Insert or replace each student's current painting (one transaction)."""
        self._write(
            "INSERT OR REPLACE INTO paintings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(vars(r).values()) for r in rows],
        )

    def paintings(self, class_id: str) -> list[PaintingRow]:
        rows = self._all(
            "SELECT p.* FROM paintings p JOIN students s ON s.id = p.student_id WHERE s.class_id = ?", (class_id,)
        )
        return [PaintingRow(**dict(r)) for r in rows]

    def add_hand_in(self, p: PaintingRow, when: float) -> int:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            cur = self._db.execute(
                "INSERT INTO hand_ins (student_id, model, image, layer, strokes, handed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (p.student_id, p.model, p.image, p.layer, p.strokes, when),
            )
            return cur.lastrowid

    def hand_ins(self, class_id: str) -> list[HandInRow]:
        rows = self._all(
            "SELECT h.* FROM hand_ins h JOIN students s ON s.id = h.student_id WHERE s.class_id = ? ORDER BY h.id",
            (class_id,),
        )
        return [HandInRow(**dict(r)) for r in rows]
