"""The class's routes and websocket rules (ganpaint.api.classroom) on a TestClient app with the tiny model."""

from __future__ import annotations

import base64
import io
import struct
import time
import zipfile

import pytest
from api_helpers import STROKE, tiny_client
from PIL import Image

KEY = "the-teacher-key-for-tests"
TEACHER = {"X-Teacher-Key": KEY}
TEACHER_ROUTES = [
    ("GET", "/class/wall", None),
    ("GET", "/class/join-code", None),
    ("POST", "/class/state", {"state": "paused"}),
    ("POST", "/class/students/sX/hidden", {"hidden": True}),
    ("GET", "/class/students/sX/picture", None),
    ("POST", "/class/end", None),
    ("GET", "/class/album.zip", None),
]


@pytest.fixture
def client(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "ENABLED": "1", "TEACHER_KEY": KEY, "DIR": str(tmp_path / "class"), "NAME": "7B",
            "THUMBNAIL_INTERVAL": "0.2", "HAND_IN_INTERVAL": "30", "MAX_STUDENTS": "3", "MAX_NAME_CHARS": "12",
        }.items():  # fmt: skip
            mp.setenv(f"GANPAINT_CLASS_{name}", value)
        with tiny_client(tmp_path) as c:
            yield c


def join(client, name: str | None = None) -> tuple[str, str]:
    r = client.post("/class/join", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def paint(client, token: str, strokes=(STROKE,), image: int = 3):
    """Open an image and send one update as the student with ``token``; the frame (bytes) or the error message."""
    if token:
        client.cookies.set("ganpaint_student", token)
    try:
        with client.websocket_connect("/ws/paint") as ws:
            ws.send_json({"type": "open", "model": "tiny", "image": image, "format": "png"})
            assert ws.receive_json()["type"] == "ready"
            ws.send_json({"type": "render", "seq": 1, "strokes": list(strokes)})
            msg = ws.receive()
            return msg.get("bytes") or msg.get("text")
    finally:
        client.cookies.clear()


@pytest.mark.parametrize(("method", "path", "body"), TEACHER_ROUTES)
@pytest.mark.parametrize("key", [None, "wrong", KEY + "x", ""])
def test_every_teacher_route_needs_the_key(client, method, path, body, key):
    headers = {} if key is None else {"X-Teacher-Key": key}
    r = client.request(method, path, json=body, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["detail"].startswith("teacher key: ")
    assert client.app.state.classroom.state == "open"  # nothing happened


def test_without_a_class_the_page_and_api_are_as_before(tmp_path):
    with tiny_client(tmp_path) as c:
        assert c.get("/class").status_code == 404 and c.get("/teacher").status_code == 404
        assert c.get("/").content == (c.app.state.settings.web_dir / "index.html").read_bytes()
        with c.websocket_connect("/ws/paint") as ws:  # no student needed
            ws.send_json({"type": "open", "model": "tiny", "image": 3})
            ws.receive_json()
            ws.send_json({"type": "render", "seq": 1, "strokes": [STROKE]})
            assert ws.receive().get("bytes")


def test_the_student_page_is_index_html_with_the_student_module(client):
    page = client.get("/").text
    assert '<body data-class-mode="student">' in page and 'src="js/student_mode.js"' in page
    assert page.index("student_mode.js") < page.index("js/main.js")
    assert client.get("/teacher").status_code == 200


def test_a_student_paints_and_the_wall_shows_it_within_the_interval(client):
    sid, token = join(client, "<b>Ada</b>")
    frame = paint(client, token)
    assert isinstance(frame, bytes)
    me = client.get("/class", headers={"X-Student-Token": token}).json()
    assert me["you"]["painting"] == {"model": "tiny", "image": 3, "layer": "layer4", "strokes": [STROKE]}
    deadline = time.monotonic() + 3
    while True:
        listing = client.get("/class/wall", headers=TEACHER).json()
        version = listing["version"]
        card = next(s for s in listing["students"] if s["id"] == sid)
        if card.get("thumbnail") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert card["name"] == "<b>Ada</b>"  # data, escaped by the page (textContent)
    assert card["thumbnail"].startswith("data:image/png;base64,")
    # the thumbnail is the painter's own frame of these strokes; rendered again from the strokes (after a
    # restart, or for the spotlight) on the background thread, the pixels are the same
    thumbnail = base64.b64decode(card["thumbnail"].split(",")[1])
    assert thumbnail == frame[6:]
    room, wall = client.app.state.classroom, client.app.state.class_wall
    again = client.portal.call(wall.render, room.students[sid].painting)
    assert Image.open(io.BytesIO(again)).tobytes() == Image.open(io.BytesIO(thumbnail)).tobytes()
    assert wall.reused >= 1 and wall.rendered == 0
    later = client.get("/class/wall", params={"since": version}, headers=TEACHER).json()
    assert later["students"] == []  # nothing changed since


def test_a_student_reads_only_their_own_painting(client):
    a, ta = join(client, "A")
    _, tb = join(client, "B")
    paint(client, ta, image=5)
    assert client.get("/class", headers={"X-Student-Token": tb}).json()["you"]["painting"] is None
    assert client.get("/class", headers={"X-Student-Token": "forged"}).json()["you"] is None
    # no route takes another student's id without the teacher key
    assert client.get(f"/class/students/{a}/picture", headers={"X-Student-Token": tb}).status_code == 403
    assert client.post("/class/hand-in", headers={"X-Student-Token": "forged"}).status_code == 403


def test_painting_needs_a_student_and_pause_refuses_it_with_a_message(client):
    assert isinstance(paint(client, "", strokes=[]), bytes)  # the picture alone renders before joining
    assert paint(client, "not-a-token") == (
        '{"type": "error", "seq": 1, "detail": "student token: missing or not of this class; join the class again"}'
    )
    _, token = join(client)
    assert client.post("/class/state", json={"state": "paused"}, headers=TEACHER).json() == {"state": "paused"}
    assert "class: your teacher paused painting (eyes on the teacher)" in paint(client, token)
    client.post("/class/state", json={"state": "open"}, headers=TEACHER)
    assert isinstance(paint(client, token), bytes)


def test_hand_in_is_rate_limited(client):
    _, token = join(client)
    student = {"X-Student-Token": token}
    r = client.post("/class/hand-in", headers=student)
    assert r.status_code == 409 and r.json()["detail"] == "hand in: nothing painted yet; paint something first"
    paint(client, token)
    assert client.post("/class/hand-in", headers=student).json()["hand_ins"] == 1
    r = client.post("/class/hand-in", headers=student)
    assert r.status_code == 429 and r.headers["Retry-After"] == "30"
    assert r.json()["detail"] == "hand in: handed in 0 s ago; try again in 30 s"


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("POST", "/class/join", {"name": "x" * 13}, "name: at most 12 characters, got 13"),
        ("POST", "/class/join", {"name": 7}, "name: Input should be a valid string, got 7"),
        ("POST", "/class/join", {"nick": "a"}, "nick: unknown field"),
        ("POST", "/class/state", {"state": "ended"}, "state: Input should be 'open' or 'paused', got 'ended'"),
        ("POST", "/class/students/nobody/hidden", {"hidden": True}, "student: no student 'nobody' in this class"),
        ("GET", "/class/wall?since=-1", None, "since: Input should be greater than or equal to 0, got '-1'"),
        ("GET", "/class/wall?wait=99", None, "wait: Input should be less than or equal to 25, got '99'"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field(client, method, path, body, detail):
    r = client.request(method, path, json=body, headers=TEACHER)
    assert 400 <= r.status_code < 500 and r.json()["detail"] == detail


def test_the_class_is_bounded(client):
    _, token = join(client, "s0")
    join(client, "s1")
    join(client, "s2")
    r = client.post("/class/join", json={})
    assert r.status_code == 409 and r.json()["detail"].startswith("class: 3 students have joined (the limit)")
    client.app.state.classroom.settings.max_painting_points = 1000
    many = {**STROKE, "mask": {"points": [[0.5, 0.5]] * 2000, "radius": 0.1}}
    assert "strokes: 2000 points in all exceeds the class limit of 1000" in paint(client, token, strokes=[many])
    r = client.get("/class", headers={"X-Student-Token": "x" * 65})  # an over-long token is no one's
    assert r.status_code == 200 and r.json()["you"] is None


def test_ending_the_class_writes_the_album_and_accepts_nothing_more(client):
    a, ta = join(client, "Ada")
    b, tb = join(client, "Hidden")
    paint(client, ta)
    paint(client, tb)
    client.post("/class/hand-in", headers={"X-Student-Token": ta})
    client.post(f"/class/students/{b}/hidden", json={"hidden": True}, headers=TEACHER)
    pic = client.get(f"/class/students/{a}/picture?which=before", headers=TEACHER)
    assert Image.open(io.BytesIO(pic.content)).size == (512, 512)
    assert client.get("/class/album.zip", headers=TEACHER).status_code == 409  # not before the end
    r = client.post("/class/end", headers=TEACHER)
    assert r.json() == {"state": "ended", "paintings": 1, "album": "/class/album.zip"}  # the hidden one left out
    z = zipfile.ZipFile(io.BytesIO(client.get("/class/album.zip", headers=TEACHER).content))
    assert sorted(z.namelist()) == [
        "index.html", "paintings/01.json", "pictures/01-after.png", "pictures/01-before.png"
    ]  # fmt: skip
    assert "Ada ✓ handed in" in z.read("index.html").decode()
    assert Image.open(io.BytesIO(z.read("pictures/01-after.png"))).size == (512, 512)
    for method, path, body, headers in [
        ("POST", "/class/join", {}, {}),
        ("POST", "/class/hand-in", None, {"X-Student-Token": ta}),
        ("POST", "/class/state", {"state": "open"}, TEACHER),
        ("POST", f"/class/students/{b}/hidden", {"hidden": False}, TEACHER),
        ("POST", "/class/end", None, TEACHER),
    ]:
        r = client.request(method, path, json=body, headers=headers)
        assert r.status_code == 409 and r.json()["detail"] == "class: this class has ended; it accepts nothing more"
    assert "class: this class has ended" in paint(client, ta)


def test_frame_header_is_unchanged_for_students(client):
    _, token = join(client)
    seq, _ = struct.unpack(">IH", paint(client, token)[:6])
    assert seq == 1


def test_a_class_in_postgresql_needs_the_shared_teacher_key():
    from fastapi import FastAPI

    from ganpaint.api.classroom import install
    from ganpaint.classroom.settings import ClassSettings

    with pytest.raises(ValueError, match="GANPAINT_CLASS_TEACHER_KEY: a class in PostgreSQL needs the key"):
        install(FastAPI(), ClassSettings(enabled=True, database_url="host=db dbname=ganpaint"))


def test_the_join_code_is_a_scalable_qr_of_the_join_url(client):
    code = client.get("/class/join-code", headers=TEACHER).json()
    assert code["urls"] == ["http://testserver/"]  # no join URLs configured: the address the teacher used
    assert code["qr_svg"].startswith("<svg") and "viewBox" in code["qr_svg"] and "width=" not in code["qr_svg"]
