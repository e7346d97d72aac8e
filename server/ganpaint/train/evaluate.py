"""Generated-image segmentation statistics and the Frechet Segmentation Distance (FSD).

Each image is summarised by its per-class pixel share from the segmenter (argmax), in percent of the image
area (as in the public FSD code: bincount / pixels * 100). Over a sample these vectors have mean mu and
covariance S, and

    FSD = ||mu_g - mu_t||^2 + Tr(S_g + S_t - 2 (S_g S_t)^{1/2})

between generated images (ids 0..N-1 via ``image_latents``) and fresh scene-world renders. The floor is the
same number between two disjoint scene-world samples. Per concept we also report the share of images that
contain it and its mean pixel share, generated vs data.

Tr((S_g S_t)^{1/2}) is computed as the sum of sqrt(eigenvalues of S_g^{1/2} S_t S_g^{1/2}), a symmetric PSD
matrix with the same eigenvalues as S_g S_t: exact, real, and stable for singular covariances (a class that
never appears has zero variance). It matches ``scipy.linalg.sqrtm`` (see tests/test_evaluate.py).
"""

from __future__ import annotations

import numpy as np
import torch

# Concepts the painting UI offers as brushes: the issue asks each to appear in generated images at >= half
# its data frequency.
BRUSH_CONCEPTS = ("tree", "grass", "door", "sky", "cloud", "brick", "dome")
PRESENT_MIN_SHARE = 0.001  # a concept "is in" an image when it covers >= 0.1% of it (4 px at 64 px)


