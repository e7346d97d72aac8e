"""The class's storage and rules (ganpaint.classroom): migrations, restarts, names, limits, hand-ins, states, two
replicas sharing one database. Each test runs on SQLite and on a real PostgreSQL (tests/postgres_server.py:
Debian's server, started here; skipped where it is not installed).
"""

from __future__ import annotations

import itertools
import json
import zipfile

import pytest
from postgres_server import PostgresServer, skip_reason

from ganpaint.classroom.album import AlbumEntry, write_album
from ganpaint.classroom.room import ClassClosed, ClassError, ClassPaused, Classroom, NotJoined, TooSoon
from ganpaint.classroom.settings import ClassSettings
from ganpaint.classroom.store import SCHEMA_VERSION, PostgresStore, SqliteStore

STROKES = [{"concept": "tree", "mask": {"points": [[0.1, 0.2], [0.5, 0.5]], "radius": 0.1}}]
NAMES = itertools.count()


@pytest.fixture(scope="module")
def postgres():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with PostgresServer() as pg:
        yield pg


@pytest.fixture(params=["sqlite", "postgresql"])
def open_db(request, tmp_path):
    """A function opening the test's own database (the same one each call: a restart, or another replica)."""
    if request.param == "sqlite":
        return lambda: SqliteStore(tmp_path / "c.sqlite")
    import psycopg

    pg = request.getfixturevalue("postgres")
    name = f"class_{next(NAMES)}"
    with psycopg.connect(pg.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return lambda: PostgresStore(pg.url.replace("dbname=postgres", f"dbname={name}"))


def room_at(open_db, **overrides) -> Classroom:
    return Classroom(open_db(), ClassSettings(**overrides))


def test_schema_is_versioned_and_a_newer_database_is_refused(open_db):
    store = open_db()
    assert store.version == SCHEMA_VERSION
    versions = [r["version"] for r in store._rows("SELECT version FROM migrations ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    store._write("INSERT INTO migrations VALUES (?, 'from the future', 0)", [(SCHEMA_VERSION + 1,)])
    store.close()
    with pytest.raises(ValueError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
        open_db()


def test_a_restart_keeps_students_paintings_hand_ins_and_the_state(open_db):
    room = room_at(open_db)
    ada, token = room.join("Ada")
    room.record_painting(ada, "tiny", 7, "layer4", STROKES, 2)
    room.set_thumbnail(ada, b"png", ada.painted_at)
    room.hand_in(ada)
    room.set_state("paused")
    room.flush()
    room.store.close()

    again = room_at(open_db)
    assert again.row.id == room.row.id and again.state == "paused"
    st = again.student_for(token)
    assert (st.id, st.name, st.hand_ins, st.thumbnail) == (ada.id, "Ada", 1, b"png")
    assert (st.painting.image, st.painting.layer, st.painting.strokes) == (7, "layer4", STROKES)
    assert again.version > room.version  # the wall's versions keep growing
    assert again.due_thumbnails() == []  # the saved thumbnail is current


def test_tokens_name_one_student_and_are_stored_hashed(open_db):
    room = room_at(open_db)
    a, ta = room.join("A")
    b, tb = room.join("B")
    assert room.student_for(ta) is a and room.student_for(tb) is b
    with pytest.raises(NotJoined, match="student token: missing or not of this class"):
        room.student_for("guess")
    with pytest.raises(NotJoined):
        room.student_for(None)
    rows = room.store._rows("SELECT token_hash FROM students")
    assert ta not in {r["token_hash"] for r in rows} and len(rows[0]["token_hash"]) == 64


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("x" * 41, "name: at most 40 characters, got 41"),
        ("Ada\x1b[31m", "name: control characters are not allowed, got 'Ada\\x1b[31m'"),
        ("A\u202eB", "name: control characters are not allowed, got 'A\\u202eB'"),
    ],
)
def test_bad_names_are_refused_naming_the_field(open_db, name, error):
    with pytest.raises(ValueError) as exc:
        room_at(open_db).join(name)
    assert str(exc.value) == error


def test_limits_students_points_and_hand_ins(open_db):
    room = room_at(open_db, max_students=2, max_painting_points=10, hand_in_interval=60, max_hand_ins=1)
    a, _ = room.join(None)
    room.join("  spaced  ")
    assert [s.name for s in room.students.values()] == ["", "spaced"]
    with pytest.raises(ClassError, match="class: 2 students have joined"):
        room.join("third")
    with pytest.raises(ValueError, match="strokes: 11 points in all exceeds the class limit of 10"):
        room.record_painting(a, "tiny", 1, "layer4", STROKES, 11)
    with pytest.raises(ClassError, match="hand in: nothing painted yet"):
        room.hand_in(a)
    room.record_painting(a, "tiny", 1, "layer4", STROKES, 2)
    room.hand_in(a)
    with pytest.raises(TooSoon) as soon:
        room.hand_in(a)
    assert soon.value.status == 429 and 59 < soon.value.retry_after <= 60
    room.settings.hand_in_interval = 0
    with pytest.raises(TooSoon, match="hand in: 1 hand-ins already"):
        room.hand_in(a)


def test_paused_refuses_painting_and_ended_refuses_everything(open_db):
    room = room_at(open_db)
    a, _ = room.join("A")
    room.set_state("paused")
    with pytest.raises(ClassPaused, match="your teacher paused painting"):
        room.record_painting(a, "tiny", 1, "layer4", STROKES, 2)
    room.set_state("open")
    room.record_painting(a, "tiny", 1, "layer4", STROKES, 2)
    room.set_state("ended")
    for action in (
        lambda: room.record_painting(a, "tiny", 1, "layer4", STROKES, 2),
        lambda: room.hand_in(a),
        lambda: room.join("late"),
        lambda: room.rename(a, "B"),
        lambda: room.set_state("open"),
    ):
        with pytest.raises(ClassClosed, match="class: this class has ended; it accepts nothing more"):
            action()
    with pytest.raises(ValueError, match="state: expected one of open, paused, ended, got 'asleep'"):
        room.set_state("asleep")
    assert room_at(open_db).row.id != room.row.id  # an ended class is over: the next start begins a new one


def test_thumbnails_fall_due_at_most_once_per_interval(open_db):
    room = room_at(open_db, thumbnail_interval=2.0)
    a, _ = room.join("A")
    room.record_painting(a, "tiny", 1, "layer4", STROKES, 2)
    assert room.due_thumbnails() == [a]
    room.set_thumbnail(a, b"1", a.painted_at)
    room.record_painting(a, "tiny", 1, "layer4", STROKES, 2)
    assert room.due_thumbnails() == []  # changed, but the last thumbnail is under 2 s old
    assert room.due_thumbnails(now=a.thumbnail_at + 2.0) == [a]


def test_the_album_opens_offline_with_escaped_names(tmp_path):
    entry = AlbumEntry("<script>x()</script>", "s1", b"b", b"a", {"model": "tiny", "image": 1, "strokes": []}, True)
    path = write_album(tmp_path / "album.zip", "7B & co", [entry, AlbumEntry("", "s2", b"b", b"a", {}, False)])
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        page = z.read("index.html").decode()
        painting = json.loads(z.read("paintings/01.json"))
    assert names == {
        "index.html",
        "pictures/01-before.png", "pictures/01-after.png", "pictures/02-before.png", "pictures/02-after.png",
        "paintings/01.json", "paintings/02.json",
    }  # fmt: skip
    assert "&lt;script&gt;x()&lt;/script&gt;" in page and "<script>" not in page and "7B &amp; co" in page
    assert "http" not in page and "Painter 2" in page
    assert painting["format"] == "ganpaint-painting" and painting["image"] == 1


def test_the_wall_takes_the_painters_latest_frame_even_while_newer_updates_render(open_db):
    room = room_at(open_db)
    a, _ = room.join("A")
    for seq in (1, 2, 3):
        room.record_painting(a, "tiny", 1, "layer4", STROKES, 2, seq)
    times = dict(a.updates)
    room.note_frame(a, 99, b"unknown")  # not one of this student's updates
    assert room.newer_frame(a) is None
    room.note_frame(a, 2, b"frame2")  # 3 is still rendering
    assert room.newer_frame(a) == (b"frame2", times[2], 2)
    room.set_thumbnail(a, *room.newer_frame(a))
    assert room.newer_frame(a) is None and room.due_thumbnails(now=a.thumbnail_at + 2) == [a]  # 3 is not shown
    room.note_frame(a, 1, b"frame1")  # an older frame never replaces a newer one
    assert room.newer_frame(a) is None
    room.note_frame(a, 3, b"frame3")
    assert room.newer_frame(a) == (b"frame3", times[3], 3)


def test_two_replicas_share_one_class_through_the_database(open_db, request):
    """PostgreSQL only (SQLite is one process): each replica's changes reach the other by LISTEN/NOTIFY."""
    if "sqlite" in request.node.callspec.id:
        pytest.skip("one process per SQLite database")
    import time

    a, b = room_at(open_db), room_at(open_db)
    assert a.row.id == b.row.id  # one class, whichever replica started it
    notices = {id(a): [], id(b): []}
    stops = [room.store.listen(notices[id(room)].append) for room in (a, b)]

    def deliver(room, want: int = 1) -> None:
        got = notices[id(room)]
        deadline = time.monotonic() + 5
        while len(got) < want and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)  # and any notice right behind
        while got:
            room.on_notice(got.pop(0))

    try:
        ada, token = a.join("Ada")
        deliver(b)  # b reads Ada from the database
        assert b.students[ada.id].name == "Ada" and b.student_for(token).id == ada.id
        a.record_painting(ada, "tiny", 4, "layer4", STROKES, 2, 1)
        a.set_thumbnail(ada, b"frame", ada.painted_at, 1)
        a.flush()
        deliver(b, 1)
        assert b.students[ada.id].painting.strokes == STROKES and b.students[ada.id].thumbnail == b"frame"
        b.set_state("paused")  # the teacher's wall poll went to b
        deliver(a, 1)
        with pytest.raises(ClassPaused):
            a.record_painting(ada, "tiny", 4, "layer4", STROKES, 2, 2)
        b.set_state("open")
        deliver(a, 1)
        late = b.join("Late")[1]  # joined through b: a finds the token in the database at once
        assert a.student_for(late).name == "Late"
    finally:
        for stop in stops:
            stop()


def test_replicas_opening_a_new_database_at_once_all_start(open_db):
    """The schema is created under the schema lock: replicas starting together on an empty PostgreSQL once raced
    on ``CREATE TABLE IF NOT EXISTS migrations`` (a duplicate pg_type key: one replica failed to start)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: open_db(), range(4)))
    try:
        assert all(s._rows("SELECT COUNT(*) AS n FROM migrations")[0]["n"] >= 1 for s in stores)
    finally:
        for s in stores:
            s.close()
