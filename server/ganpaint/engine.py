"""The painting engine: a model registry (ganpaint/model_registry.py) and a renderer (ganpaint/renderer.py), as
the API uses them. No web code.

A render is ``f(edit(h(z)))``: ``h`` runs the generator up to the painting layer, ``f`` the rest; ``h(z)`` is
cached, so a stroke re-runs only the layers after it; websocket frames that queue up are batched; REST images
render on a second, lower-priority thread (renderer.py says how, with the measured numbers). What a job paints
is its target (ganpaint/targets.py): the generator's image of an id or z, or a projected upload.

    engine = Engine(models_dir, precomputed_dir)
    m = engine.model("tiny")                                                   # the registry
    frame = engine.render(RenderJob("tiny", image=3, edits=[...], fmt="png"))   # blocking
    frame = await engine.render_async(job)                                     # from asyncio

Same job, same bytes: a job rendered alone is bit-for-bit reproducible.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path

import numpy as np
import torch

from ganpaint.artifacts import ArtifactRankings
from ganpaint.context.service import ContextService
from ganpaint.model_registry import LoadedModel, ModelRegistry, NotFoundError
from ganpaint.pixels import FORMATS, encode_image, to_pixels
from ganpaint.priority import Foreground
from ganpaint.renderer import Frame, Renderer, RenderJob, set_threads

__all__ = [
    "FORMATS",
    "Engine",
    "Frame",
    "LoadedModel",
    "NotFoundError",
    "RenderJob",
    "encode_image",
    "set_threads",
    "to_pixels",
]


class Engine:
    """``models`` (the registry) and ``renderer``; thread-safe; ``close()`` stops the render threads."""

    def __init__(
        self,
        models_dir: str | Path,
        precomputed_dir: str | Path,
        device: str = "cpu",
        dtype: str = "float32",
        cache_size: int = 512,
        max_batch: int = 0,
        threads: int = 0,
        baseline: bool = False,
        foreground: Foreground | None = None,
    ):
        self.models = ModelRegistry(models_dir, precomputed_dir, device, dtype)
        self.renderer = Renderer(self.models, cache_size, max_batch, threads, baseline, foreground)
        self.artifacts = ArtifactRankings(precomputed_dir)  # the "artifacts" option's rankings (ganpaint.artifacts)

    # the registry
    def model(self, model_id: str) -> LoadedModel:
        """The loaded model (loaded on first use); NotFoundError for an unknown id."""
        return self.models.model(model_id)

    def available_models(self) -> list[str]:
        return self.models.available()

    @property
    def models_dir(self) -> Path:
        return self.models.models_dir

    @property
    def precomputed_dir(self) -> Path:
        return self.models.precomputed_dir

    @property
    def device(self) -> torch.device:
        return self.models.device

    # the renderer
    def render(self, job: RenderJob, timeout: float | None = None) -> Frame:
        """Queue ``job`` and wait for its frame (errors re-raised here)."""
        return self.renderer.render(job, timeout)

    async def render_async(self, job: RenderJob) -> Frame:
        return await self.renderer.render_async(job)

    def submit(self, job: RenderJob) -> Future:
        return self.renderer.submit(job)

    def call(self, fn, interactive: bool = False) -> Future:
        """Run ``fn()`` on a render thread (the interactive one, or the one for REST work)."""
        return self.renderer.call(fn, interactive)

    def features(self, m: LoadedModel, image: int | None, z: torch.Tensor | None, layer: str) -> torch.Tensor:
        """h(z) at ``layer``, (1, C, h, w); cached for image ids (never for explicit z)."""
        return self.renderer.features(m, image, z, layer)

    def render_uncached(self, job: RenderJob) -> np.ndarray:
        """The full-render path (no cache, no queue): the reference the tests compare against; (H, W, 3)."""
        return self.renderer.render_uncached(job)

    @property
    def context(self) -> ContextService:
        """Segmenters, context maps and stamp decisions (ganpaint.context): the renderer's."""
        return self.renderer.context

    @property
    def foreground(self) -> Foreground:
        return self.renderer.foreground

    @property
    def cache(self):
        return self.renderer.cache

    @property
    def frames(self) -> int:
        return self.renderer.frames

    def close(self) -> None:
        self.renderer.close()
