"""Uploaded pictures for painting: projection on a bounded thread of its own, a per-process LRU of the results.

    store = UploadStore(capacity=64, folder=None)
    pool = Projections(max_running=2)                       # one projecting, one waiting its turn
    up = pool.start(store, loaded_model, layer, pixels)     # Upload in state "projecting"; BusyPool past the cap
    await asyncio.wrap_future(up.future)                    # then up.status == "ready", up.projected paints
    RenderJob(model, target=store.get(up.id).projected, edits=[...])   # the engine renders it, blended

Ids are ``secrets.token_urlsafe(18)`` (144 random bits): unguessable, and the only way to reach an upload.
With a ``folder`` each ready upload's state is also written to ``folder/<id>.pt`` (never elsewhere: ids are
checked against ``ID_PATTERN``), and an id missing from memory is looked up there: replicas sharing the folder
(a volume) paint each other's uploads, and a restarted server paints the uploads of before. The folder is
bounded: at most ``max_saved`` files, none older than ``ttl`` seconds since last used (older ones are deleted
when another upload is saved, and answer 404 as expired). No web code here.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganpaint.model_registry import LoadedModel, NotFoundError
from ganpaint.priority import Foreground, lower_thread_priority
from ganpaint.project import Projector, ProjectSettings, image_tensor
from ganpaint.project.encoder import projector_for
from ganpaint.project.projector import ProjectedImage

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


# A reconstruction below either figure gets a plain-words warning (docs/projection.md, "Held-out scenes" and "A real
# photo"): held-out scenes reach 23.2..29.1 dB after the feature stage (mean 26.4, sd 1.1: 24.5 is about the 5th
# percentile) and 28.9..34.6 after adaptation; the photo china.jpg 23.9 after the feature stage.
FIT_FLOORS = {"features": 24.5, "adapted": 28.0}
FIT_WARNING = (
    "The model could not reproduce this picture well ({stage} {value:.1f} dB, below {floor:g}): it is far from the "
    "scenes this model knows. Painting works, but what it adds will look like the model's scenes, not like your "
    "picture."
)


def fit_warning(psnr: dict[str, float]) -> str | None:
    """The plain-words warning for a poor reconstruction (``FIT_FLOORS``), or None."""
    for stage, floor in FIT_FLOORS.items():
        value = psnr.get(stage)
        if value is not None and value < floor:
            return FIT_WARNING.format(stage="fit" if stage == "features" else "adapted", value=value, floor=floor)
    return None


class ProjectionCancelled(ValueError):
    """The projection was stopped by ``Projections.close`` (the server's shutdown)."""


class BusyPool(Exception):
    """``max_running`` projections are running or queued already (the API answers 503 + Retry-After)."""


@dataclass
class Upload:
    id: str
    model: str
    layer: str
    status: str = "projecting"  # "projecting", "ready" or "failed"
    stage: str = "queued"
    fraction: float = 0.0
    projected: ProjectedImage | None = None
    error: str | None = None
    future: Future | None = None

    def summary(self) -> dict:
        out = {"upload": self.id, "model": self.model, "layer": self.layer, "status": self.status}
        if self.status == "projecting":
            out.update(stage=self.stage, fraction=round(self.fraction, 3))
        if self.projected is not None:
            nums = self.projected.numbers()
            out.update(psnr=nums["psnr"], ms=nums["ms"], delta=nums["delta"]["total"])
            out["project_layer"] = nums["project_layer"]
            out["warning"] = fit_warning(nums["psnr"])
        if self.error:
            out["error"] = self.error
        return out


class UploadStore:
    """The uploads of this process, least recently used evicted past ``capacity``; thread-safe."""

    def __init__(self, capacity: int, folder: str | Path | None = None, max_saved: int = 256, ttl: float = 72 * 3600):
        self.capacity = capacity
        self.folder = Path(folder) if folder else None
        self.max_saved, self.ttl = max_saved, ttl
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted = 0

    def new_id(self) -> str:
        return secrets.token_urlsafe(18)

    def add(self, up: Upload) -> None:
        with self._lock:
            self._items[up.id] = up
            self._items.move_to_end(up.id)
            while len(self._items) > self.capacity:  # the least recently used that is not still projecting
                victim = next((k for k, u in self._items.items() if u.status != "projecting"), None)
                if victim is None:
                    break
                del self._items[victim]
                self.evicted += 1

    def get(self, upload_id: str, projectors: Callable[[str, str], Projector] | None = None) -> Upload:
        """The upload; NotFoundError naming the id when it is unknown or was evicted (and not in the folder)."""
        if not isinstance(upload_id, str) or not ID_PATTERN.fullmatch(upload_id):
            raise NotFoundError(f"upload: unknown upload id {str(upload_id)[:80]!r} (not an id this server issues)")
        with self._lock:
            up = self._items.get(upload_id)
            if up is not None:
                self._items.move_to_end(upload_id)
                return up
        if self.folder is not None and projectors is not None:
            path = self.folder / f"{upload_id}.pt"
            if path.is_file() and self._expired(path):
                path.unlink(missing_ok=True)
            if path.is_file():
                os.utime(path)  # used: kept as long as the most recently used
                state = torch.load(path, map_location="cpu", weights_only=True)
                projector = projectors(state["model"], state["paint_layer"])
                proj = projector.load(state)
                up = Upload(upload_id, state["model"], state["paint_layer"], "ready", "done", 1.0, proj)
                self.add(up)
                return up
        raise NotFoundError(
            f"upload: unknown or expired upload id {upload_id!r} (uploads are kept per server process, "
            f"the {self.capacity} most recently used); upload the picture again"
        )

    def save(self, up: Upload) -> None:
        """Write a ready upload's state to the folder (atomic rename), if there is one."""
        if self.folder is None or up.projected is None or not ID_PATTERN.fullmatch(up.id):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{up.id}.pt"
        tmp = self.folder / f".{up.id}.{os.getpid()}.tmp"
        torch.save({"model": up.model, **up.projected.state()}, tmp)
        os.replace(tmp, path)
        self.prune()

    def _expired(self, path: Path) -> bool:
        try:
            return time.time() - path.stat().st_mtime > self.ttl
        except OSError:
            return True

    def prune(self) -> int:
        """Delete saved uploads past ``ttl`` or beyond the ``max_saved`` most recently used; how many went."""
        if self.folder is None or not self.folder.is_dir():
            return 0
        files = sorted(self.folder.glob("*.pt"), key=lambda p: p.stat().st_mtime if p.exists() else 0, reverse=True)
        gone = [p for i, p in enumerate(files) if i >= self.max_saved or self._expired(p)]
        for p in gone:
            p.unlink(missing_ok=True)
        return len(gone)

    def __len__(self) -> int:
        return len(self._items)


class Projections:
    """Projectors per (model, layer) and the thread projections run on: at most ``max_running`` admitted at
    once (one running, the others waiting their turn); past it ``start`` raises BusyPool at once. One thread,
    at the lowest CPU priority, stepping aside while a painter's frame renders: a projection is seconds of
    Python-driven optimisation, and two at once beside the painters on 2 cores made painters wait for the
    GIL (docs/reliability.md, round five)."""

    def __init__(
        self, max_running: int = 2, settings: ProjectSettings | None = None, foreground: Foreground | None = None
    ):
        self.max_running = max_running
        self.foreground = foreground or Foreground()  # the app's: its engine's painters go first
        self.settings = settings  # None: the shipped recipe (the model's encoder.pth if it has one, else the bank)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="ganpaint-project", initializer=lower_thread_priority)
        self._projectors: dict[tuple[str, str], Projector] = {}
        self._lock = threading.Lock()
        self.running = 0  # admitted: projecting or waiting their turn
        self.waiting: list[Upload] = []  # in their order: an upload's place is how many are ahead of it
        self.done = 0
        self.closed = False

    def projector(self, m: LoadedModel, layer: str) -> Projector:
        key = (m.id, layer)
        with self._lock:
            if key not in self._projectors:
                folder = m.info.generator_path.parent
                self._projectors[key] = projector_for(m.generator, layer, folder, self.settings)
            return self._projectors[key]

    def check_room(self) -> None:
        """BusyPool if ``start`` would refuse now (reserves nothing): judged before an upload's body is read."""
        with self._lock:
            if self.running >= self.max_running:
                raise BusyPool(self._busy_detail())

    def _busy_detail(self) -> str:
        return (
            f"server: busy, {self.running} pictures projecting or waiting (max_projections {self.max_running}); "
            "retry in a few seconds"
        )

    def start(
        self,
        store: UploadStore,
        m: LoadedModel,
        layer: str,
        pixels: np.ndarray | Callable[[], np.ndarray],
        large: Callable[[], np.ndarray | None] | None = None,
    ) -> Upload:
        """Admit and queue the projection of (R, R, 3) uint8 ``pixels`` (or of what the callable returns: decoding
        runs on the projection thread too); the Upload is in the store at once, in state "projecting". ``large``
        (called after ``pixels``): the picture at the model's refiner size, kept with the projection."""
        with self._lock:
            if self.running >= self.max_running:
                raise BusyPool(self._busy_detail())
            self.running += 1
        up = Upload(store.new_id(), m.id, layer)
        projector = self.projector(m, layer)

        last_step = [time.monotonic()]

        def progress(stage: str, fraction: float) -> None:
            if self.closed:  # the server is shutting down: stop at the next step, not after the whole projection
                raise ProjectionCancelled("projection: cancelled, the server is shutting down; upload it again")
            up.stage, up.fraction = stage, fraction
            self.foreground.pace(time.monotonic() - last_step[0])  # painters first (priority.py)
            last_step[0] = time.monotonic()

        def run() -> Upload:
            with self._lock:
                self.waiting.remove(up)
            try:
                up.stage = "decoding"
                px = pixels() if callable(pixels) else pixels  # (R, R, 3) uint8
                with torch.inference_mode(False):
                    up.projected = projector.project(image_tensor(px), progress)
                up.projected.large = large() if large is not None else None
                up.status, up.stage, up.fraction = "ready", "done", 1.0
                try:
                    store.save(up)
                except OSError as exc:  # the folder is full or read-only: memory still serves this process
                    up.error = f"not saved to the upload folder ({type(exc).__name__})"
            except Exception as exc:  # noqa: BLE001 - the upload says why; the caller re-raises
                up.status = "failed"
                up.error = str(exc) if isinstance(exc, ValueError) else f"projection failed: {type(exc).__name__}"
                raise
            finally:
                with self._lock:
                    self.running -= 1
                    self.done += 1
            return up

        store.add(up)
        with self._lock:
            self.waiting.append(up)
        try:
            up.future = self.executor.submit(run)
        except RuntimeError:  # the executor is shut down
            with self._lock:
                self.running -= 1
                self.waiting.remove(up)
            raise
        return up

    def ahead(self, up: Upload) -> int:
        """How many projections run or wait before ``up`` (0 once it projects)."""
        with self._lock:
            return self.waiting.index(up) + (self.running > len(self.waiting)) if up in self.waiting else 0

    def close(self) -> None:
        """Cancel what waits and stop what runs at its next step (the server's shutdown)."""
        self.closed = True
        self.executor.shutdown(wait=False, cancel_futures=True)
