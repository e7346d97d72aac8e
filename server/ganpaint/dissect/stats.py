"""Streaming statistics with bounded memory, each with ``state_dict`` / ``load_state_dict`` for caching.

- ``Reservoir``: a uniform sample of at most ``size`` values per unit (exact while fewer were seen), for
  quantiles.
- ``TopK``: the ``k`` largest scores per unit and the sample ids they came from.
- ``iqr`` / ``iou``: information quality ratio and IoU from 2x2 contingency counts.
"""

from __future__ import annotations

import json

import numpy as np
import torch


class Reservoir:
    """Per-unit reservoir sample (Vitter's algorithm R, vectorised; all units share the replacement draws)."""

    def __init__(self, units: int, size: int, seed: int = 0):
        self.units, self.size = int(units), int(size)
        self.buf = np.zeros((self.units, self.size), np.float32)
        self.seen = 0
        self.rng = np.random.default_rng(seed)

    def add(self, values: torch.Tensor | np.ndarray) -> None:
        """values: (units, m)."""
        v = values.detach().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
        m = v.shape[1]
        fill = max(0, min(m, self.size - self.seen))
        if fill:
            self.buf[:, self.seen : self.seen + fill] = v[:, :fill]
        if m > fill:
            pos = self.seen + np.arange(fill, m)  # global positions of the remaining items
            j = (self.rng.random(m - fill) * (pos + 1)).astype(np.int64)  # uniform in 0..pos
            keep = np.nonzero(j < self.size)[0]
            if len(keep):
                slots, src = j[keep], keep + fill
                # duplicates: the last writer wins, as in the sequential algorithm
                rev_slots = slots[::-1]
                _, first = np.unique(rev_slots, return_index=True)
                last = len(slots) - 1 - first
                self.buf[:, slots[last]] = v[:, src[last]]
        self.seen += m

    def values(self) -> np.ndarray:
        return self.buf[:, : min(self.seen, self.size)]

    def quantiles(self, levels: np.ndarray) -> np.ndarray:
        """(units, len(levels)) with numpy's default (linear) interpolation."""
        return np.quantile(self.values(), levels, axis=1).T.astype(np.float32)

    def state_dict(self) -> dict:
        return {"buf": self.buf, "seen": np.int64(self.seen), "rng": np.array(json.dumps(self.rng.bit_generator.state))}

    def load_state_dict(self, sd: dict) -> None:
        self.buf = np.array(sd["buf"], np.float32)
        self.units, self.size = self.buf.shape
        self.seen = int(sd["seen"])
        self.rng.bit_generator.state = json.loads(str(sd["rng"]))


class TopK:
    """The k largest scores per unit and their sample ids (ties: the earlier sample)."""

    def __init__(self, units: int, k: int):
        self.scores = np.full((units, k), -np.inf, np.float32)
        self.ids = np.full((units, k), -1, np.int64)

    def add(self, scores: torch.Tensor | np.ndarray, ids: np.ndarray) -> None:
        """scores: (n, units) for samples ``ids`` (n,)."""
        s = scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
        all_s = np.concatenate([self.scores, s.T], axis=1)  # (units, k + n)
        all_i = np.concatenate([self.ids, np.broadcast_to(ids, (s.shape[1], len(ids)))], axis=1)
        order = np.lexsort((all_i, -all_s), axis=1)[:, : self.scores.shape[1]]
        self.scores = np.take_along_axis(all_s, order, 1)
        self.ids = np.take_along_axis(all_i, order, 1)

    def state_dict(self) -> dict:
        return {"scores": self.scores, "ids": self.ids}

    def load_state_dict(self, sd: dict) -> None:
        self.scores, self.ids = np.array(sd["scores"]), np.array(sd["ids"])


def _plogp(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0.0)


def iqr(inter: np.ndarray, active: np.ndarray, concept: np.ndarray, total: float) -> np.ndarray:
    """Information quality ratio I(X;Y)/H(X,Y) of X = (a > t), Y = s_c from counts (broadcasting).

    inter = |X and Y|, active = |X|, concept = |Y|, total = number of pixels. 0 where H(X,Y) = 0.
    """
    inter, active, concept = (np.asarray(a, np.float64) for a in (inter, active, concept))
    p11 = inter / total
    p10 = (active - inter) / total
    p01 = (concept - inter) / total
    p00 = np.clip(1.0 - p11 - p10 - p01, 0.0, 1.0)
    hxy = -(_plogp(p11) + _plogp(p10) + _plogp(p01) + _plogp(p00))
    hx = -(_plogp(p11 + p10) + _plogp(p01 + p00))
    hy = -(_plogp(p11 + p01) + _plogp(p10 + p00))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hxy > 1e-12, (hx + hy - hxy) / np.where(hxy > 1e-12, hxy, 1.0), 0.0)


def iou(inter: np.ndarray, active: np.ndarray, concept: np.ndarray) -> np.ndarray:
    """|X and Y| / |X or Y| (0 where the union is empty)."""
    inter, active, concept = (np.asarray(a, np.float64) for a in (inter, active, concept))
    union = active + concept - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
