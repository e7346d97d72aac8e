"""The original GANPaint client's first screen in chromium: what a new user sees (issue 31).

Always: demo mode's pictures, refused on a server without the LSUN church model, load in chromium as pictures
(a 404 with a PNG body still displays) whose pixels, drawn on a 256 px canvas as the client draws them, are
the notice's words.

With the client itself (gandissect's prebuilt ``client_dist/``, which ganpaint neither ships nor copies: set
``GANDISSECT_CLIENT_DIST=/path/to/client_dist``; skipped without it), unchanged, served by ``ganpaint serve
--classic-client`` on the tiny model dissected at layer3 too (which sorts first): ``?expert=1`` opens layer4
and asks for its rankings; demo mode shows the notice on its canvas and no broken image; and from another
origin, ``api=`` with a trailing slash paints. Requests to other hosts (the client's analytics script) are
aborted. Screenshots go to test-output/.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from live_server import LiveServer, free_port, quiet_env
from PIL import Image
from test_browser import LAPTOP, OUTPUT, browser  # noqa: F401 (the browser fixture)
from test_classic_client import jpeg

from ganpaint.nn.proggan import load_generator
from ganpaint.precomputed import write_precomputed
from ganpaint.tiny import make_tiny_model, tiny_dissection

pytestmark = pytest.mark.browser

CLIENT = os.environ.get("GANDISSECT_CLIENT_DIST", "")
needs_client = pytest.mark.skipif(
    not (CLIENT and (Path(CLIENT) / "ganpaint.html").is_file()),
    reason="set GANDISSECT_CLIENT_DIST to gandissect's client_dist/ folder (not shipped: docs/api.md)",
)
DEMO_IMAGE = "/data/churchoutdoor/cache/img/id/104.jpg"
# the client's canvas holds a picture: opaque everywhere (before, it shows a line of placeholder text)
PICTURE_DRAWN = (
    "(() => { const c = document.querySelector('#painting canvas');"
    " return !!c && c.getContext('2d').getImageData(0, 0, 256, 256).data"
    ".every((v, i) => i % 4 !== 3 || v === 255); })()"
)


def tiny_with_layer3(root: Path) -> tuple[Path, Path]:
    """The tiny model dissected at layer3 too: it sorts before layer4, the layer the client should open."""
    models, pre = root / "models", root / "precomputed"
    make_tiny_model(models, pre)
    weights = models / "tiny" / "generator.pth"
    g = load_generator(weights)
    doc = tiny_dissection("layer3", g.feature_shape("layer3"), hashlib.sha256(weights.read_bytes()).hexdigest(), "tiny")
    write_precomputed(doc, pre / "tiny" / "layer3.json")
    return models, pre


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("classic-browser")
    extra = ("--classic-client", CLIENT) if CLIENT and (Path(CLIENT) / "ganpaint.html").is_file() else ()
    with LiveServer(root, *extra, dirs=tiny_with_layer3(root)) as s:
        yield s


def notice(url: str) -> np.ndarray:
    """The refused demo picture as the server sends it (status 404), RGBA."""
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url, timeout=30)
    assert exc.value.code == 404 and exc.value.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(exc.value.read())).convert("RGBA"))


def canvas_pixels(page, selector: str) -> np.ndarray:
    rgba = page.evaluate(
        """(sel) => { const c = document.querySelector(sel);
                      return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""",
        selector,
    )
    side = int(round((len(rgba) // 4) ** 0.5))
    return np.array(rgba, np.uint8).reshape(side, side, 4)


def local_only(ctx) -> list[str]:
    """Abort requests to other hosts; returns every request URL made."""
    seen: list[str] = []
    ctx.on("request", lambda r: seen.append(r.url))

    def route(r):
        host = urlsplit(r.request.url).hostname
        (r.continue_ if host in ("127.0.0.1", "localhost") or r.request.url.startswith("data:") else r.abort)()

    ctx.route("**/*", route)
    return seen


def test_a_refused_demo_picture_shows_its_words_in_chromium(browser, server):  # noqa: F811
    """The client puts demo URLs in <img> and draws the main one on a 256 px canvas: chromium loads the 404's
    PNG as a picture, and the canvas holds exactly the notice's pixels (its words)."""
    want = notice(server.url + DEMO_IMAGE)
    page = browser.new_page()
    try:
        page.goto(server.url + "/health")
        got = page.evaluate(
            """(src) => new Promise((done) => {
                 const img = new Image();
                 img.onload = () => {
                   const c = document.createElement('canvas'); c.id = 'shown'; c.width = 256; c.height = 256;
                   c.getContext('2d').drawImage(img, 0, 0); document.body.append(c); done(img.naturalWidth);
                 };
                 img.onerror = () => done('broken');
                 img.src = src;
               })""",
            DEMO_IMAGE,
        )
        assert got == 256
        assert np.array_equal(canvas_pixels(page, "#shown"), want)
    finally:
        page.close()


@needs_client
def test_expert_mode_opens_layer4_on_first_load(browser, server):  # noqa: F811
    ctx = browser.new_context(viewport=LAPTOP)
    try:
        seen = local_only(ctx)
        page = ctx.new_page()
        page.goto(server.url + "/client/ganpaint.html?expert=1")
        page.wait_for_function("document.querySelectorAll('#layer_selector option').length === 3")
        options = page.locator("#layer_selector option").all_inner_texts()
        assert options[0] == "layer4" and sorted(options) == ["layer3", "layer4", "layer6"]
        assert page.locator("#layer_selector").input_value() == "layer4"
        page.wait_for_function("document.querySelectorAll('.image_list img').length === 16")
        rankings = [u for u in seen if "/api/rankings" in u]
        assert rankings and all("layer=layer4" in u for u in rankings), rankings
        assert "layer=layer4" in page.url  # the client writes its choice into the address
    finally:
        ctx.close()


@needs_client
def test_demo_mode_shows_what_to_do_not_broken_images(browser, server):  # noqa: F811
    ctx = browser.new_context(viewport=LAPTOP)
    try:
        local_only(ctx)
        page = ctx.new_page()
        page.goto(server.url + "/client/ganpaint.html")
        page.wait_for_function("document.querySelectorAll('.image_list img').length === 16")
        page.wait_for_function("Array.from(document.querySelectorAll('.image_list img')).every((i) => i.complete)")
        widths = page.evaluate("Array.from(document.querySelectorAll('.image_list img')).map((i) => i.naturalWidth)")
        assert widths == [256] * 16  # pictures, not broken-image icons
        page.wait_for_function(PICTURE_DRAWN)
        shown = canvas_pixels(page, "#painting canvas")
        assert np.array_equal(shown, notice(server.url + DEMO_IMAGE))  # the words, on the client's canvas
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "classic_client_demo_mode.png"))
    finally:
        ctx.close()


