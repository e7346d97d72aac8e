"""The renderer: two render threads with batching queues and the feature-map cache. A render is ``f(edit(h(z)))``:
``h`` runs the generator up to the painting layer, ``f`` the rest; ``h(z)`` for (model, image id, layer) sits in
a bounded LRU, so a stroke re-runs only the layers after it. All inference happens on the render threads under
``torch.inference_mode``; jobs that queue up while one is busy are coalesced into one batched forward of ``f``
(when they are marked ``batchable`` and their targets give them the same batch key: ganpaint/targets.py).

Two render threads: one for ``interactive`` jobs (websocket frames: a painter waits for each) and one, at a lower
CPU priority, for the rest (REST images). A frame never queues behind REST work, and REST work takes the cores
only when painters leave them (issue 23: under a REST flood a painter's frame waited 22-64 ms behind REST
renders of 64 strokes in one shared queue). Edit hooks belong to the thread that set them (``ganpaint.nn.hooks``),
so the two threads can run the same generator at once. A queue holds ``Queued`` items: a job to render or a
function to call on that thread.

Same job, same bytes: a job rendered alone is bit-for-bit reproducible. A batched forward may differ from the
alone result in the last float bit (oneDNN picks other kernels per batch size), so only jobs that allow it
(``batchable=True``: websocket frames) are batched; REST renders always run alone. ``baseline=True`` reproduces
the original GANPaint server's design for benchmarks: every render the full-render path (``render_uncached``:
the whole generator with edit hooks, ``ganpaint.nn.intervene.run_edited``), one global lock, no cache, no
batching.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ganpaint.context.service import ContextService
from ganpaint.erase import FillErase, Fills, Leftover
from ganpaint.erase.upload import render_upload, resolve_upload
from ganpaint.lru import LRU
from ganpaint.model_registry import LoadedModel, ModelRegistry
from ganpaint.nn.hooks import before_each_child
from ganpaint.nn.intervene import UnitEdit, apply_edits, edit_hooks, run_edited
from ganpaint.nn.proggan import image_latents
from ganpaint.pixels import FORMATS, encode_image, to_pixels
from ganpaint.priority import BACKGROUND_NICE, Foreground, lower_thread_priority
from ganpaint.refine import refine
from ganpaint.refine.upload import refined_upload
from ganpaint.targets import GENERATED, PaintTarget


@dataclass
class RenderJob:
    model: str
    image: int | None = None  # an image id, or
    z: torch.Tensor | None = None  # an explicit latent (z_dim,)
    edits: Sequence[UnitEdit] = ()
    fmt: str = "png"
    quality: int = 90
    batchable: bool = False
    interactive: bool = False  # a painter waits for it (websocket): the interactive render thread renders it
    submitted: float = field(default_factory=time.perf_counter)
    target: PaintTarget = GENERATED  # what it paints (ganpaint/targets.py): the generator's image, or an upload
    refined: bool = False  # the model's refiner makes the picture 4x larger (the caller checked it has one)
    draft: bool = False  # a stroke still being drawn: fill erases get the quick fill, not the fit (ganpaint.erase)


@dataclass
class Frame:
    data: bytes
    media_type: str
    render_ms: float  # from submission to encoded bytes
    batch: int = 1  # how many jobs shared the forward pass
    size: int = 0  # picture width in px (0: not recorded)


@dataclass
class Queued:
    """An item on a render queue: a ``job`` to render or a function ``fn`` to call there; ``future`` gets the
    Frame or the function's result (or the error)."""

    future: Future
    job: RenderJob | None = None
    fn: Callable[[], Any] | None = None


def set_threads(threads: int = 0) -> int:
    """Intra-op threads for torch (0 = all cores); one inter-op thread (we run one forward at a time)."""
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran in this process
        pass
    return n


