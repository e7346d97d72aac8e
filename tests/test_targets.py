"""ganpaint.targets: the engine renders any PaintTarget by asking it, never by asking what it is."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ganpaint.engine import RenderJob
from ganpaint.targets import GENERATED


class Grey:
    """A target of its own: flat grey pictures, never batched."""

    def __init__(self):
        self.rendered = []

    def batch_key(self, job):
        return None

    def render_jobs(self, engine, jobs):
        self.rendered.append(len(jobs))
        return np.full((len(jobs), 8, 8, 3), 128, np.uint8)


def test_the_engine_renders_a_new_kind_of_target_through_its_two_methods(engine):
    grey = Grey()
    frame = engine.render(RenderJob("tiny", fmt="png", target=grey))
    assert grey.rendered == [1]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(frame.data))), np.full((8, 8, 3), 128, np.uint8))


def test_generated_images_batch_by_model_and_edit_layer():
    job = RenderJob("tiny", image=1)
    assert job.target is GENERATED and GENERATED.batch_key(job) == ("tiny", None, False)
