"""The gallery's pictures with their trees erased: the fill erase against GANPaint's (issue 33, generated images).

    python bench/erase_gallery.py --out docs/img/erase_gallery.png

For each of the model's gallery images with at least --min-pixels tree pixels (by the model's segmenter), one
erase stroke of "tree" over those pixels grown by 1 px (what a painter covers), rendered by the full-render
path with ``"method": "fill"`` (the default) and ``"units"`` (GANPaint's). Rows: the picture, the fill erase,
GANPaint's erase. There is no ground truth for a generated picture; bench/erase_truth.py measures scenes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from ganpaint.engine import Engine  # noqa: E402
from ganpaint.masks import encode_runs  # noqa: E402
from ganpaint.project import image_tensor  # noqa: E402
from ganpaint.renderer import RenderJob  # noqa: E402
from ganpaint.segment import load_segmenter  # noqa: E402
from ganpaint.strokes import Stroke, stroke_edits  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--concept", default="tree")
    ap.add_argument("--n", type=int, default=6, help="pictures (columns)")
    ap.add_argument("--min-pixels", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "erase_gallery.png")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    from PIL import Image

    engine = Engine(ROOT / "models", ROOT / "precomputed", threads=2)
    try:
        m = engine.model(args.model)
        seg = load_segmenter(None, m.info)
        c = list(seg.names).index(args.concept)
        columns = []
        for image in m.info.gallery:
            picture = engine.renderer.render_uncached(RenderJob(m.id, image=image))  # (R, R, 3)
            with torch.no_grad():
                found = seg.probabilities(image_tensor(picture)).argmax(1) == c  # (1, R, R)
            if int(found.sum()) < args.min_pixels:
                continue
            grown = F.max_pool2d(found[None].float(), 3, stride=1, padding=1)[0, 0].numpy() > 0  # (R, R)
            column = [picture]
            for method in ("fill", "units"):
                edits = stroke_edits(m, [Stroke(args.concept, encode_runs(grown), "erase", method=method)])
                column.append(engine.renderer.render_uncached(RenderJob(m.id, image=image, edits=edits)))
            columns.append(np.concatenate(column, 0))  # (3R, R, 3)
            print(f"image {image}: {int(found.sum())} {args.concept} pixels", flush=True)
            if len(columns) == args.n:
                break
    finally:
        engine.close()
    sheet = np.concatenate(columns, 1)  # (3R, nR, 3)
    scale = 3
    big = Image.fromarray(sheet).resize((sheet.shape[1] * scale, sheet.shape[0] * scale), Image.Resampling.NEAREST)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    big.save(args.out, optimize=True)
    print(f"rows: picture, fill erase, GANPaint's erase -> {args.out}")


if __name__ == "__main__":
    main()
