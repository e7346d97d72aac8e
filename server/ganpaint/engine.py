"""The painting engine: loaded models, a feature-map cache and two batching render queues. No web code.

A render is ``f(edit(h(z)))``: ``h`` runs the generator up to the painting layer, ``f`` the rest. ``h(z)``
for (model, image id, layer) sits in a bounded LRU, so a stroke re-runs only the layers after it. All
inference happens on the render threads under ``torch.inference_mode``; jobs that queue up while one is
busy are coalesced into one batched forward of ``f`` (when they are marked ``batchable``).

Two render threads: one for ``interactive`` jobs (websocket frames: a painter waits for each) and one, at
a lower CPU priority, for the rest (REST images). A frame never queues behind REST work, and REST work
takes the cores only when painters leave them (issue 23: under a REST flood a painter's frame waited
22-64 ms behind REST renders of 64 strokes in one shared queue). Edit hooks belong to the thread that
set them (``ganpaint.nn.hooks``), so the two threads can run the same generator at once.

    engine = Engine(models_dir, precomputed_dir)
    frame = engine.render(RenderJob("tiny", image=3, edits=[...], fmt="png"))   # blocking
    frame = await engine.render_async(job)                                     # from asyncio

Same job, same bytes: a job rendered alone is bit-for-bit reproducible. A batched forward may differ
from the alone result in the last float bit (oneDNN picks other kernels per batch size), so only jobs
that allow it (``batchable=True``: websocket frames) are batched; REST renders always run alone.
``baseline=True`` reproduces the original GANPaint server's design for benchmarks: every render re-runs
the whole generator, one global lock, no cache, no batching.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganpaint.models import ModelInfo, check_model_id, list_model_ids, load_model_info
from ganpaint.nn.hooks import before_each_child, edit_layer
from ganpaint.nn.intervene import UnitEdit, apply_edits, edit_function
from ganpaint.nn.proggan import ProgressiveGenerator, image_latents, load_generator, serving_copy
from ganpaint.precomputed import Precomputed, load_precomputed, precomputed_layers
from ganpaint.priority import BACKGROUND_NICE, FOREGROUND, lower_thread_priority
from ganpaint.refine import Refiner, load_refiner, refine
from ganpaint.refine.upload import refined_upload

FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class NotFoundError(ValueError):
    """An unknown model, layer or concept (the API answers 404)."""


@dataclass
class LoadedModel:
    info: ModelInfo
    generator: ProgressiveGenerator
    precomputed: dict[str, Precomputed]  # by layer
    sha256: str
    splits: dict[str, tuple[nn.Module, nn.Module]] = field(default_factory=dict)
    refiner: Refiner | None = None  # models/<id>/refiner.pth: 4x sharper frames (ganpaint.refine)

    @property
    def id(self) -> str:
        return self.info.id

    def split(self, layer: str) -> tuple[nn.Module, nn.Module]:
        if layer not in self.splits:
            self.splits[layer] = self.generator.split(layer)
        return self.splits[layer]

    def check_layer(self, layer: str) -> str:
        if layer not in self.generator.layer_names:
            raise NotFoundError(
                f"unknown layer {layer!r} for model {self.id!r}; available: {', '.join(self.generator.layer_names)}"
            )
        return layer

    def dissection(self, layer: str) -> Precomputed:
        """The precomputed concepts at ``layer``; NotFoundError if that layer was not dissected."""
        self.check_layer(layer)
        if layer not in self.precomputed:
            have = ", ".join(self.precomputed) or "none"
            raise NotFoundError(f"layer {layer!r} of model {self.id!r} has no dissection; dissected layers: {have}")
        return self.precomputed[layer]


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
    upload: object | None = None  # a ganpaint.project.ProjectedImage: painted blended, rendered alone (uploads.py)
    refined: bool = False  # the model's refiner makes the picture 4x larger (the caller checked it has one)


@dataclass
class Frame:
    data: bytes
    media_type: str
    render_ms: float  # from submission to encoded bytes
    batch: int = 1  # how many jobs shared the forward pass
    size: int = 0  # picture width in px (0: not recorded)


def encode_image(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    """(H, W, 3) uint8 -> image bytes; deterministic for given pixels, format and quality."""
    buf = io.BytesIO()
    img = Image.fromarray(pixels)
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.save(buf, "JPEG", quality=quality)
    elif fmt == "webp":
        img.save(buf, "WEBP", quality=quality, method=0)
    else:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    return buf.getvalue()


def to_pixels(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] -> (N, H, W, 3) uint8, the original GANPaint mapping."""
    return ((x.float() + 1) / 2 * 255).clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()


