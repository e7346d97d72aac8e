"""Faults in the engine: a failing or abandoned request never poisons it for the next one (issue 9)."""

from concurrent.futures import Future

import numpy as np
import pytest
import torch
from api_helpers import STROKE as STROKE_JSON
from api_helpers import tiny_client

from ganpaint.api.guards.admission import BusyError, RenderGate
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


def test_mask_cache_keys_stay_small():
    """The pooled-mask cache keeps digests, not the masks' JSON (which may be a request body long)."""
    from ganpaint.edit_plan import EditPlan

    plan = EditPlan()
    bits = {"shape": [64, 64], "bitbounds": [], "bitstring": "01" * 2048}
    plan.mask(bits, 256, (4, 4), "mask", (2048, 2048), "area")
    assert len(plan.caches.masks) == 1 and all(len(repr(key)) < 200 for key in plan.caches.masks.keys())


@pytest.mark.parametrize(
    "origin, host, extra, allowed",
    [
        (None, "x.org", "", True),  # not a browser
        ("https://x.org", "x.org", "", True),
        ("http://x.org:8080", "x.org:8080", "", True),
        ("http://x.org:8080", "x.org", "", True),  # nginx's $host drops the port
        ("http://x.org:8080", "x.org:9090", "", False),
        ("http://evil.org", "x.org", "", False),
        ("http://localhost:3000", "x.org", "", True),
        ("http://[::1]:3000", "x.org", "", True),
        ("https://paint.example.org", "x.org", "https://a.org, https://paint.example.org/", True),
        ("https://evil.org", "x.org", "*", True),
        ("null", "x.org", "", False),
        ("http://[bad", "x.org", "", False),
    ],
)
def test_origin_allow_list(origin, host, extra, allowed):
    from ganpaint.api.guards.origin import origin_allowed

    assert origin_allowed(origin, host, extra) is allowed


def test_render_gate_caps_images_in_flight():
    gate = RenderGate(4)
    with gate.admit(3):
        with pytest.raises(BusyError, match=r"busy, 3 images rendering .*max_rest_images 4"):
            with gate.admit(2):
                pass
        with gate.admit(1):
            assert gate.in_flight == 4
    assert gate.in_flight == 0
    with gate.admit(10):  # a request alone is admitted whatever its size
        assert gate.in_flight == 10
    assert gate.in_flight == 0


def test_busy_server_answers_503_with_retry_after(tmp_path):
    with tiny_client(tmp_path, max_rest_images=2) as c:
        with c.app.state.guards.render_gate.admit(2):  # two images of other requests rendering
            for path, body in (
                ("/generate", {"ids": [1]}),
                ("/intervene", {"image": 1, "strokes": [STROKE_JSON]}),
                ("/api/generate", {"project": "tiny", "ids": [1]}),
            ):
                r = c.post(path, json=body)
                assert r.status_code == 503, (path, r.text)
                assert r.headers["retry-after"] == "1"
                assert r.json()["detail"].startswith("server: busy, 2 images rendering"), r.json()
        assert c.post("/generate", json={"ids": [1]}).status_code == 200  # released: served again
