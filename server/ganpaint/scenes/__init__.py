"""Procedural outdoor church / village scenes with exact per-pixel labels (the GAN training data)."""

from .concepts import BUILDING_PARTS, COLORS, CONCEPTS, ID, NAMES, Concept
from .dataset import colorize, label_statistics, load_dataset, render_dataset
from .render import RENDERER_VERSION, render_scene

__all__ = [
    "BUILDING_PARTS",
    "COLORS",
    "CONCEPTS",
    "Concept",
    "ID",
    "NAMES",
    "RENDERER_VERSION",
    "colorize",
    "label_statistics",
    "load_dataset",
    "render_dataset",
    "render_scene",
]