def set_threads(threads: int = 0) -> int:
    """Intra-op threads for torch (0 = all cores); one inter-op thread (we run one forward at a time)."""
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already ran in this process
        pass
    return n


class FeatureCache:
    """A bounded LRU of feature maps keyed by (model, image id, layer); thread-safe."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: tuple) -> torch.Tensor | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def put(self, key: tuple, value: torch.Tensor) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Engine:
    """Models, the feature cache and the render queue. Thread-safe; ``close()`` stops the worker."""

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
    ):
        if dtype not in DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} requested but CUDA is not available")
        self.models_dir = Path(models_dir)
        self.precomputed_dir = Path(precomputed_dir)
        self.device = torch.device(device)
        self.dtype = DTYPES[dtype]
        # 0 = auto: measured on the trained scenes64 with an idle 2-core CPU, a batch of 8 costs 7.2 ms per
        # image against 15.9 ms alone, and 16 painters got 104 frames/s instead of 46 (docs/performance.md)
        auto = 16 if self.device.type == "cuda" else 8
        self.max_batch = 1 if baseline else (max_batch or auto)
        self.baseline = baseline
        self.threads = set_threads(threads) if self.device.type == "cpu" else threads
        self.cache = FeatureCache(0 if baseline else cache_size)
        self._models: dict[str, LoadedModel] = {}
        self._load_lock = threading.Lock()
        self._global_lock = threading.Lock()  # baseline mode: one request at a time, as the original
        self._queues = {True: queue.Queue(), False: queue.Queue()}  # interactive?  -> its queue
        self._workers = [
            threading.Thread(target=self._run, args=(True,), name="ganpaint-render", daemon=True),
            threading.Thread(target=self._run, args=(False,), name="ganpaint-render-rest", daemon=True),
        ]
        for worker in self._workers:
            worker.start()
        self.frames = self.batches = 0

    # ------------------------------------------------------------------ models

    def available_models(self) -> list[str]:
        return list_model_ids(self.models_dir)

    def model(self, model_id: str) -> LoadedModel:
        """The loaded model (loaded on first use); NotFoundError for an unknown id."""
        if model_id in self._models:
            return self._models[model_id]
        try:
            check_model_id(model_id)
        except ValueError as exc:
            raise NotFoundError(f"unknown model {model_id!r}; available: {', '.join(self.available_models())}") from exc
        with self._load_lock:
            if model_id not in self._models:
                if not (self.models_dir / model_id / "model.json").is_file():
                    have = ", ".join(self.available_models()) or "none"
                    raise NotFoundError(f"unknown model {model_id!r}; available: {have}")
                self._models[model_id] = self._load(model_id)
        return self._models[model_id]

    def _load(self, model_id: str) -> LoadedModel:
        info = load_model_info(model_id, self.models_dir)
        g = load_generator(info.generator_path).to(self.device)
        if self.dtype != torch.float32:
            g = g.to(self.dtype)
        g = serving_copy(g)  # folded WScale, channels_last: same images, faster
        sha = hashlib.sha256(info.generator_path.read_bytes()).hexdigest()
        dissections = {}
        for layer in precomputed_layers(self.precomputed_dir, model_id):
            pre = load_precomputed(self.precomputed_dir / model_id / f"{layer}.json")
            if layer in g.layer_names and tuple(pre.feature_shape) == g.feature_shape(layer):
                dissections[layer] = pre
        if info.default_layer not in g.layer_names:
            raise ValueError(f"model {model_id!r}: default_layer {info.default_layer!r} is not a generator layer")
        return LoadedModel(info, g, dissections, sha, refiner=load_refiner(info.refiner_path))

    # ------------------------------------------------------------------ features

    def latent(self, m: LoadedModel, image: int | None, z: torch.Tensor | None) -> torch.Tensor:
        if z is None:
            return image_latents([image], m.generator.z_dim).to(self.device)  # (1, z_dim)
        return z.reshape(1, -1).to(self.device)  # (1, z_dim)

    def features(self, m: LoadedModel, image: int | None, z: torch.Tensor | None, layer: str) -> torch.Tensor:
        """h(z) at ``layer``, (1, C, h, w); cached for image ids (never for explicit z)."""
        key = (m.id, image, layer)
        if image is not None and z is None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        h, _ = m.split(layer)
        with torch.inference_mode():
            feats = h(self.latent(m, image, z).to(self.dtype))  # (1, C, h, w)
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
        self._queues[job.interactive].put((job, future))
        return future

    def call(self, fn, interactive: bool = False) -> Future:
        """Run ``fn()`` on a render thread (the interactive one, or the one for REST work)."""
        future: Future = Future()
        self._queues[interactive].put((fn, future))
        return future

    def close(self) -> None:
        for q in self._queues.values():
            q.put(None)
        for worker in self._workers:
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
            with FOREGROUND.rendering() if interactive else nullcontext():
                self._process(batch)

    def _process(self, batch: list) -> None:
        calls = [(fn, fut) for fn, fut in batch if not isinstance(fn, RenderJob)]
        batch = [(job, fut) for job, fut in batch if isinstance(job, RenderJob)]
        for fn, fut in calls:
            if not fut.set_running_or_notify_cancel():
                continue  # its caller went away
            try:
                _settle(fut, fn())
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                _settle(fut, exc=exc)
        # a job whose caller went away (a cancelled future: a client that vanished) is not rendered
        batch = [(job, future) for job, future in batch if future.set_running_or_notify_cancel()]
        for group in self._groups(batch):
            FOREGROUND.wait()  # background work: after the painter's frame that renders now, if any
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

    def _group_key(self, job: RenderJob) -> tuple | None:
        if job.upload is not None:
            return None  # an uploaded picture: its own adapted generator
        layers = {e.layer for e in job.edits}
        if len(layers) > 1:
            return None  # edits at several layers: hooks on f, rendered alone
        return (job.model, layers.pop() if layers else None, job.refined)

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
        """Render jobs that share model and edit layers: cached h, edits, one batched f."""
        m = self.model(jobs[0].model)
        if jobs[0].upload is not None:  # rendered alone: the adapted generator, blended with the picture
            if jobs[0].refined:
                return np.stack([refined_upload(m.refiner, job.upload, job.edits) for job in jobs])  # (N, 4H, 4W, 3)
            return np.stack([job.upload.render(job.edits) for job in jobs])  # (N, H, W, 3)
        layer_order = m.generator.layer_names
        edit_layers = sorted({e.layer for job in jobs for e in job.edits}, key=layer_order.index)
        cut = edit_layers[0] if edit_layers else m.info.default_layer
        later = [(layer, [e for e in jobs[0].edits if e.layer == layer]) for layer in edit_layers[1:]]
        rows = []
        for job in jobs:
            feats = self.features(m, job.image, job.z, cut)  # (1, C, h, w)
            at_cut = [e for e in job.edits if e.layer == cut]
            rows.append(apply_edits(feats, at_cut) if at_cut else feats)
        _, f = m.split(cut)
        with torch.inference_mode(), _hooks(f, later), _stepping_aside(f, background=not jobs[0].interactive):
            x = f(torch.cat(rows))  # (N, 3, H, W)
            if jobs[0].refined:
                x = refine(m.refiner, x)  # (N, 3, 4H, 4W)
        return to_pixels(x)

    def _render_full(self, job: RenderJob) -> Frame:
        """Baseline: the whole generator with edit hooks, no cache (the original server's path)."""
        m = self.model(job.model)
        by_layer: dict[str, list[UnitEdit]] = {}
        for e in job.edits:
            by_layer.setdefault(e.layer, []).append(e)
        with torch.inference_mode(), _hooks(m.generator, list(by_layer.items())):
            x = m.generator(self.latent(m, job.image, job.z).to(self.dtype))  # (1, 3, H, W)
        data = encode_image(to_pixels(x)[0], job.fmt, job.quality)
        self.frames += 1
        return Frame(data, FORMATS[job.fmt], (time.perf_counter() - job.submitted) * 1000)

    def render_uncached(self, job: RenderJob) -> np.ndarray:
        """The whole generator with hooks (no cache, no queue); for tests comparing the two paths."""
        m = self.model(job.model)
        by_layer: dict[str, list[UnitEdit]] = {}
        for e in job.edits:
            by_layer.setdefault(e.layer, []).append(e)
        with torch.inference_mode(), _hooks(m.generator, list(by_layer.items())):
            x = m.generator(self.latent(m, job.image, job.z).to(self.dtype))  # (1, 3, H, W)
        return to_pixels(x)[0]


def _settle(future: Future, result=None, exc: BaseException | None = None) -> None:
    """Set a future's result or exception; never raises (a settled future stays as it is)."""
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _stepping_aside(f: nn.Module, background: bool):
    """Background renders wait for painters' frames before each layer of ``f`` (ganpaint.priority)."""
    return before_each_child(f, FOREGROUND.wait) if background else nullcontext()


def _hooks(model: nn.Module, layers: list[tuple[str, list[UnitEdit]]]) -> ExitStack:
    """Enter ``edit_layer`` for each (layer, edits) on ``model``; all removed when the stack exits."""
    stack = ExitStack()
    try:
        for layer, edits in layers:
            if edits:
                stack.enter_context(edit_layer(model, layer, edit_function(edits)))
    except BaseException:
        stack.close()
        raise
    return stack
