"""ganpaint/renderer.py under faults: a failing or abandoned request never poisons it for the next one (issue 9)."""

from concurrent.futures import Future

import numpy as np
import pytest
import torch

from ganpaint.engine import RenderJob
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes import Stroke, stroke_edits

STROKE = Stroke("tree", {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15})


def hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def bad_edit(layer: str) -> UnitEdit:
    return UnitEdit(layer, [999], 1.0, 1.0, None)  # unit out of range: apply_edits raises inside the forward


def test_failing_request_leaves_no_hooks_and_a_consistent_cache(engine):
    m = engine.model("tiny")
    good = stroke_edits(m, [STROKE], "layer4")
    want = engine.render(RenderJob("tiny", image=2, edits=good, fmt="png")).data
    feats = engine.features(m, 2, None, "layer4").clone()  # (1, C, h, w)
    for edits in ([bad_edit("layer4")], [*good, bad_edit("layer6")]):  # at the cut; in a hook on a later layer
        with pytest.raises(ValueError, match="units out of range"):
            engine.render(RenderJob("tiny", image=2, edits=edits, fmt="png"), timeout=30)
        assert hook_count(m.generator) == 0
    assert torch.equal(engine.features(m, 2, None, "layer4"), feats)  # the cached map was not edited in place
    assert engine.render(RenderJob("tiny", image=2, edits=good, fmt="png"), timeout=30).data == want
    assert np.array_equal(engine.render_uncached(RenderJob("tiny", image=2, edits=good)).shape, (32, 32, 3))


def test_bad_job_does_not_fail_the_jobs_batched_with_it(engine):
    m = engine.model("tiny")
    good = stroke_edits(m, [STROKE], "layer4")
    jobs = [RenderJob("tiny", image=i, edits=good, fmt="png", batchable=True) for i in range(3)]
    jobs.insert(1, RenderJob("tiny", image=9, edits=[bad_edit("layer4")], fmt="png", batchable=True))
    futures = [Future() for _ in jobs]
    for f in futures:
        f.set_running_or_notify_cancel()
    engine.renderer._render_group(list(zip(jobs, futures, strict=True)))  # one group, as the worker would batch them
    assert isinstance(futures[1].exception(), ValueError)
    for i, f in zip((0, 2, 3), (futures[0], futures[2], futures[3]), strict=True):
        alone = engine.render(RenderJob("tiny", image=jobs[i].image, edits=good, fmt="png"), timeout=30)
        assert f.result().data == alone.data


def test_abandoned_requests_do_not_stop_the_worker(engine):
    """A client that vanishes cancels its future; the worker skips it and keeps serving."""
    jobs = [RenderJob("tiny", image=i, fmt="png", batchable=True, interactive=i % 2 == 0) for i in range(30)]
    futures = [engine.submit(job) for job in jobs]  # both render threads' queues
    for f in futures:
        f.cancel()
    for interactive in (True, False):
        job = RenderJob("tiny", image=1, fmt="png", interactive=interactive)
        assert engine.render(job, timeout=30).media_type == "image/png"
    assert all(worker.is_alive() for worker in engine.renderer.workers)


def test_abandoned_calls_do_not_stop_the_worker(engine):
    futures = [engine.call(lambda: 1, interactive=i % 2 == 0) for i in range(30)]
    for f in futures:
        f.cancel()
    assert engine.call(lambda: 2).result(timeout=30) == engine.call(lambda: 2, interactive=True).result(30) == 2
    assert all(worker.is_alive() for worker in engine.renderer.workers)
