import base64
import io
import tracemalloc

import numpy as np
import pytest
import torch
from api_helpers import HUGE, big_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganpaint import masks
from ganpaint.masks import decode_mask, encode_runs, mask_cost, pool_spec
from ganpaint.nn.intervene import pool_mask


def png_url(arr: np.ndarray, mode: str) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_polyline_dot_and_line():
    dot = decode_mask({"points": [[0.5, 0.5]], "radius": 0.1}, 100).numpy()
    assert dot.shape == (100, 100)
    assert abs(dot.sum() - np.pi * 10**2) < 40  # a disc of radius 10 px
    line = decode_mask({"points": [[0.1, 0.5], [0.9, 0.5]], "radius": 0.05}, 100).numpy()
    assert line[50, 10:90].all() and not line[30].any()


def test_polyline_is_deterministic():
    spec = {"points": [[0.1, 0.2], [0.4, 0.8], [0.9, 0.1]], "radius": 0.03}
    assert np.array_equal(decode_mask(spec, 256).numpy(), decode_mask(spec, 256).numpy())


def test_png_alpha_and_red_rules():
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[1, 2, 3] = 10
    assert decode_mask(png_url(rgba, "RGBA"), 0).numpy().sum() == 1
    rgb = np.full((4, 6, 3), 255, np.uint8)
    rgb[0, 0, 0] = 254
    m = decode_mask(png_url(rgb, "RGB"), 0).numpy()
    assert m.shape == (4, 6) and m[0, 0] == 1 and m.sum() == 1


def test_bitstring_with_bounds():
    m = decode_mask({"shape": [4, 5], "bitbounds": [1, 1, 3, 3], "bitstring": "1001"}, 0).numpy()
    expect = np.zeros((4, 5), np.float32)
    expect[1, 1] = expect[2, 2] = 1
    assert np.array_equal(m, expect)


def test_bitstring_png_inside_bounds():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 255
    m = decode_mask({"shape": [8, 8], "bitbounds": [0, 0, 4, 4], "bitstring": png_url(rgba, "RGBA")}, 0).numpy()
    assert m[:4, :4].all() and m.sum() == 16


def test_runs_round_trip():
    rng = np.random.default_rng(0)
    for first in (0, 1):
        m = (rng.random((7, 9)) > 0.5).astype(np.float32)
        m[0, 0] = first
        assert np.array_equal(decode_mask(encode_runs(m), 0).numpy(), m)
    m = decode_mask({"shape": [3, 3], "bounds": [1, 1, 3, 3], "runs": [1, 3]}, 0).numpy()
    assert m.sum() == 3 and m[1, 1] == 0


@pytest.mark.parametrize(
    "spec, message",
    [
        (5, "mask: expected an object (polyline, bitstring or run-length form) or a PNG data URL, got 5"),
        ({"foo": 1}, "mask: expected 'points' (polyline), 'bitstring' or 'runs' (run-length), got keys ['foo']"),
        ({"points": [], "radius": 0.1}, "mask.points: expected a list of 1..2048 [x, y] points, got 0"),
        ({"points": [[0.1, 0.2]], "radius": 0}, "mask.radius: expected a number in 0..1 above 0, got 0"),
        ({"points": [[0.1, 0.2]], "radius": 2}, "mask.radius: expected a number in 0..1, got 2"),
        ({"points": [[0.1]], "radius": 0.1}, "mask.points[0]: expected [x, y], got [0.1]"),
        ({"points": [[0.1, "a"]], "radius": 0.1}, "mask.points[0][1]: expected a number in 0..1, got 'a'"),
        ({"points": [[float("nan"), 0]], "radius": 0.1}, "mask.points[0][0]: expected a number in 0..1, got nan"),
        (
            "data:image/gif;base64,AAAA",
            "mask: expected a PNG data URL starting with 'data:image/png;base64,', got 'data:image/gif;base64,AAAA'",
        ),
        ("data:image/png;base64,@@", "mask: invalid base64 in the PNG data URL (Only base64 data is allowed)"),
        ({"shape": [2, 2], "bitstring": "101"}, "mask.bitstring: expected 4 characters for bounds [0, 0, 2, 2], got 3"),
        ({"shape": [2, 2], "bitstring": "10x1"}, "mask.bitstring: expected only '0' and '1', got 'x' at index 2"),
        ({"shape": [2, 5000], "bitstring": "1"}, "mask.shape[1]: expected an integer in 1..2048, got 5000"),
        (
            {"shape": [4, 4], "bitbounds": [0, 0, 9, 1], "bitstring": ""},
            "mask.bitbounds[2]: expected an integer in 0..4, got 9",
        ),
        ({"shape": [2, 2], "runs": [1, 1]}, "mask.runs: run lengths sum to 2, expected 4 for bounds [0, 0, 2, 2]"),
        ({"shape": [2, 2], "runs": [-1, 5]}, "mask.runs[0]: expected an integer in 0..4, got -1"),
        ({"runs": [4]}, "mask.shape: expected [h, w], got []"),
    ],
)
def test_bad_masks_name_the_field(spec, message):
    with pytest.raises(ValueError) as info:
        decode_mask(spec, 64)
    assert str(info.value) == message


