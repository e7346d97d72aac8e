"""Stroke masks: their JSON forms (forms.py), pooled straight to a feature map (pooling.py), and what one costs
before it is decoded (cost.py). No scheduling here: when and where masks decode is the edit plan's
(ganpaint/edit_plan.py).

    decode_mask(spec, raster)                  # (H, W) float32 in [0, 1], any form, full size
    pool_spec(spec, raster, (h, w), "area")    # (h, w) area fractions, without rasterising bitmaps
    mask_cost(spec, raster)                    # what decoding it allocates, read without decoding
"""

from ganpaint.masks.cost import MIN_COST, mask_cost
from ganpaint.masks.forms import (
    DEFAULT_SHAPE,
    MAX_POINTS,
    MAX_SIDE,
    PNG_PREFIX,
    Box,
    decode_bitstring,
    decode_mask,
    decode_png,
    decode_runs,
    encode_runs,
    rasterize_polyline,
)
from ganpaint.masks.pooling import decode_compact, pool_decoded, pool_spec

__all__ = [
    "DEFAULT_SHAPE",
    "MAX_POINTS",
    "MAX_SIDE",
    "MIN_COST",
    "PNG_PREFIX",
    "Box",
    "decode_bitstring",
    "decode_compact",
    "decode_mask",
    "decode_png",
    "decode_runs",
    "encode_runs",
    "mask_cost",
    "pool_decoded",
    "pool_spec",
    "rasterize_polyline",
]
