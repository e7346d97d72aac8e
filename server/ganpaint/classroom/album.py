"""The class album: a zip that opens offline, written when the teacher ends the class.

    write_album(Path("album.zip"), "7B", [AlbumEntry("Ada", "s1a2b", before_png, after_png, painting, True)])

Inside: ``index.html`` (one page, no script, no link outside the zip: open it from the unpacked folder),
``pictures/NN-before.png`` and ``NN-after.png`` (the before/after pair at the album size), and
``paintings/NN.json`` (model, image, layer, strokes: open it in ganpaint with Load). Names are HTML-escaped;
file names use the entry's number, never the name a student typed.
"""

from __future__ import annotations

import html
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 16px system-ui, sans-serif; margin: 2rem; background: #fafafa; color: #222 }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1.5rem }}
figure {{ margin: 0; background: #fff; padding: .75rem; border-radius: 8px; box-shadow: 0 1px 3px #0002 }}
.pair {{ display: flex; gap: .5rem }} .pair img {{ width: 50%; image-rendering: pixelated }}
figcaption {{ margin-top: .5rem }} .note {{ color: #666; font-size: 14px }}
</style></head><body>
<h1>{title}</h1>
<p class="note">{count} paintings, {date}. Each: before | after; the strokes file opens in ganpaint (Load).</p>
<div class="grid">
{figures}
</div></body></html>
"""
FIGURE = """<figure><div class="pair"><img src="{before}" alt="before"><img src="{after}" alt="after: {name}"></div>
<figcaption>{name}{mark} <a class="note" href="{strokes}">strokes</a></figcaption></figure>"""


@dataclass
class AlbumEntry:
    name: str  # the student's display name ('' if none)
    student_id: str
    before: bytes  # PNG
    after: bytes  # PNG
    painting: dict[str, Any]  # model, image, layer, strokes
    handed_in: bool


def album_page(title: str, entries: list[AlbumEntry]) -> str:
    figures = []
    for i, e in enumerate(entries, start=1):
        stem = f"{i:02d}"
        figures.append(
            FIGURE.format(
                before=f"pictures/{stem}-before.png",
                after=f"pictures/{stem}-after.png",
                strokes=f"paintings/{stem}.json",
                name=html.escape(e.name or f"Painter {i}"),
                mark=" ✓ handed in" if e.handed_in else "",
            )
        )
    date = time.strftime("%Y-%m-%d")
    return PAGE.format(title=html.escape(title), count=len(entries), date=date, figures="\n".join(figures))


def write_album(path: Path, title: str, entries: list[AlbumEntry]) -> Path:
    """Write the album zip to ``path`` (its folder created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("index.html", album_page(title, entries))
        for i, e in enumerate(entries, start=1):
            stem = f"{i:02d}"
            z.writestr(f"pictures/{stem}-before.png", e.before)
            z.writestr(f"pictures/{stem}-after.png", e.after)
            painting = {"format": "ganpaint-painting", "version": 1, "name": e.name, **e.painting}
            z.writestr(f"paintings/{stem}.json", json.dumps(painting, indent=1))
    partial.replace(path)
    return path
