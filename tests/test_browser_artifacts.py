"""The page's "Remove artifacts" checkbox in chromium: it follows the model's default, sends the option on the
websocket open, re-renders the picture, and the choice survives a reload; a model without a ranking disables it."""

from __future__ import annotations

import pytest
from live_server import LiveServer, tiny_dirs
from test_artifacts import UNITS, _write_ranking
from test_browser import LAPTOP, Watched, browser  # noqa: F401 (the browser fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def ranked(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts-page")
    tiny_dirs(root)
    _write_ranking(root)
    with LiveServer(root) as s:
        yield s.wait_ready().url


def _opens(w: Watched) -> list[dict]:
    return [m for m in w.sent if m["type"] == "open"]


def test_checkbox_sends_the_option_and_persists(browser, ranked):  # noqa: F811
    ctx = browser.new_context(viewport=LAPTOP)
    w = Watched(ctx.new_page())
    page = w.page
    page.goto(ranked + "/#model=tiny&image=3")
    w.settle()
    box = page.locator("#remove-artifacts")
    assert box.is_enabled() and not box.is_checked()  # the file's default: kept
    assert _opens(w)[-1]["artifacts"] == "kept"
    assert f"units {', '.join(map(str, UNITS))}" in page.locator(".artifacts-option").get_attribute("title")
    kept = w.pixels()
    box.check()
    page.wait_for_function("() => document.body.dataset.frameSeq === document.body.dataset.sentSeq")
    w.settle()
    assert _opens(w)[-1]["artifacts"] == "removed"
    assert w.pixels() != kept
    page.reload()
    w.settle()
    assert page.locator("#remove-artifacts").is_checked()
    assert _opens(w)[-1]["artifacts"] == "removed"
    assert w.errors == []
    ctx.close()


def test_checkbox_disabled_without_a_ranking(browser, tmp_path):  # noqa: F811
    with LiveServer(tmp_path) as s:
        ctx = browser.new_context(viewport=LAPTOP)
        w = Watched(ctx.new_page())
        w.page.goto(s.wait_ready().url + "/#model=tiny&image=3")
        w.settle()
        assert w.page.locator("#remove-artifacts").is_disabled()
        assert _opens(w)[-1]["artifacts"] == "kept"
        assert w.errors == []
        ctx.close()
