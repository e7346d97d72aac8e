"""Refresh docs/img/page.png: the painting page on the embedded default model after two strokes.

    python scripts/page_screenshot.py [--image 23] [--out docs/img/page.png]

Starts `ganpaint serve` on a free 127.0.0.1 port (the embedded default, 1 thread), opens the page in
Debian's chromium through Playwright (no browser download), paints a tree stroke at the left (the unit
brush), then stamps a door on the church wall and a dome on its roof (clicks; stamps are the page's mode
for these), as a user would, waits for each frame and takes the screenshot.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]  # fmt: skip
# the page mirrors its progress on <body>: the newest render sent has been drawn
SETTLED = "() => { const d = document.body.dataset; return d.frameSeq !== undefined && d.frameSeq === d.sentSeq; }"
STROKES = [  # (concept, unit brush size = radius in % of the image width or None to stamp, polyline in 0..1)
    ("tree", 10, [(0.1, 0.6), (0.1, 0.8)]),
    ("door", None, [(0.36, 0.76)]),
    ("dome", None, [(0.5, 0.33)]),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as res:
                if json.load(res).get("status") == "ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server at {base} did not come up (exit code {proc.poll()})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=int, default=23)
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "page.png"))
    args = p.parse_args()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "ganpaint.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(base, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/#image={args.image}")
            page.wait_for_function(SETTLED, timeout=60_000)
            box = page.locator("#overlay-canvas").bounding_box()
            for concept, size, points in STROKES:
                page.locator("#concept-palette label", has_text=concept).click()
                if size is not None:  # the unit brush (a stamp's size is its natural size)
                    page.locator('input[name="mode"][value="draw"]').check(force=True)
                    page.locator("#brush-size").fill(str(size))
                xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
                page.mouse.move(*xy[0])
                page.mouse.down()
                for point in xy[1:]:
                    page.mouse.move(*point, steps=6)
                page.mouse.up()
                page.wait_for_function(SETTLED, timeout=60_000)
            page.mouse.move(box["x"] - 10, box["y"] - 10)  # no brush cursor; the last stroke fades to its outline
            page.wait_for_function("document.querySelector('#overlay-canvas').dataset.fading === 'false'")
            page.screenshot(path=args.out)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