class Renderer:
    """The render threads, their queues and the feature cache, rendering the models of ``registry``.
    Thread-safe; ``close()`` stops the threads."""

    def __init__(
        self,
        registry: ModelRegistry,
        cache_size: int = 512,
        max_batch: int = 0,
        threads: int = 0,
        baseline: bool = False,
        foreground: Foreground | None = None,
    ):
        self.registry = registry
        # 0 = auto: measured on the trained scenes64 with an idle 2-core CPU, a batch of 8 costs 7.2 ms per
        # image against 15.9 ms alone, and 16 painters got 104 frames/s instead of 46 (docs/performance.md)
        auto = 16 if registry.device.type == "cuda" else 8
        self.max_batch = 1 if baseline else (max_batch or auto)
        self.baseline = baseline
        self.threads = set_threads(threads) if registry.device.type == "cpu" else threads
        self.cache: LRU[tuple, torch.Tensor] = LRU(0 if baseline else cache_size)  # h(z) by (model, image, layer)
        self.foreground = foreground or Foreground()  # painters' frames first (ganpaint.priority)
        self.context = ContextService()  # segmenters, context maps, stamp decisions (ganpaint.context)
        self.fills = Fills()  # fitted fill erases (ganpaint.erase)
        self._global_lock = threading.Lock()  # baseline mode: one request at a time, as the original
        self._queues: dict[bool, queue.Queue[Queued | None]] = {True: queue.Queue(), False: queue.Queue()}
        self.workers = [
            threading.Thread(target=self._run, args=(True,), name="ganpaint-render", daemon=True),
            threading.Thread(target=self._run, args=(False,), name="ganpaint-render-rest", daemon=True),
        ]
        for worker in self.workers:
            worker.start()
        self.frames = self.batches = 0

    # ------------------------------------------------------------------ features

    def latent(self, m: LoadedModel, image: int | None, z: torch.Tensor | None) -> torch.Tensor:
        if z is None:
            return image_latents([image], m.generator.z_dim).to(self.registry.device)  # (1, z_dim)
        return z.reshape(1, -1).to(self.registry.device)  # (1, z_dim)

    def features(self, m: LoadedModel, image: int | None, z: torch.Tensor | None, layer: str) -> torch.Tensor:
        """h(z) at ``layer``, (1, C, h, w); cached for image ids (never for explicit z)."""
        key = (m.id, image, layer)
        if image is not None and z is None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        h, _ = m.split(layer)
        with torch.inference_mode():
            feats = h(self.latent(m, image, z).to(self.registry.dtype))  # (1, C, h, w)
        if image is not None and z is None:
            self.cache.put(key, feats)
        return feats

    # ------------------------------------------------------------------ rendering

    def render(self, job: RenderJob, timeout: float | None = None) -> Frame:
        """Queue ``job`` and wait for its frame (errors re-raised here)."""
        return self.submit(job).result(timeout)

    async def render_async(self, job: RenderJob) -> Frame:
        return await asyncio.wrap_future(self.submit(job))

    def submit(self, job: RenderJob) -> Future:
        if job.fmt not in FORMATS:
            raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {job.fmt!r}")
        future: Future = Future()
        if self.baseline:  # the original: a request thread renders under one global lock
            try:
                with self._global_lock:
                    future.set_result(self._render_full(job))
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)
            return future
        self._queues[job.interactive].put(Queued(future, job=job))
        return future

    def call(self, fn, interactive: bool = False) -> Future:
        """Run ``fn()`` on a render thread (the interactive one, or the one for REST work)."""
        future: Future = Future()
        self._queues[interactive].put(Queued(future, fn=fn))
        return future

    def close(self) -> None:
        for q in self._queues.values():
            q.put(None)
        for worker in self.workers:
            worker.join(timeout=5)

    def _run(self, interactive: bool) -> None:
        if not interactive:
            lower_thread_priority(BACKGROUND_NICE)  # and steps aside while a painter's frame renders
        jobs = self._queues[interactive]
        while True:
            item = jobs.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.max_batch:
                try:
                    nxt = jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    jobs.put(None)
                    break
                batch.append(nxt)
            with self.foreground.rendering() if interactive else nullcontext():
                self._process(batch)

    def _process(self, batch: list[Queued]) -> None:
        for item in batch:
            if item.fn is not None and item.future.set_running_or_notify_cancel():  # else its caller went away
                try:
                    _settle(item.future, item.fn())
                except Exception as exc:  # noqa: BLE001 - handed to the caller
                    _settle(item.future, exc=exc)
        # a job whose caller went away (a cancelled future: a client that vanished) is not rendered
        batch = [(q.job, q.future) for q in batch if q.job is not None and q.future.set_running_or_notify_cancel()]
        for group in self._groups(batch):
            self.foreground.wait()  # background work: after the painter's frame that renders now, if any
            self._render_group(group)

    def _groups(self, batch: list) -> list[list]:
        """Split queued jobs into groups that can share one forward of f: same model and cut layer."""
        groups: dict[tuple, list] = {}
        alone = []
        for job, future in batch:
            key = self._group_key(job)
            if key is None or not job.batchable:
                alone.append([(job, future)])
            else:
                groups.setdefault(key, []).append((job, future))
        return alone + list(groups.values())

    def _group_key(self, job: RenderJob) -> Hashable | None:
        return job.target.batch_key(job)

    def _render_group(self, group: list) -> None:
        try:
            pixels = self._forward([job for job, _ in group])  # (N, H, W, 3)
        except Exception as exc:  # noqa: BLE001 - every waiting request gets the error
            if len(group) > 1:  # one bad job must not fail the others it was batched with: retry each alone
                for item in group:
                    self._render_group([item])
                return
            for _, future in group:
                _settle(future, exc=exc)
            return
        self.batches += 1
        for (job, future), p in zip(group, pixels, strict=True):
            try:
                data = encode_image(p, job.fmt, job.quality)
                ms = (time.perf_counter() - job.submitted) * 1000
                _settle(future, Frame(data, FORMATS[job.fmt], ms, len(group), size=p.shape[1]))
                self.frames += 1
            except Exception as exc:  # noqa: BLE001
                _settle(future, exc=exc)

    def _forward(self, jobs: list[RenderJob]) -> np.ndarray:
        """Render jobs that share a batch key: their target renders them (ganpaint/targets.py)."""
        return jobs[0].target.render_jobs(self, jobs)  # (N, H, W, 3)

    def forward_generated(self, jobs: Sequence[RenderJob]) -> np.ndarray:
        """Generated images that share model and edit layers: cached h, edits, one batched f; (N, H, W, 3)."""
        m = self.registry.model(jobs[0].model)
        layer_order = m.generator.layer_names
        edit_layers = sorted({e.layer for job in jobs for e in job.edits}, key=layer_order.index)
        cut = edit_layers[0] if edit_layers else m.info.default_layer
        later = [(layer, [e for e in jobs[0].edits if e.layer == layer]) for layer in edit_layers[1:]]
        rows = []
        for job in jobs:
            feats = self.features(m, job.image, job.z, cut)  # (1, C, h, w)
            at_cut = [e for e in job.edits if e.layer == cut]
            at_cut = self.context.resolve(m, feats, m.split(cut)[1], at_cut)  # stamps that respect context
            at_cut = self.fill_erases(m, feats, cut, at_cut, not job.interactive, job.draft)
            rows.append(apply_edits(feats, at_cut) if at_cut else feats)
        _, f = m.split(cut)
        background = not jobs[0].interactive
        with torch.inference_mode(), edit_hooks(f, later), _stepping_aside(f, self.foreground, background):
            x = f(torch.cat(rows))  # (N, 3, H, W)
            if jobs[0].refined:
                x = refine(m.refiner, x)  # (N, 3, 4H, 4W)
        return to_pixels(x)

    def forward_projected(self, projected, jobs: Sequence[RenderJob]) -> np.ndarray:
        """An upload's jobs (``ProjectedImage.render_jobs``): its adapted generator, blended with the picture; at
        4x with the model's refiner for refined jobs; (N, H, W, 3)."""
        m = self.registry.model(jobs[0].model)
        edits = [self.context.resolve_upload(m, projected, job.edits) for job in jobs]  # stamps that respect context
        step = None if jobs[0].interactive else self.foreground.wait
        fills = self.fills.quick if jobs[0].draft else self.fills
        erasing = any(isinstance(e, FillErase) for job in jobs for e in job.edits)
        seg = Leftover.of(self.context.segmenter(m)) if erasing else None
        if jobs[0].refined:  # jobs of one batch share their key, refined included
            fitted = [resolve_upload(fills, projected, e, step, seg)[0] for e in edits]
            return np.stack([refined_upload(m.refiner, projected, e) for e in fitted])  # (N, 4R, 4R, 3)
        return np.stack([render_upload(fills, projected, e, step, seg) for e in edits])  # (N, R, R, 3)

    def fill_erases(
        self, m: LoadedModel, feats: torch.Tensor, layer: str, edits, background: bool = False, draft: bool = False
    ):
        """``edits`` at ``layer`` with their FillErases fitted on the generated picture whose features there are
        feats (1, C, h, w) (ganpaint.erase; a draft: the quick fill); a background render steps aside for painters
        between fit steps."""
        if not any(isinstance(e, FillErase) for e in edits):
            return edits
        _, f = m.split(layer)
        with torch.inference_mode():
            target = f(feats)  # (1, 3, H, W): the unedited picture the fill must agree with
        fills = self.fills.quick if draft else self.fills
        step = self.foreground.wait if background else None
        return fills.resolve(edits, feats, f, target, step, Leftover.of(self.context.segmenter(m)))

    def render_uncached(self, job: RenderJob) -> np.ndarray:
        """The full-render path: the whole generator with edit hooks, no cache, no queue (the baseline server,
        and the reference the tests compare the cached path against); (H, W, 3) uint8."""
        m = self.registry.model(job.model)
        z = self.latent(m, job.image, job.z).to(self.registry.dtype)  # (1, z_dim)
        edits = list(job.edits)
        if any(isinstance(e, FillErase) for e in edits):  # fitted as forward_generated fits them: at the first layer
            order = m.generator.layer_names
            cut = min((e.layer for e in edits), key=order.index)
            with torch.inference_mode():
                feats = m.split(cut)[0](z)  # (1, C, h, w)
            at_cut = self.fill_erases(m, feats, cut, [e for e in edits if e.layer == cut])
            later = iter(at_cut)
            edits = [next(later) if e.layer == cut else e for e in edits]
        x = run_edited(m.generator, z, edits)  # (1, 3, H, W)
        return to_pixels(x)[0]

    def _render_full(self, job: RenderJob) -> Frame:
        """Baseline: the original server's path (``render_uncached``), encoded."""
        data = encode_image(self.render_uncached(job), job.fmt, job.quality)
        self.frames += 1
        return Frame(data, FORMATS[job.fmt], (time.perf_counter() - job.submitted) * 1000)


def _settle(future: Future, result=None, exc: BaseException | None = None) -> None:
    """Set a future's result or exception; never raises (a settled future stays as it is)."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _stepping_aside(f: nn.Module, foreground: Foreground, background: bool):
    """Background renders wait for painters' frames before each layer of ``f`` (ganpaint.priority)."""
    return before_each_child(f, foreground.wait) if background else nullcontext()
