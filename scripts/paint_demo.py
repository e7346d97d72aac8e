"""Paint a few strokes on gallery images through the REST API and save them side by side.

    python scripts/paint_demo.py [--model scenes64] [--images 23 43] [--out docs/img/painting.png]

Each row is one image: as generated, then one stroke each (door dot on the wall, dome dot on the roof,
tree stroke at the left, erase tree over the whole image, cloud stroke across the sky), every stroke at
full strength on the model's default layer. The same requests the page sends. The stroke places were set
once, where the dissection's context numbers say the brushes land (a door on a wall, a dome on a roof; a
wide door stroke or a dome in the sky paints blobs), and not re-picked per image.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from ganpaint.api.app import create_app
from ganpaint.api.settings import Settings

STROKES = [  # (label, concept, mode, polyline points in 0..1 of the image, radius)
    ("door", "door", "draw", [[0.42, 0.72], [0.42, 0.78]], 0.05),
    ("dome", "dome", "draw", [[0.35, 0.42]], 0.1),
    ("tree", "tree", "draw", [[0.1, 0.6], [0.1, 0.8]], 0.1),
    ("erase tree", "tree", "erase", [[0.5, 0.5]], 1.0),
    ("cloud", "cloud", "draw", [[0.2, 0.15], [0.8, 0.15]], 0.08),
]


def render(client: TestClient, model: str, image: int, strokes: list[dict]) -> Image.Image:
    body = {"model": model, "image": image, "strokes": strokes, "format": "png"}
    r = client.post("/intervene", json=body, headers={"accept": "image/png"})
    r.raise_for_status()
    return Image.open(io.BytesIO(r.content)).convert("RGB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="scenes64")
    p.add_argument("--images", type=int, nargs="+", default=[23, 43])
    p.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling of the saved figure")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img" / "painting.png"))
    args = p.parse_args()

    rows = []
    with TestClient(create_app(Settings(model=args.model))) as client:
        for image in args.images:
            row = [render(client, args.model, image, [])]
            for _, concept, mode, points, radius in STROKES:
                stroke = {"concept": concept, "mode": mode, "mask": {"points": points, "radius": radius}}
                row.append(render(client, args.model, image, [stroke]))
            rows.append(row)

    side = rows[0][0].width
    figure = Image.new("RGB", (side * len(rows[0]), side * len(rows)), "white")
    for y, row in enumerate(rows):
        for x, im in enumerate(row):
            figure.paste(im, (x * side, y * side))
    figure = figure.resize((figure.width * args.scale, figure.height * args.scale), Image.NEAREST)
    figure.save(args.out)
    print(f"wrote {args.out}: columns generated, " + ", ".join(s[0] for s in STROKES))


if __name__ == "__main__":
    main()
