"""The unit explorer and the "Where can it go?" overlay on the embedded model, in chromium, by keyboard: a
concept's units listed with their activation maps, one unit switched on and off changes the picture, random
units replace the list, the context map colours the picture and reads out under the pointer, and the stamp's
"Respect context" switch reaches the server."""

from __future__ import annotations

import pytest
from test_browser import LAPTOP, PIXELS_VIEW, Watched, browser  # noqa: F401 (the browser fixture)
from test_browser_stamps import embedded  # noqa: F401 (the live server on scenes64)

pytestmark = [pytest.mark.embedded, pytest.mark.browser]

PIXELS = """(sel) => { const img = document.querySelector(sel); const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  return Array.from(g.getImageData(0, 0, c.width, c.height).data); }"""


def _result_after(page, seq: int) -> None:
    page.wait_for_function(
        f"() => {{ const d = document.querySelector('#unit-explorer').dataset;"
        f" return d.state === 'ready' && Number(d.resultSeq) > {seq}; }}",
        timeout=30_000,
    )


def _open_image_23(chromium, base: str):
    """A fresh context in the pixels view (the model's own frames, not the refiner's) showing image 23."""
    ctx = chromium.new_context(viewport=LAPTOP)
    ctx.add_init_script(PIXELS_VIEW)
    w = Watched(ctx.new_page())
    w.page.goto(base + "/#model=scenes64&image=23")
    w.settle()
    return ctx, w


def _seq(page) -> int:
    return int(page.evaluate("document.querySelector('#unit-explorer').dataset.resultSeq || '0'"))


def test_units_switch_on_and_off_by_keyboard_and_random_units_replace_them(browser, embedded):  # noqa: F811
    ctx, w = _open_image_23(browser, embedded)
    page = w.page
    page.locator("#unit-explorer summary").focus()
    page.keyboard.press("Enter")  # opens the panel: it loads the first concept's units
    _result_after(page, 0)
    page.locator("#ux-concept").select_option("door")
    _result_after(page, _seq(page))
    concept = page.evaluate("fetch('models/scenes64/concepts/door').then(r => r.json())")
    units = page.locator("#ux-units .ux-unit")
    assert units.count() == 10
    assert [int(units.nth(i).get_attribute("data-unit")) for i in range(10)] == concept["units"][:10]
    assert page.locator("#ux-units .ux-heat").first.evaluate("c => c.width") == 16  # the layer6 map
    before = page.evaluate(PIXELS, "#ux-before")
    assert page.evaluate(PIXELS, "#ux-result") == before  # nothing switched yet

    seq = _seq(page)
    first_on = units.nth(0).locator(".ux-toggle[data-state=on]")
    first_on.focus()
    page.keyboard.press("Space")
    _result_after(page, seq)
    assert first_on.get_attribute("aria-pressed") == "true"
    switched_on = page.evaluate(PIXELS, "#ux-result")
    assert switched_on != before
    assert page.locator("#ux-caption").inner_text() == f"on: {concept['units'][0]}"

    seq = _seq(page)
    first_off = units.nth(0).locator(".ux-toggle[data-state=off]")
    first_off.focus()
    page.keyboard.press("Enter")
    _result_after(page, seq)
    assert first_on.get_attribute("aria-pressed") == "false" and first_off.get_attribute("aria-pressed") == "true"
    assert page.evaluate(PIXELS, "#ux-result") not in (before, switched_on)

    seq = _seq(page)
    page.locator("#ux-random").focus()
    page.keyboard.press("Enter")
    _result_after(page, seq)
    listed = [int(units.nth(i).get_attribute("data-unit")) for i in range(units.count())]
    assert len(listed) == 10 and len(set(listed)) == 10 and listed != concept["units"][:10]
    assert page.locator("#ux-units .ux-title").inner_text() == "10 random units: the baseline"
    assert page.evaluate(PIXELS, "#ux-result") == before  # a new list starts with nothing switched
    assert w.errors == []
    ctx.close()


def test_where_can_it_go_colours_the_picture_and_the_stamp_switch_reaches_the_server(browser, embedded):  # noqa: F811
    ctx, w = _open_image_23(browser, embedded)
    page = w.page
    page.locator('#concept-palette input[data-concept="door"]').check(force=True)
    page.locator("#context-toggle").focus()
    page.keyboard.press("Space")
    page.wait_for_function(
        "['ready', 'error'].includes(document.querySelector('#canvas-wrap').dataset.context)", timeout=60_000
    )
    assert page.locator("#canvas-wrap").get_attribute("data-context") == "ready", page.locator(
        "#context-readout"
    ).inner_text()
    assert page.locator("#context-canvas").evaluate("c => [c.width, c.height]") == [16, 16]
    alpha = page.locator("#context-canvas").evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, 16, 16).data).filter((v, i) => i % 4 === 3)"
    )
    assert max(alpha) > 0 and min(alpha) == 0  # doors land somewhere, not everywhere
    box = page.locator("#overlay-canvas").bounding_box()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.05 * box["height"])  # the sky
    assert page.locator("#context-readout").inner_text().startswith("door here: +")
    assert "the GAN refuses it here" in page.locator("#context-readout").inner_text()

    page.locator("#context-toggle").focus()
    page.keyboard.press("Space")
    assert not page.locator("#context-canvas").is_visible()
    page.locator("#stamp-context").uncheck()
    w.drag([(0.5, 0.1)])  # a door stamp forced into the sky
    w.settle()
    sent = [m for m in w.sent if m["type"] == "render"][-1]["strokes"]
    assert sent[-1]["mode"] == "stamp" and sent[-1]["context"] == "ignore"
    page.locator("#stamp-context").check()
    w.drag([(0.3, 0.1)])
    w.settle()
    sent = [m for m in w.sent if m["type"] == "render"][-1]["strokes"]
    assert "context" not in sent[-1] and sent[0]["context"] == "ignore"  # the server's default: respect
    page.locator("[data-action=share]").click()  # a share link carries the forced stamp as forced
    page.wait_for_function("document.querySelector('#share-url').value.includes('strokes=')")
    shared = Watched(ctx.new_page())
    shared.page.goto(page.locator("#share-url").input_value())
    shared.page.wait_for_function(  # polled: a page behind another gets no animation frames
        "document.querySelectorAll('#stroke-list .stroke-row').length === 2", polling=100
    )
    shared.settle()  # (the link's strokes are applied after the image opens: wait for them, then their frame)
    again = [m for m in shared.sent if m["type"] == "render"][-1]["strokes"]
    assert [s.get("context") for s in again] == ["ignore", None]
    assert shared.pixels() == w.pixels()
    assert w.errors == [] and shared.errors == []
    ctx.close()
