"""The fill erase (ganpaint.erase, issue 33): the fit, the edit, the seam, the renderer, uploads and the API."""

import numpy as np
import pytest
import torch

from ganpaint.erase import FillErase, Fills, FillSettings, Leftover, fit_fill, harmonic_fill, hole_cells, seamless
from ganpaint.erase.upload import render_upload
from ganpaint.nn.intervene import UnitEdit, apply_edits
from ganpaint.nn.proggan import serving_copy
from ganpaint.project import Projector, ProjectSettings, image_tensor
from ganpaint.project.projector import to_uint8
from ganpaint.tiny import tiny_generator
from ganpaint.train.segmenter import EmbeddedSegmenter, UNet

FAST = FillSettings(harmonic_iters=50, steps=4, seam_iters=100)


@pytest.fixture(scope="module")
def g():
    torch.set_num_threads(1)
    return serving_copy(tiny_generator())


def square(size: int, a: int, b: int) -> torch.Tensor:
    m = torch.zeros(size, size)
    m[a:b, a:b] = 1
    return m


def features(g, layer: str, seed: int = 5):
    head, tail = g.split(layer)
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        r = head(z)  # (1, C, h, w)
        return r, tail, tail(r)


def test_harmonic_fill_changes_only_the_hole_and_continues_a_ramp():
    ramp = torch.arange(8.0)[None, None, None].expand(1, 2, 8, 8).clone()  # (1, 2, 8, 8): x along the width
    hole = torch.zeros(8, 8, dtype=torch.bool)
    hole[2:6, 2:6] = True
    out = harmonic_fill(ramp.clone().masked_fill(hole, 99.0), hole, 500)
    assert torch.equal(out[..., ~hole], ramp[..., ~hole])
    assert torch.allclose(out, ramp, atol=1e-3)  # a linear ramp is harmonic: the fill gives it back


def test_fit_changes_only_the_hole_cells_and_holds_units_at_zero(g):
    r, tail, target = features(g, "layer4")
    region = square(32, 8, 16)  # pixels at 32 px
    hole = hole_cells(region, r.shape[-2:])
    assert hole.sum() == 4  # 8 px of a 4-px-cell map: 2 x 2 cells
    value = fit_fill(r, region, tail, target, held=[0, 3], s=FAST)  # (C, h, w)
    assert value.shape == r.shape[1:]
    assert torch.equal(value[:, ~hole], r[0][:, ~hole])
    assert not torch.equal(value[:, hole], r[0][:, hole])
    assert (value[[0, 3]][:, hole] == 0).all()
    again = fit_fill(r, region, tail, target, held=[0, 3], s=FAST)
    assert torch.equal(value, again)  # deterministic


def test_the_fit_agrees_with_the_picture_around_the_hole_better_than_the_start(g):
    r, tail, target = features(g, "layer4")
    region = square(32, 10, 18)
    ring = square(32, 4, 24).bool() & ~region.bool()
    start = fit_fill(r, region, tail, target, s=FillSettings(steps=0))
    fitted = fit_fill(r, region, tail, target, s=FillSettings(steps=30))

    def err(v):
        with torch.no_grad():
            x = tail(v[None])  # (1, 3, 32, 32)
        return float(((x - target) ** 2).mean(1)[0][ring].mean())

    assert err(fitted) < err(start)


def test_an_unresolved_fill_erase_is_ganpaints_erase(g):
    r, _, _ = features(g, "layer4")
    region = square(32, 6, 20)
    plain = UnitEdit("layer4", [1, 2, 5], 0.0, 1.0, region)
    fill = FillErase("layer4", [1, 2, 5], 0.0, 1.0, region)
    assert torch.allclose(apply_edits(r, [fill]), apply_edits(r, [plain]))
    assert torch.equal(apply_edits(r, [fill.units_erase()]), apply_edits(r, [plain]))


def test_fills_resolve_caches_and_keeps_other_edits(g):
    r, tail, target = features(g, "layer4")
    fills = Fills(FAST)
    draw = UnitEdit("layer4", [7], 3.0, 1.0, square(32, 0, 8))
    edits = [draw, FillErase("layer4", [1], 0.0, 1.0, square(32, 10, 18)), FillErase("layer4", [1], 0.0, 1.0,
             square(32, 20, 26))]  # fmt: skip
    out = fills.resolve(edits, r, tail, target)
    assert out[0] is draw and not any(isinstance(e, FillErase) for e in out)
    assert torch.equal(out[1].value, out[2].value)  # one fit of the union, shared
    assert out[1].value.shape == r.shape[1:] and list(out[1].units) == list(range(r.shape[1]))
    assert fills.fits.misses == 1
    again = fills.resolve(edits, r, tail, target)
    assert fills.fits.hits == 1 and torch.equal(again[1].value, out[1].value)
    assert fills.resolve([draw], r, tail, target) == [draw]


