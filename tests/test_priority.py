"""Painters first (ganpaint.priority): background work steps aside while a painter's frame renders."""

import threading

import pytest
import torch
from torch import nn

from ganpaint.edit_plan import EditPlan
from ganpaint.engine import Engine, RenderJob
from ganpaint.nn.hooks import before_each_child
from ganpaint.priority import Foreground, lower_thread_priority
from ganpaint.tiny import make_tiny_model


def run_in_thread(fn, background: bool) -> threading.Thread:
    def body():
        if background:
            lower_thread_priority(0)  # the mark only
        fn()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread


def test_background_threads_wait_for_the_frame_others_do_not():
    fg = Foreground(max_wait=30)
    done = []
    with fg.rendering():
        background = run_in_thread(lambda: (fg.wait(), done.append("background")), background=True)
        other = run_in_thread(lambda: (fg.wait(), done.append("other")), background=False)
        other.join(10)
        background.join(0.2)
        assert done == ["other"] and background.is_alive()  # still waiting for the frame
    background.join(10)
    assert done == ["other", "background"] and fg.waits == 1


def test_background_work_waits_at_most_max_wait():
    fg = Foreground(max_wait=0.05)
    with fg.rendering():
        thread = run_in_thread(fg.wait, background=True)
        thread.join(10)  # a frame that never ends delays background work, never stops it
        assert not thread.is_alive() and fg.waits == 1 and fg.active == 1
    assert fg.active == 0


def test_before_each_child_runs_on_the_owning_thread_only():
    model = nn.Sequential(nn.Identity(), nn.ReLU(), nn.Identity())
    calls = []
    with before_each_child(model, lambda: calls.append(threading.current_thread().name)):
        model(torch.zeros(1))
        other = threading.Thread(target=model, args=(torch.zeros(1),), name="other")
        other.start()
        other.join()
    model(torch.zeros(1))  # removed after the block
    assert calls == [threading.current_thread().name] * 3


@pytest.fixture
def foreground():
    """A Foreground whose waits last until the frame ends (no max_wait in the test's time)."""
    return Foreground(max_wait=30)


def test_a_rest_render_steps_aside_between_layers_while_a_frame_renders(tmp_path, foreground):
    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    engine = Engine(tmp_path / "models", tmp_path / "precomputed", threads=1, foreground=foreground)
    try:
        engine.render(RenderJob("tiny", image=1))  # warm: the first image's features cached
        release, started = threading.Event(), threading.Event()
        frame = engine.call(lambda: (started.set(), release.wait(30)), interactive=True)  # a frame "rendering"
        assert started.wait(10)
        rest = engine.submit(RenderJob("tiny", image=1, fmt="png"))
        with pytest.raises(TimeoutError):
            rest.result(timeout=0.3)  # waits for the painter's frame
        assert foreground.waits >= 1
        release.set()
        assert frame.result(10) and rest.result(10).data[:4] == b"\x89PNG"
        waits = foreground.waits
        engine.render(RenderJob("tiny", image=1, fmt="png"))  # no frame rendering: no wait
        assert foreground.waits == waits
    finally:
        engine.close()


def test_a_rest_render_checks_for_frames_before_each_layer_after_the_cut(tmp_path):
    class Counting(Foreground):
        def wait(self):
            calls.append(threading.current_thread().name)

    calls = []
    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    engine = Engine(tmp_path / "models", tmp_path / "precomputed", threads=1, foreground=Counting())
    try:
        _, f = engine.model("tiny").split("layer4")
        engine.render(RenderJob("tiny", image=1))
        assert calls == ["ganpaint-render-rest"] * (1 + len(list(f.children())))  # the job, then each layer
        calls.clear()
        engine.submit(RenderJob("tiny", image=1, interactive=True)).result(10)
        assert calls == ["ganpaint-render"]  # painters' frames: no hooks (wait returns at once there)
    finally:
        engine.close()


def test_a_background_mask_decode_waits_before_each_mask(foreground):
    plan = EditPlan(budget=1 << 24, eager=False)
    spec = {"points": [[0.5, 0.5]], "radius": 0.2}
    plan.mask(spec, 256, (4, 4), "mask", (10, 2048), "area")  # one job, not decoded
    with foreground.rendering():
        thread = run_in_thread(lambda: plan.run(foreground), background=True)
        thread.join(0.3)
        assert thread.is_alive() and foreground.waits == 1
    thread.join(10)
    assert not thread.is_alive() and next(iter(plan.mask_jobs.values())).value.shape == (4, 4)


def test_ganpaint_serve_freezes_what_startup_built_and_in_process_apps_do_not(tmp_path, monkeypatch):
    """gc.freeze after the lifespan's startup: a full collection under load then skips the model, routes and
    schemas (117-144 ms stalls of every thread before; docs/reliability.md)."""
    import gc

    from api_helpers import tiny_client, tiny_settings
    from fastapi.testclient import TestClient

    from ganpaint.api.app import create_app_from_env

    gc.unfreeze()
    with tiny_client(tmp_path):
        assert gc.get_freeze_count() == 0  # tests and embedding apps: the collector sees everything
    settings = tiny_settings(tmp_path)
    for name in ("models_dir", "precomputed_dir", "model", "threads"):
        monkeypatch.setenv(f"GANPAINT_{name.upper()}", str(getattr(settings, name)))
    try:
        with TestClient(create_app_from_env()) as client:
            assert client.get("/health").status_code == 200
            assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_background_work_rests_while_painters_are_active():
    """pace(): after a step, a background thread rests while a painter's frame was recent; not when nobody
    paints, and never on a painter's own thread."""
    fg = Foreground(recent=60)
    run_in_thread(lambda: fg.pace(0.01), background=True).join(10)
    assert fg.rests == 0  # nobody has painted
    with fg.rendering():
        pass  # a painter's frame just ended
    run_in_thread(lambda: fg.pace(0.01), background=True).join(10)
    assert fg.rests == 1
    run_in_thread(lambda: fg.pace(0.01), background=False).join(10)
    assert fg.rests == 1
