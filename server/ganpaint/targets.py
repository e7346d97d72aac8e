"""What a render job paints: a ``PaintTarget``. The renderer asks the target which jobs may share one forward pass
(``batch_key``) and has it render them (``render_jobs``); it never asks what kind of target it holds.

- ``GENERATED`` (``GeneratedImage``): the generator's own image of the job's id (seed) or latent z, from the
  cached ``h(z)`` at the painting layer, websocket frames batched by (model, edit layer).
- ``ganpaint.project.ProjectedImage``: an uploaded picture projected into the model, painted with its adapted
  generator and blended with the picture; rendered alone.

A new kind of target (a refined frame, a picture from elsewhere) is a class with these two methods; the renderer
and the routes need no change beyond building jobs with ``target=``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class PaintTarget(Protocol):
    def batch_key(self, job: Any) -> Hashable | None:
        """Jobs (``batchable`` ones) with equal keys share one forward pass; None: ``job`` renders alone."""

    def render_jobs(self, renderer: Any, jobs: Sequence[Any]) -> np.ndarray:
        """The jobs' images, (N, H, W, 3) uint8, on ``renderer``'s render thread (``jobs`` share a batch key)."""


@dataclass(frozen=True)
class GeneratedImage:
    """The generator's image of each job's ``image`` id or ``z``, with its edits (``Renderer.forward_generated``)."""

    def batch_key(self, job: Any) -> Hashable | None:
        layers = {e.layer for e in job.edits}
        if len(layers) > 1:
            return None  # edits at several layers: hooks on f, rendered alone
        return (job.model, layers.pop() if layers else None, job.refined)

    def render_jobs(self, renderer: Any, jobs: Sequence[Any]) -> np.ndarray:
        return renderer.forward_generated(jobs)


GENERATED = GeneratedImage()
