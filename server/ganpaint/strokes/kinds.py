"""The stroke kinds, by the ``mode`` a stroke names: one line each. A new kind is a module in this package with
an object that has ``prepare(stroke, ctx) -> part`` (strokes/base.py, ``StrokeKind``), plus its line here (and
its name in ``api/schemas.py``'s ``StrokeIn.mode`` and the page's ``web/js/stroke_kinds.js``)."""

from __future__ import annotations

from ganpaint.strokes.base import StrokeKind
from ganpaint.strokes.brush import DRAW, ERASE
from ganpaint.strokes.stamp import STAMP

KINDS: dict[str, StrokeKind] = {
    "draw": DRAW,
    "erase": ERASE,
    "stamp": STAMP,
}


def expected_modes() -> str:
    """ "'draw', 'erase' or 'stamp'": the kinds, for an error message."""
    names = [repr(name) for name in KINDS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