# ------------------------------------------------------------------------------------------------- FSD
def _sym_sqrt(s: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix (negative round-off eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr((s1 s2)^{1/2}) for symmetric PSD s1, s2."""
    r = _sym_sqrt(s1)
    m = r @ s2 @ r
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> dict:
    """Frechet distance between Gaussians fitted to the rows of a (N, C) and b (M, C).

    Returns {"fsd", "mean_term", "cov_term"} with fsd = mean_term + cov_term."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature matrices must be (N, C) and (M, C), got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 samples on each side, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mean_term = float(((mu_a - mu_b) ** 2).sum())
    cov_term = float(np.trace(s_a) + np.trace(s_b) - 2 * trace_sqrt_product(s_a, s_b))
    return {"fsd": mean_term + cov_term, "mean_term": mean_term, "cov_term": cov_term}


# ------------------------------------------------------------------------------------------ statistics
def label_shares(labels: torch.Tensor | np.ndarray, num_classes: int) -> np.ndarray:
    """(N, H, W) class ids -> (N, C) pixel shares in [0, 1]."""
    lab = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).long()
    n = lab.shape[0]
    flat = lab.reshape(n, -1)  # (N, H*W)
    off = torch.arange(n)[:, None] * num_classes
    counts = torch.bincount((flat + off).ravel(), minlength=n * num_classes).reshape(n, num_classes)
    return (counts.double() / flat.shape[1]).numpy()


def segment_shares(segmenter, images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) images in [-1, 1] -> (N, C) pixel shares of the segmenter's argmax classes."""
    with torch.inference_mode():
        pred = segmenter.probabilities(images).argmax(dim=1)  # (N, H, W)
    return label_shares(pred, len(segmenter.names))


def generated_shares(generator, segmenter, n: int, batch: int = 100, progress: bool = False) -> np.ndarray:
    """Segment generated images of ids 0..n-1 -> (n, C) pixel shares."""
    from tqdm import tqdm

    from ganpaint.nn.proggan import image_latents

    out = []
    for a in tqdm(range(0, n, batch), desc="generated", unit="batch", disable=not progress):
        ids = list(range(a, min(n, a + batch)))
        with torch.inference_mode():
            x = generator(image_latents(ids, generator.z_dim))  # (b, 3, R, R)
        out.append(segment_shares(segmenter, x.float().clamp(-1, 1)))
    return np.concatenate(out) if out else np.zeros((0, len(segmenter.names)))


def scene_shares(
    segmenter, start_seed: int, n: int, size: int, batch: int = 100, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Render scenes start_seed.. start_seed+n-1 at ``size`` px -> ((n, C) segmenter shares, (n, C) exact
    label shares)."""
    from tqdm import tqdm

    from ganpaint.train.segmenter import render_scenes

    seg, true = [], []
    for a in tqdm(range(0, n, batch), desc=f"scenes from seed {start_seed}", unit="batch", disable=not progress):
        imgs, labs = render_scenes(start_seed + a, min(batch, n - a), size)
        x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1  # (b, 3, S, S)
        seg.append(segment_shares(segmenter, x))
        true.append(label_shares(labs, len(segmenter.names)))
    return np.concatenate(seg), np.concatenate(true)


def concept_stats(shares: np.ndarray, names, present_min: float = PRESENT_MIN_SHARE) -> dict:
    """Per concept: image_fraction (share of images where it covers >= present_min), pixel_share (its mean
    share of pixels over all images) and pixel_fraction_present (mean share over the images containing it)."""
    shares = np.asarray(shares, np.float64)
    has = shares >= present_min
    out = {}
    for i, name in enumerate(names):
        h = has[:, i]
        out[name] = {
            "image_fraction": float(h.mean()) if len(h) else 0.0,
            "pixel_share": float(shares[:, i].mean()) if len(h) else 0.0,
            "pixel_fraction_present": float(shares[h, i].mean()) if h.any() else 0.0,
        }
    return out


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def compare_stats(gen: dict, data: dict) -> dict:
    """Side by side per concept with the ratios generated / data."""
    out = {}
    for name in data:
        g, d = gen[name], data[name]
        out[name] = {
            "generated": g,
            "data": d,
            "image_ratio": _ratio(g["image_fraction"], d["image_fraction"]),
            "pixel_ratio": _ratio(g["pixel_share"], d["pixel_share"]),
        }
    return out


def brush_check(concepts: dict, brushes=BRUSH_CONCEPTS) -> dict:
    """Each brush concept: is it in generated images at >= half its data image frequency?"""
    return {
        b: bool(concepts[b]["image_ratio"] is not None and concepts[b]["image_ratio"] >= 0.5)
        for b in brushes
        if b in concepts
    }


# ------------------------------------------------------------------------------------------------ report
def evaluate(
    generator,
    segmenter,
    n: int = 5000,
    batch: int = 100,
    size: int | None = None,
    data_seed: int = 2_000_000,
    floor_seed: int = 3_000_000,
    progress: bool = False,
) -> dict:
    """FSD generated vs data, the data-vs-data floor, and per-concept statistics (see the module docstring)."""
    if n < 2:
        raise ValueError(f"n must be >= 2, got n={n!r}")
    if abs(data_seed - floor_seed) < n:
        raise ValueError(f"data_seed={data_seed} and floor_seed={floor_seed} overlap for n={n}")
    size = int(size or generator.resolution)
    names = list(segmenter.names)
    gen = generated_shares(generator, segmenter, n, batch, progress)
    data, data_true = scene_shares(segmenter, data_seed, n, size, batch, progress)
    floor, _ = scene_shares(segmenter, floor_seed, n, size, batch, progress)
    gen_stats, data_stats = concept_stats(gen, names), concept_stats(data, names)
    concepts = compare_stats(gen_stats, data_stats)
    for name, row in concepts.items():
        row["data_labels"] = concept_stats(data_true, names)[name]
    return {
        "n": int(n),
        "size": size,
        "segmenter": getattr(segmenter, "id", None),
        "features": "per-class pixel share of the segmenter's argmax, in percent of the image",
        "present_min_share": PRESENT_MIN_SHARE,
        "seeds": {
            "generated_ids": [0, n - 1],
            "data": [data_seed, data_seed + n - 1],
            "floor": [floor_seed, floor_seed + n - 1],
        },
        "fsd": frechet_distance(gen * 100, data * 100),
        "fsd_floor": frechet_distance(floor * 100, data * 100),
        "concepts": concepts,
        "brush_check": brush_check(concepts),
    }


def markdown_report(report: dict) -> str:
    """FSD lines and the per-concept table, generated vs data (both segmented by the same segmenter)."""
    f, fl = report["fsd"], report["fsd_floor"]
    lines = [
        f"FSD generated vs scene world ({report['n']} vs {report['n']}, {report['size']} px): **{f['fsd']:.2f}** "
        f"(mean term {f['mean_term']:.2f}, covariance term {f['cov_term']:.2f})",
        f"FSD floor, two disjoint scene-world samples: **{fl['fsd']:.2f}** "
        f"(mean {fl['mean_term']:.2f}, covariance {fl['cov_term']:.2f})",
        "",
        "| concept | images gen | images data | ratio | pixels gen | pixels data | ratio | brush >= half |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    for name, row in report["concepts"].items():
        g, d = row["generated"], row["data"]
        check = report["brush_check"].get(name)
        mark = "" if check is None else ("yes" if check else "**no**")
        lines.append(
            f"| {name} | {g['image_fraction']:.1%} | {d['image_fraction']:.1%} | {fmt(row['image_ratio'])} "
            f"| {g['pixel_share']:.2%} | {d['pixel_share']:.2%} | {fmt(row['pixel_ratio'])} | {mark} |"
        )
    return "\n".join(lines)
