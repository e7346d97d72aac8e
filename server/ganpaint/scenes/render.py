"""Procedural renderer of outdoor church / village scenes with exact per-pixel labels.

A scene is generated from an integer seed in normalised coordinates (0..1, y down), so the same seed at
different sizes shows the same scene. Shapes are drawn with PIL at 2x resolution into three images: the
base colour (RGB), the label (concept id) and a texture code; numpy then applies sky gradients, brick and
stone patterns, noise and lighting, box-downsamples the colour and point-samples the labels.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from .concepts import ID

RENDERER_VERSION = "scenes-1"
MIN_SIZE, MAX_SIZE = 32, 256
SS = 2  # supersampling factor

SKY, CLOUD, MOUNTAIN, GRASS, EARTH, TREE = (ID[k] for k in ("sky", "cloud", "mountain", "grass", "earth", "tree"))
BUILDING, BRICK, ROOF, DOOR, WINDOW = (ID[k] for k in ("building", "brick", "roof", "door", "window"))
DOME, TOWER, WATER = ID["dome"], ID["tower"], ID["water"]

# texture codes (third drawing channel)
T_NONE, T_GRASS, T_BRICK, T_STONE, T_PLASTER, T_LEAF, T_WATER, T_EARTH, T_TILE, T_CLOUD = range(10)
_AMP = np.zeros(256, np.float32)
_AMP[[T_NONE, T_GRASS, T_BRICK, T_STONE, T_PLASTER, T_LEAF, T_WATER, T_EARTH, T_TILE, T_CLOUD]] = (
    0.03,
    0.22,
    0.08,
    0.10,
    0.06,
    0.45,
    0.06,
    0.28,
    0.10,
    0.03,
)


def _c(rgb, rng=None, jitter=0):
    if rng is not None and jitter:
        rgb = np.asarray(rgb) + rng.integers(-jitter, jitter + 1, 3)
    return tuple(int(min(255, max(0, v))) for v in rgb)  # same as int(np.clip(v, 0, 255)), faster


def _urange(rng, a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return rng.uniform(np.minimum(a, b), np.maximum(a, b)).astype(np.float32)


def _scale(rgb, f):
    return tuple(int(max(0, min(255, v * f))) for v in rgb)


# Debug hook for the tests: when a list, every door/window shape is checked against the labels it is drawn
# over (they must be building parts, or door/window itself), and offending pixel counts are appended.
_CHECK_PARTS: list | None = None
_HOST = np.zeros(256, bool)
_HOST[[BUILDING, BRICK, TOWER, DOME, DOOR, WINDOW]] = True


class _Canvas:
    def __init__(self, size: int, tint=(1.0, 1.0, 1.0), background=None, remove: Collection[str] = ()):
        self.s = s = size * SS
        self.tint = tint
        self.rgb = Image.new("RGB", (s, s)) if background is None else Image.fromarray(background)
        self.lab = Image.new("L", (s, s), SKY)
        self.tex = Image.new("L", (s, s), T_NONE)
        self.dr = ImageDraw.Draw(self.rgb)
        self.dl = ImageDraw.Draw(self.lab)
        self.dt = ImageDraw.Draw(self.tex)
        # object instances (scenes/removal.py): (id, kind, parent id) in drawing order; a removed instance is
        # drawn onto throwaway images, so every random draw (and everything else in the scene) stays the same
        self.remove = frozenset(remove)
        self.instances: list[tuple[str, str, str | None]] = []
        self._counts: dict[str, int] = {}
        self._open: list[str] = []
        self._hidden = 0

    @contextmanager
    def instance(self, kind: str):
        """Everything drawn inside is one instance ``kind:n`` (n counts that kind in drawing order)."""
        n = self._counts.get(kind, 0)
        self._counts[kind] = n + 1
        iid = f"{kind}:{n}"
        self.instances.append((iid, kind, self._open[-1] if self._open else None))
        self._open.append(iid)
        hide = iid in self.remove and not self._hidden
        if hide:
            kept = self.dr, self.dl, self.dt
            s = self.s
            self.dr = ImageDraw.Draw(Image.new("RGB", (s, s)))
            self.dl = ImageDraw.Draw(Image.new("L", (s, s)))
            self.dt = ImageDraw.Draw(Image.new("L", (s, s)))
        self._hidden += hide
        try:
            yield iid
        finally:
            self._hidden -= hide
            if hide:
                self.dr, self.dl, self.dt = kept
            self._open.pop()

    def _p(self, pts):
        s = self.s
        return [(x * s, y * s) for x, y in pts]

    def _t(self, color, label):
        if label < MOUNTAIN:
            return color
        t = self.tint
        return (
            min(255, int(color[0] * t[0])),
            min(255, int(color[1] * t[1])),
            min(255, int(color[2] * t[2])),
        )

    def _check(self, kind, args):
        if self._hidden:
            return
        m = Image.new("L", (self.s, self.s))
        getattr(ImageDraw.Draw(m), kind)(args, fill=1)
        under = np.asarray(self.lab)[np.asarray(m) > 0]
        _CHECK_PARTS.append(int((~_HOST[under]).sum()))

    def poly(self, pts, color, label, tex=T_NONE):
        p = self._p(pts)
        if _CHECK_PARTS is not None and label in (DOOR, WINDOW):
            self._check("polygon", p)
        color = self._t(color, label)
        self.dr.polygon(p, fill=color)
        self.dl.polygon(p, fill=label)
        self.dt.polygon(p, fill=tex)

    def rect(self, x0, y0, x1, y1, color, label, tex=T_NONE):
        s = self.s
        b = [x0 * s, y0 * s, x1 * s - 1, y1 * s - 1]
        if b[2] < b[0] or b[3] < b[1]:
            return
        if _CHECK_PARTS is not None and label in (DOOR, WINDOW):
            self._check("rectangle", b)
        self.dr.rectangle(b, fill=self._t(color, label))
        self.dl.rectangle(b, fill=label)
        self.dt.rectangle(b, fill=tex)

    def ellipse(self, x0, y0, x1, y1, color, label, tex=T_NONE):
        s = self.s
        b = [x0 * s, y0 * s, x1 * s - 1, y1 * s - 1]
        if b[2] < b[0] or b[3] < b[1]:
            return
        if _CHECK_PARTS is not None and label in (DOOR, WINDOW):
            self._check("ellipse", b)
        self.dr.ellipse(b, fill=self._t(color, label))
        self.dl.ellipse(b, fill=label)
        self.dt.ellipse(b, fill=tex)

    def arch(self, x0, y0, x1, y1, color, label, tex=T_NONE):
        """Rectangle with a semicircular (elliptic) top, inside the box."""
        w = x1 - x0
        r = min(w / 2, (y1 - y0) / 2)
        self.ellipse(x0, y0, x1, y0 + 2 * r, color, label, tex)
        self.rect(x0, y0 + r, x1, y1, color, label, tex)


def _instance(kind: str):
    """Decorate an element drawer ``fn(c, rng, ...)``: each call draws one removable instance of ``kind``."""

    def wrap(fn):
        @functools.wraps(fn)
        def drawer(c, *args, **kwargs):
            with c.instance(kind):
                return fn(c, *args, **kwargs)

        return drawer

    return wrap


# ----------------------------------------------------------------------------------------------------------
# palettes

_SKIES = {
    "day": (((55, 115, 215), (95, 160, 245)), ((165, 200, 240), (205, 228, 255))),
    "morning": (((70, 120, 210), (100, 150, 235)), ((215, 200, 200), (245, 220, 190))),
    "evening": (((50, 70, 160), (80, 110, 200)), ((235, 150, 100), (255, 195, 140))),
    "overcast": (((120, 140, 175), (150, 165, 195)), ((185, 195, 210), (210, 218, 228))),
}
_TINT = {
    "day": (1.0, 1.0, 1.0),
    "morning": (1.03, 1.0, 0.95),
    "evening": (1.08, 0.9, 0.76),
    "overcast": (0.9, 0.93, 0.97),
}
_CLOUD = {
    "day": (248, 250, 255),
    "morning": (250, 238, 235),
    "evening": (250, 205, 185),
    "overcast": (225, 228, 234),
}
_WOODS = [(95, 55, 30), (120, 70, 35), (70, 40, 25), (140, 50, 35), (45, 85, 60), (60, 60, 110), (80, 45, 40)]
_DOMES = [(215, 175, 60), (90, 170, 140), (60, 95, 200), (140, 145, 160), (70, 140, 170), (235, 200, 90)]
_ROOFS = [(150, 55, 45), (100, 60, 55), (75, 80, 95), (60, 65, 75), (125, 75, 50), (70, 105, 95)]
_BRICKS = [(175, 75, 50), (155, 60, 45), (190, 95, 60), (140, 70, 55), (200, 130, 80)]
_PLASTERS = [
    (225, 215, 190),
    (235, 225, 205),
    (210, 200, 175),
    (230, 210, 170),
    (205, 205, 200),
    (240, 235, 225),
    (215, 190, 160),
]
_STONES = [(175, 170, 160), (160, 150, 135), (190, 180, 160), (150, 150, 150)]
_GREENS = [(40, 105, 40), (30, 90, 45), (55, 115, 35), (35, 80, 35)]
_CONIFER = [(25, 75, 45), (30, 65, 40), (20, 85, 55)]
_AUTUMN = [(200, 120, 30), (190, 70, 30), (215, 170, 40), (160, 90, 30)]


# ----------------------------------------------------------------------------------------------------------
# elements


@_instance("cloud")
def _cloud(c, rng, cx, cy, w, color):
    n = int(rng.integers(3, 8))
    h = w * rng.uniform(0.25, 0.45)
    shade = _scale(color, 0.88)
    xs = cx + (rng.random(n) - 0.5) * w
    for i in range(n):
        rw = w * rng.uniform(0.25, 0.45)
        rh = h * rng.uniform(0.6, 1.1)
        yc = cy - rh * rng.uniform(0.0, 0.5)
        c.ellipse(xs[i] - rw / 2, yc - rh / 2, xs[i] + rw / 2, yc + rh / 2, shade, CLOUD, T_CLOUD)
    for i in range(n):
        rw = w * rng.uniform(0.2, 0.35)
        rh = h * rng.uniform(0.5, 0.9)
        yc = cy - h * 0.35 - rh * rng.uniform(0.0, 0.4)
        c.ellipse(xs[i] - rw / 2, yc - rh / 2, xs[i] + rw / 2, yc + rh / 2, color, CLOUD, T_CLOUD)


def _mountains(c, rng, horizon, tod):
    layers = int(rng.integers(1, 3))
    base = np.array([120, 115, 150]) if tod != "evening" else np.array([130, 100, 130])
    xs = np.linspace(-0.02, 1.02, 40)
    for li in range(layers):
        hgt = rng.uniform(0.06, 0.2) * (1.0 if li == 0 else 0.6)
        prof = np.zeros_like(xs)
        for _ in range(3):
            f, ph = rng.uniform(1, 6), rng.uniform(0, 2 * math.pi)
            prof += rng.uniform(0.3, 1.0) * np.sin(xs * f * 2 * math.pi / 2 + ph)
        prof = (prof - prof.min()) / (np.ptp(prof) + 1e-6)
        top = horizon - hgt * (0.3 + 0.7 * prof)
        col = base * (1.15 - 0.2 * li) + rng.integers(-15, 16, 3)
        pts = [(float(x), float(y)) for x, y in zip(xs, top, strict=False)] + [
            (1.02, horizon + 0.01),
            (-0.02, horizon + 0.01),
        ]
        with c.instance("mountain"):
            c.poly(pts, _c(col), MOUNTAIN, T_NONE)


def _tree(c, rng, x, base, r, kind, autumn=False):
    """A tree standing on `base` with crown radius r (normalised)."""
    trunk = (90, 60, 40) if kind != "birch" else (200, 195, 185)
    if kind == "bush":
        col = _c(_GREENS[int(rng.integers(len(_GREENS)))], rng, 12)
        if autumn:
            col = _c(_AUTUMN[int(rng.integers(len(_AUTUMN)))], rng, 15)
        n = int(rng.integers(2, 5))
        for i in range(n):
            ox = (i - (n - 1) / 2) * r * 0.7 + rng.uniform(-0.1, 0.1) * r
            rr = r * rng.uniform(0.55, 0.8)
            c.ellipse(x + ox - rr, base - 1.6 * rr, x + ox + rr, base + 0.1 * rr, _scale(col, 0.8), TREE, T_LEAF)
        for i in range(n):
            ox = (i - (n - 1) / 2) * r * 0.7
            rr = r * 0.45
            c.ellipse(x + ox - rr, base - 1.7 * rr - r * 0.15, x + ox + rr, base - 0.2 * rr, col, TREE, T_LEAF)
        return
    if kind == "conifer":
        col = _c(_CONIFER[int(rng.integers(len(_CONIFER)))], rng, 10)
        h = r * rng.uniform(2.8, 4.0)
        c.rect(x - r * 0.12, base - h * 0.25, x + r * 0.12, base, trunk, TREE, T_NONE)
        tiers = int(rng.integers(3, 5))
        for i in range(tiers):
            t0 = base - h * 0.15 - i * h * 0.8 / tiers
            w = r * (1.0 - 0.6 * i / tiers)
            top = t0 - h * 0.85 / tiers * 1.6
            c.poly([(x - w, t0), (x + w, t0), (x, top)], _scale(col, 0.85 + 0.1 * i), TREE, T_LEAF)
        return
    # deciduous (round) or birch / autumn
    col = _c(_GREENS[int(rng.integers(len(_GREENS)))], rng, 12)
    if autumn:
        col = _c(_AUTUMN[int(rng.integers(len(_AUTUMN)))], rng, 15)
    th = r * rng.uniform(0.8, 1.3)
    c.rect(x - r * 0.11, base - th - r * 0.6, x + r * 0.11, base, trunk, TREE, T_NONE)
    cy = base - th - r * 0.8
    n = int(rng.integers(4, 8))
    ang = rng.uniform(0, 2 * math.pi, n)
    dist = rng.uniform(0.2, 0.55, n) * r
    dark = _scale(col, 0.78)
    for i in range(n):
        rr = r * rng.uniform(0.45, 0.65)
        ex, ey = x + math.cos(ang[i]) * dist[i], cy + math.sin(ang[i]) * dist[i] * 0.8
        c.ellipse(ex - rr, ey - rr, ex + rr, ey + rr, dark, TREE, T_LEAF)
    for i in range(max(2, n // 2)):
        rr = r * rng.uniform(0.3, 0.45)
        ex, ey = (
            x - r * 0.15 + math.cos(ang[i]) * dist[i] * 0.6,
            cy - r * 0.2 + math.sin(ang[i]) * dist[i] * 0.4,
        )
        c.ellipse(ex - rr, ey - rr, ex + rr, ey + rr, col, TREE, T_LEAF)


@_instance("tree")
def _random_tree(c, rng, x, base, r):
    u = rng.random()
    autumn = rng.random() < 0.2
    if u < 0.5:
        _tree(c, rng, x, base, r, "round", autumn)
    elif u < 0.8:
        _tree(c, rng, x, base, r * 0.8, "conifer")
    else:
        _tree(c, rng, x, base, r * 0.9, "bush", autumn)


@_instance("window")
def _window(c, rng, x0, y0, x1, y1, style, glass, frame):
    if style == "arch":
        c.arch(x0, y0, x1, y1, frame, WINDOW)
        m = (x1 - x0) * 0.18
        c.arch(x0 + m, y0 + m, x1 - m, y1 - m, glass, WINDOW)
    elif style == "round":
        c.ellipse(x0, y0, x1, y1, frame, WINDOW)
        m = (x1 - x0) * 0.15
        c.ellipse(x0 + m, y0 + m, x1 - m, y1 - m, glass, WINDOW)
    else:  # square with a cross
        c.rect(x0, y0, x1, y1, frame, WINDOW)
        m = (x1 - x0) * 0.14
        c.rect(x0 + m, y0 + m, x1 - m, y1 - m, glass, WINDOW)
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        t = (x1 - x0) * 0.07
        c.rect(xm - t, y0, xm + t, y1, frame, WINDOW)
        c.rect(x0, ym - t, x1, ym + t, frame, WINDOW)


@_instance("window")
def _rose(c, x, y, r, glass, frame):
    c.ellipse(x - r, y - r, x + r, y + r, frame, WINDOW)
    c.ellipse(x - r * 0.82, y - r * 0.82, x + r * 0.82, y + r * 0.82, glass, WINDOW)
    c.ellipse(x - r * 0.3, y - r * 0.3, x + r * 0.3, y + r * 0.3, frame, WINDOW)
    for k in range(4):
        a = k * math.pi / 4
        dx, dy = math.cos(a) * r * 0.8, math.sin(a) * r * 0.8
        t = r * 0.08
        pts = [
            (x - dx - t * math.sin(a), y - dy + t * math.cos(a)),
            (x + dx - t * math.sin(a), y + dy + t * math.cos(a)),
            (x + dx + t * math.sin(a), y + dy - t * math.cos(a)),
            (x - dx + t * math.sin(a), y - dy - t * math.cos(a)),
        ]
        c.poly(pts, frame, WINDOW)


@_instance("door")
def _door(c, rng, x, base, w, h, arched, wood):
    frame = _scale(wood, 0.6)
    if arched:
        c.arch(x - w / 2, base - h, x + w / 2, base, frame, DOOR)
        m = w * 0.1
        c.arch(x - w / 2 + m, base - h + m, x + w / 2 - m, base, wood, DOOR)
    else:
        c.rect(x - w / 2, base - h, x + w / 2, base, frame, DOOR)
        m = w * 0.1
        c.rect(x - w / 2 + m, base - h + m, x + w / 2 - m, base, wood, DOOR)
    if w > 0.06:  # two leaves
        c.rect(x - w * 0.03, base - h + w * 0.5, x + w * 0.03, base, frame, DOOR)


@_instance("dome")
def _dome(c, rng, cx, base, w, shape, col):
    """A dome standing on y=base, width w."""
    hi = _scale(col, 1.25)
    lo = _scale(col, 0.8)
    if shape == "hemi":
        h = w * rng.uniform(0.45, 0.6)
        c.ellipse(cx - w / 2, base - h, cx + w / 2, base + h, lo, DOME)
        c.ellipse(cx - w * 0.42, base - h * 0.96, cx + w * 0.3, base + h * 0.7, col, DOME)
        c.ellipse(cx - w * 0.3, base - h * 0.85, cx - w * 0.05, base - h * 0.3, hi, DOME)
        top = base - h
    elif shape == "onion":
        h = w * rng.uniform(1.0, 1.35)
        ts = np.linspace(0, 1, 24)
        prof = np.sin(np.pi * np.clip(ts * 1.25, 0, 1)) ** 0.8 * (1 - ts) ** 0.6 * 0.5 + 0.0
        prof = prof / prof.max() * w / 2
        right = [(cx + float(p), base - float(t) * h) for t, p in zip(ts, prof, strict=False)]
        left = [(cx - float(p), base - float(t) * h) for t, p in zip(ts[::-1], prof[::-1], strict=False)]
        c.poly(right + left, col, DOME)
        lp = [(cx - float(p) * 0.5 - w * 0.08, base - float(t) * h) for t, p in zip(ts, prof, strict=False)]
        c.poly([(cx - w * 0.08, base)] + lp[1:-3] + [(cx - w * 0.08, base - h * 0.8)], hi, DOME)
        top = base - h
    else:  # tall ellipse dome (baroque)
        h = w * rng.uniform(0.7, 0.9)
        c.ellipse(cx - w / 2, base - h, cx + w / 2, base + h * 0.3, lo, DOME)
        c.ellipse(cx - w * 0.45, base - h * 0.97, cx + w * 0.35, base + h * 0.1, col, DOME)
        c.ellipse(cx - w * 0.3, base - h * 0.85, cx - w * 0.1, base - h * 0.35, hi, DOME)
        c.rect(cx - w / 2, base - h * 0.05, cx + w / 2, base, lo, DOME)
        top = base - h
    # lantern/finial (part of the dome)
    fw = w * 0.08
    c.rect(cx - fw / 2, top - w * 0.16, cx + fw / 2, top + w * 0.02, _scale(col, 1.1), DOME)
    c.ellipse(cx - fw, top - w * 0.2, cx + fw, top - w * 0.12, hi, DOME)
    return top


class _Style:
    def __init__(self, rng, tod):
        self.brick = rng.random() < 0.5
        if self.brick:
            self.wall = _c(_BRICKS[int(rng.integers(len(_BRICKS)))], rng, 12)
            self.label, self.tex = BRICK, T_BRICK
        else:
            stone = rng.random() < 0.4
            pal = _STONES if stone else _PLASTERS
            self.wall = _c(pal[int(rng.integers(len(pal)))], rng, 10)
            self.label, self.tex = BUILDING, (T_STONE if stone else T_PLASTER)
        self.roof = _c(_ROOFS[int(rng.integers(len(_ROOFS)))], rng, 10)
        self.wood = _c(_WOODS[int(rng.integers(len(_WOODS)))], rng, 8)
        lit = tod == "evening" and rng.random() < 0.5
        self.glass = _c((230, 190, 90) if lit else (45, 60, 85), rng, 12)
        self.frame = _c((235, 230, 220) if rng.random() < 0.5 else (70, 60, 55), rng, 8)
        self.dome = _c(_DOMES[int(rng.integers(len(_DOMES)))], rng, 10)
        self.arched = rng.random() < 0.6
        self.win = ("arch" if rng.random() < 0.6 else "round") if self.arched else "square"


def _wall(c, st, x0, y0, x1, y1, label=None):
    c.rect(x0, y0, x1, y1, st.wall, st.label if label is None else label, st.tex)
    # darker plinth strip (same label)
    h = (y1 - y0) * 0.06
    c.rect(x0, y1 - h, x1, y1, _scale(st.wall, 0.8), st.label if label is None else label, st.tex)


def _window_row(c, rng, st, x0, x1, y0, y1, n, avoid=None):
    if n <= 0:
        return
    slot = (x1 - x0) / n
    ww = min(slot * 0.55, (y1 - y0) * 0.6)
    for i in range(n):
        xc = x0 + slot * (i + 0.5)
        if avoid is not None and abs(xc - avoid[0]) < avoid[1] + ww / 2:
            continue
        _window(c, rng, xc - ww / 2, y0, xc + ww / 2, y1, st.win, st.glass, st.frame)


@_instance("tower")
def _tower(c, rng, st, x0, x1, base, top, has_dome_choice):
    """Tower body [x0,x1] x [top, base] with a cap. Returns whether a dome was drawn."""
    w = x1 - x0
    tcol = st.wall if rng.random() < 0.7 else _c(_STONES[int(rng.integers(len(_STONES)))], rng, 8)
    c.rect(x0, top, x1, base, tcol, TOWER, st.tex)
    c.rect(x0 + w * 0.72, top, x1, base, _scale(tcol, 0.85), TOWER, st.tex)
    # cornice
    c.rect(x0 - w * 0.06, top, x1 + w * 0.06, top + w * 0.1, _scale(tcol, 0.75), TOWER, T_NONE)
    # belfry windows
    nw = 1 if w < 0.12 else 2
    ww = w / (nw * 2 + 0.5)
    wh = min(ww * 2.2, (base - top) * 0.3)
    for i in range(nw):
        xc = x0 + w * (i + 0.5) / nw
        _window(c, rng, xc - ww / 2, top + w * 0.25, xc + ww / 2, top + w * 0.25 + wh, "arch", st.glass, st.frame)
    if base - top > w * 2.2 and rng.random() < 0.5:  # clock / round window lower
        r = w * 0.18
        yc = top + w * 0.25 + wh + r * 2.2
        if yc + r < base - w * 0.2:
            _window(c, rng, (x0 + x1) / 2 - r, yc - r, (x0 + x1) / 2 + r, yc + r, "round", st.glass, st.frame)
    cap = rng.random()
    cx = (x0 + x1) / 2
    if has_dome_choice and cap < 0.45:
        _dome(
            c,
            rng,
            cx,
            top,
            w * rng.uniform(1.1, 1.35),
            ["hemi", "onion", "tall"][int(rng.integers(3))],
            st.dome,
        )
        return True
    if cap < 0.8:  # steeple (spire: part of the tower)
        h = w * rng.uniform(1.5, 3.0)
        scol = st.roof if rng.random() < 0.5 else _c((80, 150, 125), rng, 10)
        c.poly([(x0 - w * 0.04, top), (x1 + w * 0.04, top), (cx, top - h)], scol, TOWER)
        c.poly([(cx, top), (x1 + w * 0.04, top), (cx, top - h)], _scale(scol, 0.8), TOWER)
    else:  # pyramid roof
        h = w * rng.uniform(0.4, 0.8)
        c.poly([(x0 - w * 0.1, top), (x1 + w * 0.1, top), (cx, top - h)], st.roof, ROOF, T_TILE)
    return False


@_instance("building")
def _church(c, rng, st, cx, base, W, dome_bias):
    """Side view of a nave, with a tower and/or a central dome."""
    H = max(W * rng.uniform(0.38, 0.6), 0.12)
    x0, x1 = cx - W / 2, cx + W / 2
    top = base - H
    want_dome = rng.random() < dome_bias
    has_tower = (not want_dome) or rng.random() < 0.6
    tw = W * rng.uniform(0.2, 0.32)
    side = -1 if rng.random() < 0.5 else 1
    # roof
    rh = H * rng.uniform(0.35, 0.65)
    o = W * 0.03
    c.poly(
        [(x0 - o, top + 0.003), (x1 + o, top + 0.003), (x1 - rh * 0.5, top - rh), (x0 + rh * 0.5, top - rh)],
        st.roof,
        ROOF,
        T_TILE,
    )
    if want_dome:  # drum + dome centred on the nave
        dw = W * rng.uniform(0.45, 0.65)
        dx = cx if not has_tower else cx - side * W * 0.08
        dh = dw * rng.uniform(0.25, 0.45)
        d_top = top - rh * 0.6 - dh
        c.rect(dx - dw / 2, d_top, dx + dw / 2, top + 0.004, st.wall, st.label, st.tex)
        c.rect(
            dx - dw / 2 - dw * 0.04,
            d_top,
            dx + dw / 2 + dw * 0.04,
            d_top + dh * 0.12,
            _scale(st.wall, 0.8),
            st.label,
            st.tex,
        )
        nw = int(rng.integers(2, 4))
        ww = dw / (nw * 2.2)
        for i in range(nw):
            xc = dx - dw / 2 + dw * (i + 0.5) / nw
            _window(
                c,
                rng,
                xc - ww / 2,
                d_top + dh * 0.25,
                xc + ww / 2,
                d_top + dh * 0.92,
                "arch",
                st.glass,
                st.frame,
            )
        _dome(c, rng, dx, d_top, dw * 1.02, ["hemi", "onion", "tall", "hemi"][int(rng.integers(4))], st.dome)
    _wall(c, st, x0, top, x1, base)
    # door and windows
    dh_ = max(min(rng.uniform(0.15, 0.24), H * 0.78), 0.085)
    dw_ = dh_ * rng.uniform(0.5, 0.75)
    if has_tower:
        tx0 = x0 - tw * 0.3 if side < 0 else x1 - tw * 0.7
        tx1 = tx0 + tw
        door_x = (tx0 + tx1) / 2 if rng.random() < 0.5 else cx
    else:
        door_x = cx
    win_y0, win_y1 = top + H * 0.15, top + H * rng.uniform(0.5, 0.65)
    n = max(2, int(W / rng.uniform(0.09, 0.13)))
    _window_row(
        c,
        rng,
        st,
        x0 + W * 0.05,
        x1 - W * 0.05,
        win_y0,
        win_y1,
        n,
        avoid=(door_x, dw_ / 2 + 0.01) if dh_ > H * 0.5 else None,
    )
    got_dome = want_dome
    if has_tower:
        th = H * rng.uniform(1.7, 2.5)
        got_dome |= _tower(c, rng, st, tx0, tx1, base, base - th, not want_dome)
        dw_ = min(dw_, tw * 0.7)
    _door(c, rng, door_x, base, dw_, dh_, st.arched, st.wood)
    return got_dome


@_instance("building")
def _chapel(c, rng, st, cx, base, W, dome_bias):
    """Front view: gabled facade with a big door and a rose window, optional bell tower or dome."""
    H = max(W * rng.uniform(0.55, 0.85), 0.12)
    x0, x1 = cx - W / 2, cx + W / 2
    top = base - H
    gh = W * rng.uniform(0.3, 0.5)
    o = W * 0.06
    want_dome = rng.random() < dome_bias
    if want_dome:  # dome behind the facade
        dw = W * rng.uniform(0.6, 0.8)
        c.rect(cx - dw / 2, top - gh * 0.7, cx + dw / 2, top + 0.01, _scale(st.wall, 0.9), st.label, st.tex)
        _dome(c, rng, cx, top - gh * 0.7, dw, ["hemi", "onion", "tall"][int(rng.integers(3))], st.dome)
    c.poly([(x0 - o, top + 0.002), (x1 + o, top + 0.002), (cx, top - gh - o * 0.8)], st.roof, ROOF, T_TILE)
    c.poly([(x0, top + 0.002), (x1, top + 0.002), (cx, top - gh)], st.wall, st.label, st.tex)
    _wall(c, st, x0, top, x1, base)
    dh_ = max(min(rng.uniform(0.16, 0.25), H * 0.6), 0.085)
    dw_ = dh_ * rng.uniform(0.55, 0.75)
    _door(c, rng, cx, base, dw_, dh_, st.arched or rng.random() < 0.5, st.wood)
    r = min(W * rng.uniform(0.1, 0.16), (base - dh_ - top) * 0.45 + gh * 0.3)
    ry = base - dh_ - r - W * 0.04
    if ry - r > top - gh * 0.55 and r > 0.015:
        _rose(c, cx, ry, r, st.glass, st.frame)
    # side windows
    ww = W * 0.11
    for xs in (x0 + W * 0.17, x1 - W * 0.17):
        if abs(xs - cx) > dw_ / 2 + ww / 2 + 0.01:
            _window(
                c,
                rng,
                xs - ww / 2,
                top + H * 0.2,
                xs + ww / 2,
                top + H * 0.2 + min(ww * 2.2, H * 0.5),
                st.win,
                st.glass,
                st.frame,
            )
    got = want_dome
    if not want_dome and rng.random() < 0.4:  # small bell tower on the ridge
        bw = W * 0.16
        bt = top - gh * 0.6 - bw * 1.4
        with c.instance("tower"):
            c.rect(cx - bw / 2, bt, cx + bw / 2, top - gh * 0.5, st.wall, TOWER, st.tex)
            c.poly([(cx - bw * 0.6, bt), (cx + bw * 0.6, bt), (cx, bt - bw * 1.5)], st.roof, TOWER)
    return got


@_instance("building")
def _house(c, rng, st, cx, base, W):
    H = max(W * rng.uniform(0.45, 0.75), 0.12)
    x0, x1 = cx - W / 2, cx + W / 2
    top = base - H
    o = W * 0.05
    if rng.random() < 0.5:  # gable front
        gh = W * rng.uniform(0.3, 0.55)
        c.poly([(x0 - o, top + 0.003), (x1 + o, top + 0.003), (cx, top - gh)], st.roof, ROOF, T_TILE)
    else:  # side view
        rh = H * rng.uniform(0.5, 0.8)
        c.poly(
            [
                (x0 - o, top + 0.003),
                (x1 + o, top + 0.003),
                (x1 - rh * 0.7, top - rh),
                (x0 + rh * 0.7, top - rh),
            ],
            st.roof,
            ROOF,
            T_TILE,
        )
        if rng.random() < 0.5:  # chimney
            chx = x0 + W * rng.uniform(0.2, 0.8)
            c.rect(chx - W * 0.03, top - rh * 1.1, chx + W * 0.03, top - rh * 0.3, _scale(st.roof, 0.7), ROOF)
    _wall(c, st, x0, top, x1, base)
    dh_ = max(min(rng.uniform(0.14, 0.2), H * 0.75), 0.085)
    dw_ = dh_ * rng.uniform(0.45, 0.6)
    door_x = cx + rng.uniform(-0.25, 0.25) * W
    door_x = float(np.clip(door_x, x0 + dw_ / 2 + W * 0.05, x1 - dw_ / 2 - W * 0.05))
    _door(c, rng, door_x, base, dw_, dh_, rng.random() < 0.4, st.wood)
    n = max(2, int(W / rng.uniform(0.1, 0.14)))
    floors = 2 if H > 0.2 and rng.random() < 0.6 else 1
    fh = (H - 0.01) / floors
    for f in range(floors):
        y0 = top + fh * f + fh * 0.18
        y1 = y0 + min(fh * 0.55, W / n * 0.8)
        _window_row(
            c,
            rng,
            st,
            x0 + W * 0.04,
            x1 - W * 0.04,
            y0,
            y1,
            n,
            avoid=(door_x, dw_ / 2 + 0.01) if y1 > base - dh_ - 0.005 else None,
        )


# ----------------------------------------------------------------------------------------------------------
# textures


@lru_cache(maxsize=16)
def _patterns(s2: int):
    """Size-dependent, scene-independent texture maps in normalised coordinates (cached)."""
    yn = ((np.arange(s2, dtype=np.float32) + 0.5) / s2)[:, None]
    xn = ((np.arange(s2, dtype=np.float32) + 0.5) / s2)[None, :]
    # bricks
    bh, bw = 0.03, 0.07
    ry = yn / bh
    row = np.floor(ry)
    fy = ry - row
    fx = xn / bw + 0.5 * (row % 2)
    col = np.floor(fx)
    fxr = fx - col
    h = np.sin(row * 12.9898 + col * 78.233) * 43758.5453
    h = h - np.floor(h)
    brick_mortar = ((fy < 0.22) | (fxr < 0.09)).astype(np.float32)
    brick_tone = (0.84 + 0.3 * h).astype(np.float32)
    # stone blocks (bigger, faint joints)
    sh, sw = 0.055, 0.11
    ry = yn / sh
    row = np.floor(ry)
    fy = ry - row
    fx = xn / sw + 0.37 * (row % 3)
    col = np.floor(fx)
    h = np.sin(row * 7.13 + col * 91.7) * 9137.53
    h = h - np.floor(h)
    stone = np.where((fy < 0.12) | (fx - col < 0.06), 0.78, 0.9 + 0.18 * h).astype(np.float32)
    # roof tiles: horizontal courses
    tile = np.broadcast_to(np.where((yn / 0.022) % 1.0 < 0.3, 0.8, 1.0), (s2, s2)).astype(np.float32)
    # water ripples
    water = (1.0 + 0.08 * np.sin(yn * 240.0 + np.sin(xn * 25.0) * 2.0)).astype(np.float32)
    return yn, xn, brick_mortar, brick_tone, stone, tile, water


# ----------------------------------------------------------------------------------------------------------


def render_scene(seed: int, size: int, remove: Collection[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Render scene `seed` at `size` x `size`. Returns (rgb uint8 (S,S,3), labels uint8 (S,S)).

    ``remove``: object instance ids (``"tree:3"``; ``ganpaint.scenes.removal.scene_instances`` lists a scene's)
    left out, with everything they contain (a tower's dome and windows); the rest of the scene is the same
    pixels and the background they hid is rendered. ValueError naming an id the scene does not have."""
    if isinstance(remove, str):
        raise ValueError(f"remove: expected a collection of instance ids such as ['tree:0'], got {remove!r}")
    img, labels, instances = _render(seed, size, remove)
    unknown = sorted(set(remove) - {iid for iid, _, _ in instances})
    if unknown:
        have = ", ".join(iid for iid, _, _ in instances) or "none"
        raise ValueError(f"remove: scene {seed} has no instance {unknown[0]!r}; it has: {have}")
    return img, labels


