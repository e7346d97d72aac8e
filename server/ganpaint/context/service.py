"""One engine's context state: segmenters by model, built stroke grids, maps and stamp decisions (all bounded).

    ctx = ContextService()
    cmap = ctx.context_map(m, ("image", 3), r, render, "layer6", "door", "draw")   # cached by its key
    edits = ctx.resolve(m, r, render, edits)        # ContextStamps -> stamps or brushes (gate.py)

A model's segmenter is its ``model.json`` "segmenter" (the embedded one), loaded on first use; tests and
bring-your-own setups may ``put_segmenter``. Without one, maps are refused (ValueError naming the model)
and stamps are painted as stamps (there is nothing to ask).
"""

from __future__ import annotations

from threading import Lock
from typing import TYPE_CHECKING

import torch

from ganpaint.context.gate import ContextStamp, Decisions, resolve
from ganpaint.context.grid import ContextMap, StrokeGrid, context_map, stamp_stroke, stroke_grid
from ganpaint.context.probe import Render, brush_stroke, window_radius
from ganpaint.lru import LRU
from ganpaint.project.projector import layer_chain
from ganpaint.segment import Segmenter, load_segmenter
from ganpaint.stamps.templates import default_style

if TYPE_CHECKING:
    from ganpaint.model_registry import LoadedModel

MODES = ("draw", "stamp")
MAX_UNITS = 20  # the brush of a map: the concept's best 20 draw units, as a stroke at full strength


class ContextService:
    def __init__(self, maps: int = 64, decisions: int = 4096):
        self.maps: LRU[tuple, ContextMap] = LRU(
            maps
        )  # (model sha, picture key, layer, concept, mode, stride) -> ContextMap
        self.grids: LRU[tuple, StrokeGrid] = LRU(
            8
        )  # (model sha, layer, concept, mode, stride, shape) -> StrokeGrid (at most ~20 MB each)
        self.decisions = Decisions(decisions)
        self._segmenters: dict[str, Segmenter | None] = {}
        self._lock = Lock()

    def put_segmenter(self, model_id: str, segmenter: Segmenter | None) -> None:
        self._segmenters[model_id] = segmenter

    def segmenter(self, m: LoadedModel) -> Segmenter | None:
        """The model's segmenter, loaded once; None when the model has none."""
        with self._lock:
            if m.id not in self._segmenters:
                path = m.info.segmenter_path
                self._segmenters[m.id] = load_segmenter(None, m.info) if path is not None and path.is_file() else None
            return self._segmenters[m.id]

    def class_index(self, m: LoadedModel, concept: str) -> int | None:
        seg = self.segmenter(m)
        return None if seg is None or concept not in seg.names else list(seg.names).index(concept)

    def context_map(
        self, m: LoadedModel, picture: tuple, r: torch.Tensor, render: Render, layer: str, concept: str, mode: str
    ) -> ContextMap:
        """The map of ``concept`` on the picture whose features at ``layer`` are r (1, C, h, w); callers have
        checked layer, concept (and its stamps for mode "stamp"); ValueError when the segmenter cannot help."""
        seg = self.segmenter(m)
        if seg is None:
            raise ValueError(f"model: {m.id!r} has no segmenter; the context map needs one (model.json 'segmenter')")
        if concept not in seg.names:
            raise ValueError(f"concept: the segmenter of {m.id!r} has no class {concept!r}")
        _, h, w = r.shape[1:]
        stride = max(1, h // 2)  # strokes half the picture apart share a render (grid.py, docs/context.md)
        key = (m.sha256, picture, layer, concept, mode, stride)
        hit = self.maps.get(key)
        if hit is not None:
            return hit
        grid_key = (m.sha256, layer, concept, mode, stride, (h, w))
        grid = self.grids.get(grid_key)
        if grid is None:
            grid = stroke_grid(h, w, self.stroke_maker(m, layer, concept, mode, (h, w)), stride, r.shape[1])
            self.grids.put(grid_key, grid)
        cmap = context_map(r, render, seg.probabilities, list(seg.names).index(concept), grid)
        self.maps.put(key, cmap)
        return cmap

    def stroke_maker(self, m: LoadedModel, layer: str, concept: str, mode: str, hw: tuple[int, int]):
        pre = m.dissection(layer)
        res = m.info.resolution
        if mode == "draw":
            cu = pre.concepts[concept]
            n = min(MAX_UNITS, len(cu.units))
            return lambda c: brush_stroke(layer, cu.units[:n], cu.draw_values[:n], c, window_radius(hw[0]), hw, res)
        stamps = pre.stamps[concept]
        style = stamps.styles[default_style(pre.raw["stamps"]["concepts"].get(concept))]
        size = (style.natural_size[0] / res, style.natural_size[1] / res)
        return lambda c: stamp_stroke(layer, style, c, size, hw, res)

    def resolve(self, m: LoadedModel, r: torch.Tensor, render: Render, edits):
        """ContextStamps in ``edits`` decided on features r (1, C, h, w) (gate.py); without a segmenter, stamps.
        Edits without ContextStamps come back as they are (no segmenter loaded, no lock taken)."""
        if not any(isinstance(e, ContextStamp) for e in edits):
            return edits
        seg = self.segmenter(m)
        if seg is None:
            return [e.stamp() if isinstance(e, ContextStamp) else e for e in edits]
        return resolve(edits, r, render, seg.probabilities, seg.names, m.info.resolution, self.decisions)

    def resolve_upload(self, m: LoadedModel, upload, edits):
        """``resolve`` for a projected picture (``ganpaint.project.ProjectedImage``): probed with its own
        adapted generator, on its features at each ContextStamp's layer."""
        layers = {e.layer for e in edits if isinstance(e, ContextStamp)}
        out = list(edits)
        for layer in layers:
            r, render = upload_target(upload, layer)
            at = [e for e in out if e.layer == layer]
            decided = iter(self.resolve(m, r, render, at))
            out = [next(decided) if e.layer == layer else e for e in out]
        return out


def upload_target(upload, layer: str) -> tuple[torch.Tensor, Render]:
    """(features (1, C, h, w) at ``layer``, the render from there) of a projected picture, unblended."""
    r = upload.features_at(layer)  # (1, C, h, w)
    return r, layer_chain(upload._whole(), None if layer == upload.project_layer else layer, None)
