"""Pure torch: the ProGAN generator, scoped hooks and feature-map interventions."""

from ganpaint.nn.hooks import edit_layer, trace_layer
from ganpaint.nn.intervene import UnitEdit, apply_edits, pool_mask
from ganpaint.nn.proggan import (
    ProgressiveGenerator,
    generator_from_state_dict,
    image_latents,
    load_generator,
    lsun_channels,
)

__all__ = [
    "ProgressiveGenerator",
    "UnitEdit",
    "apply_edits",
    "edit_layer",
    "generator_from_state_dict",
    "image_latents",
    "load_generator",
    "lsun_channels",
    "pool_mask",
    "trace_layer",
]
