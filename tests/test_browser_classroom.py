"""A class in a real browser: one teacher and three students (separate contexts, one on another host name) on a
live ``ganpaint classroom`` with the tiny model: join, paint, the wall updates, spotlight, hand in, pause, a
server restart that loses nothing, end class, and the album opening offline. One test, in order (each step
needs the one before), in about 40 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from test_browser import REPO, Watched, _free_port, _ganpaint, browser  # noqa: F401 (browser: the fixture)

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")

KEY = "test-teacher-key-0123456789"
XSS_NAME = '<img src=x onerror="window.__xss=1">Ada'
PROJECTOR = {"width": 1920, "height": 1080}


class ClassServer:
    """``ganpaint classroom`` on 127.0.0.1 with the tiny model; ``restart()`` keeps its data folder."""

    def __init__(self, root: Path):
        self.root, self.port = root, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        cmd = _ganpaint(
            "classroom", "--name", "7B <art>",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--data-dir", str(self.root / "class"),
            "--models-dir", str(self.root / "models"), "--precomputed-dir", str(self.root / "precomputed"),
            "--model", "tiny", "--threads", "1",
        )  # fmt: skip
        env = {**os.environ, "GANPAINT_CLASS_TEACHER_KEY": KEY, "GANPAINT_UPLOAD_DIR": str(self.root / "uploads")}
        self.log = open(self.root / "server.log", "a+")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1):
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"server did not come up:\n{(self.root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            self.base + path, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return res.status, json.load(res)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)


@pytest.fixture(scope="module")
def class_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    subprocess.run(_ganpaint("make-tiny", "--out", str(root)), check=True, capture_output=True, timeout=120)
    s = ClassServer(root)
    s.start()
    yield s
    s.stop()


def join(browser, base: str, name: str, viewport=None) -> Watched:  # noqa: F811 (a browser, not the fixture)
    ctx = browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
    w = Watched(ctx.new_page())
    w.page.goto(base + "/")
    w.page.wait_for_selector("#class-join")
    w.page.fill("#class-name-input", name)
    w.page.click("#class-join button[type=submit]")
    w.page.wait_for_function("document.body.dataset.classJoined === 'true'", timeout=15_000)
    w.settle()
    return w


def paint(w: Watched, y: float) -> None:
    w.page.locator('input[data-concept="tree"]').check(force=True)
    w.page.locator('input[name="mode"][value="draw"]').check(force=True)
    w.drag([(0.15, y), (0.85, y)])
    w.settle()


def wall_cards(teacher: Watched) -> list[dict]:
    return teacher.page.evaluate(
        """() => [...document.querySelectorAll('#wall li')].map((li) => ({
             id: li.dataset.student, version: Number(li.dataset.thumbnailVersion || 0),
             thumb: li.querySelector('.thumb').getAttribute('src') || '', name: li.querySelector('.name').textContent,
             nameHtml: li.querySelector('.name').innerHTML, mark: li.querySelector('.mark').textContent }))"""
    )


def wait_wall(teacher: Watched, test, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        cards = wall_cards(teacher)
        if test(cards):
            return cards
        assert time.monotonic() < deadline, f"the wall did not update: {cards}"
        time.sleep(0.2)


def test_a_class_from_join_to_album(browser, class_server, tmp_path):  # noqa: F811
    s = class_server
    teacher_ctx = browser.new_context(viewport=PROJECTOR, accept_downloads=True)
    teacher = Watched(teacher_ctx.new_page())
    teacher.page.goto(f"{s.base}/teacher#key={KEY}")
    teacher.page.wait_for_function("document.body.dataset.wallVersion !== undefined")
    assert "key=" not in teacher.page.url  # dropped from the address bar (a projector shows it)
    # join: three students, one on another host name (its own origin and storage); one name is an XSS attempt
    a = join(browser, s.base, XSS_NAME, viewport=PROJECTOR)
    b = join(browser, s.base, "Ben")
    c = join(browser, s.base.replace("127.0.0.1", "ganpaint.test"), "")
    assert a.page.locator("#class-title").text_content() == "7B <art>"
    picture = a.page.locator("#image-canvas").bounding_box()
    assert picture["height"] >= 0.6 * PROJECTOR["height"], picture  # readable on a projector
    assert a.page.locator(".class-advanced #strength").count() == 1  # unit strength under "Advanced"
    assert a.page.locator("#scaling").input_value() == "pixels"  # a class's default view: no refined frames

    b_id = paint_and_watch_the_wall(teacher, a, b, c)
    spotlight(teacher, b_id)
    hand_in_and_pause(teacher, a, b)
    restart_loses_nothing(s, teacher, a)
    end_class_and_open_the_album_offline(browser, s, teacher, b, tmp_path / "album")
    restart = ("net::ERR_", "status of 503")  # refused while the server restarted
    for w in (a, b, c, teacher):  # nothing else went wrong
        assert not [e for e in w.errors if not any(r in e for r in restart)], w.errors
    teacher_ctx.close()


def paint_and_watch_the_wall(teacher: Watched, a: Watched, b: Watched, c: Watched) -> str:
    """Every student's thumbnail appears on the wall, names as text; a later stroke shows within 3 s."""
    for i, w in enumerate((a, b, c)):
        paint(w, 0.3 + 0.2 * i)
    cards = wait_wall(teacher, lambda cs: len(cs) == 3 and all(x["thumb"].startswith("data:image/png") for x in cs))
    by_name = {x["name"]: x for x in cards}
    assert XSS_NAME in by_name and "<img" not in by_name[XSS_NAME]["nameHtml"]  # escaped: shown as text
    assert teacher.page.evaluate("window.__xss") is None and a.page.evaluate("window.__xss") is None
    before = {x["id"]: x["version"] for x in cards}
    paint(b, 0.8)
    b_id = by_name["Ben"]["id"]
    wait_wall(teacher, lambda cs: any(x["id"] == b_id and x["version"] > before[b_id] for x in cs), timeout=3.5)
    return b_id


