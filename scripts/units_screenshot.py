"""Refresh docs/img/units.png: the page's unit explorer and "Where can it go?" overlay on the embedded model.

    python scripts/units_screenshot.py [--image 23] [--out docs/img/units.png]

Starts `ganpaint serve` (the embedded default, 1 thread) as scripts/page_screenshot.py does, opens the page in
Debian's chromium, chooses door, turns on "Where can it go?" (the door stamp's context map), opens the Units
panel on door, switches its best unit on and its second off, and takes the screenshot.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from page_screenshot import CHROMIUM_ARGS, REPO, SETTLED, free_port, wait_healthy
from playwright.sync_api import sync_playwright

CONTEXT_READY = "() => document.querySelector('#canvas-wrap').dataset.context === 'ready'"
EXPLORER_READY = "() => document.querySelector('#unit-explorer').dataset.state === 'ready'"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=int, default=23)
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "units.png"))
    args = p.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ganpaint.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(base, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(f"{base}/#image={args.image}")
            page.wait_for_function(SETTLED, timeout=60_000)
            page.locator("#concept-palette label", has_text="door").click()
            page.locator("#context-toggle").check()
            page.wait_for_function(CONTEXT_READY, timeout=120_000)
            page.locator("#unit-explorer summary").click()
            page.wait_for_function(EXPLORER_READY, timeout=60_000)
            page.locator("#ux-concept").select_option("door")
            page.wait_for_timeout(500)
            page.wait_for_function(EXPLORER_READY, timeout=60_000)
            for n, state in ((0, "on"), (1, "off")):
                page.locator("#ux-units .ux-unit").nth(n).locator(f".ux-toggle[data-state={state}]").click()
                page.wait_for_timeout(300)
                page.wait_for_function(EXPLORER_READY, timeout=60_000)
            box = page.locator("#overlay-canvas").bounding_box()
            page.mouse.move(box["x"] + 0.36 * box["width"], box["y"] + 0.74 * box["height"])
            page.locator("#unit-explorer").scroll_into_view_if_needed()
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
