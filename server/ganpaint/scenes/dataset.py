"""Render datasets of procedural scenes to .npy files, load them, and summarise their labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .concepts import COLORS, NAMES
from .render import MAX_SIZE, MIN_SIZE, RENDERER_VERSION, render_scene

CHUNK = 256  # scenes per resumable chunk


def _render_range(args):
    start, stop, size = args
    imgs = np.empty((stop - start, size, size, 3), np.uint8)
    labs = np.empty((stop - start, size, size), np.uint8)
    for i, seed in enumerate(range(start, stop)):
        imgs[i], labs[i] = render_scene(seed, size)
    return imgs, labs


def _write_meta(path: Path, meta: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path)


def render_dataset(out_dir, n: int, size: int, workers: int = 2, start_seed: int = 0, progress: bool = True) -> dict:
    """Render scenes start_seed .. start_seed+n-1 into out_dir/{images,labels}.npy and meta.json.

    Resumable: the work is done in chunks and meta.json's `done` counts the scenes written; calling again
    with the same arguments continues where it stopped. Returns the final meta dict.
    """
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise ValueError(f"size must be in {MIN_SIZE}..{MAX_SIZE}, got size={size!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got n={n!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta_path, ip, lp = out / "meta.json", out / "images.npy", out / "labels.npy"
    meta = {
        "n": int(n),
        "size": int(size),
        "start_seed": int(start_seed),
        "renderer": RENDERER_VERSION,
        "concepts": list(NAMES),
        "done": 0,
    }
    resume = False
    if meta_path.exists() and ip.exists() and lp.exists():
        old = json.loads(meta_path.read_text())
        if all(old.get(k) == meta[k] for k in ("n", "size", "start_seed", "renderer")):
            meta["done"] = int(old.get("done", 0))
            resume = True
    if resume:
        images = np.load(ip, mmap_mode="r+")
        labels = np.load(lp, mmap_mode="r+")
    else:
        _write_meta(meta_path, meta)
        images = np.lib.format.open_memmap(ip, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
        labels = np.lib.format.open_memmap(lp, mode="w+", dtype=np.uint8, shape=(n, size, size))
    done = meta["done"]
    tasks = [(start_seed + a, start_seed + min(a + CHUNK, n), size) for a in range(done, n, CHUNK)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, initial=done, unit="img", desc=f"scenes {size}px")

    def store(res):
        nonlocal done
        imgs, labs = res
        images[done : done + len(imgs)] = imgs
        labels[done : done + len(labs)] = labs
        done += len(imgs)
        if done % (CHUNK * 8) == 0 or done == n:
            images.flush()
            labels.flush()
            meta["done"] = done
            _write_meta(meta_path, meta)
        if bar is not None:
            bar.update(len(imgs))

    try:
        if workers <= 1 or len(tasks) <= 1:
            for t in tasks:
                store(_render_range(t))
        else:
            import multiprocessing as mp

            with mp.get_context("spawn" if os.name == "nt" else "fork").Pool(workers) as pool:
                for res in pool.imap(_render_range, tasks):  # ordered: chunks land in sequence
                    store(res)
    finally:
        images.flush()
        labels.flush()
        meta["done"] = done
        _write_meta(meta_path, meta)
        if bar is not None:
            bar.close()
    return meta


def load_dataset(path):
    """Return (images memmap (N,S,S,3), labels memmap (N,S,S), meta dict) of a rendered dataset."""
    p = Path(path)
    meta = json.loads((p / "meta.json").read_text())
    images = np.load(p / "images.npy", mmap_mode="r")
    labels = np.load(p / "labels.npy", mmap_mode="r")
    return images, labels, meta


def label_statistics(labels, batch: int = 1024) -> dict:
    """Per concept: image_fraction (share of images containing it), pixel_fraction (mean share of pixels over
    the images that contain it) and pixel_share (share of all pixels)."""
    labels = np.asarray(labels) if not isinstance(labels, np.memmap) else labels
    if labels.ndim == 2:
        labels = labels[None]
    n, k = len(labels), len(NAMES)
    counts = np.zeros((n, k), np.int64)
    for a in range(0, n, batch):
        blk = np.asarray(labels[a : a + batch]).reshape(min(batch, n - a), -1)
        off = (np.arange(len(blk)) * k)[:, None]
        counts[a : a + len(blk)] = np.bincount((blk.astype(np.int64) + off).ravel(), minlength=len(blk) * k).reshape(
            len(blk), k
        )
    px = labels.shape[1] * labels.shape[2]
    frac = counts / px
    has = counts > 0
    out = {}
    for i, name in enumerate(NAMES):
        h = has[:, i]
        out[name] = {
            "image_fraction": float(h.mean()) if n else 0.0,
            "pixel_fraction": float(frac[h, i].mean()) if h.any() else 0.0,
            "pixel_share": float(frac[:, i].mean()) if n else 0.0,
        }
    return out


_PALETTE = np.zeros((256, 3), np.uint8)
_PALETTE[: len(COLORS)] = np.array(COLORS, np.uint8)


def colorize(labels) -> np.ndarray:
    """Map a label array (..., H, W) to display colours (..., H, W, 3) uint8."""
    return _PALETTE[np.asarray(labels)]