def spotlight(teacher: Watched, student_id: str) -> None:
    """Full screen, names hidden while projecting; before/after; next."""
    teacher.page.locator(f'li[data-student="{student_id}"] button', has_text="Spotlight").click()
    teacher.page.wait_for_function(f"document.body.dataset.spotlight === '{student_id}'")
    assert teacher.page.locator("#spot-caption").text_content() == ""
    teacher.page.click("#spot-which")
    teacher.page.wait_for_function("document.body.dataset.spotWhich === 'before'")
    assert teacher.page.evaluate("document.querySelector('#spot-image').naturalWidth") == 512
    teacher.page.keyboard.press("ArrowRight")
    teacher.page.wait_for_function(f"document.body.dataset.spotlight !== '{student_id}'")
    teacher.page.keyboard.press("Escape")


def hand_in_and_pause(teacher: Watched, a: Watched, b: Watched) -> None:
    a.page.click("#hand-in")
    a.page.wait_for_function("document.body.dataset.handIns === '1'")
    wait_wall(teacher, lambda cs: any(x["name"] == XSS_NAME and "handed in" in x["mark"] for x in cs))
    teacher.page.click("#pause")  # the students see it (their strokes are refused: tests/test_classroom_api.py)
    b.page.wait_for_function("document.body.dataset.classState === 'paused'", timeout=5000)
    assert b.page.locator("#class-notice").is_visible()
    teacher.page.click("#pause")
    b.page.wait_for_function("document.body.dataset.classState === 'open'", timeout=5000)


def restart_loses_nothing(s: ClassServer, teacher: Watched, a: Watched) -> None:
    """The wall, the hand-in and each student's painting survive a server restart."""
    strokes_a = a.page.evaluate("document.body.dataset.strokes")
    time.sleep(1.2)  # one flush interval: the last stroke reaches the database
    s.stop()
    s.start()
    wait_wall(
        teacher, lambda cs: len(cs) == 3 and all(x["thumb"] for x in cs) and teacher.page.evaluate(
            "document.querySelector('#message').hidden")
    )  # fmt: skip
    a.page.evaluate("localStorage.removeItem('ganpaint-paintings')")  # this browser's own copy gone too
    a.page.reload()
    a.page.wait_for_function("document.body.dataset.classJoined === 'true'")
    a.page.wait_for_function(f"document.body.dataset.strokes === '{strokes_a}'", timeout=10_000)
    assert a.page.evaluate("document.body.dataset.handIns") == "1"


def end_class_and_open_the_album_offline(browser, s: ClassServer, teacher: Watched, b: Watched, album: Path) -> None:  # noqa: F811
    teacher.page.once("dialog", lambda d: d.accept())
    teacher.page.click("#end")
    teacher.page.wait_for_function("document.body.dataset.album === 'ready'", timeout=20_000)
    with teacher.page.expect_download() as download:
        teacher.page.click("#album-link")
    with zipfile.ZipFile(download.value.path()) as z:
        z.extractall(album)
    assert len(list((album / "pictures").glob("*.png"))) == 6 and len(list((album / "paintings").glob("*"))) == 3
    assert s.post("/class/join", {"name": "late"})[0] == 409  # a closed class accepts nothing
    teacher.page.reload()  # the key stays in the tab; the ended class's album is offered again
    teacher.page.wait_for_function("document.body.dataset.album === 'ready'", timeout=10_000)
    b.page.wait_for_function("document.body.dataset.classState === 'ended'", timeout=5000)
    offline = browser.new_context()
    offline.set_offline(True)
    page = offline.new_page()
    page.goto((album / "index.html").as_uri())
    page.wait_for_function("[...document.images].length === 6 && [...document.images].every((i) => i.complete)")
    assert page.evaluate("[...document.images].every((i) => i.naturalWidth === 512)")
    assert any(XSS_NAME in text for text in page.locator("figcaption").all_text_contents())  # escaped
    assert page.evaluate("window.__xss") is None
    offline.close()
