"""Ground truth for erasing: a scene rendered with chosen object instances left out (issue 33).

    for inst in scene_instances(seed, 64):                 # Instance("tree:3", "tree", parent=None), ...
        ...
    rgb, labels = render_scene(seed, 64, remove=["tree:3"])  # the same scene, tree 3 gone, what it hid drawn
    r = removal(seed, 64, "tree:3")                        # both renders and the footprint (where they differ)

Every element the renderer draws as a unit is an instance ``kind:n`` (n counts that kind in drawing order):
``tree`` (distant, mid, grove and foreground trees and bushes), ``cloud``, ``mountain`` (a hill layer),
``building`` (a church, chapel or house with all it holds), ``tower`` (with its cap: a steeple, a pyramid roof
or a dome, and its windows), ``dome``, ``door`` and ``window`` (a rose window too). A removed instance is drawn
onto throwaway images, so the random draws are the same: the rest of the scene is the same pixels, and what
the instance covered shows what was drawn before it (sky, grass, a wall, a drum...). Objects drawn after it
stay: a tree in front of a removed door still hides the wall there.

The footprint of a removal is the set of pixels where the two renders differ (colour or label): the visible
part of the instance, with its anti-aliased edge. An instance entirely hidden has an empty footprint.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from .render import _render, render_scene

KINDS = ("tree", "cloud", "mountain", "building", "tower", "dome", "door", "window")


@dataclass(frozen=True)
class Instance:
    id: str  # "tree:3"
    kind: str
    parent: str | None  # the instance it is drawn as part of (a tower's dome: "tower:0"), if any


@dataclass
class Removal:
    seed: int
    size: int
    ids: tuple[str, ...]
    rgb: np.ndarray  # (S, S, 3) uint8: the scene
    labels: np.ndarray  # (S, S) uint8
    rgb_without: np.ndarray  # (S, S, 3) uint8: the scene without the instances (the true background)
    labels_without: np.ndarray  # (S, S) uint8
    footprint: np.ndarray  # (S, S) bool: where the two renders differ

    @property
    def pixels(self) -> int:
        return int(self.footprint.sum())


def scene_instances(seed: int, size: int = 64, kind: str | None = None) -> list[Instance]:
    """The scene's instances in drawing order (all kinds, or one); the list is the same at every size."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    _, _, found = _render(seed, size)
    return [Instance(i, k, p) for i, k, p in found if kind is None or k == kind]


def footprint(rgb: np.ndarray, labels: np.ndarray, rgb_without: np.ndarray, labels_without: np.ndarray) -> np.ndarray:
    """(S, S) bool: pixels whose colour (any channel) or label differs between the two renders."""
    return (rgb != rgb_without).any(axis=-1) | (labels != labels_without)


def removal(
    seed: int, size: int, remove: str | Collection[str], base: tuple[np.ndarray, np.ndarray] | None = None
) -> Removal:
    """The scene, the scene without ``remove`` (one id or several), and the footprint. ``base``: the scene's
    render when the caller has it already."""
    ids = (remove,) if isinstance(remove, str) else tuple(remove)
    rgb, labels = base if base is not None else render_scene(seed, size)
    rgb2, labels2 = render_scene(seed, size, remove=ids)
    return Removal(seed, size, ids, rgb, labels, rgb2, labels2, footprint(rgb, labels, rgb2, labels2))


def removals(seed: int, size: int = 64, kind: str | None = None, min_pixels: int = 1) -> list[Removal]:
    """One Removal per instance (of ``kind``, or all) whose footprint has at least ``min_pixels`` pixels."""
    base = render_scene(seed, size)
    out = []
    for inst in scene_instances(seed, size, kind):
        r = removal(seed, size, inst.id, base)
        if r.pixels >= min_pixels:
            out.append(r)
    return out
