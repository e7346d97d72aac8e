import asyncio

import numpy as np
import pytest
import torch
from PIL import Image

from ganpaint.engine import Engine, NotFoundError, RenderJob
from ganpaint.nn.intervene import UnitEdit
from ganpaint.strokes import Stroke, stroke_edits
from ganpaint.tiny import make_tiny_model


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    make_tiny_model(root / "models", root / "precomputed")
    return root / "models", root / "precomputed"


@pytest.fixture(scope="module")
def engine(dirs):
    e = Engine(*dirs, threads=1, max_batch=8)
    yield e
    e.close()


def decode(frame) -> np.ndarray:
    import io

    return np.asarray(Image.open(io.BytesIO(frame.data)))


STROKE = Stroke("tree", {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15})


def test_make_tiny_is_reproducible(tmp_path, dirs):
    make_tiny_model(tmp_path / "m", tmp_path / "p")
    assert (tmp_path / "m/tiny/generator.pth").read_bytes() == (dirs[0] / "tiny/generator.pth").read_bytes()
    assert (tmp_path / "p/tiny/layer4.json").read_text() == (dirs[1] / "tiny/layer4.json").read_text()


def test_model_loads_with_dissections(engine):
    m = engine.model("tiny")
    assert m.info.resolution == 32 and sorted(m.precomputed) == ["layer4", "layer6"]
    with pytest.raises(NotFoundError, match=r"^unknown model 'nope'; available: tiny$"):
        engine.model("nope")
    with pytest.raises(NotFoundError, match=r"^unknown model '\.\./x'; available: tiny$"):
        engine.model("../x")


def test_cached_path_equals_full_render(engine):
    m = engine.model("tiny")
    for layer in ("layer4", "layer6"):
        edits = stroke_edits(m, [STROKE, Stroke("grass", STROKE.mask, "erase", 3)], layer)
        job = RenderJob("tiny", image=5, edits=edits, fmt="png")
        cached = decode(engine.render(job))
        full = engine.render_uncached(job)
        assert np.array_equal(cached, full)
        assert not np.array_equal(cached, decode(engine.render(RenderJob("tiny", image=5, fmt="png"))))


def test_edits_at_two_layers_equal_full_render(engine):
    mask = torch.zeros(32, 32)
    mask[:16] = 1
    edits = [UnitEdit("layer4", [0, 1], 3.0, 1.0, mask), UnitEdit("layer6", [2], 0.0, 0.5, None)]
    job = RenderJob("tiny", image=2, edits=edits, fmt="png")
    assert np.array_equal(decode(engine.render(job)), engine.render_uncached(job))


def test_same_job_same_bytes(engine):
    m = engine.model("tiny")
    job = lambda: RenderJob("tiny", image=7, edits=stroke_edits(m, [STROKE]), fmt="jpeg")  # noqa: E731
    assert engine.render(job()).data == engine.render(job()).data


def test_explicit_z_matches_image_id(engine):
    from ganpaint.nn.proggan import image_latents

    z = image_latents([4], 16)[0]
    a = engine.render(RenderJob("tiny", image=4, fmt="png")).data
    b = engine.render(RenderJob("tiny", z=z, fmt="png")).data
    assert a == b


def test_batched_frames_are_coalesced_and_close(engine):
    m = engine.model("tiny")
    edits = stroke_edits(m, [STROKE])

    async def many():
        jobs = [RenderJob("tiny", image=i, edits=edits, fmt="png", batchable=True) for i in range(8)]
        return await asyncio.gather(*(engine.render_async(j) for j in jobs))

    frames = asyncio.run(many())
    assert max(f.batch for f in frames) > 1
    for i, f in enumerate(frames):
        alone = engine.render_uncached(RenderJob("tiny", image=i, edits=edits))
        assert np.abs(decode(f).astype(int) - alone).max() <= 1


def test_errors_reach_the_caller(engine):
    with pytest.raises(ValueError, match="units out of range"):
        engine.render(RenderJob("tiny", image=1, edits=[UnitEdit("layer4", [99], 1.0)]))
    assert engine.render(RenderJob("tiny", image=1)).data  # the worker survives


def test_baseline_mode_renders_the_same(dirs):
    e = Engine(*dirs, threads=1, baseline=True)
    try:
        m = e.model("tiny")
        job = RenderJob("tiny", image=3, edits=stroke_edits(m, [STROKE]), fmt="png")
        assert np.array_equal(decode(e.render(job)), e.render_uncached(job))
        assert len(e.cache) == 0
    finally:
        e.close()


def test_strokes_to_edits(engine):
    m = engine.model("tiny")
    [draw, erase] = stroke_edits(m, [Stroke("tree", STROKE.mask, "draw", 3), Stroke("tree", STROKE.mask, "erase")])
    assert draw.units == [0, 1, 2] and draw.value == [4.0] * 3 and draw.layer == "layer4"
    assert erase.units == list(range(8)) and erase.value == 0.0  # strength 20 capped at the 8 units
    # sky has an erase set apart from its draw units: erasing zeroes those, drawing sets the draw units
    [draw, erase] = stroke_edits(m, [Stroke("sky", STROKE.mask, "draw"), Stroke("sky", STROKE.mask, "erase", 2)])
    assert draw.units == [15, 0] and erase.units == [1, 2] and erase.value == 0.0
    assert draw.mask.shape == (8, 8) and 0 < float(draw.mask.sum()) < 64
    with pytest.raises(NotFoundError, match=r"^strokes\[0\]\.concept: unknown concept 'lava' at layer4; available"):
        stroke_edits(m, [Stroke("lava", STROKE.mask)])
    with pytest.raises(NotFoundError, match=r"^strokes\[0\]\.layer: layer 'layer2' of model 'tiny' has no dissection"):
        stroke_edits(m, [Stroke("tree", STROKE.mask, layer="layer2")])


def test_a_painter_frame_never_waits_behind_rest_work(dirs):
    """Websocket frames (interactive) render on their own thread: REST work in the other queue, however long,
    does not hold them up; both queues keep their order and each job its bytes."""
    import threading

    engine = Engine(*dirs, threads=1)
    try:
        release = threading.Event()
        stuck = engine.call(lambda: release.wait(30) and "rest done")  # a long REST job holds its thread
        rest_after = engine.submit(RenderJob("tiny", image=2, fmt="png"))
        frame = engine.submit(RenderJob("tiny", image=2, fmt="png", interactive=True)).result(timeout=30)
        assert not stuck.done() and not rest_after.done()  # the frame came while REST work still waited
        release.set()
        assert stuck.result(timeout=30) == "rest done"
        assert rest_after.result(timeout=30).data == frame.data
        assert engine.call(lambda: threading.current_thread().name, interactive=True).result(30) == "ganpaint-render"
        assert engine.call(lambda: threading.current_thread().name).result(30) == "ganpaint-render-rest"
    finally:
        release.set()
        engine.close()
