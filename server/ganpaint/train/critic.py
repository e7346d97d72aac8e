"""The training discriminator as a realism critic: ``models/<id>/discriminator.pth`` (optional per model).

File (a plain dict, loadable with ``weights_only=True``)::

    {"format": "ganpaint-discriminator-v1", "resolution": 64, "channels": {"4": 256, ...},
     "images_seen": 1000864, "state": {<Discriminator state dict, fp16>}}

ProGAN's minibatch-stddev layer makes a score depend on the batch, so ``Critic.score`` scores each image in
a group of four with the same three fixed unedited reference images: scores of different images compare.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganpaint.train.networks import Discriminator

FORMAT = "ganpaint-discriminator-v1"


def export_critic(train_state: str | Path, out: str | Path) -> Path:
    """Write the discriminator of a packed or full training state (``ganpaint train pack``) as a critic file."""
    state = torch.load(train_state, map_location="cpu", weights_only=False)
    cfg = state["config"]
    channels = {str(4 * 2**i): c for i, c in enumerate(cfg["g_channels"])}
    doc = {
        "format": FORMAT,
        "resolution": cfg["resolution"],
        "channels": channels,
        "images_seen": int(state["imgs_seen"]),
        "state": {k: v.half() for k, v in state["D"].items()},
    }
    out = Path(out)
    torch.save(doc, out)
    return out


class Critic:
    """Scores images (N, 3, R, R) in [-1, 1]: higher = more like the training data."""

    def __init__(self, path: str | Path, references: torch.Tensor):
        doc = torch.load(path, map_location="cpu", weights_only=True)
        if doc.get("format") != FORMAT:
            raise ValueError(f"{path}: format: expected {FORMAT!r}, got {doc.get('format')!r}")
        self.resolution = int(doc["resolution"])
        self.net = Discriminator({int(r): c for r, c in doc["channels"].items()})
        self.net.load_state_dict({k: v.float() for k, v in doc["state"].items()})
        self.net.eval().requires_grad_(False)
        if references.shape[0] != 3:
            raise ValueError(f"references: expected 3 images, got {references.shape[0]}")
        self.references = references  # (3, 3, R, R)

    @torch.no_grad()
    def score(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) scores, each image in a group with the three references."""
        n = len(images)
        # minibatch stddev groups rows j, j + n, j + 2n, j + 3n: image j with the three references
        refs = [r[None].expand(n, -1, -1, -1) for r in self.references]
        return self.net(torch.cat([images, *refs]), self.resolution)[:n, 0]  # (N,)