def test_too_many_points():
    with pytest.raises(ValueError, match=r"^m.points: expected a list of 1..3 \[x, y\] points, got 4$"):
        decode_mask({"points": [[0, 0]] * 4, "radius": 0.1}, 64, "m", max_points=3)


FAST = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, max_examples=150)


@st.composite
def mask_and_size(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dense = rng.random((h, w)) < draw(st.floats(0, 1))
    y0, x0 = draw(st.integers(0, h)), draw(st.integers(0, w))
    y1, x1 = draw(st.integers(y0, h)), draw(st.integers(x0, w))
    box = dense[y0:y1, x0:x1]
    inner = np.zeros((draw(st.integers(1, 9)), draw(st.integers(1, 9)), 4), np.uint8)
    inner[..., 3] = (rng.random(inner.shape[:2]) < 0.5) * 255
    runs = {**encode_runs(box.astype(np.float32)), "shape": [h, w], "bounds": [y0, x0, y1, x1]}
    form = draw(st.sampled_from(["runs", "runs-bounds", "bits", "png", "bits-png", "polyline"]))
    spec = {
        "runs": encode_runs(dense.astype(np.float32)),
        "runs-bounds": runs if box.size else encode_runs(dense.astype(np.float32)),
        "bits": {"shape": [h, w], "bitbounds": [y0, x0, y1, x1], "bitstring": "".join("01"[int(b)] for b in box.flat)},
        "png": png_url(np.dstack([np.zeros((h, w, 3), np.uint8), dense.astype(np.uint8) * 9]), "RGBA"),
        "bits-png": {"shape": [h, w], "bitbounds": [y0, x0, y1, x1], "bitstring": png_url(inner, "RGBA")},
        "polyline": {"points": [[0.1, 0.2], [0.8, 0.6]], "radius": 0.07},
    }[form]
    size = (draw(st.integers(1, 48)), draw(st.integers(1, 48)))
    return spec, size, draw(st.sampled_from(["area", "max"]))


@FAST
@given(mask_and_size())
def test_pool_spec_equals_rasterise_then_pool(case):
    spec, size, pooling = case
    want = pool_mask(decode_mask(spec, 64), size, pooling)[0]  # (h, w)
    got = pool_spec(spec, 64, size, pooling)
    assert got.shape == want.shape and got.dtype == torch.float32
    assert torch.allclose(got, want, atol=1e-6)


def test_a_2048_run_length_mask_is_never_rasterised():
    """Area-pooled from its runs: well under the 16 MB float32 raster (and the 4 MB a byte mask would take)."""
    spec = {"shape": [2048, 2048], "runs": [1234567, 4194304 - 1234567]}
    tracemalloc.start()
    try:
        pooled = pool_spec(spec, 256, (16, 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, peak  # under a 1-byte raster, a quarter of the float32 one
    assert torch.allclose(pooled, pool_mask(decode_mask(spec, 256), (16, 16))[0], atol=1e-6)


def test_mask_cost_reads_sizes_without_decoding():
    assert mask_cost({"points": [[0, 0]] * 3, "radius": 0.1}, 256) == 256 * 256 + 3
    assert mask_cost(big_png(1100), 256) == 1100 * 1100
    assert mask_cost({"shape": [2048, 2048], "runs": [1, 4194303] * 40000}, 256) == 80000 + 2048
    assert mask_cost({"shape": [10, 10], "bitstring": "1" * 100}, 256) == masks.MIN_COST  # the floor
    assert mask_cost({"bitstring": big_png(1100), "shape": [2048, 2048]}, 256) == 1100 * 1100 + 2048 * 2048
    assert mask_cost({"bitstring": big_png(1100), "shape": [], "bitbounds": []}, 256) == 1100 * 1100
    for junk in (None, 5, "x", {"runs": 10**400}, {"points": "x"}, {"bitstring": [1]}, "data:image/png;base64,@@"):
        assert mask_cost(junk, 256) >= 0


@pytest.mark.parametrize("spec, message", HUGE)
def test_huge_numbers_in_masks_are_named_errors(spec, message):
    for fn in (lambda: decode_mask(spec, 64), lambda: pool_spec(spec, 64, (4, 4))):
        with pytest.raises(ValueError) as info:
            fn()
        assert str(info.value).startswith(message)
