"""The pictures of docs/dissection.md "Artifact units", from precomputed/<model>/artifacts.json:

    python scripts/artifact_figures.py      # scenes64 -> docs/img/artifact_units_<layer>_{worst,median,ablated}.png

- ``_worst``: the 8 worst units by FD, each with its 8 top-activating ranking samples;
- ``_median``: 8 units around the median FD, the same way (what an ordinary unit's top images look like);
- ``_ablated``: held-out latents (the bench's stream, ids 0..) where the removed units peak highest: top row as
  trained, bottom row with those units set to 0 (what "artifacts": "removed" does to a picture).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from PIL import Image

from ganpaint import REPO_ROOT
from ganpaint.dissect.artifact_pictures import top_images, unit_grid, unit_strip, worst_and_median
from ganpaint.dissect.artifacts import HELDOUT_STREAM
from ganpaint.dissect.common import latents
from ganpaint.models import load_model_info
from ganpaint.nn.hooks import edit_layer
from ganpaint.nn.intervene import UnitEdit, edit_function
from ganpaint.nn.proggan import load_generator


@torch.no_grad()
def ablated_pairs(g, doc: dict, n: int = 10, pool: int = 1000) -> np.ndarray:
    """Two rows: the ``n`` held-out samples (of ``pool``) where the removed units peak highest, kept and removed."""
    layer, units = doc["layer"], doc["ranking"][: doc["k"]]
    z = latents(pool, g.z_dim, 0, HELDOUT_STREAM)
    h, _ = g.split(layer)
    peak = h(z)[:, units].amax((2, 3)).max(1).values  # (pool,)
    pick = z[torch.argsort(peak, descending=True)[:n]]
    kept = g(pick)
    with edit_layer(g, layer, edit_function([UnitEdit(layer, units, 0.0)])):
        removed = g(pick)
    rows = [((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy() for x in (kept, removed)]
    strips = [unit_strip(r) for r in rows]
    gap = np.full((2, strips[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([strips[0], gap, strips[1]])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    args = ap.parse_args()
    torch.set_num_threads(1)
    info = load_model_info(args.model, None)
    g = load_generator(info.generator_path).eval()
    doc = json.loads((REPO_ROOT / "precomputed" / args.model / "artifacts.json").read_text())
    layer = doc["layer"]
    worst, median = worst_and_median(doc)
    out = REPO_ROOT / "docs" / "img"
    for name, units in (("worst", worst), ("median", median)):
        title = (
            f"{args.model} {layer}: the 8 {name} units by FD, top-activating samples (of {doc['settings']['samples']})"
        )
        grid = unit_grid(top_images(g, doc, units), doc, zoom=2, title=title)
        Image.fromarray(grid).save(out / f"artifact_units_{layer}_{name}.png")
    pairs = ablated_pairs(g, doc)
    Image.fromarray(pairs).resize((pairs.shape[1] * 3, pairs.shape[0] * 3), Image.NEAREST).save(
        out / f"artifact_units_{layer}_ablated.png"
    )
    print(f"wrote {out}/artifact_units_{layer}_{{worst,median,ablated}}.png")


if __name__ == "__main__":
    main()
