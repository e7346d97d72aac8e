"""Property tests (hypothesis): any mask, any size, any order of strokes never raises anything but a clear
ValueError, and the image (and feature map) shape never changes."""

import base64
import io
import math

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganpaint.engine import RenderJob
from ganpaint.masks import decode_mask
from ganpaint.nn.intervene import apply_edits
from ganpaint.strokes import Stroke, stroke_edits

SIDE = 48  # max_side for the fuzzed masks: small, so each example is cheap
FAST = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=12)
)
any_json = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=5),
    max_leaves=20,
)
number = st.one_of(st.floats(-0.5, 1.5), st.floats(allow_nan=True, allow_infinity=True), st.integers(-2, 3), any_json)
small = st.integers(-3, SIDE + 3)


@st.composite
def png_url(draw) -> str:
    w, h = draw(st.integers(1, SIDE + 8)), draw(st.integers(1, SIDE + 8))
    mode = draw(st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "1"]))
    seed = draw(st.integers(0, 2**16))
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)
    img = Image.fromarray(arr, "RGBA").convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    raw = buf.getvalue()
    if draw(st.booleans()) and len(raw) > 8:  # sometimes a damaged file
        cut = draw(st.integers(0, len(raw) - 1))
        raw = raw[:cut] + bytes([raw[cut] ^ 0xFF]) + raw[cut + 1 :]
    return "data:image/png;base64," + base64.b64encode(raw).decode()


polyline = st.fixed_dictionaries(
    {"points": st.one_of(st.lists(st.lists(number, min_size=0, max_size=3), max_size=20), any_json), "radius": number}
)
bitstring = st.fixed_dictionaries(
    {
        "shape": st.one_of(st.lists(small, max_size=3), any_json),
        "bitbounds": st.one_of(st.lists(small, max_size=5), st.just([])),
        "bitstring": st.one_of(st.text(alphabet="01", max_size=SIDE * 4), st.text(max_size=20), png_url(), any_json),
    }
)
runs = st.fixed_dictionaries(
    {
        "shape": st.one_of(st.lists(small, min_size=2, max_size=2), any_json),
        "bounds": st.one_of(st.lists(small, max_size=5), st.just([])),
        "runs": st.one_of(st.lists(st.integers(-2, SIDE * SIDE), max_size=12), any_json),
    }
)
masks = st.one_of(polyline, bitstring, runs, png_url(), any_json, st.text(max_size=40))


@given(spec=masks, raster=st.integers(1, 64))
@settings(FAST, max_examples=300)
def test_any_mask_decodes_or_says_why(spec, raster):
    try:
        mask = decode_mask(spec, raster, "mask", max_points=64, max_side=SIDE)
    except ValueError as exc:
        assert str(exc).startswith("mask"), exc  # names the field
        return
    assert mask.ndim == 2 and mask.dtype == torch.float32
    assert 1 <= mask.shape[0] <= max(SIDE, raster) and 1 <= mask.shape[1] <= max(SIDE, raster)
    assert bool(((mask >= 0) & (mask <= 1)).all())


good_masks = st.one_of(
    st.builds(
        lambda pts, r: {"points": pts, "radius": r},
        st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)).map(list), min_size=1, max_size=6),
        st.floats(0.01, 1),
    ),
    png_url(),
    masks,
)
strokes = st.lists(
    st.builds(
        Stroke,
        concept=st.sampled_from(["tree", "grass", "sky", "lava"]),
        mask=good_masks,
        mode=st.sampled_from(["draw", "erase", "paint"]),
        strength=st.integers(-1, 25),
        layer=st.sampled_from([None, None, "layer4", "layer6", "layer2", "nope"]),
    ),
    max_size=6,
)


@given(strokes=strokes, order=st.randoms())
@settings(FAST, max_examples=60)
def test_strokes_in_any_order_keep_the_shape(engine, strokes, order):
    m = engine.model("tiny")
    shuffled = list(strokes)
    order.shuffle(shuffled)
    for batch in (strokes, shuffled):
        try:
            edits = stroke_edits(m, batch, "layer4", max_points=64, max_side=SIDE)
        except ValueError as exc:
            assert str(exc).startswith("strokes["), exc
            continue
        for e in edits:
            feats = engine.features(m, 3, None, e.layer)  # (1, C, h, w)
            out = apply_edits(feats, [e])
            assert out.shape == feats.shape and all(math.isfinite(v) for v in out.flatten()[:64].tolist())
        pixels = engine.render_uncached(RenderJob("tiny", image=3, edits=edits))
        assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
