"""The edit plan: a request's edits prepared (checked, costed), admitted, run and assembled, each stage a call.

    plan = EditPlan(caches, budget=max_mask_pixels, admissible=lanes.check)
    prepare_strokes(plan, m, strokes)        # 1. prepare: every field checked, every mask costed; nothing decoded
    lanes.check(plan.pending_cost)           # 2. admit (the api's mask lanes; BusyError: 503)
    plan.run(foreground)                     # 3. run: masks decoded, stamps placed (inline, or on a lane thread)
    edits = plan.assemble()                  # 4. assemble: the UnitEdits, from the results, in order

What a part of the request needs (a stroke kind's mask or stamp placement, a raw edit's mask, an original-client
intervention's mask) it asks of the plan while it is prepared and gets a ``Ref``; its part (``plan.add``) is a
function that builds its UnitEdits from those refs once they are resolved. ``plan.mask`` costs each mask once
however many layers it pools to (``budget`` per request, past it a ValueError naming the mask, 422) and resolves
it from the cache or makes it pending; ``plan.work`` does the same for other work (a stamp's placement, costed
by its kind). ``admissible(cost)`` is asked each time the pending cost grows and raises (the api's BusyError)
once no lane could take that much now: a request that will be refused stops preparing at its first mask over
the limit, not after all of them. ``run`` decodes each mask once and pools it to each size asked for, stepping
aside between masks for painters' frames when it runs on a background thread (ganpaint.priority).

``EditPlan(eager=True)`` (the default; scripts, tests, benches) resolves everything as it is asked for, with no
budget and no admission. The api passes ``eager=False``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import torch

from ganpaint.lru import LRU
from ganpaint.masks import Box, decode_compact, mask_cost, pool_decoded
from ganpaint.nn.intervene import Pooling, UnitEdit
from ganpaint.priority import Foreground

Part = Callable[[], list[UnitEdit]]  # a part of the request: its UnitEdits, built from resolved refs


class EditCaches:
    """Finished work kept between requests (the page resends its whole stroke list on every update): pooled
    masks by (digest, raster, size, limits, pooling), keyed by a digest, since a mask's JSON may be a request
    body long; a stamp stroke's edits by (model, layer, concept, style, centres, size). One per app."""

    def __init__(self, masks: int = 2048, stamps: int = 256):
        self.masks: LRU[tuple, torch.Tensor] = LRU(masks)
        self.stamps: LRU[tuple, list[UnitEdit]] = LRU(stamps)


@dataclass
class Ref:
    """A value the plan resolves: at once (cached, or an eager plan) or in ``run``."""

    value: Any = None
    done: bool = False


@dataclass
class MaskJob(Ref):
    """A mask to decode and pool to ``size``."""

    spec: Any = None
    raster: int = 0
    size: tuple[int, int] = (0, 0)
    where: str = "mask"
    limits: tuple[int, int] = (0, 0)  # (max_points, max_side)
    pooling: Pooling = "area"

    def decode(self) -> torch.Tensor | Box:
        return decode_compact(self.spec, self.raster, self.where, *self.limits)

    def finish(self, decoded: torch.Tensor | Box) -> None:
        self.value, self.done = pool_decoded(decoded, self.size, self.pooling), True


@dataclass
class WorkJob(Ref):
    """Other work a part needs (a stamp stroke's placement); ``store`` puts its result in its cache."""

    fn: Callable[[], Any] = field(default=lambda: None)
    store: Callable[[Any], None] = field(default=lambda value: None)

    def run(self) -> None:
        self.value, self.done = self.fn(), True
        self.store(self.value)


