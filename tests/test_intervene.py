import pytest
import torch

from ganpaint.nn.hooks import edit_layer, trace_layer
from ganpaint.nn.intervene import UnitEdit, apply_edits, edit_function, pool_mask
from ganpaint.nn.proggan import image_latents


def render(g, z, edits):
    with torch.no_grad(), edit_layer(g, "layer4", edit_function(edits)):
        return g(z)


def test_empty_mask_is_bit_identical(tiny_g):
    z = image_latents([0, 1], tiny_g.z_dim)
    with torch.no_grad():
        base = tiny_g(z)
    edit = UnitEdit("layer4", units=[0, 3, 5], value=9.0, mask=torch.zeros(32, 32))
    assert torch.equal(render(tiny_g, z, [edit]), base)


def test_ablating_every_unit_everywhere_equals_f_of_zeros(tiny_g):
    z = image_latents([2], tiny_g.z_dim)
    c, h, w = tiny_g.feature_shape("layer4")
    _, f = tiny_g.split("layer4")
    with torch.no_grad():
        expected = f(torch.zeros(1, c, h, w))
    assert torch.equal(render(tiny_g, z, [UnitEdit("layer4", units=range(c), value=0.0)]), expected)


def test_stroke_order_matters_as_specified():
    r = torch.randn(1, 4, 8, 8)
    left = torch.zeros(32, 32)
    left[:, :24] = 1  # covers feature columns 0..5
    right = torch.zeros(32, 32)
    right[:, 8:] = 1  # covers feature columns 2..7
    draw = UnitEdit("l", units=[1], value=5.0, mask=left)
    erase = UnitEdit("l", units=[1], value=0.0, mask=right)
    a = apply_edits(r, [draw, erase])
    b = apply_edits(r, [erase, draw])
    overlap = (slice(None), 1, slice(None), slice(2, 6))
    assert torch.all(a[overlap] == 0) and torch.all(b[overlap] == 5)
    assert torch.all(a[0, 1, :, :2] == 5) and torch.all(a[0, 1, :, 6:] == 0)
    assert torch.equal(a[:, [0, 2, 3]], r[:, [0, 2, 3]])  # other units untouched


def test_edit_formula_with_partial_mask_and_alpha():
    r = torch.randn(2, 3, 4, 4)
    mask = torch.zeros(8, 8)
    mask[0, 0] = 1  # a quarter of feature cell (0, 0)
    out = apply_edits(r, [UnitEdit("l", units=[0, 2], value=[2.0, -1.0], alpha=[1.0, 0.5], mask=mask)])
    a0, a2 = 0.25, 0.125
    assert torch.allclose(out[:, 0, 0, 0], 2.0 * a0 + r[:, 0, 0, 0] * (1 - a0))
    assert torch.allclose(out[:, 2, 0, 0], -1.0 * a2 + r[:, 2, 0, 0] * (1 - a2))
    assert torch.equal(out[:, :, 1:], r[:, :, 1:])


def test_pool_mask_area_and_max():
    m = torch.zeros(10, 10)
    m[0, 0] = 1
    assert pool_mask(m, (2, 2))[0, 0, 0] == pytest.approx(1 / 25)
    assert pool_mask(m, (2, 2), "max")[0, 0, 0] == 1
    assert pool_mask(torch.ones(3, 7, 5), (4, 4)).shape == (3, 4, 4)


def test_per_image_masks_in_a_batch():
    r = torch.ones(2, 2, 4, 4)
    masks = torch.zeros(2, 4, 4)
    masks[1] = 1
    out = apply_edits(r, [UnitEdit("l", units=[0], value=0.0, mask=masks)])
    assert torch.all(out[0] == 1) and torch.all(out[1, 0] == 0)


def test_units_out_of_range_rejected():
    with pytest.raises(ValueError, match="units out of range 0..1"):
        apply_edits(torch.zeros(1, 2, 4, 4), [UnitEdit("l", units=[2])])


def test_hook_removed_after_exception(tiny_g):
    z = image_latents([0], tiny_g.z_dim)
    with torch.no_grad():
        base = tiny_g(z)
    with pytest.raises(RuntimeError, match="boom"), edit_layer(tiny_g, "layer4", lambda r: r * 0):
        raise RuntimeError("boom")
    assert not tiny_g.layer4._forward_hooks
    with torch.no_grad():
        assert torch.equal(tiny_g(z), base)


def test_trace_with_stop_returns_feature_map(tiny_g):
    z = image_latents([0], tiny_g.z_dim)
    h, _ = tiny_g.split("layer6")
    with torch.no_grad():
        with trace_layer(tiny_g, "layer6", stop=True) as t:
            tiny_g(z)
        assert torch.equal(t.output, h(z))
    assert not tiny_g.layer6._forward_hooks


def test_unknown_layer_is_named(tiny_g):
    with pytest.raises(KeyError, match="unknown layer 'layer99'"), edit_layer(tiny_g, "layer99", lambda r: r):
        pass


def test_a_run_of_edits_differing_only_in_masks_composites_as_one():
    """Consecutive strokes of one concept are blended in one step: the same as one step each (float rounding)."""
    g = torch.Generator().manual_seed(0)
    r = torch.randn(2, 6, 8, 8, generator=g)
    masks = [torch.rand(16, 16, generator=g) for _ in range(5)]
    run = [UnitEdit("l", units=[1, 4], value=[3.0, -2.0], alpha=[1.0, 0.5], mask=m) for m in masks]
    mixed = run[:2] + [UnitEdit("l", units=[1], value=0.0, mask=masks[0])] + run[2:]  # an erase splits the run
    for edits in (run, mixed):
        one_by_one = r
        for e in edits:
            one_by_one = apply_edits(one_by_one, [e])
        together = apply_edits(r, edits)
        assert torch.allclose(together, one_by_one, atol=1e-6)
        assert torch.equal(together[:, [0, 2, 3, 5]], r[:, [0, 2, 3, 5]])  # other units untouched
    # a lone edit keeps the exact formula (bytes of single-stroke renders do not move)
    e = run[0]
    a = torch.tensor([1.0, 0.5])[None, :, None, None] * pool_mask(e.mask, (8, 8))[:, None]
    want = r.clone()
    want[:, [1, 4]] = torch.tensor([3.0, -2.0])[None, :, None, None] * a + r[:, [1, 4]] * (1 - a)
    assert torch.equal(apply_edits(r, [e]), want)


def test_an_edit_hook_applies_only_on_its_own_thread(tiny_g):
    """The engine's two render threads run one generator at once: each forward sees only its own edits."""
    import threading

    z = image_latents([3], tiny_g.z_dim)
    with torch.no_grad():
        base = tiny_g(z)
    erase = UnitEdit("layer4", units=range(tiny_g.feature_shape("layer4")[0]), value=0.0)
    other: dict = {}
    with torch.no_grad(), edit_layer(tiny_g, "layer4", edit_function([erase])):
        edited = tiny_g(z)
        t = threading.Thread(target=lambda: other.setdefault("out", tiny_g(z)))
        t.start()
        t.join()
    assert not torch.equal(edited, base)
    assert torch.equal(other["out"], base)
