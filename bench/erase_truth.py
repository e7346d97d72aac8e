"""Erase measured against ground truth (issue 33): what appears where an object is erased, against what was behind it.

    python bench/erase_truth.py --per-kind 48                          # trees, domes, doors, towers, clouds
    python bench/erase_truth.py --per-kind 12 --kinds tree,dome --grids docs/img

Held-out scenes (seeds from 1,000,000,000 up, as POST /uploads requires; the GAN trained on seeds 0..39,999).
For each scene and each kind, the largest visible instance of that kind (footprint >= --min-pixels) is chosen
until every kind has --per-kind objects; the scene world renders the same scene without it
(``ganpaint.scenes.removal``): the true background. The scene is projected once (the shipped recipe, cached
under --cache), then each object is erased by its footprint, sent as a run-length mask in an erase stroke of
the object's concept (``ganpaint.strokes.stroke_edits``, the product's path, default strength and layer):

- ``upload``: the erase on the projected upload exactly as the server shows it (``erase.upload.render_upload``:
  the fill erase, fitted with the upload's adapted generator, blended, sewn into the picture);
- ``regen``: the same erase on the scene re-generated from its projection without adaptation (the original
  generator after the painting layer on the projected features: a generated picture, fitted as the renderer
  fits one), not blended;
- ``upload_units``, ``regen_units``: GANPaint's erase (``"method": "units"``: the erase units set to 0) on each;
- baselines on the picture, the same footprint: OpenCV inpainting (``telea``, ``ns``; radius 3), ``harmonic``
  (the footprint filled with the membrane of the pixels around it: Laplace's equation), ``mean`` (the mean
  colour of the 3 px ring around it), and ``leave`` (the object left);
- ``--variants``: the upload's fill erase with other ``erase.FillSettings`` (``steps=0``: the harmonic fill of
  the features alone; ``held_units=0``; ``seam_iters=0``: no seam; ``concept=0``: no concept term), for the
  trials in docs/erase.md.

Scores inside the footprint against the true background: PSNR, SSIM (Gaussian 11 / 1.5 map, reflect padding,
averaged over the footprint), the segmenter's agreement with the true labels; ``removed``: the share of the
segmenter's pixels of the concept in the footprint that are gone (before: on the picture; ``regen``: on the
regenerated picture); ``outside``: mean |change| (0..255) outside the footprint (target <= 1), ``outside_max``
the largest. Means with bootstrap 95 % intervals; per-object PSNR wins against each baseline.

The fill's concept term uses the model's own segmenter, as the server does; ``--judge`` adds
``judge_seg_agree`` and ``judge_removed`` from a second segmenter trained apart (other scenes, other widths),
so that removal is not only scored by the segmenter the fit listened to. The one in git,
``bench/judge64/segmenter.pth`` (1.9 MB, held-out mIoU 0.925: ``segmenter_eval.json`` beside it), was made by

    ganpaint scenes render --n 30000 --size 64 --start-seed 3000000 --out data/judge64
    ganpaint train segmenter --data data/judge64 --widths 24,48,96,160 --minutes 28 --threads 1 \
        --heldout-n 500 --run runs/judge64 --out bench/judge64/segmenter.pth

    python bench/erase_truth.py --judge bench/judge64/segmenter.pth ...

OpenCV comes from ``pip install opencv-python-headless`` (the bench's own dependency; without it those rows are
left out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from ganpaint.erase import Fills, FillSettings, Leftover, seamless  # noqa: E402
from ganpaint.erase.upload import render_upload  # noqa: E402
from ganpaint.masks import encode_runs  # noqa: E402
from ganpaint.nn.intervene import apply_edits  # noqa: E402
from ganpaint.project import image_tensor  # noqa: E402
from ganpaint.project.projector import to_uint8  # noqa: E402
from ganpaint.scenes import ID  # noqa: E402
from ganpaint.scenes.removal import Removal, removals  # noqa: E402
from ganpaint.strokes import Stroke, stroke_edits  # noqa: E402

HELD_OUT = 1_000_000_000
KINDS = ("tree", "dome", "door", "tower", "cloud")
METHODS = ("upload", "regen", "upload_units", "regen_units", "telea", "ns", "harmonic", "mean", "leave")
BASELINES = ("telea", "ns", "harmonic", "mean", "leave")
GRID_COLUMNS = {  # title: image
    "picture": "picture", "footprint": "footprint", "true background": "true background",
    "erase (upload)": "upload", "erase (generated)": "regen", "GANPaint's erase": "upload_units",
    "Telea": "telea", "Navier-Stokes": "ns", "harmonic": "harmonic",
}  # fmt: skip


# ------------------------------------------------------------------------------------------------- the objects


def select(kinds, per_kind: int, start: int, size: int, min_pixels: int, max_scenes: int) -> list[Removal]:
    """The largest visible instance of each kind per scene, scenes from ``start`` on, until each kind has
    ``per_kind`` (or ``max_scenes`` scenes were looked at). Ordered by seed, then by ``kinds``."""
    need = dict.fromkeys(kinds, per_kind)
    chosen = []
    for seed in range(start, start + max_scenes):
        if not any(need.values()):
            break
        found = {}
        for r in removals(seed, size, None, min_pixels):
            kind = r.ids[0].split(":")[0]
            if need.get(kind) and (kind not in found or r.pixels > found[kind].pixels):
                found[kind] = r
        for kind in kinds:
            if kind in found:
                chosen.append(found[kind])
                need[kind] -= 1
    return chosen


# ------------------------------------------------------------------------------------------------- baselines


def ring(mask: np.ndarray, width: int) -> np.ndarray:
    """(H, W) bool: pixels within ``width`` px (square) outside ``mask``."""
    m = torch.from_numpy(mask.astype(np.float32))[None, None]  # (1, 1, H, W)
    grown = F.max_pool2d(m, 2 * width + 1, stride=1, padding=width)[0, 0].numpy() > 0
    return grown & ~mask


def mean_fill(picture: np.ndarray, mask: np.ndarray, width: int = 3) -> np.ndarray:
    out = picture.copy()
    around = ring(mask, width)
    src = picture[around] if around.any() else picture[~mask]
    out[mask] = np.rint(src.reshape(-1, 3).mean(0)).astype(np.uint8)
    return out


def have_opencv() -> bool:
    try:
        import cv2  # noqa: F401 - opencv-python-headless: the bench's own dependency, not the product's
    except ImportError:
        return False
    return True


def inpaint(picture: np.ndarray, mask: np.ndarray, method: str, radius: int = 3) -> np.ndarray:
    import cv2

    flag = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}[method]
    return cv2.inpaint(np.ascontiguousarray(picture), mask.astype(np.uint8) * 255, radius, flag)


# ------------------------------------------------------------------------------------------------- scores


def psnr_in(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    d = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    mse = float((d**2).mean())
    return 99.0 if mse == 0 else float(10 * np.log10(255**2 / mse))  # 99: identical (never happens here)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) SSIM map of two (H, W, 3) uint8 images (Gaussian window 11, sigma 1.5, reflect padding, mean of
    the channels)."""
    x = torch.from_numpy(a).double().permute(2, 0, 1)[:, None]  # (3, 1, H, W)
    y = torch.from_numpy(b).double().permute(2, 0, 1)[:, None]
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5.0) ** 2) / (2 * 1.5**2))
    w = ((g[:, None] * g[None]) / g.sum() ** 2)[None, None]  # (1, 1, 11, 11)

    def filt(t):
        return F.conv2d(F.pad(t, [5] * 4, mode="reflect"), w)

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))  # (3, 1, H, W)
    return s.mean(0)[0].numpy()


