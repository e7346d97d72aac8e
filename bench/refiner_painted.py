"""Do painted regions refine as well as unpainted ones? And the 12-row grids of painted pictures (docs/refiner.md).

On held-out generated images (ids from 70,000: latents the dissection, the gallery and the stamp evaluation
(50,000 up) never used) each of four edits is
painted through the real stroke path (``strokes.stroke_edits``): a tree drawn with the unit brush across the
foreground, a door stamp at the base of the nearest wall, a dome stamp on top of a roof, and the tree units
erased over the whole picture. The painted region is where the 64 px frame changed (> 10/255, as the upload
blend's threshold). There is no true 256 px picture of a painted scene, so the measures are the refined
picture's agreement with the 64 px frame it came from, inside vs outside the painted region: PSNR of the 4x
picture shrunk back (area) against the frame, and the segmenter's labels kept. Lanczos in the same table.

    python bench/refiner_painted.py --refiner models/scenes64/refiner.pth --grids docs/img
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "bench"))

from erase_truth import bootstrap  # noqa: E402
from refiner import enlarge  # noqa: E402

from ganpaint.nn.intervene import apply_edits  # noqa: E402
from ganpaint.refine import load_refiner, refine  # noqa: E402
from ganpaint.refine.pairs import to_pixels, to_tensor  # noqa: E402
from ganpaint.scenes import ID  # noqa: E402
from ganpaint.strokes import Stroke, stroke_edits  # noqa: E402

EDITS = ("tree", "door", "dome", "erase")
HELD_OUT_IDS = 70_000
CHANGED = 10 / 255 * 2  # in [-1, 1] units


def place(kind: str, labels: np.ndarray) -> Stroke | None:
    """The edit's stroke for a 64 px picture with segmenter ``labels`` (None where it has no place)."""
    n = labels.shape[0]
    if kind == "tree":
        return Stroke("tree", {"points": [[0.15, 0.8], [0.85, 0.8]], "radius": 0.08})
    if kind == "erase":
        return Stroke("tree", {"points": [[0.5, 0.5]], "radius": 1.0}, "erase")
    want = [ID["building"], ID["brick"]] if kind == "door" else [ID["roof"], ID["building"], ID["brick"]]
    ys, xs = np.nonzero(np.isin(labels, want))
    if len(ys) < 8:
        return None
    if kind == "door":  # the base of the wall: the lowest wall row, at its middle
        y = ys.max()
        x = np.median(xs[ys >= y - 1])
        return Stroke("door", {"points": [[(x + 0.5) / n, (y - 2) / n]], "radius": 0.05}, "stamp")
    y = ys.min()  # the top of the roof
    x = np.median(xs[ys <= y + 1])
    return Stroke("dome", {"points": [[(x + 0.5) / n, (y - 3) / n]], "radius": 0.05}, "stamp")


def psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    if mask.sum() == 0:
        return float("nan")
    d = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    return float(10 * np.log10(255**2 / max(float((d**2).mean()), 1e-10)))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--refiner", type=Path, default=ROOT / "models" / "scenes64" / "refiner.pth")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--start", type=int, default=HELD_OUT_IDS)
    ap.add_argument("--grids", type=Path, default=None, help="write refiner_<edit>.jpg (12 rows) here")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ganpaint.engine import Engine
    from ganpaint.segment import load_segmenter

    engine = Engine(ROOT / "models", ROOT / "precomputed", threads=args.threads)
    m = engine.model(args.model)
    layer = m.info.default_layer
    f = m.split(layer)[1]
    net = load_refiner(args.refiner)
    seg = load_segmenter(None, m.info)
    rows: dict = {
        k: {
            "refiner": {"in": [], "out": [], "agree_in": [], "agree_out": []},
            "lanczos": {"in": [], "out": [], "agree_in": [], "agree_out": []},
        }
        for k in EDITS
    }
    grids: dict = {k: [] for k in EDITS}
    for image in range(args.start, args.start + args.n):
        with torch.no_grad():
            feats = engine.features(m, image, None, layer)  # (1, C, h, w)
            before = f(feats)  # (1, 3, 64, 64)
            labels = seg.probabilities(before).argmax(1)[0].numpy()
        for kind in EDITS:
            stroke = place(kind, labels)
            if stroke is None:
                continue
            with torch.no_grad():
                after = f(apply_edits(feats, stroke_edits(m, [stroke], layer)))  # (1, 3, 64, 64)
            region = ((after - before).abs().amax(1)[0] > CHANGED).numpy()  # (64, 64)
            if region.sum() < 4:
                continue
            small = to_pixels(after)
            outs = {"refiner": to_pixels(refine(net, after)), "lanczos": enlarge(small, "lanczos")}
            with torch.no_grad():
                lab_small = seg.probabilities(after).argmax(1)[0].numpy()
            for name, big in outs.items():
                shrunk = to_pixels(F.avg_pool2d(to_tensor(big), 4))[0]
                with torch.no_grad():
                    lab = seg.probabilities(F.avg_pool2d(to_tensor(big), 4)).argmax(1)[0].numpy()
                r = rows[kind][name]
                r["in"].append(psnr_in(shrunk, small[0], region))
                r["out"].append(psnr_in(shrunk, small[0], ~region))
                r["agree_in"].append(float((lab == lab_small)[region].mean()))
                r["agree_out"].append(float((lab == lab_small)[~region].mean()))
            if len(grids[kind]) < 12:
                grids[kind].append((enlarge(small, "nearest")[0], outs["lanczos"][0], outs["refiner"][0]))
    summary = report(rows)
    if args.grids:
        for kind, g in grids.items():
            save_grid(g, args.grids / f"refiner_{kind}.jpg")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))
    engine.close()
    return summary


def report(rows: dict) -> dict:
    summary = {}
    print(f"{'edit':<6} {'method':<8} {'n':>3} {'PSNR in':>8} {'PSNR out':>9} {'agree in':>9} {'agree out':>10}")
    for kind, by in rows.items():
        for name, r in by.items():
            v = {k: np.array([x for x in r[k] if not np.isnan(x)]) for k in r}
            s = {k: float(x.mean()) if len(x) else float("nan") for k, x in v.items()}
            s.update({f"{k}_ci": bootstrap(x) for k, x in v.items()}, n=len(r["in"]))
            summary[f"{kind}/{name}"] = s
            print(
                f"{kind:<6} {name:<8} {s['n']:>3} {s['in']:>8.2f} {s['out']:>9.2f} {s['agree_in']:>9.3f} "
                f"{s['agree_out']:>10.3f}"
            )
    return summary


def save_grid(rows: list, path: Path, gap: int = 4) -> None:
    """Rows of (the 64 px frame enlarged by nearest, Lanczos, the refiner), each 256 px, white gaps; JPEG quality
    92 (a lossless 12-row grid is 2 MB)."""
    if not rows:
        return
    side = rows[0][0].shape[0]
    out = np.full((len(rows) * (side + gap) - gap, 3 * (side + gap) - gap, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, pic in enumerate(row):
            out[i * (side + gap) : i * (side + gap) + side, j * (side + gap) : j * (side + gap) + side] = pic
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out).save(path, quality=92)


if __name__ == "__main__":
    main()