@pytest.fixture(scope="module")
def segmenter():
    torch.manual_seed(0)
    return EmbeddedSegmenter(UNet((4, 8), 4), ["sky", "tree", "dome", "grass"], "tiny-segmenter", 32)


def test_leftover_is_minus_log_of_the_other_classes(segmenter):
    seen = Leftover.of(segmenter)
    assert seen.classes(["dome", "door", "tree"]) == (1, 2)  # the segmenter has no door
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        p = segmenter.probabilities(x)[:, [1, 2]].sum(1)  # (1, 32, 32)
        assert torch.allclose(seen.penalty((1, 2))(x), -torch.log1p(-p), atol=1e-5)
    assert seen.penalty(()) is None and seen.penalty((0, 1, 2, 3)) is None  # nothing, or everything, to avoid
    picture = torch.rand(1, 3, 32, 32) * 2 - 1
    around = square(32, 0, 32).bool() & ~square(32, 8, 24).bool()  # (32, 32): a ring
    with torch.no_grad():
        labels = segmenter.probabilities(picture)[0].argmax(0)  # (32, 32)
        kept = sorted(set(labels[around].tolist()))  # what the segmenter sees around the region
        erased = kept[-1:] if len(kept) > 1 else [c for c in range(4) if c not in kept][:1]
        kept = [c for c in kept if c not in erased]
        want = -torch.log(segmenter.probabilities(x)[:, kept].sum(1) + 1e-6)  # become what is around
        assert torch.allclose(seen.penalty(tuple(erased), picture, around)(x), want, atol=1e-5)
        nothing = torch.zeros(32, 32, dtype=torch.bool)
        assert torch.allclose(seen.penalty((1, 2), picture, nothing)(x), -torch.log1p(-p), atol=1e-5)
    assert Leftover.of(None) is None and Leftover.of(object()) is None  # no differentiable scores: no term


def test_the_concept_term_lowers_what_the_segmenter_still_sees(g, segmenter):
    r, tail, target = features(g, "layer4")
    region = square(32, 8, 20)
    inside = region.bool()
    with torch.no_grad():
        c = int(segmenter.probabilities(tail(r))[0][:, inside].mean(-1).argmax())  # the class most seen there
    penalty = Leftover.of(segmenter).penalty((c,))

    def seen(s):
        v = fit_fill(r, region, tail, target, s=s, leftover=penalty)  # (C, h, w)
        with torch.no_grad():
            return float(penalty(tail(v[None]))[0][inside].mean())

    assert seen(FillSettings(steps=20, concept=1.0)) < seen(FillSettings(steps=20, concept=0.0))


def test_fills_resolve_fits_again_for_another_concept(g, segmenter):
    r, tail, target = features(g, "layer4")
    fills, seen = Fills(FillSettings(harmonic_iters=50, steps=4, concept=1.0)), Leftover.of(segmenter)
    region = square(32, 10, 18)
    dome = fills.resolve([FillErase("layer4", [1], 0.0, 1.0, region, concept="dome")], r, tail, target, None, seen)
    tree = fills.resolve([FillErase("layer4", [1], 0.0, 1.0, region, concept="tree")], r, tail, target, None, seen)
    plain = fills.resolve([FillErase("layer4", [1], 0.0, 1.0, region, concept="dome")], r, tail, target)
    assert fills.fits.misses == 3  # the concept and the segmenter are part of the fit's key
    assert not torch.equal(dome[0].value, tree[0].value) and not torch.equal(dome[0].value, plain[0].value)
    quick = Fills(FillSettings(harmonic_iters=50, steps=0))  # a draft's fill has no concept term: no segmenter
    quick.resolve([FillErase("layer4", [1], 0.0, 1.0, region, concept="dome")], r, tail, target, None, seen)
    quick.resolve([FillErase("layer4", [1], 0.0, 1.0, region, concept="dome")], r, tail, target)
    assert quick.fits.misses == 1 and quick.fits.hits == 1


def test_seam_keeps_the_outside_and_removes_an_offset():
    around = np.full((16, 16, 3), 100, np.uint8)
    region = np.zeros((16, 16), bool)
    region[4:12, 4:12] = True
    inside = np.full((16, 16, 3), 140, np.uint8)
    out = seamless(inside, around, region, 2000)
    assert np.array_equal(out[~region], around[~region])
    assert np.abs(out[region].astype(int) - 100).max() <= 1  # a constant step is taken out entirely