@needs_client
def test_another_origin_with_a_trailing_slash_in_api_paints(browser, tmp_path):  # noqa: F811
    """The client on its own static server (localhost), ganpaint at 127.0.0.1 with CORS for it, ``api=`` ending
    in '/': the strip loads and a drag on the canvas paints a new picture."""
    port = free_port()
    static = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", CLIENT],
        env=quiet_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    origin = f"http://localhost:{port}"
    try:
        with LiveServer(tmp_path, GANPAINT_CORS_ORIGINS=origin) as s:
            ctx = browser.new_context(viewport=LAPTOP)
            local_only(ctx)
            failed: list[str] = []
            ctx.on("response", lambda r: "/api/" in r.url and r.status != 200 and failed.append(f"{r.status} {r.url}"))
            page = ctx.new_page()
            page.goto(f"{origin}/ganpaint.html?expert=1&api={s.url}/")
            page.wait_for_function("document.querySelectorAll('.image_list img').length === 16", timeout=60_000)
            page.wait_for_function(PICTURE_DRAWN)
            before = canvas_pixels(page, "#painting canvas")
            box = page.locator("#painting canvas").bounding_box()
            painted = f"{s.url}//api/generate"  # the client's prefix + '/api/generate'

            def stroke(r) -> bool:
                return r.url == painted and "interventions" in (r.request.post_data or "")

            with page.expect_response(stroke) as r:
                page.mouse.move(box["x"] + 160, box["y"] + 60)
                page.mouse.down()
                for i in range(1, 9):
                    page.mouse.move(box["x"] + 160 + 6 * i, box["y"] + 60 + 2 * i)
                page.mouse.up()
            assert r.value.status == 200 and r.value.headers["access-control-allow-origin"] == origin
            assert failed == [], failed
            after = jpeg(r.value.json()["res"][0]["d"])  # the painted picture, against the one on the canvas
            change = np.abs(after - before[..., :3].astype(int)).mean(axis=2)  # (256, 256)
            assert change[40:90, 140:230].mean() > 4 * change[160:240, 20:120].mean() + 2, change[40:90, 140:230].mean()
            ctx.close()
    finally:
        static.terminate()
        static.wait(10)
