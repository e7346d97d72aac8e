"""Projection bench (issue 20): held-out procedural scenes projected into a model, then painted.

    python bench/project.py --n 100 --out bench/results/project.json             # the shipped settings
    python bench/project.py --n 20 --config z200=z_steps=200 --config l5=project_layer=layer5

Per scene (seeds 3,000,000,000 + i: the GAN trained on seeds 0..39,999; nothing near 3e9 was ever rendered for
it): PSNR and SSIM after each stage, milliseconds per stage. Brushes, on the projected scene (blended, as the
server shows it) and on as many generated images (ids 0..n-1, as the page paints them):
- tree draw: the 20 best tree units at their draw values on the 2 x 2-cell window of the painting layer with the
  most grass (segmenter); success: tree share >= 0.5 in the window after the stroke;
- tree erase: the erase units zeroed over every tree cell (segmenter), dilated one cell; success: at most half
  of the tree pixels remain;
- outside change: mean |after - before| (0..255) outside the stroke's footprint dilated by two cells (8 px).
Writes a JSON of per-scene rows and a summary; prints the summary.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from ganpaint.engine import Engine, to_pixels  # noqa: E402
from ganpaint.nn.intervene import UnitEdit, apply_edits  # noqa: E402
from ganpaint.nn.proggan import image_latents  # noqa: E402
from ganpaint.project import Projector, ProjectSettings, image_tensor  # noqa: E402
from ganpaint.project.encoder import projector_for  # noqa: E402
from ganpaint.scenes import ID, render_scene  # noqa: E402
from ganpaint.segment import load_segmenter  # noqa: E402

FRESH = 3_000_000_000


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two (H, W, 3) uint8 images (Gaussian window 11, sigma 1.5, per channel, mean)."""
    x = torch.from_numpy(a).float().permute(2, 0, 1)[:, None]  # (3, 1, H, W)
    y = torch.from_numpy(b).float().permute(2, 0, 1)[:, None]
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = (g[:, None] * g[None]) / (g.sum() ** 2)
    w = w[None, None]  # (1, 1, 11, 11)

    def filt(t):
        return F.conv2d(t, w)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(s.mean())


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


