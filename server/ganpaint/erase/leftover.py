"""The fit's concept term: how much of the erased concept the model's segmenter still sees in the render.

Without it the fill is the calmest picture that agrees with the surroundings; for a dome on a roof that is a
smooth rounded patch, which reads as a dome again (docs/erase.md: removal 0.69 on held-out domes). With it the
fit also lowers -log(1 - p(concept)) inside the stroke, and the generator paints what it would put there
instead: roof, brick, sky, cloud. The segmenter scores the render; the generator paints it, so the fill stays a
picture the generator can make (the removal measured by a second, independently trained segmenter agrees:
docs/erase.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Leftover:
    """A segmenter that can be differentiated: ``probabilities`` (N, 3, H, W) in [-1, 1] -> (N, C, H, W) with
    gradients to the images; ``names`` its classes; ``id`` names it in cache keys."""

    id: str
    names: tuple[str, ...]
    probabilities: Callable[[torch.Tensor], torch.Tensor]

    @classmethod
    def of(cls, segmenter) -> Leftover | None:
        """The segmenter's ``differentiable_probabilities``, or None when it has none (then the fit has no
        concept term)."""
        soft = getattr(segmenter, "differentiable_probabilities", None)
        if segmenter is None or soft is None:
            return None
        return cls(str(segmenter.id), tuple(segmenter.names), soft)

    def classes(self, concepts: Sequence[str]) -> tuple[int, ...]:
        """The class ids of those concepts this segmenter knows, sorted."""
        return tuple(sorted({self.names.index(c) for c in concepts if c in self.names}))

    def penalty(self, classes: Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """x (1, 3, H, W) in [-1, 1] -> (1, H, W): -log(1 - p(any of ``classes``)) per pixel, 0 where the
        segmenter sees none of them; None for no classes."""
        if not classes or len(classes) >= len(self.names):
            return None
        others = [c for c in range(len(self.names)) if c not in set(classes)]

        def leftover(x: torch.Tensor) -> torch.Tensor:
            p = self.probabilities(x.clamp(-1, 1))  # (1, C, H, W)
            return -torch.log(p[:, others].sum(1) + 1e-6)  # (1, H, W): 1 - p(classes) is the others' share

        return leftover