def _render(seed: int, size: int, remove: Collection[str] = ()):
    """(rgb, labels, instances): ``render_scene`` and the list of the scene's instances (id, kind, parent)."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an int in {MIN_SIZE}..{MAX_SIZE}, got size={size!r}")
    size = int(size)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5CE7E])
    tod = ["day", "day", "day", "morning", "evening", "overcast"][int(rng.integers(6))]
    horizon = rng.uniform(0.36, 0.6)
    sky_top = _urange(rng, *_SKIES[tod][0])
    sky_hor = _urange(rng, *_SKIES[tod][1])
    sun = (rng.uniform(0.1, 0.9), rng.uniform(0.1, horizon)) if tod in ("morning", "evening") else None
    c = _Canvas(size, _TINT[tod], _sky(size * SS, horizon, sky_top, sky_hor, sun), remove)

    _backdrop(c, rng, tod, horizon, sky_top)
    nb, path_x = _buildings(c, rng, tod, horizon)
    _foreground(c, rng, horizon, sky_top, nb, path_x)
    return (*_finish(c, rng, size, horizon), c.instances)


def _backdrop(c, rng, tod, horizon, sky_top) -> None:
    """Clouds, mountains, the ground (a field or road, a river) and distant trees on the horizon."""
    if rng.random() < 0.82:
        ncl = int(rng.integers(1, 7))
        ccol = _CLOUD[tod]
        for _ in range(ncl):
            w = rng.uniform(0.12, 0.45)
            cy = rng.uniform(0.05, max(0.08, horizon - 0.1))
            _cloud(c, rng, rng.uniform(-0.05, 1.05), cy, w, _c(ccol, rng, 5))
    if rng.random() < 0.65:
        _mountains(c, rng, horizon, tod)

    # ground
    grass = _c(rng.uniform((70, 140, 40), (125, 190, 75)))
    c.rect(0, horizon, 1, 1, grass, GRASS, T_GRASS)
    if rng.random() < 0.25:  # a field of bare earth or a road across
        y0 = horizon + rng.uniform(0.02, 0.1)
        c.rect(0, y0, 1, y0 + rng.uniform(0.02, 0.06), _c((160, 125, 85), rng, 15), EARTH, T_EARTH)
    if rng.random() < 0.22:  # river near the horizon
        y0 = horizon + rng.uniform(0.005, 0.05)
        hh = rng.uniform(0.03, 0.08)
        wcol = _c(sky_top * 0.75 + np.array([0, 15, 30]), rng, 8)
        c.poly(
            [(0, y0), (1, y0 + rng.uniform(-0.02, 0.02)), (1, y0 + hh), (0, y0 + hh * rng.uniform(0.6, 1.4))],
            wcol,
            WATER,
            T_WATER,
        )

    # distant trees on the horizon
    if rng.random() < 0.6:
        for _ in range(int(rng.integers(2, 9))):
            r = rng.uniform(0.02, 0.05)
            _random_tree(c, rng, rng.uniform(0, 1), horizon + rng.uniform(0, 0.03), r)


def _buildings(c, rng, tod, horizon) -> tuple[int, float | None]:
    """The buildings, far ones first, the main one last (with its path and a tree beside it); returns how many
    and the x of the main door's path (None without one)."""
    u = rng.random()
    nb = 0 if u < 0.08 else (1 if u < 0.7 else int(rng.integers(2, 4)))
    bases = []
    if nb:
        main_base = rng.uniform(0.8, 0.97)
        bases = [main_base] + sorted(rng.uniform(horizon + 0.06, main_base - 0.04) for _ in range(nb - 1))
        bases = bases[1:] + bases[:1]  # far ones first, main last
    path_x = None
    for i, b in enumerate(bases):
        main = i == len(bases) - 1
        depth = (b - horizon) / max(1e-3, 1 - horizon)
        if main:
            W = rng.uniform(0.5, 0.85)
            cx = rng.uniform(0.3, 0.7)
        else:
            W = rng.uniform(0.2, 0.45) * (0.6 + 0.6 * depth)
            cx = rng.uniform(0.05, 0.95)
        if main and rng.random() < 0.6:  # earth path to the main door
            path_x = cx
            pw = rng.uniform(0.05, 0.08)
            bw = rng.uniform(0.2, 0.4)
            c.poly(
                [
                    (cx - pw, b - 0.005),
                    (cx + pw, b - 0.005),
                    (cx + bw + rng.uniform(-0.2, 0.2), 1.01),
                    (cx - bw + rng.uniform(-0.2, 0.2), 1.01),
                ],
                _c((165, 130, 90), rng, 15),
                EARTH,
                T_EARTH,
            )
        if rng.random() < 0.3:  # mid trees beside the building, behind it
            tx = cx + (W / 2 + rng.uniform(-0.05, 0.1)) * (1 if rng.random() < 0.5 else -1)
            _random_tree(c, rng, tx, b - rng.uniform(0.02, 0.08), rng.uniform(0.06, 0.12) * (0.5 + depth))
        st = _Style(rng, tod)
        k = rng.random()
        if main:
            if k < 0.5:
                _church(c, rng, st, cx, b, W, dome_bias=0.35)
            elif k < 0.75:
                _chapel(c, rng, st, cx, b, W * 0.8, dome_bias=0.4)
            else:
                _house(c, rng, st, cx, b, W * 0.85)
        else:
            if k < 0.5:
                _house(c, rng, st, cx, b, W)
            elif k < 0.8:
                _church(c, rng, st, cx, b, W * 1.2, dome_bias=0.3)
            else:
                _chapel(c, rng, st, cx, b, W, dome_bias=0.3)
    return nb, path_x


