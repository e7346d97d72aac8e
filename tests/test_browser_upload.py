"""'Your picture' in chromium: a PNG chosen in the file picker is projected (progress bar), then painted like any
image; far from the stroke the picture keeps its own pixels. Nothing lost: a reload reopens the painted upload
with its undo history; a server that no longer has the upload gets the picture this browser kept, projected again,
and the painting moves to it. "Show what the model made of it" shows the generator's own version."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from live_server import LiveServer
from PIL import Image
from test_browser import LAPTOP, Watched, browser  # noqa: F401 (the browser fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("upload-page")) as s:
        yield s.wait_ready().url


def _picture() -> bytes:
    img = np.zeros((80, 100, 3), np.uint8)
    img[:40] = (90, 150, 230)
    img[40:] = (60, 160, 50)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def test_upload_a_picture_and_paint_on_it(browser, tiny):  # noqa: F811
    ctx = browser.new_context(viewport=LAPTOP)
    w = Watched(ctx.new_page())
    page = w.page
    page.goto(tiny + "/")
    w.settle()
    page.set_input_files("#upload-file", files=[{"name": "mine.png", "mimeType": "image/png", "buffer": _picture()}])
    page.wait_for_function("() => document.body.dataset.upload === 'ready'", timeout=60_000)
    w.settle()
    opens = [m for m in w.sent if m["type"] == "open"]
    assert opens[-1].get("upload") and "image" not in opens[-1], opens[-1]
    assert page.locator("#upload-progress").is_hidden()
    assert "Your picture" in page.locator("#upload-status").inner_text()
    before = w.pixels()
    w.drag([(0.2, 0.3), (0.35, 0.3)])
    w.settle()
    after = w.pixels()
    size = 32
    diff = np.abs(
        np.array(after).reshape(size, size, 4)[..., :3].astype(int) - np.array(before).reshape(size, size, 4)[..., :3]
    )
    assert diff[:, :16].sum() > 0  # the stroke changed the picture near it
    assert diff[24:, 24:].sum() == 0  # far from it, the upload's own pixels
    renders = [m for m in w.sent if m["type"] == "render"]
    assert renders[-1]["strokes"], renders[-1]
    assert not w.errors, w.errors
    ctx.close()


def _upload_and_paint(w: Watched) -> str:
    page = w.page
    page.set_input_files("#upload-file", files=[{"name": "mine.png", "mimeType": "image/png", "buffer": _picture()}])
    page.wait_for_function("() => document.body.dataset.upload === 'ready'", timeout=60_000)
    w.settle()
    saved = page.evaluate("document.body.dataset.savedAt || ''")
    w.drag([(0.2, 0.3), (0.35, 0.3)])
    w.settle()
    page.wait_for_function("() => Number(document.body.dataset.strokes) > 0")
    page.wait_for_function(f"() => (document.body.dataset.savedAt || '') !== '{saved}'")  # stored (history.js)
    return page.evaluate("document.body.dataset.image")


def test_reload_keeps_an_upload_painting_and_shows_the_models_view(browser, tiny):  # noqa: F811
    ctx = browser.new_context(viewport=LAPTOP)
    w = Watched(ctx.new_page())
    warnings = []
    w.page.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
    page = w.page
    page.goto(tiny + "/")
    w.settle()
    key = _upload_and_paint(w)
    assert key.startswith("upload:")
    painted = w.pixels()
    # the model's own version of the picture, and back
    page.check("#upload-view")
    page.wait_for_function("() => document.querySelector('#image-canvas').dataset.view === 'override'")
    page.wait_for_timeout(300)
    assert w.pixels() != painted
    page.uncheck("#upload-view")
    page.wait_for_function("() => document.querySelector('#image-canvas').dataset.view === 'frames'")
    page.reload()
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=30_000)
    w.settle()
    assert page.evaluate("document.body.dataset.image") == key  # the same upload, not a gallery image
    assert int(page.evaluate("document.body.dataset.strokes")) > 0
    assert page.locator("[data-action=undo]").is_enabled()
    assert w.pixels() == painted
    assert page.locator("#image-id").input_value() == ""
    assert not [t for t in warnings if "cannot be parsed" in t], warnings
    assert not w.errors, w.errors
    ctx.close()


def test_a_server_that_lost_the_upload_gets_the_kept_picture_again(browser, tiny, tmp_path):  # noqa: F811
    ctx = browser.new_context(viewport=LAPTOP)
    w = Watched(ctx.new_page())
    w.page.goto(tiny + "/")
    w.settle()
    key = _upload_and_paint(w)
    stored = w.page.evaluate("() => ({p: localStorage['ganpaint.paintings'], u: localStorage['ganpaint.uploads']})")
    ctx.close()
    with LiveServer(tmp_path) as other:  # another server (its own upload folder): it never saw the upload
        ctx = browser.new_context(viewport=LAPTOP)
        ctx.add_init_script(  # this browser's storage, as another server's page finds it (before the page runs)
            "if (!localStorage.getItem('seeded')) { localStorage.setItem('seeded', '1'); "
            f"localStorage['ganpaint.paintings'] = {json.dumps(stored['p'])}; "
            f"localStorage['ganpaint.uploads'] = {json.dumps(stored['u'])}; }}"
        )
        w = Watched(ctx.new_page())
        page = w.page
        page.goto(other.url + "/")
        page.wait_for_function(
            f"() => {{ const d = document.body.dataset; return (d.image || '').startsWith('upload:') "
            f"&& d.image !== '{key}' && d.upload === 'ready'; }}",
            timeout=60_000,
        )
        w.settle()
        assert int(page.evaluate("document.body.dataset.strokes")) > 0  # the painting moved to the new id
        assert page.locator("[data-action=undo]").is_enabled()
        renders = [m for m in w.sent if m["type"] == "render"]
        assert renders[-1]["strokes"], renders[-1]
        assert not [e for e in w.errors if "unknown or expired" not in e], w.errors
        ctx.close()
