"""The refiner: a 4x sharper picture of a 64 px frame, for projectors and exports (issue 34).

    net = load_refiner(info.refiner_path)       # None when the model ships none
    big = refine(net, x)                        # x: (N, 3, 64, 64) in [-1, 1] -> (N, 3, 256, 256), clamped

Trained on exact pairs from the scene world (``pairs.py``, ``train.py``; ``ganpaint train refiner``) and measured
against the world's true 256 px renders in ``bench/refiner.py`` (docs/refiner.md).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .network import Refiner

__all__ = ["Refiner", "load_refiner", "refine", "save_refiner"]


def save_refiner(net: Refiner, path: str | Path, **about) -> Path:
    """The shipped file: the network's shape, its fp32 weights (~280 kB at the defaults) and ``about`` (how it
    was trained and measured: plain JSON-able values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": net.config(), "state": net.state_dict(), "about": about}, path)
    return path


def load_refiner(path: str | Path | None) -> Refiner | None:
    """The shipped refiner (``models/<id>/refiner.pth``: config + weights), in eval mode; None for no path."""
    if path is None:
        return None
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    net = Refiner(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval().requires_grad_(False)


def refine(net: Refiner, x: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) in [-1, 1] -> (N, 3, 4h, 4w) in [-1, 1]; fp32 whatever the generator's dtype."""
    with torch.inference_mode():
        return net(x.float()).clamp(-1, 1)
