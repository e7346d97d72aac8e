"""A class's data in a database: classes, students, their current painting, hand-ins, albums.

    store = open_store("", Path("data/classroom"))          # SQLite: data/classroom/classroom.sqlite
    store = open_store("host=db dbname=ganpaint user=ganpaint", ...)   # PostgreSQL (GANPAINT_DATABASE_URL)
    c = store.current_or_create_class("3f2a...", "Year 7 art")
    store.add_student(StudentRow("s1a2b", c.id, token_hash, "Ada", False, time.time()))
    store.save_paintings([PaintingRow("s1a2b", "scenes64", 12, "layer4", "[...]", 1.5e9)])

One ``ClassStore`` speaks portable SQL (``?`` parameters, ``ON CONFLICT`` upserts, ``RETURNING``) over either
SQLite (stdlib ``sqlite3``, the default: one file, WAL journal) or PostgreSQL (``psycopg``, when
``GANPAINT_DATABASE_URL`` names one: a class spread over several replicas). Nothing about a student but a random
id, the hash of their token and an optional display name. The schema is versioned: ``MIGRATIONS`` is the ordered
list of steps (column types per dialect), the ``migrations`` table records which ran, and opening a database
applies the missing ones, each in one transaction (a newer database is refused). With PostgreSQL, ``notify``
and ``listen`` carry changes between replicas (``LISTEN``/``NOTIFY`` on one channel); with SQLite there is one
process and they do nothing. One connection per store, used under a lock (the event loop and the flush thread).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHANNEL = "ganpaint_class"  # PostgreSQL NOTIFY channel

MIGRATIONS: list[tuple[str, str]] = [
    (
        "classes, students, paintings, hand-ins",
        """
        CREATE TABLE classes (
            id TEXT PRIMARY KEY, name TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'paused', 'ended')),
            created_at {real} NOT NULL, ended_at {real});
        CREATE TABLE students (
            id TEXT PRIMARY KEY, class_id TEXT NOT NULL REFERENCES classes(id),
            token_hash TEXT NOT NULL UNIQUE, name TEXT NOT NULL DEFAULT '',
            hidden INTEGER NOT NULL DEFAULT 0, joined_at {real} NOT NULL);
        CREATE INDEX students_class ON students(class_id);
        CREATE TABLE paintings (
            student_id TEXT PRIMARY KEY REFERENCES students(id),
            model TEXT NOT NULL, image INTEGER NOT NULL, layer TEXT NOT NULL,
            strokes TEXT NOT NULL, updated_at {real} NOT NULL,
            thumbnail {blob}, thumbnail_at {real});
        CREATE TABLE hand_ins (
            id {serial}, student_id TEXT NOT NULL REFERENCES students(id),
            model TEXT NOT NULL, image INTEGER NOT NULL, layer TEXT NOT NULL,
            strokes TEXT NOT NULL, handed_at {real} NOT NULL);
        CREATE INDEX hand_ins_student ON hand_ins(student_id);
        """,
    ),
    (
        "albums kept in the database (any replica serves an ended class's album)",
        """
        CREATE TABLE albums (
            class_id TEXT PRIMARY KEY REFERENCES classes(id), zip {blob} NOT NULL, created_at {real} NOT NULL);
        """,
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
TYPES = {
    "sqlite": {"real": "REAL", "blob": "BLOB", "serial": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"real": "DOUBLE PRECISION", "blob": "BYTEA", "serial": "BIGSERIAL PRIMARY KEY"},
}


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


def _student(row: dict) -> StudentRow:
    return StudentRow(**{**row, "hidden": bool(row["hidden"])})


def _painting(row: dict) -> PaintingRow:
    thumbnail = row["thumbnail"]
    return PaintingRow(**{**row, "thumbnail": bytes(thumbnail) if thumbnail is not None else None})


class ClassStore:
    """The class database over a DB-API connection (``SqliteStore`` or ``PostgresStore``); thread-safe."""

    dialect = "sqlite"

    def __init__(self, connection: Any):
        self._db = connection
        self._lock = threading.RLock()
        with self._lock:
            self.version = self._migrate()

    # ---------------------------------------------------------------- plumbing

    def _sql(self, sql: str) -> str:
        return sql

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _rows(self, sql: str, args: tuple = ()) -> list[dict]:
        with self._lock:
            cur = self._db.execute(self._sql(sql), args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def _write(self, sql: str, rows: list[tuple]) -> None:
        with self._transaction():
            for row in rows:
                self._db.execute(self._sql(sql), row)

    def _migrate(self) -> int:
        """Apply the missing ``MIGRATIONS``; the schema version after. A database newer than this code is refused."""
        real = TYPES[self.dialect]["real"]
        with self._transaction():
            self._lock_schema()  # before the first CREATE: two replicas starting at once raced on the migrations table
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at {real})"
            )
            have = self._rows("SELECT COALESCE(MAX(version), 0) AS v FROM migrations")[0]["v"]
            if have > SCHEMA_VERSION:
                raise ValueError(
                    f"class database: schema version {have} is newer than this ganpaint's ({SCHEMA_VERSION})"
                )
            for version, (name, sql) in enumerate(MIGRATIONS[have:], start=have + 1):
                for statement in filter(str.strip, sql.format(**TYPES[self.dialect]).split(";")):
                    self._db.execute(statement)
                self._db.execute(self._sql("INSERT INTO migrations VALUES (?, ?, ?)"), (version, name, time.time()))
        return SCHEMA_VERSION

    def _lock_schema(self) -> None:
        """Inside a transaction: one replica at a time creates or migrates (SQLite: one process)."""

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def notify(self, payload: str) -> None:
        """Tell the other replicas (PostgreSQL); nothing to tell with SQLite."""

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(payload)`` (on a thread) for each other replica's ``notify``; returns ``stop``."""
        return lambda: None

    # ---------------------------------------------------------------- classes

    def current_or_create_class(self, class_id: str, name: str) -> ClassRow:
        """The newest class that has not ended, or a new one with this id and name (one, whatever the replicas)."""
        with self._transaction():
            self._lock_schema()
            rows = self._rows("SELECT * FROM classes WHERE state != 'ended' ORDER BY created_at DESC LIMIT 1")
            if rows:
                return ClassRow(**rows[0])
            row = ClassRow(class_id, name, "open", time.time())
            self._db.execute(self._sql("INSERT INTO classes VALUES (?, ?, ?, ?, ?)"), tuple(vars(row).values()))
            return row

    def get_class(self, class_id: str) -> ClassRow | None:
        rows = self._rows("SELECT * FROM classes WHERE id = ?", (class_id,))
        return ClassRow(**rows[0]) if rows else None

    def set_class_state(self, class_id: str, state: str) -> None:
        ended = time.time() if state == "ended" else None
        self._write("UPDATE classes SET state = ?, ended_at = ? WHERE id = ?", [(state, ended, class_id)])

    # ---------------------------------------------------------------- students

    def add_student(self, row: StudentRow) -> None:
        values = (row.id, row.class_id, row.token_hash, row.name, int(row.hidden), row.joined_at)
        self._write("INSERT INTO students VALUES (?, ?, ?, ?, ?, ?)", [values])

    def students(self, class_id: str) -> list[StudentRow]:
        rows = self._rows("SELECT * FROM students WHERE class_id = ? ORDER BY joined_at, id", (class_id,))
        return [_student(r) for r in rows]

    def student(self, student_id: str) -> StudentRow | None:
        rows = self._rows("SELECT * FROM students WHERE id = ?", (student_id,))
        return _student(rows[0]) if rows else None

    def student_by_token(self, class_id: str, token_hash: str) -> StudentRow | None:
        rows = self._rows("SELECT * FROM students WHERE class_id = ? AND token_hash = ?", (class_id, token_hash))
        return _student(rows[0]) if rows else None

    def set_hidden(self, student_id: str, hidden: bool) -> None:
        self._write("UPDATE students SET hidden = ? WHERE id = ?", [(int(hidden), student_id)])

    def set_name(self, student_id: str, name: str) -> None:
        self._write("UPDATE students SET name = ? WHERE id = ?", [(name, student_id)])

    # ---------------------------------------------------------------- paintings, hand-ins, albums

    def save_paintings(self, rows: list[PaintingRow]) -> None:
        """Insert or replace each student's current painting (one transaction)."""
        self._write(
            "INSERT INTO paintings VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (student_id) DO UPDATE SET "
            "model = excluded.model, image = excluded.image, layer = excluded.layer, strokes = excluded.strokes, "
            "updated_at = excluded.updated_at, thumbnail = excluded.thumbnail, thumbnail_at = excluded.thumbnail_at",
            [tuple(vars(r).values()) for r in rows],
        )

    def paintings(self, class_id: str) -> list[PaintingRow]:
        rows = self._rows(
            "SELECT p.* FROM paintings p JOIN students s ON s.id = p.student_id WHERE s.class_id = ?", (class_id,)
        )
        return [_painting(r) for r in rows]

    def painting(self, student_id: str) -> PaintingRow | None:
        rows = self._rows("SELECT * FROM paintings WHERE student_id = ?", (student_id,))
        return _painting(rows[0]) if rows else None

    def add_hand_in(self, p: PaintingRow, when: float) -> int:
        with self._transaction():
            rows = self._rows(
                "INSERT INTO hand_ins (student_id, model, image, layer, strokes, handed_at) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (p.student_id, p.model, p.image, p.layer, p.strokes, when),
            )
        return rows[0]["id"]

    def hand_ins(self, class_id: str) -> list[HandInRow]:
        rows = self._rows(
            "SELECT h.* FROM hand_ins h JOIN students s ON s.id = h.student_id WHERE s.class_id = ? ORDER BY h.id",
            (class_id,),
        )
        return [HandInRow(**r) for r in rows]

    def hand_in_count(self, student_id: str) -> int:
        return self._rows("SELECT COUNT(*) AS n FROM hand_ins WHERE student_id = ?", (student_id,))[0]["n"]

    def save_album(self, class_id: str, data: bytes) -> None:
        self._write(
            "INSERT INTO albums VALUES (?, ?, ?) ON CONFLICT (class_id) DO UPDATE SET zip = excluded.zip, "
            "created_at = excluded.created_at",
            [(class_id, data, time.time())],
        )

    def album(self, class_id: str) -> bytes | None:
        rows = self._rows("SELECT zip FROM albums WHERE class_id = ?", (class_id,))
        return bytes(rows[0]["zip"]) if rows else None