def _foreground(c, rng, horizon, sky_top, nb: int, path_x: float | None) -> None:
    """A pond in front, then foreground trees and bushes (a grove where there is no building), off the path."""
    if rng.random() < 0.12:
        px = rng.uniform(0.1, 0.9)
        pw = rng.uniform(0.15, 0.35)
        py = rng.uniform(0.9, 1.0)
        wcol = _c(sky_top * 0.7 + np.array([0, 20, 30]), rng, 8)
        c.ellipse(px - pw, py - pw * 0.2, px + pw, py + pw * 0.2, wcol, WATER, T_WATER)

    # foreground trees and bushes (occlude buildings)
    nf = int(rng.integers(0, 4)) if nb else int(rng.integers(2, 6))
    if nb == 0 and rng.random() < 0.5:  # a grove
        for _ in range(int(rng.integers(3, 8))):
            _random_tree(c, rng, rng.uniform(0, 1), rng.uniform(horizon + 0.05, 0.8), rng.uniform(0.05, 0.12))
    for _ in range(nf):
        x = rng.uniform(-0.05, 1.05)
        if path_x is not None and abs(x - path_x) < 0.12:
            x += 0.25 if x > path_x else -0.25
        b = rng.uniform(0.88, 1.1)
        _random_tree(c, rng, x, b, rng.uniform(0.07, 0.18))