@pytest.fixture(scope="module")
def projected(g):
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(321))
    with torch.no_grad():
        picture = image_tensor(to_uint8(g(z)))
    fast = ProjectSettings(bank=8, feature_steps=10, adapt_steps=10)
    return Projector(g, "layer4", fast).project(picture)


def test_fill_erase_on_an_upload_keeps_every_pixel_outside_its_stroke(projected):
    region = square(32, 9, 21)
    draw = UnitEdit("layer4", [3], 4.0, 1.0, square(32, 0, 6))
    fill = FillErase("layer4", [1, 2], 0.0, 1.0, region)
    fills = Fills(FAST)
    alone = render_upload(fills, projected, [fill])
    inside = region.bool().numpy()
    assert np.array_equal(alone[~inside], projected.original[~inside])
    assert not np.array_equal(alone[inside], projected.original[inside])
    both = render_upload(fills, projected, [draw, fill])  # another edit keeps its own pixels outside the fill
    drawn = projected.render([draw])
    assert np.array_equal(both[~inside], drawn[~inside])
    assert np.array_equal(render_upload(fills, projected, [draw]), drawn)  # no fill: the upload's own render


def test_the_renderer_fits_fill_erases_the_same_on_both_paths(engine):
    import io

    from PIL import Image

    from ganpaint.renderer import RenderJob
    from ganpaint.strokes import Stroke, stroke_edits

    m = engine.model("tiny")
    mask = {"points": [[0.4, 0.5], [0.6, 0.5]], "radius": 0.12}
    fill = stroke_edits(m, [Stroke("tree", mask, "erase")])
    units = stroke_edits(m, [Stroke("tree", mask, "erase", method="units")])
    assert isinstance(fill[0], FillErase) and not isinstance(units[0], FillErase)
    with pytest.raises(ValueError, match=r"strokes\[0\]\.method: expected 'fill' or 'units', got 'blur'"):
        stroke_edits(m, [Stroke("tree", mask, "erase", method="blur")])

    def shot(edits):
        return np.asarray(Image.open(io.BytesIO(engine.render(RenderJob("tiny", image=4, edits=edits)).data)))

    queued = shot(fill)
    assert np.array_equal(queued, engine.render_uncached(RenderJob("tiny", image=4, edits=fill)))
    assert not np.array_equal(queued, shot(units))
    assert engine.renderer.fills.fits.misses == 1  # one fit, reused by the second path


def test_the_renderer_fits_with_the_models_segmenter(engine, segmenter):
    from ganpaint.renderer import RenderJob
    from ganpaint.strokes import Stroke, stroke_edits

    m = engine.model("tiny")
    fill = stroke_edits(m, [Stroke("tree", {"points": [[0.5, 0.5]], "radius": 0.2}, "erase")])
    assert fill[0].concept == "tree"
    job = RenderJob("tiny", image=6, edits=fill)
    context = engine.renderer.context
    alone = engine.render_uncached(job)  # the tiny model ships no segmenter: no concept term
    context.put_segmenter(m.id, segmenter)
    try:
        seen = engine.render_uncached(job)
    finally:
        context._segmenters.pop(m.id, None)
    assert not np.array_equal(alone, seen)


def test_a_hole_over_every_cell_is_ganpaints_erase(g):
    r, tail, target = features(g, "layer4")
    everywhere = torch.ones(32, 32)
    fill = FillErase("layer4", [1, 2], 0.0, 1.0, everywhere)
    out = Fills(FAST).resolve([fill], r, tail, target)
    assert not isinstance(out[0], FillErase) and list(out[0].units) == [1, 2]
    assert torch.equal(apply_edits(r, out), apply_edits(r, [fill.units_erase()]))


def test_a_draft_gets_the_quick_fill(engine):
    import io

    from PIL import Image

    from ganpaint.renderer import RenderJob
    from ganpaint.strokes import Stroke, stroke_edits

    m = engine.model("tiny")
    fill = stroke_edits(m, [Stroke("tree", {"points": [[0.3, 0.3]], "radius": 0.15}, "erase")])

    def shot(draft):
        job = RenderJob("tiny", image=5, edits=fill, draft=draft)
        return np.asarray(Image.open(io.BytesIO(engine.render(job).data)))

    quick = engine.renderer.fills.quick
    assert quick.settings.steps == 0 and quick.quick is quick
    before = quick.fits.misses
    draft, settled = shot(True), shot(False)
    assert quick.fits.misses == before + 1  # the draft's fill came from the quick fills, the settled one did not
    assert not np.array_equal(draft, settled)