class Brushes:
    def __init__(self, m, segmenter, layer: str):
        self.m, self.seg, self.layer = m, segmenter, layer
        pre = m.dissection(layer)
        self.tree = pre.concepts["tree"]
        _, self.h, self.w = m.generator.feature_shape(layer)
        self.cell = m.info.resolution // self.h

    def labels(self, pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.seg.probabilities(image_tensor(pixels)).argmax(1)[0].numpy()  # (H, W)

    def draw_edit(self, lab: np.ndarray) -> UnitEdit | None:
        grass = torch.from_numpy(lab == ID["grass"]).float()[None, None]  # (1, 1, H, W)
        share = F.avg_pool2d(grass, 2 * self.cell, stride=self.cell)[0, 0]  # (h-1, w-1)
        if float(share.max()) < 0.5:
            return None
        i = int(share.argmax())
        y, x = divmod(i, share.shape[1])
        mask = torch.zeros(self.h, self.w)
        mask[y : y + 2, x : x + 2] = 1
        n = min(20, len(self.tree.units))
        return UnitEdit(self.layer, self.tree.units[:n], self.tree.draw_values[:n], 1.0, mask)

    def erase_edit(self, lab: np.ndarray) -> UnitEdit | None:
        tree = torch.from_numpy(lab == ID["tree"]).float()[None, None]
        if float(tree.sum()) < 2 * self.cell * self.cell:
            return None
        cells = (F.adaptive_max_pool2d(tree, (self.h, self.w)) > 0).float()
        cells = F.max_pool2d(cells, 3, stride=1, padding=1)[0, 0]  # dilated one cell
        units = self.tree.units_for("erase")[:20]
        return UnitEdit(self.layer, units, 0.0, 1.0, cells)

    def footprint(self, e: UnitEdit, dilate_cells: int = 2) -> np.ndarray:
        m = e.mask[None, None].float()
        m = F.max_pool2d(m, 2 * dilate_cells + 1, stride=1, padding=dilate_cells)
        return F.interpolate(m, scale_factor=self.cell, mode="nearest")[0, 0].numpy() > 0  # (H, W)

    def measure(self, before: np.ndarray, paint) -> dict:
        """paint(edits) -> pixels; before: the shown picture. Draw and erase outcomes."""
        lab = self.labels(before)
        out: dict = {}
        d = self.draw_edit(lab)
        if d is not None:
            after = paint([d])
            big = self.footprint(d, 0)
            out["draw_share"] = float((self.labels(after)[big] == ID["tree"]).mean())
            out["draw_ok"] = out["draw_share"] >= 0.5
            far = ~self.footprint(d, 2)
            out["draw_outside"] = float(np.abs(after.astype(float) - before.astype(float))[far].mean())
        e = self.erase_edit(lab)
        if e is not None:
            after = paint([e])
            t0 = int((lab == ID["tree"]).sum())
            t1 = int((self.labels(after) == ID["tree"]).sum())
            out["erase_left"] = t1 / t0
            out["erase_ok"] = t1 <= 0.5 * t0
            far = ~self.footprint(e, 2)
            if far.any():
                out["erase_outside"] = float(np.abs(after.astype(float) - before.astype(float))[far].mean())
        return out


def summarise(rows: list[dict]) -> dict:
    def stat(key):
        v = np.array([r[key] for r in rows if key in r], dtype=float)
        if not len(v):
            return None
        return {"mean": round(float(v.mean()), 4), "min": round(float(v.min()), 4), "max": round(float(v.max()), 4),
                "sd": round(float(v.std()), 4), "n": int(len(v))}  # fmt: skip

    keys = sorted({k for r in rows for k in r if isinstance(r[k], (int, float, bool)) and k != "seed"})
    return {k: stat(k) for k in keys}


def figure(m, brushes: Brushes, path: Path, seeds: list[int], photos: list[Path], scale: int = 3) -> list[dict]:
    """Rows: a picture, its reconstruction after the feature stage, after adaptation, a tree drawn on its grassiest
    window (blended), its trees erased (blended). Saves a PNG; returns each row's numbers."""
    from PIL import Image, ImageDraw

    from ganpaint.project.images import decode_picture
    from ganpaint.project.projector import to_uint8

    projector = projector_for(m.generator, m.info.default_layer, m.info.generator_path.parent)  # the shipped recipe
    pictures = [(f"scene {s}", render_scene(s, m.info.resolution)[0]) for s in seeds]
    pictures += [(p.name, decode_picture(p.read_bytes(), m.info.resolution)) for p in photos]
    rows, numbers = [], []
    for name, rgb in pictures:
        proj = projector.project(image_tensor(rgb))
        with torch.no_grad():
            feat = to_uint8(layer_rest(projector)(proj.project_features))
        lab = brushes.labels(rgb)
        d, e = brushes.draw_edit(lab), brushes.erase_edit(lab)
        drawn = proj.render([d]) if d is not None else rgb
        erased = proj.render([e]) if e is not None else rgb
        rows.append([rgb, feat, to_uint8(proj.generate()), drawn, erased])
        numbers.append({"name": name, **{k: round(v, 2) for k, v in proj.psnr.items()}})
    r, gap, top = m.info.resolution * scale, 4, 16
    cols = ["picture", "features", "adapted", "tree drawn", "trees erased"]
    sheet = Image.new("RGB", (len(cols) * (r + gap), top + len(rows) * (r + gap)), "white")
    ink = ImageDraw.Draw(sheet)
    for j, c in enumerate(cols):
        ink.text((j * (r + gap) + 2, 2), c, fill="black")
    for i, row in enumerate(rows):
        for j, px in enumerate(row):
            tile = Image.fromarray(px).resize((r, r), Image.Resampling.NEAREST)
            sheet.paste(tile, (j * (r + gap), top + i * (r + gap)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return numbers


def layer_rest(projector: Projector):
    from ganpaint.project.projector import layer_chain

    return layer_chain(projector.g, projector.project_layer, None)


def time_lsun(resolution: int, paint_layer: str, steps: int = 3) -> dict:
    """Seconds per step of each stage for a random-weight LSUN-plan generator (timing only: nothing converges)."""
    from ganpaint.nn.proggan import ProgressiveGenerator, lsun_channels, serving_copy

    torch.manual_seed(0)
    g = serving_copy(ProgressiveGenerator(lsun_channels(resolution), 512))
    settings = ProjectSettings(bank=8, z_steps=steps, feature_steps=steps, adapt_steps=steps)
    projector = Projector(g, paint_layer, settings)
    t = time.perf_counter()
    projector.bank()
    bank_s = time.perf_counter() - t
    x = torch.rand(1, 3, resolution, resolution) * 2 - 1
    proj = projector.project(x)
    tail = sum(p.numel() for p in proj.tail.parameters())
    per_step = {k: round(v / 1000 / (steps + 1), 3) for k, v in proj.ms.items() if k != "bank"}
    return {
        "resolution": resolution, "paint_layer": paint_layer, "project_layer": projector.project_layer,
        "bank_of_8_s": round(bank_s, 2), "seconds_per_step": per_step,
        "adapted_weights": tail, "upload_state_mb": round((tail + proj.project_features.numel()) * 4 / 2**20, 1),
        "extrapolated_default_s": round(sum(per_step[k] * n for k, n in (("features", 300), ("adapted", 200))), 1),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--start", type=int, default=FRESH)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--config", action="append", default=[], help="NAME=field=value[,field=value]: a settings variant")
    ap.add_argument("--lsun", type=int, default=0, help="only time a random LSUN-plan generator at this size")
    ap.add_argument("--skip-shipped", action="store_true", help="only the --config variants")
    ap.add_argument("--generated", action="store_true", help="also measure the brushes on n generated images")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "project.json")
    ap.add_argument("--figure", type=Path, default=None, help="only draw the figure (fresh scenes + --photo) here")
    ap.add_argument("--photo", type=Path, action="append", default=[], help="a real photo for the figure")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.lsun:
        print(json.dumps(time_lsun(args.lsun, "layer4")))
        return
    engine = Engine(ROOT / "models", ROOT / "precomputed", threads=args.threads)
    m = engine.model(args.model)
    layer = m.info.default_layer
    seg = load_segmenter(None, m.info)
    brushes = Brushes(m, seg, layer)
    if args.figure is not None:
        seeds = [args.start + k for k in range(args.n)]
        print(json.dumps(figure(m, brushes, args.figure, seeds, args.photo)))
        engine.close()
        return
    configs = {} if args.skip_shipped else {"shipped": None}  # None: the shipped recipe (encoder if any, else bank)
    for spec in args.config:
        name, _, fields = spec.partition("=")
        kw = {}
        for kv in fields.split(","):
            k, _, v = kv.partition("=")
            kw[k] = type(getattr(ProjectSettings(), k))(v) if getattr(ProjectSettings(), k) is not None else v
        configs[name] = dataclasses.replace(ProjectSettings(), **kw)
    result = {"model": m.id, "paint_layer": layer, "threads": args.threads, "cpus": os.cpu_count(),
              "seeds": [args.start, args.start + args.n - 1], "configs": {}}  # fmt: skip
    if args.generated:
        rows = []
        h, f = m.split(layer)
        for i in range(args.n):
            with torch.no_grad():
                r = h(image_latents([i], m.generator.z_dim))
                before = to_pixels(f(r))[0]

                def paint(edits, r=r):
                    with torch.no_grad():
                        return to_pixels(f(apply_edits(r, edits)))[0]

            rows.append({"id": i, **brushes.measure(before, paint)})
        result["generated"] = {"summary": summarise(rows), "rows": rows}
        print("generated", json.dumps(result["generated"]["summary"]), flush=True)
    for name, settings in configs.items():
        if settings is None:
            projector = projector_for(m.generator, layer, m.info.generator_path.parent)
        else:
            projector = Projector(m.generator, layer, settings)
        if projector.encoder is None:
            projector.bank()  # rendered once, before the clock starts
        rows = []
        for k in range(args.n):
            seed = args.start + k
            rgb, _ = render_scene(seed, m.info.resolution)
            t = time.perf_counter()
            proj = projector.project(image_tensor(rgb))
            wall = time.perf_counter() - t
            row = {"seed": seed, "seconds": wall, **{f"psnr_{s}": v for s, v in proj.psnr.items()}}
            row.update({f"ms_{s}": v for s, v in proj.ms.items()})
            row["delta"] = proj.delta["total"]
            from ganpaint.project.projector import to_uint8

            recon = to_uint8(proj.generate())
            row["ssim_adapted"] = ssim(recon, rgb)
            with torch.no_grad():
                row["ssim_features"] = ssim(to_uint8(layer_rest(projector)(proj.project_features)), rgb)
            row.update(brushes.measure(rgb, proj.render))
            rows.append(row)
            print(name, k, {a: round(b, 3) if isinstance(b, float) else b for a, b in row.items()}, flush=True)
        used = {"settings": projector.settings.numbers(), "encoder": projector.encoder is not None}
        result["configs"][name] = {**used, "summary": summarise(rows), "rows": rows}
        print(name, json.dumps(result["configs"][name]["summary"]), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    engine.close()


if __name__ == "__main__":
    main()