def segment(segmenter, images: list[np.ndarray]) -> np.ndarray:
    """(N, H, W) class ids of (H, W, 3) uint8 images."""
    x = torch.cat([image_tensor(p) for p in images])  # (N, 3, H, W)
    with torch.no_grad():
        return segmenter.probabilities(x).argmax(1).numpy()


def bootstrap(v: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean."""
    if len(v) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n, len(v)))].mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


# ------------------------------------------------------------------------------------------------- erasing


class Bench:
    """The model, its projector and segmenter (None: no segmenter scores); erases objects and scores them."""

    def __init__(
        self,
        m,
        projector,
        segmenter=None,
        cache: Path | None = None,
        strength: int = 20,
        variants: tuple = (),
        judge=None,
        leftover: Leftover | None = None,
    ):
        self.m, self.projector, self.cache = m, projector, cache
        self.scorers = {p: s for p, s in (("", segmenter), ("judge_", judge)) if s is not None}  # prefix: segmenter
        self.leftover = leftover  # the model's segmenter for the fit's concept term, as the renderer passes it
        self.fills = Fills()  # the product's settings
        self.variants = tuple(variants)
        self.variant_fills = {v: Fills(variant_settings(v)) for v in self.variants}
        self.layer = projector.paint_layer
        self.strength = strength
        self.concepts = set(m.dissection(self.layer).concepts)
        self.f = m.split(self.layer)[1]
        self.seconds: list[float] = []
        self.opencv = have_opencv()
        if not self.opencv:
            print("opencv-python-headless is not installed: no Telea / Navier-Stokes rows", flush=True)

    def project(self, seed: int, picture: np.ndarray):
        path = self.cache / f"{self.m.id}-{self.layer}-{seed}.pt" if self.cache is not None else None
        if path is not None and path.is_file():
            proj = self.projector.load(torch.load(path, map_location="cpu", weights_only=True))
            if np.array_equal(proj.original, picture):
                return proj
        t = time.perf_counter()
        with torch.inference_mode(False):
            proj = self.projector.project(image_tensor(picture))
        self.seconds.append(time.perf_counter() - t)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(proj.state(), path)
        return proj

    def erase(self, r: Removal, proj) -> tuple[dict, dict]:
        """(row of scores, images) for one object."""
        kind = r.ids[0].split(":")[0]
        mask, picture = r.footprint, r.rgb
        t = time.perf_counter()
        upload = self.on_upload(proj, mask, kind, self.fills)
        ms = (time.perf_counter() - t) * 1000  # the erase as the server renders it: the fit, the render, the seam
        images = {
            "upload": upload,
            "regen": self.on_regen(proj, mask, kind, self.fills),
            "upload_units": self.on_upload(proj, mask, kind, None),
            "regen_units": self.on_regen(proj, mask, kind, None),
        }
        for v in self.variants:
            images[v] = self.on_upload(proj, mask, kind, self.variant_fills[v])
        if self.opencv:  # else (no opencv-python-headless) the OpenCV rows are left out
            images.update(telea=inpaint(picture, mask, "telea"), ns=inpaint(picture, mask, "ns"))
        images.update(harmonic=harmonic_pixels(picture, mask), mean=mean_fill(picture, mask), leave=picture)
        with torch.no_grad():
            regen_before = to_uint8(self.f(proj.features))
        row: dict = {"seed": r.seed, "id": r.ids[0], "kind": kind, "pixels": r.pixels, "upload_ms": ms}
        truth = r.rgb_without
        for name, out in images.items():
            ref = regen_before if name.startswith("regen") else picture
            diff = np.abs(out.astype(np.int16) - ref.astype(np.int16)).max(-1)[~mask]  # (outside,)
            row[name] = {
                "psnr": psnr_in(out, truth, mask),
                "ssim": float(ssim_map(out, truth)[mask].mean()),
                "outside": float(np.abs(out.astype(float) - ref.astype(float))[~mask].mean()),
                "outside_max": int(diff.max()) if diff.size else 0,
                "outside_changed": float((diff > 0).mean()) if diff.size else 0.0,
            }
        for prefix, seg in self.scorers.items():
            names = list(images) + ["regen_before", "truth"]
            labs = dict(zip(names, segment(seg, [*images.values(), regen_before, truth]), strict=True))
            cid = ID[kind]
            for name in images:
                lab = labs[name]
                before = labs["regen_before" if name.startswith("regen") else "leave"]
                n0 = int((before[mask] == cid).sum())
                row[name][prefix + "seg_agree"] = float((lab[mask] == r.labels_without[mask]).mean())
                row[name][prefix + "removed"] = 1 - int((lab[mask] == cid).sum()) / n0 if n0 else None
            row[prefix + "truth_seg_agree"] = float((labs["truth"][mask] == r.labels_without[mask]).mean())
        images = {"picture": picture, "footprint": footprint_tile(picture, mask), "true background": truth, **images}
        return row, images

    def edits(self, mask: np.ndarray, kind: str, method: str) -> list:
        """The product's erase stroke of ``kind`` over the footprint, as the server prepares it."""
        stroke = Stroke(kind, encode_runs(mask), "erase", self.strength, method=method)
        return stroke_edits(self.m, [stroke], self.layer)

    def on_upload(self, proj, mask: np.ndarray, kind: str, fills: Fills | None) -> np.ndarray:
        """The erase on the projected upload as the server shows it (``render_upload``); fills None: GANPaint's."""
        if fills is None:
            return proj.render(self.edits(mask, kind, "units"))
        return render_upload(fills, proj, self.edits(mask, kind, "fill"), leftover=self.leftover)

    def on_regen(self, proj, mask: np.ndarray, kind: str, fills: Fills | None) -> np.ndarray:
        """The erase on the scene re-generated from its projection (the original generator after the painting
        layer): a generated picture, fitted as the renderer fits one (``Renderer.fill_erases``), not blended."""
        f, r = self.f, proj.features
        with torch.no_grad():
            if fills is None:
                return to_uint8(f(apply_edits(r, self.edits(mask, kind, "units"))))
            resolved = fills.resolve(self.edits(mask, kind, "fill"), r, f, f(r), leftover=self.leftover)
            return to_uint8(f(apply_edits(r, resolved)))

    def run(self, objects: list[Removal], progress: bool = True) -> tuple[list[dict], dict[str, list[dict]]]:
        """Rows for every object the model has a concept for; images of the first 12 per kind (for grids)."""
        rows, shown = [], {}
        by_seed: dict[int, list[Removal]] = {}
        for r in objects:
            by_seed.setdefault(r.seed, []).append(r)
        for k, (seed, rs) in enumerate(by_seed.items()):
            rs = [r for r in rs if r.ids[0].split(":")[0] in self.concepts]
            if not rs:
                continue
            proj = self.project(seed, rs[0].rgb)
            for r in rs:
                row, images = self.erase(r, proj)
                rows.append(row)
                if len(shown.setdefault(row["kind"], [])) < 12:
                    shown[row["kind"]].append(images)
            if progress:
                done = {kind: sum(1 for x in rows if x["kind"] == kind) for kind in shown}
                last = rows[-1]
                telea = f", telea {last['telea']['psnr']:.1f}" if "telea" in last else ""
                print(f"scene {k + 1}/{len(by_seed)} seed {seed}: {done}; {last['id']} upload "
                      f"{last['upload']['psnr']:.1f} dB{telea}", flush=True)  # fmt: skip
        return rows, shown


def harmonic_pixels(picture: np.ndarray, mask: np.ndarray, iters: int = 400) -> np.ndarray:
    """The footprint filled with the harmonic membrane of the pixels around it (Laplace's equation, Jacobi):
    the plainest inpainting, what the fill erase's seam adds to the generator's render, as a baseline."""
    return seamless(np.zeros_like(picture), picture, mask, iters)


def variant_settings(spec: str) -> FillSettings:
    """``"steps=0+held_units=0"`` -> the product's FillSettings with those fields changed (item 3's trials)."""
    fields = FillSettings().numbers()
    changes = {}
    for part in spec.split("+"):
        key, _, value = part.partition("=")
        try:
            changes[key] = type(fields[key])(value)
        except (KeyError, ValueError):
            raise ValueError(f"variants: {part!r} is not field=value of FillSettings ({', '.join(fields)})") from None
    return replace(FillSettings(), **changes)


def footprint_tile(picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The picture darkened, the footprint in white."""
    out = (picture.astype(np.float32) * 0.35).astype(np.uint8)
    out[mask] = 255
    return out


# ------------------------------------------------------------------------------------------------- summary


def summarise(rows: list[dict]) -> dict:
    """Per method: mean, 95 % interval and n of each score; per-object PSNR wins of upload and regen."""
    out: dict = {"n": len(rows), "pixels": float(np.mean([r["pixels"] for r in rows])) if rows else 0.0}
    for name in methods(rows):
        entry = {}
        for key in ("psnr", "ssim", "seg_agree", "removed", "judge_seg_agree", "judge_removed", "outside",
                    "outside_max", "outside_changed"):  # fmt: skip
            v = np.array([r[name][key] for r in rows if r[name].get(key) is not None], dtype=float)
            if len(v):
                lo, hi = bootstrap(v)
                entry[key] = {"mean": float(v.mean()), "ci": [lo, hi], "n": int(len(v))}
        if name not in BASELINES:
            removed = [r[name]["removed"] for r in rows if r[name].get("removed") is not None]
            if removed:
                entry["removed_half"] = {"ok": int(sum(x >= 0.5 for x in removed)), "n": len(removed)}
            entry["outside_ok"] = int(sum(r[name]["outside"] <= 1.0 for r in rows))
            entry["outside_max_all"] = int(max((r[name]["outside_max"] for r in rows), default=0))
            entry["wins"] = {
                b: int(sum(r[name]["psnr"] > r[b]["psnr"] for r in rows)) for b in BASELINES if b in rows[0]
            }
        out[name] = entry
    if rows:
        ms = np.array([r["upload_ms"] for r in rows])
        out["upload_ms"] = {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "max": float(ms.max())}
    for key in ("truth_seg_agree", "judge_truth_seg_agree"):
        if rows and key in rows[0]:
            out[key] = float(np.mean([r[key] for r in rows]))
    return out


def methods(rows: list[dict]) -> list[str]:
    """The methods scored in these rows, in order."""
    return [k for k, v in rows[0].items() if isinstance(v, dict) and "psnr" in v] if rows else []


def table(summary_by_kind: dict[str, dict]) -> str:
    """A markdown table: one row per kind and method."""
    lines = [
        "| kind (n) | method | PSNR in footprint (dB) | SSIM | segmenter agrees | removed "
        "| outside: mean change (0..255) | PSNR wins vs telea / ns / harmonic / mean / leave |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ms(entry, key, fmt):
        if key not in entry:
            return "-"
        e = entry[key]
        return f"{e['mean']:{fmt}} ({e['ci'][0]:{fmt}}..{e['ci'][1]:{fmt}})"

    for kind, s in summary_by_kind.items():
        for name, e in s.items():
            if not isinstance(e, dict) or "psnr" not in e:
                continue
            wins = " / ".join(str(e["wins"].get(b, "-")) for b in BASELINES) if "wins" in e else ""
            removed = f"{e['removed']['mean']:.2f}" if "removed" in e else "-"
            outside = f"{e['outside']['mean']:.2f}"
            if "outside_ok" in e:
                outside += f" ({e['outside_ok']}/{s['n']} <= 1; max {e['outside_max_all']})"
            lines.append(
                f"| {kind} ({s['n']}) | {name} | {ms(e, 'psnr', '.1f')} | {ms(e, 'ssim', '.3f')} | "
                f"{ms(e, 'seg_agree', '.2f')} | {removed} | {outside} | {wins} |"
            )
    return "\n".join(lines)


def compact_tables(by_kind: dict[str, dict]) -> str:
    """The docs' tables: PSNR per kind and method; then SSIM, segmenter agreement, removal, outside change and
    wins per kind for every method that is not a baseline, with the baselines' SSIM and agreement."""

    def ci(e, key, fmt):
        return f"{e[key]['mean']:{fmt}} ({e[key]['ci'][0]:{fmt}}..{e[key]['ci'][1]:{fmt}})" if key in e else "-"

    names = [k for k, v in next(iter(by_kind.values())).items() if isinstance(v, dict) and "psnr" in v]
    out = ["| kind (n) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for kind, s in by_kind.items():
        out.append(f"| {kind} ({s['n']}) | " + " | ".join(ci(s[n], "psnr", ".1f") for n in names) + " |")
    out += ["", "| kind | method | SSIM | segmenter agrees | removed (>= half) | outside <= 1 (mean; max) "
            "| PSNR wins vs telea / ns / harmonic / mean / leave |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for kind, s in by_kind.items():
        for n in names:
            e = s[n]
            if "wins" in e:
                half = f" ({e['removed_half']['ok']}/{e['removed_half']['n']})" if "removed_half" in e else ""
                removed = f"{e['removed']['mean']:.2f}{half}" if "removed" in e else "-"
                outside = f"{e['outside_ok']}/{s['n']} ({e['outside']['mean']:.2f}; {e['outside_max_all']})"
                wins = " / ".join(str(e["wins"].get(b, "-")) for b in BASELINES)
            else:
                removed = f"{e['removed']['mean']:.2f}" if "removed" in e else "-"
                outside, wins = "exact", ""
            if "judge_removed" in e:
                removed += f"; judge {e['judge_removed']['mean']:.2f}"
            out.append(f"| {kind} | {n} | {ci(e, 'ssim', '.3f')} | {ci(e, 'seg_agree', '.2f')} | {removed} | "
                       f"{outside} | {wins} |")  # fmt: skip
    return "\n".join(out)


def paired(rows: list[dict], a: str, b: str) -> dict:
    """Mean per-object PSNR difference a - b with its bootstrap 95 % interval."""
    d = np.array([r[a]["psnr"] - r[b]["psnr"] for r in rows])
    lo, hi = bootstrap(d)
    return {"mean": float(d.mean()), "ci": [lo, hi], "n": int(len(d))}


def save_grid(rows: list[dict], path: Path, scale: int = 2, columns: dict[str, str] | None = None) -> None:
    """Rows of images (dicts by name) side by side, one column per ``columns`` title: image name."""
    from PIL import Image, ImageDraw

    columns = columns or GRID_COLUMNS

    r, gap, top = rows[0]["picture"].shape[0] * scale, 3, 14
    sheet = Image.new("RGB", (len(columns) * (r + gap), top + len(rows) * (r + gap)), "white")
    ink = ImageDraw.Draw(sheet)
    for j, c in enumerate(columns):
        ink.text((j * (r + gap) + 2, 1), c, fill="black")
    for i, images in enumerate(rows):
        for j, c in enumerate(columns.values()):
            if c not in images:
                continue
            tile = Image.fromarray(images[c]).resize((r, r), Image.Resampling.NEAREST)
            sheet.paste(tile, (j * (r + gap), top + i * (r + gap)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


# ------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--precomputed-dir", type=Path, default=ROOT / "precomputed")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--per-kind", type=int, default=48)
    ap.add_argument("--start", type=int, default=HELD_OUT)
    ap.add_argument(
        "--min-pixels", type=int, default=32, help="smallest visible footprint (pixels at the model's size)"
    )
    ap.add_argument("--max-scenes", type=int, default=2000)
    ap.add_argument("--strength", type=int, default=20, help="the erase stroke's strength (the API's default: 20)")
    ap.add_argument("--segmenter", default=None, help="as ganpaint's --segmenter; 'none' for no segmenter scores")
    ap.add_argument(
        "--judge", default=None, help="a second, independently trained segmenter (.pth): judge_* scores (see above)"
    )
    ap.add_argument("--quick", action="store_true", help="a 4-sample bank and 2 + 2 steps (tests, smoke runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=ROOT / "cache" / "erase_truth", help="projections kept here")
    ap.add_argument("--out", type=Path, default=None, help="JSON of rows and summaries (default: under --cache)")
    ap.add_argument("--grids", type=Path, default=None, help="write erase_truth_<kind>.png grids here")
    ap.add_argument(
        "--variants", default="", help="fill erase trials, comma-separated: e.g. steps=0,held_units=0+seam_iters=0"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ganpaint.engine import Engine
    from ganpaint.project import Projector, ProjectSettings
    from ganpaint.project.encoder import projector_for
    from ganpaint.segment import load_segmenter

    engine = Engine(args.models_dir, args.precomputed_dir, threads=args.threads)
    try:
        m = engine.model(args.model)
        layer = m.info.default_layer
        if args.quick:
            projector = Projector(m.generator, layer, ProjectSettings(bank=4, feature_steps=2, adapt_steps=2))
        else:  # the shipped recipe, as the server projects uploads
            projector = projector_for(m.generator, layer, m.info.generator_path.parent)
        seg = None if args.segmenter == "none" else load_segmenter(args.segmenter, m.info)
        judge = load_segmenter(args.judge, m.info) if args.judge else None
        own = m.info.segmenter_path  # the fit's concept term uses the model's own segmenter, as the server does
        leftover = Leftover.of(load_segmenter(None, m.info)) if own is not None and own.is_file() else None
        have = m.dissection(layer).concepts
        kinds = [k for k in args.kinds.split(",") if k]
        if any(k not in have for k in kinds):
            print(f"no concept at {layer} for: {', '.join(k for k in kinds if k not in have)} (left out)", flush=True)
            kinds = [k for k in kinds if k in have]
        t = time.perf_counter()
        objects = select(kinds, args.per_kind, args.start, m.info.resolution, args.min_pixels, args.max_scenes)
        seeds = sorted({r.seed for r in objects})
        print(f"{len(objects)} objects in {len(seeds)} scenes ({seeds[0]}..{seeds[-1]}), chosen in "
              f"{time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
        variants = tuple(v for v in args.variants.split(",") if v)
        cache = None if args.quick else args.cache
        bench = Bench(m, projector, seg, cache, args.strength, variants, judge, leftover)
        rows, shown = bench.run(objects)
    finally:
        engine.close()
    by_kind = {k: summarise([r for r in rows if r["kind"] == k]) for k in kinds if any(r["kind"] == k for r in rows)}
    result = {
        "model": m.id, "layer": layer, "seeds": [seeds[0], seeds[-1]], "scenes": len(seeds),
        "min_pixels": args.min_pixels, "strength": args.strength, "encoder": projector.encoder is not None,
        "projection_seconds": bench.seconds, "summary": by_kind, "all": summarise(rows), "rows": rows,
    }  # fmt: skip
    print(table({**by_kind, "all": result["all"]}), flush=True)
    print(compact_tables({**by_kind, "all": result["all"]}), flush=True)
    if rows:
        t = result["all"]["upload_ms"]
        print(f"\nthe erase on an upload (fit, render, seam; {args.threads} threads): median {t['median']:.0f} ms, "
              f"p90 {t['p90']:.0f}, max {t['max']:.0f}", flush=True)  # fmt: skip
    if rows and "telea" in rows[0]:
        result["paired"] = {}
        for a in [n for n in methods(rows) if n not in BASELINES]:
            for b in ("telea", "ns"):
                d = {k: paired([r for r in rows if r["kind"] == k], a, b) for k in by_kind}
                result["paired"][f"{a}-{b}"] = {**d, "all": paired(rows, a, b)}
        print(json.dumps({k: {kk: f"{v['mean']:+.2f} ({v['ci'][0]:+.2f}..{v['ci'][1]:+.2f})" for kk, v in d.items()}
                          for k, d in result["paired"].items()}, indent=1), flush=True)  # fmt: skip
    out = args.out or (args.cache / f"{m.id}-results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if args.grids is not None:
        for kind, images in shown.items():
            save_grid(images, args.grids / f"erase_truth_{kind}.png")
            if variants:
                cols = {"picture": "picture", "true background": "true background", "erase (upload)": "upload"}
                cols.update({v: v for v in variants}, **{"Navier-Stokes": "ns"})
                save_grid(images, args.grids / f"erase_truth_variants_{kind}.png", columns=cols)
    return result


if __name__ == "__main__":
    main()
