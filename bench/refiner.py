"""The refiner against plain enlargement, on held-out scenes, scored against the world's true 256 px renders.

For each held-out scene (seeds 1,000,000,000 up: never seen by the GAN or the refiner) the inputs are 64 px
pictures of the scene: ``render64`` (the world's own 64 px render, what the GAN imitates), ``generated`` (the
GAN's frame of the scene: the unadapted generator from its projection, as gallery frames are made) and
``adapted`` (what an upload of the scene shows). Each is enlarged 4x by nearest, bicubic, Lanczos (PIL) and each
refiner given, and scored against the scene's true 256 px render: PSNR and SSIM (mean over scenes, 95 % bootstrap
interval), and the segmenter's agreement (the labels of the 4x picture shrunk back to 64 px vs the labels of the
input: 1.0 = it invented or lost nothing the segmenter can see). Timing: ms per refined 64 px frame, 1 and 2
threads, median and p90 of 200 runs.

    python bench/refiner_frames.py --n 120                       # the held-out GAN frames, cached (~2 s each)
    python bench/refiner.py --n 120 --refiner models/scenes64/refiner.pth [--refiner runs/x/refiner.pth ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "bench"))

from erase_truth import bootstrap  # noqa: E402
from refiner_frames import load_frames  # noqa: E402

from ganpaint.refine import load_refiner, refine  # noqa: E402
from ganpaint.refine.pairs import HELD_OUT_SEEDS, to_pixels, to_tensor  # noqa: E402

INPUTS = ("render64", "generated", "adapted")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 10 * np.log10(255**2 / max(mse, 1e-10))


def enlarge(pixels: np.ndarray, how: str, factor: int = 4) -> np.ndarray:
    """(N, h, w, 3) uint8 -> (N, 4h, 4w, 3) uint8 by nearest, bicubic (torch, as the refiner's skip) or Lanczos."""
    if how == "lanczos":
        size = (pixels.shape[2] * factor, pixels.shape[1] * factor)
        return np.stack([np.asarray(Image.fromarray(p).resize(size, Image.LANCZOS)) for p in pixels])
    x = to_tensor(pixels)
    if how == "nearest":
        return to_pixels(F.interpolate(x, scale_factor=factor, mode="nearest"))
    return to_pixels(F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False))


def refined(net, pixels: np.ndarray, batch: int = 16) -> np.ndarray:
    return np.concatenate(
        [to_pixels(refine(net, to_tensor(pixels[i : i + batch]))) for i in range(0, len(pixels), batch)]
    )