def _sky(s2, horizon, sky_top, sky_hor, sun):
    yn, xn = _patterns(s2)[:2]
    t = np.clip(yn / max(horizon, 1e-3), 0, 1) ** 1.3  # (s2,1)
    grad = sky_top * (1 - t[..., None]) + sky_hor * t[..., None]  # (s2,1,3)
    if sun is not None:
        d2 = (xn - sun[0]) ** 2 + (yn - sun[1]) ** 2
        sky = grad + np.exp(-d2 / 0.02)[..., None] * np.array([60, 40, 10], np.float32)
    else:
        sky = np.broadcast_to(grad, (s2, s2, 3))
    return np.clip(sky, 0, 255).astype(np.uint8)


def _finish(c, rng, size, horizon):
    s2 = c.s
    yn, xn, mortar, tone, stone, tile, water = _patterns(s2)
    lab = np.asarray(c.lab)
    tex = np.asarray(c.tex)

    # brightness: noise by texture + patterns (2-D maps), then one multiply-add on the colour
    noise = rng.random((s2 // 2 + 1, s2 // 2 + 1), dtype=np.float32)
    noise = noise.repeat(2, 0).repeat(2, 1)[:s2, :s2]
    mult = 1.0 + _AMP[tex] * (noise - 0.5)
    mult *= np.where(tex == T_BRICK, tone, 1.0)
    mult *= np.where(tex == T_STONE, stone, 1.0)
    mult *= np.where(tex == T_TILE, tile, 1.0)
    mult *= np.where(tex == T_WATER, water, 1.0)
    gshade = 1.08 - 0.25 * np.clip((yn - horizon) / max(1 - horizon, 1e-3), 0, 1)
    mult *= np.where(tex == T_GRASS, gshade, 1.0)
    mort = (tex == T_BRICK) & (mortar > 0)
    mult = np.where(mort, mult * 0.5, mult).astype(np.float32)
    add = np.where(mort, np.float32(95.0), np.float32(0.0)).astype(np.float32)

    rgb = np.asarray(c.rgb, dtype=np.float32)
    rgb *= mult[..., None]
    rgb += add[..., None]
    out = rgb[0::2, 0::2] + rgb[1::2, 0::2]
    out += rgb[0::2, 1::2]
    out += rgb[1::2, 1::2]
    out *= 0.25
    out += 0.5
    img = np.clip(out, 0, 255).astype(np.uint8)
    labels = np.ascontiguousarray(lab[SS // 2 :: SS, SS // 2 :: SS])
    return img, labels
