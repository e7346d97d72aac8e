"""ganpaint.edit_plan and the stroke-kind registry (ganpaint/strokes): prepare, admit, run, assemble."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from ganpaint import masks
from ganpaint.edit_plan import EditPlan
from ganpaint.masks import mask_cost
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes import KINDS, Stroke, StrokeContext, prepare_strokes, stroke_edits

LINE = {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15}
RUNS = {"shape": [64, 64], "bounds": [], "runs": [1000, 500, 2596]}
STROKES = [Stroke("tree", LINE), Stroke("grass", RUNS, "erase", 3), Stroke("sky", {"points": [[0.5, 0.5]]}, "stamp")]


def same(a: list[UnitEdit], b: list[UnitEdit]) -> bool:
    def fields(e: UnitEdit) -> tuple:
        mask = None if e.mask is None else e.mask.tolist()
        return e.layer, list(e.units), torch.as_tensor(e.value).tolist(), torch.as_tensor(e.alpha).tolist(), mask

    return [fields(e) for e in a] == [fields(e) for e in b]


def test_a_planned_request_equals_the_eager_one_and_decodes_nothing_while_prepared(engine):
    m = engine.model("tiny")
    plan = EditPlan(budget=1 << 30, eager=False)
    prepare_strokes(plan, m, STROKES, "layer4")
    assert len(plan.parts) == 3 and len(plan.mask_jobs) == 2 and len(plan.work_jobs) == 1  # nothing ran yet
    assert all(not job.done for job in plan.pending()) and plan.pending_cost > 0
    with pytest.raises(AssertionError, match="assemble before run"):
        plan.assemble()
    plan.run()
    assert same(plan.assemble(), stroke_edits(m, STROKES, "layer4"))
    again = EditPlan(plan.caches, budget=1 << 30, eager=False)  # the next update: everything cached
    prepare_strokes(again, m, STROKES, "layer4")
    assert again.pending() == [] and again.pending_cost == 0 and same(again.assemble(), plan.assemble())


def test_admission_is_asked_as_the_pending_cost_grows(engine):
    asked = []
    plan = EditPlan(budget=1 << 30, admissible=asked.append, eager=False)
    prepare_strokes(plan, engine.model("tiny"), STROKES, "layer4")
    assert asked == sorted(asked) and asked[-1] == plan.pending_cost and len(asked) == 3


def test_a_stroke_kind_is_one_object_and_one_registry_line(engine, monkeypatch):
    """What docs/architecture.md shows: a kind prepares its stroke into a part; the registry names it."""

    @dataclass(frozen=True)
    class Dim:  # every unit of the concept at half its draw value, inside the mask
        def prepare(self, s: Stroke, ctx: StrokeContext):
            mask = ctx.mask(s.mask)
            units = list(ctx.concept.units)
            values = [v / 2 for v in ctx.concept.draw_values]
            return lambda: [UnitEdit(ctx.layer, units, values, 1.0, mask.value)]

    monkeypatch.setitem(KINDS, "dim", Dim())
    m = engine.model("tiny")
    (edit,) = stroke_edits(m, [Stroke("tree", LINE, "dim")], "layer4")
    assert edit.layer == "layer4" and edit.mask.shape == m.generator.feature_shape("layer4")[1:]
    with pytest.raises(ValueError, match=r"strokes\[0\]\.mode: expected 'draw', 'erase', 'stamp' or 'dim', got 'x'"):
        stroke_edits(m, [Stroke("tree", LINE, "x")])


def test_a_mask_pooled_to_several_layers_is_decoded_and_costed_once(monkeypatch):
    calls = []
    real = masks.decode_compact
    monkeypatch.setattr("ganpaint.edit_plan.decode_compact", lambda *a, **k: calls.append(1) or real(*a, **k))
    plan = EditPlan(budget=1 << 30, eager=False)
    spec = {"shape": [64, 64], "runs": [100, 3996]}
    for size in ((4, 4), (8, 8), (16, 16)):
        plan.mask(spec, 256, size, "m", (2048, 2048), "max")
    assert plan.cost == plan.pending_cost == mask_cost(spec, 256) and len(plan.pending()) == 3
    plan.run()
    assert len(calls) == 1 and all(j.value.shape == j.size for j in plan.mask_jobs.values())


def test_mask_cache_keys_stay_small():
    """The pooled-mask cache keeps digests, not the masks' JSON (which may be a request body long)."""
    from ganpaint.edit_plan import EditPlan

    plan = EditPlan()
    bits = {"shape": [64, 64], "bitbounds": [], "bitstring": "01" * 2048}
    plan.mask(bits, 256, (4, 4), "mask", (2048, 2048), "area")
    assert len(plan.caches.masks) == 1 and all(len(repr(key)) < 200 for key in plan.caches.masks.keys())
