"""The fit's concept term: the region should become, for the model's segmenter, what surrounds it.

Without it the fill is the calmest picture that agrees with the surroundings; for a dome on a roof that is a
smooth rounded patch, which reads as a dome again (docs/erase.md: removal 0.69 on held-out domes). With it the
fit also lowers, inside the stroke, -log p(one of the classes the segmenter sees around the stroke, the erased
concept left out), and the generator paints what it would put there instead: roof, brick, sky, cloud. The
segmenter only scores the render; the generator paints it, so the fill stays a picture the generator can make
(and a second segmenter, trained apart, measures the same removal: docs/erase.md)."""

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

    def penalty(
        self, classes: Sequence[int], picture: torch.Tensor | None = None, around: torch.Tensor | None = None
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """x (1, 3, H, W) in [-1, 1] -> (1, H, W) per pixel: -log p(one of the classes the segmenter sees on the
        picture (1, 3, H, W) at the pixels ``around`` (H, W) the region, the erased ``classes`` left out): the
        region should become what surrounds it; with nothing seen around, -log(1 - p(classes)). None for no
        classes."""
        if not classes or len(classes) >= len(self.names):
            return None
        allowed = [c for c in range(len(self.names)) if c not in set(classes)]
        if picture is not None and around is not None and bool(around.any()):
            with torch.no_grad():
                seen = self.probabilities(picture.float().clamp(-1, 1))[0].argmax(0)[around]  # (n,)
            allowed = sorted(set(seen.tolist()) - set(classes)) or allowed

        def leftover(x: torch.Tensor) -> torch.Tensor:
            p = self.probabilities(x.clamp(-1, 1))  # (1, C, H, W)
            return -torch.log(p[:, allowed].sum(1) + 1e-6)  # (1, H, W)

        return leftover