def agreement(seg, big: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Per picture: the fraction of 64 px cells whose segmenter label is the same on the 4x picture shrunk back
    (area) and on the 64 px input."""
    with torch.no_grad():
        a = seg.probabilities(F.avg_pool2d(to_tensor(big), 4)).argmax(1)  # (N, 64, 64)
        b = seg.probabilities(to_tensor(small)).argmax(1)
    return (a == b).float().mean((1, 2)).numpy()


def ssim(a: np.ndarray, b: np.ndarray, batch: int = 16) -> np.ndarray:
    """Per picture SSIM of (N, H, W, 3) uint8 pictures: Gaussian window 11, sigma 1.5 (separable), reflect padding,
    the mean over pixels and channels (as ``erase_truth.ssim_map``, in float32 and batched: 256 px pictures)."""
    g = torch.exp(-((torch.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g = g / g.sum()

    def filt(t):  # (B*3, 1, H, W)
        t = F.conv2d(F.pad(t, [5, 5, 0, 0], mode="reflect"), g.view(1, 1, 1, 11))
        return F.conv2d(F.pad(t, [0, 0, 5, 5], mode="reflect"), g.view(1, 1, 11, 1))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for i in range(0, len(a), batch):
        x = torch.from_numpy(a[i : i + batch]).float().permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3])
        y = torch.from_numpy(b[i : i + batch]).float().permute(0, 3, 1, 2).reshape(-1, 1, *a.shape[1:3])
        mx, my = filt(x), filt(y)
        sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))  # (B*3, 1, H, W)
        out.append(s.reshape(-1, 3 * a.shape[1] * a.shape[2]).mean(1))
    return torch.cat(out).numpy().astype(np.float64)


def score(out: np.ndarray, truth: np.ndarray, small: np.ndarray, seg) -> dict:
    p = np.array([psnr(o, t) for o, t in zip(out, truth, strict=True)])
    s = ssim(out, truth)
    row = {
        "psnr": float(p.mean()),
        "psnr_ci": bootstrap(p),
        "ssim": float(s.mean()),
        "ssim_ci": bootstrap(s),
        "per_scene_psnr": p.round(3).tolist(),
    }
    if seg is not None:
        a = agreement(seg, out, small)
        row.update(agreement=float(a.mean()), agreement_ci=bootstrap(a))
    return row


def timing(net, threads: int, runs: int = 200) -> dict:
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    for _ in range(10):
        refine(net, x)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        refine(net, x)
        t.append((time.perf_counter() - t0) * 1000)
    return {"threads": threads, "median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90))}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="scenes64")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--start", type=int, default=HELD_OUT_SEEDS)
    ap.add_argument("--cache", type=Path, default=ROOT / "cache" / "refiner")
    ap.add_argument("--refiner", action="append", default=[], help="a refiner.pth to score (repeatable)")
    ap.add_argument("--no-segmenter", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="JSON of the results")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--figure", type=Path, default=None, help="write crops of 4 scenes (truth, Lanczos, refiner)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    frames = load_frames(args.cache, args.model, range(args.start, args.start + args.n))
    if frames is None:
        sys.exit(f"missing cached frames: run python bench/refiner_frames.py --n {args.n} --start {args.start}")
    seg = None
    if not args.no_segmenter:
        from ganpaint.models import load_model_info
        from ganpaint.segment import load_segmenter

        seg = load_segmenter(None, load_model_info(args.model))
    nets = {Path(p).parent.name + "/" + Path(p).name: load_refiner(p) for p in args.refiner}
    truth = frames["render256"]
    results: dict = {"scenes": args.n, "seeds": [args.start, args.start + args.n - 1], "machine": machine(), "rows": {}}
    print(f"{args.n} held-out scenes; PSNR / SSIM against the true 256 px render; agreement: segmenter labels kept")
    print(f"{'input':<10} {'method':<34} {'PSNR dB (95% CI)':>24} {'SSIM':>7} {'agree':>6}")
    for inp in INPUTS:
        small = frames[inp]
        outs = {k: enlarge(small, k) for k in ("nearest", "bicubic", "lanczos")}
        outs.update({name: refined(net, small) for name, net in nets.items()})
        for method, out in outs.items():
            row = score(out, truth, small, seg)
            results["rows"][f"{inp}/{method}"] = row
            ci = f"({row['psnr_ci'][0]:.2f}..{row['psnr_ci'][1]:.2f})"
            ag = f"{row['agreement']:.3f}" if "agreement" in row else "-"
            print(f"{inp:<10} {method:<34} {row['psnr']:>8.2f} {ci:>15} {row['ssim']:>7.3f} {ag:>6}", flush=True)
        for name in nets:
            gain = np.array(results["rows"][f"{inp}/{name}"]["per_scene_psnr"]) - np.array(
                results["rows"][f"{inp}/lanczos"]["per_scene_psnr"]
            )
            results["rows"][f"{inp}/{name}"]["gain_over_lanczos"] = float(gain.mean())
            results["rows"][f"{inp}/{name}"]["gain_ci"] = bootstrap(gain)
            results["rows"][f"{inp}/{name}"]["wins"] = int((gain > 0).sum())
            print(
                f"{'':<10} {name} - lanczos: {gain.mean():+.2f} dB (95% CI {bootstrap(gain)[0]:+.2f}.."
                f"{bootstrap(gain)[1]:+.2f}), better on {(gain > 0).sum()}/{len(gain)} scenes"
            )
    if args.figure and nets:
        figure(frames, next(iter(nets.values())), args.figure)
    results["timing"] = {name: [timing(net, t) for t in (1, 2)] for name, net in nets.items()}
    for name, ts in results["timing"].items():
        print(
            f"{name}: "
            + ", ".join(f"{t['threads']} thread(s) {t['median_ms']:.1f} ms median, {t['p90_ms']:.1f} p90" for t in ts)
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return results


def figure(frames: dict, net, path: Path, picks=(3, 17, 42, 64), gap: int = 4) -> None:
    """Rows: 160 px crops of held-out scenes: the true 256 px render, Lanczos of the 64 px render, the refiner's."""
    small = frames["render64"][list(picks)]
    cols = [frames["render256"][list(picks)], enlarge(small, "lanczos"), refined(net, small)]
    side = 160
    out = np.full((len(picks) * (side + gap) - gap, 3 * (side + gap) - gap, 3), 255, np.uint8)
    for i in range(len(picks)):
        for j, col in enumerate(cols):
            out[i * (side + gap) : i * (side + gap) + side, j * (side + gap) : j * (side + gap) + side] = col[i][
                64 : 64 + side, 48 : 48 + side
            ]
    Image.fromarray(out).resize((out.shape[1] * 2, out.shape[0] * 2), Image.NEAREST).save(path, quality=92)


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }


if __name__ == "__main__":
    main()