class EditPlan:
    """A request's parts and the work they need (see the module docstring)."""

    def __init__(
        self,
        caches: EditCaches | None = None,
        budget: int | None = None,
        admissible: Callable[[int], None] | None = None,
        eager: bool = True,
    ):
        self.caches = caches or EditCaches()
        self.budget = budget  # None: masks are not costed (an eager plan decodes at once anyway)
        self.admissible = admissible
        self.eager = eager
        self.parts: list[Part] = []
        self.cost = 0  # all the request's masks (the budget)
        self.pending_cost = 0  # the work to do (admission)
        self.mask_jobs: dict[tuple, MaskJob] = {}  # pending masks, in the order they were asked for
        self.work_jobs: dict[Hashable, WorkJob] = {}
        self._refs: dict[tuple, Ref] = {}
        self._costs: dict[tuple, int] = {}  # (digest, raster, limits) -> cost: each mask costed once
        self._pending_masks: set[tuple] = set()  # (digest, raster, limits) with a job
        self._digests: dict[int, tuple[Any, bytes]] = {}  # id(spec) -> (spec, digest): each mask hashed once

    # ------------------------------------------------------------------ 1. prepare

    def add(self, part: Part) -> None:
        self.parts.append(part)

    def mask(
        self, spec: Any, raster: int, size: tuple[int, int], where: str, limits: tuple[int, int], pooling: Pooling
    ) -> Ref:
        """The mask ``spec`` decoded at ``raster`` and pooled to ``size`` (h, w): a Ref, resolved from the cache
        or pending (decoded at once by an eager plan); a mask over the budget raises ValueError naming ``where``."""
        if spec is None:
            return Ref(None, True)  # everywhere
        digest = self._digest(spec, where)
        key = (digest, raster, size, limits, pooling)
        mask_id = (digest, raster, limits)
        if self.budget is not None and mask_id not in self._costs:
            self._costs[mask_id] = cost = mask_cost(spec, raster, limits[1])
            self.cost += cost
            if self.cost > self.budget:
                raise ValueError(
                    f"{where}: the request's masks decode to {self.cost:,} pixels, points and runs so far; "
                    f"at most {self.budget:,} per request (max_mask_pixels)"
                )
        if key in self._refs:
            return self._refs[key]
        hit = self.caches.masks.get(key)
        if hit is not None:
            ref = self._refs[key] = Ref(hit, True)
            return ref
        job = MaskJob(spec=spec, raster=raster, size=size, where=where, limits=limits, pooling=pooling)
        self._refs[key] = job
        if self.eager:
            job.finish(job.decode())
            self.caches.masks.put(key, job.value)
            return job
        self.mask_jobs[key] = job
        if mask_id not in self._pending_masks:  # decoded once, pooled to each size
            self._pending_masks.add(mask_id)
            self._add_pending(self._costs.get(mask_id, 0))
        return job

    def work(self, key: Hashable, fn: Callable[[], Any], cost: int, cache: LRU) -> Ref:
        """``fn()``'s result for ``key``: from this plan, ``cache``, or pending with ``cost`` (run at once by an
        eager plan); the result goes into ``cache``."""
        if key in self.work_jobs:
            return self.work_jobs[key]
        hit = cache.get(key)
        if hit is not None:
            return Ref(hit, True)
        job = WorkJob(fn=fn, store=lambda value: cache.put(key, value))
        if self.eager:
            job.run()
            return job
        self.work_jobs[key] = job
        self._add_pending(cost)
        return job

    def _digest(self, spec: Any, where: str) -> bytes:
        held = self._digests.get(id(spec))  # the same mask at several layers
        if held is not None and held[0] is spec:
            return held[1]
        try:
            text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        except RecursionError as exc:
            raise ValueError(f"{where}: nested too deep") from exc
        digest = hashlib.sha256(text.encode()).digest()
        self._digests[id(spec)] = (spec, digest)  # holds spec, so its id is not reused during the request
        return digest

    def _add_pending(self, cost: int) -> None:
        self.pending_cost += cost
        if self.admissible is not None:
            self.admissible(self.pending_cost)

    # ------------------------------------------------------------------ 3. run

    def pending(self) -> list[Ref]:
        return [j for j in (*self.mask_jobs.values(), *self.work_jobs.values()) if not j.done]

    def run(self, foreground: Foreground | None = None) -> None:
        """Do every pending job in order, decoding each mask once (the first bad mask raises its ValueError);
        on a background thread, stepping aside for ``foreground``'s painters between masks. Results go into the
        caches."""
        foreground = foreground or Foreground()
        decoded: dict[tuple, torch.Tensor | Box] = {}
        for key, job in self.mask_jobs.items():
            if job.done:
                continue
            mask_id = (key[0], key[1], key[3])
            if mask_id not in decoded:
                foreground.wait()  # on a background thread: after the painter's frame that renders now
                t0 = time.monotonic()
                decoded[mask_id] = job.decode()
                foreground.pace(time.monotonic() - t0)  # while anyone paints, big decodes take half the time
            job.finish(decoded[mask_id])
        for job in self.work_jobs.values():
            if not job.done:
                foreground.wait()
                job.run()
        for key, job in self.mask_jobs.items():
            self.caches.masks.put(key, job.value)

    # ------------------------------------------------------------------ 4. assemble

    def assemble(self) -> list[UnitEdit]:
        """Every part's UnitEdits, in the order the parts were added (all refs resolved: after ``run``)."""
        assert not self.pending(), "assemble before run"
        return [edit for part in self.parts for edit in part()]
