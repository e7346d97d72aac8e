"""Feature-map interventions: the edit r <- value * a + r * (1 - a), with a = alpha * pooled mask.

A ``UnitEdit`` names a layer, units, a per-unit value (0 erases, a constant k draws; or a per-unit
spatial map (U, h, w) at the feature map's size: a concept stamp), a per-unit alpha, and a mask at any
resolution. The mask is pooled to the feature map (area fraction by
default, max as an option). A list of edits composites in order: a later one paints over earlier
ones, draws and erases alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ganpaint.nn.hooks import edit_layer

Pooling = Literal["area", "max"]


@dataclass
class UnitEdit:
    layer: str
    units: Sequence[int] | torch.Tensor
    value: float | Sequence[float] | torch.Tensor = 0.0  # per unit, one for all, or a (U, h, w) map per unit
    alpha: float | Sequence[float] | torch.Tensor = 1.0  # per unit, or one for all
    mask: torch.Tensor | None = None  # (H, W) or (N, H, W) in [0, 1] at any resolution; None = everywhere
    pooling: Pooling = "area"


def pool_mask(mask: torch.Tensor, size: tuple[int, int], pooling: Pooling = "area") -> torch.Tensor:
    """Pool an (H, W) or (N, H, W) mask to the feature map size (h, w); returns (N or 1, h, w)."""
    if mask.dim() == 2:
        mask = mask[None]
    if mask.dim() != 3:
        raise ValueError(f"mask must be (H, W) or (N, H, W), got shape {tuple(mask.shape)}")
    m = mask.float()[:, None]  # (N, 1, H, W)
    if tuple(m.shape[-2:]) == tuple(size):
        return m[:, 0]
    if pooling == "area":
        pooled = F.adaptive_avg_pool2d(m, size)
    elif pooling == "max":
        pooled = F.adaptive_max_pool2d(m, size)
    else:
        raise ValueError(f"pooling must be 'area' or 'max', got {pooling!r}")
    return pooled[:, 0]  # (N, h, w)


def _per_unit(x: float | Sequence[float] | torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x, dtype=like.dtype, device=like.device).flatten()
    return t.expand(n) if t.numel() == 1 else t


def _value_map(value: float | Sequence[float] | torch.Tensor, n: int, like: torch.Tensor) -> torch.Tensor:
    """The value as (1, U, 1, 1) per unit, or (1, U, h, w) when it is a spatial map per unit."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.dim() == 3:
        if tuple(t.shape) != (n, *like.shape[-2:]):
            raise ValueError(f"value map must be (units, h, w) = {(n, *like.shape[-2:])}, got {tuple(t.shape)}")
        return t[None]  # (1, U, h, w)
    return _per_unit(t, n, like)[None, :, None, None]  # (1, U, 1, 1)


def apply_edits(r: torch.Tensor, edits: Sequence[UnitEdit]) -> torch.Tensor:
    """Return a copy of feature map r (N, C, h, w) with ``edits`` composited in order.

    Consecutive edits that differ only in their masks (a page's strokes of one concept, a REST request's
    many masks) are composited in one step: k edits of value v and alphas a1..ak leave
    v (1 - prod(1 - ai)) + r prod(1 - ai), the same as k steps up to float rounding, at the cost of one."""
    out = r.clone()
    n, c, h, w = r.shape
    i = 0
    while i < len(edits):
        edit, j = edits[i], i + 1
        while j < len(edits) and _same_but_mask(edit, edits[j]):
            j += 1
        units = torch.as_tensor(edit.units, dtype=torch.long, device=r.device).flatten()
        if units.numel() and (int(units.min()) < 0 or int(units.max()) >= c):
            raise ValueError(f"units out of range 0..{c - 1} for layer {edit.layer!r}: {units.tolist()}")
        if units.numel():
            value = _value_map(edit.value, len(units), r)  # (1, U, 1, 1) or (1, U, h, w)
            a = _alpha(edit, len(units), r)  # (N or 1, U, h, w)
            if j == i + 1:
                out[:, units] = value * a + out[:, units] * (1 - a)
            else:
                keep = 1 - a  # what stays of r: prod(1 - a) over the run
                for e in edits[i + 1 : j]:
                    keep = keep * (1 - _alpha(e, len(units), r))
                out[:, units] = value * (1 - keep) + out[:, units] * keep
        i = j
    return out


def _alpha(edit: UnitEdit, units: int, r: torch.Tensor) -> torch.Tensor:
    """The edit's alpha: per unit times its mask pooled to r's map, (N or 1, U, h, w)."""
    n, _, h, w = r.shape
    alpha = _per_unit(edit.alpha, units, r)[None, :, None, None]  # (1, U, 1, 1)
    if edit.mask is None:
        return alpha.expand(n, -1, h, w)  # (N, U, h, w)
    m = pool_mask(edit.mask, (h, w), edit.pooling).to(r.dtype).to(r.device)  # (N or 1, h, w)
    if m.shape[0] not in (1, n):
        raise ValueError(f"mask batch {m.shape[0]} does not match feature batch {n}")
    return alpha * m[:, None]  # (N or 1, U, h, w)


def _same_but_mask(a: UnitEdit, b: UnitEdit) -> bool:
    """Do two edits differ at most in their masks (layer, units, value, alpha, pooling all equal)?"""
    return (
        a.layer == b.layer
        and a.pooling == b.pooling
        and all(_equal(x, y) for x, y in ((a.units, b.units), (a.value, b.value), (a.alpha, b.alpha)))
    )


def _equal(x, y) -> bool:
    if x is y:
        return True
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        return isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and torch.equal(x, y)
    try:
        return type(x) is type(y) and bool(x == y)
    except (TypeError, ValueError, RuntimeError):  # no single truth value (an array): never merged
        return False


def edit_function(edits: Sequence[UnitEdit]):
    """A hook function applying ``edits`` (for ``edit_layer``)."""
    return lambda r: apply_edits(r, edits)


def by_layer(edits: Sequence[UnitEdit]) -> dict[str, list[UnitEdit]]:
    """``edits`` grouped by layer, layers in order of first appearance, edits in order within each."""
    out: dict[str, list[UnitEdit]] = {}
    for e in edits:
        out.setdefault(e.layer, []).append(e)
    return out


def edit_hooks(model: nn.Module, layers: Iterable[tuple[str, Sequence[UnitEdit]]]) -> ExitStack:
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


def run_edited(model: nn.Module, x: torch.Tensor, edits: Sequence[UnitEdit] = ()) -> torch.Tensor:
    """The full-render path: ``model(x)`` with ``edits`` hooked on their layers, under inference mode (the
    baseline server, the tests' reference render and a projected picture's generator all render this way)."""
    with torch.inference_mode(), edit_hooks(model, by_layer(edits).items()):
        return model(x)
