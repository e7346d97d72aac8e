"""ganpaint.edit_plan and the stroke-kind registry (ganpaint/strokes): prepare, admit, run, assemble."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from ganpaint.edit_plan import EditPlan
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