class SqliteStore(ClassStore):
    """SQLite in one file (created with its folder): WAL journal, ``synchronous=NORMAL``, foreign keys on."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        super().__init__(db)


class PostgresStore(ClassStore):
    """PostgreSQL through ``psycopg`` (3.x): ``url`` is a libpq connection string or URI."""

    dialect = "postgresql"
    SCHEMA_LOCK = 0x6761_6E70  # pg_advisory_xact_lock key: "ganp"

    def __init__(self, url: str):
        import psycopg

        self.url = url
        super().__init__(psycopg.connect(url, autocommit=True))

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, self._db.transaction():
            yield

    def _lock_schema(self) -> None:
        self._db.execute("SELECT pg_advisory_xact_lock(%s)", (self.SCHEMA_LOCK,))

    def notify(self, payload: str) -> None:
        with self._lock:
            self._db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """A thread with its own connection, ``LISTEN``ing on ``CHANNEL``."""
        import psycopg

        stop = threading.Event()
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")

        def run() -> None:
            while not stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    callback(note.payload)

        thread = threading.Thread(target=run, name="ganpaint-class-listen", daemon=True)
        thread.start()

        def close() -> None:
            stop.set()
            thread.join(timeout=2)
            conn.close()

        return close


def open_store(database_url: str, folder: Path) -> ClassStore:
    """PostgreSQL when ``database_url`` names one (``postgresql://...`` or ``host=... dbname=...``), else SQLite
    in ``folder/classroom.sqlite``."""
    if database_url:
        return PostgresStore(database_url)
    return SqliteStore(folder / "classroom.sqlite")
