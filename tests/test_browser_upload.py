"""'Your picture' in chromium: a PNG chosen in the file picker is projected (progress bar), then painted like any
image; far from the stroke the picture keeps its own pixels."""

from __future__ import annotations

import io

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
