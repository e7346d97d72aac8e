"""A picture that says something in words: where a client shows only images (the original GANPaint client's demo
mode), an error answered as a PNG is the one place its user reads it.

``notice_png(title, body, action, side)``: a ``side`` x ``side`` PNG, dark, the title in white, the body in grey
and the action (what to do) in yellow, each wrapped to the width, in Pillow's bundled font (no font files, no
downloads). At 256 px, the original client's canvas, the text is 13-17 px high.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

BACKGROUND, TITLE, BODY, ACTION = (30, 34, 46), (255, 255, 255), (200, 204, 214), (255, 214, 102)


def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=px)  # Pillow's bundled font (a fixed bitmap font without FreeType)


def wrap(text: str, font, width: int) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` px (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def notice_png(title: str, body: str, action: str, side: int = 256) -> bytes:
    """The three texts as a PNG of ``side`` px (at least 128: smaller would not be readable)."""
    side = max(128, side)
    img = Image.new("RGB", (side, side), BACKGROUND)
    draw = ImageDraw.Draw(img)
    margin, y = side // 16, side // 16
    for text, colour, px, gap in ((title, TITLE, side // 15, side // 20), (body, BODY, side // 19, side // 20)):
        font = _font(px)
        for line in wrap(text, font, side - 2 * margin):
            draw.text((margin, y), line, font=font, fill=colour)
            y += round(px * 1.3)
        y += gap
    font = _font(side // 17)
    for line in wrap(action, font, side - 2 * margin):
        draw.text((margin, y), line, font=font, fill=ACTION)
        y += round(side // 17 * 1.3)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()
