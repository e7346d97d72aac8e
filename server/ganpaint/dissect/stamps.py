"""Concept stamps from the selection samples: instances, aligned feature patches, styles.

For each concept, the instances are the connected components (8-connected) of the segmenter's labels in
the selection images that have at least ``min_area`` pixels and do not touch the image border. A concept
gets stamps when it is object-like: at least MIN_INSTANCES instances holding at least OBJECT_SHARE of its
pixels (sky, grass and other backgrounds mostly touch the border and get none). Each one
gives the feature patch of **all** units at the layer, sampled on a ``grid`` x ``grid`` lattice over its
bounding box (bilinear), and its own mask on the same lattice (area coverage). Styles are k-means
clusters (scikit-learn) of the instances' appearance, the mean feature vector inside each instance's
mask (standardised, reduced by PCA): among the k in 2..MAX_STYLES whose every cluster holds at least
MIN_STYLE_SHARE of the instances (and 5), the largest k whose silhouette is within SILHOUETTE_SLACK of the
best (more styles to choose from when splitting costs little separation); k = 1 when no k >= 2
qualifies. A style's template is its members' patches averaged with their masks as weights (the
concept's own features, not its surroundings'), its footprint their mean mask, its thumbnail the member
nearest its centre, its natural size their median box.

``layer_stamps`` runs this for one dissected layer of a ``dissect.run.Context`` (cached like every pass)
and writes the sidecar beside the layer's JSON.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ganpaint.dissect.common import cache_key
from ganpaint.stamps.templates import MAX_STYLES, ConceptStamps, StampStyle, save_stamps

GRID = 8  # template lattice side
MIN_AREA = 12  # pixels of an instance
MIN_INSTANCES = 8  # a concept with fewer gets no stamps
OBJECT_SHARE = 0.3  # ... or whose instances hold less of its pixels
MAX_INSTANCES = 2000  # per concept (the first found, in sample order)
MIN_STYLE_SHARE = 0.05
SILHOUETTE_SLACK = 0.03
THUMB = 32  # thumbnail side, pixels
STYLE_RULE = (
    f"the largest k in 2..{MAX_STYLES} with silhouette within {SILHOUETTE_SLACK} of the best, every style >= "
    f"{MIN_STYLE_SHARE:.0%} of instances (else k = 1)"
)


def box_grid(boxes: torch.Tensor, n: int, size: tuple[int, int]) -> torch.Tensor:
    """Sampling grids (B, n, n, 2) for grid_sample: n x n sub-box centres inside each (x0, y0, x1, y1) box
    given in units of a map of ``size`` (H, W) (x1, y1 exclusive)."""
    t = (torch.arange(n, dtype=torch.float32) + 0.5) / n  # (n,)
    x = boxes[:, 0:1] + t[None] * (boxes[:, 2:3] - boxes[:, 0:1])  # (B, n)
    y = boxes[:, 1:2] + t[None] * (boxes[:, 3:4] - boxes[:, 1:2])  # (B, n)
    gx = (2 * x / size[1] - 1)[:, None, :].expand(-1, n, -1)  # (B, n, n)
    gy = (2 * y / size[0] - 1)[:, :, None].expand(-1, -1, n)  # (B, n, n)
    return torch.stack([gx, gy], dim=-1)


def find_instances(labels: np.ndarray, concept: int, min_area: int) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """(component mask (H, W) bool, box (x0, y0, x1, y1)) of each instance in one label map."""
    from scipy import ndimage

    comp, n = ndimage.label(labels == concept, structure=np.ones((3, 3), bool))
    out = []
    H, W = labels.shape
    for i, sl in enumerate(ndimage.find_objects(comp), start=1):
        ys, xs = sl
        if ys.start == 0 or xs.start == 0 or ys.stop == H or xs.stop == W:
            continue
        mask = comp == i
        if mask[ys, xs].sum() < min_area:
            continue
        out.append((mask, (xs.start, ys.start, xs.stop, ys.stop)))
    return out


class _Instances:
    """Patches, masks, boxes and thumbnails collected for one concept."""

    def __init__(self):
        self.patches, self.masks, self.boxes, self.thumbs = [], [], [], []
        self.pixels = self.instance_pixels = 0  # of the concept in the scanned images / in the instances

    def __len__(self) -> int:
        return sum(len(b) for b in self.boxes)


def collect(
    h_fn,
    f_fn,
    z: torch.Tensor,
    labels: np.ndarray,
    concepts: dict[str, int],
    batch: int,
    grid: int = GRID,
    min_area: int = MIN_AREA,
    progress: bool = True,
    desc: str = "stamps",
) -> dict[str, _Instances]:
    """Instances of each named concept (name -> class index) in the images of latents ``z``."""
    found = {name: _Instances() for name in concepts}
    for a in tqdm(range(0, len(z), batch), desc=desc, disable=not progress, leave=False):
        with torch.no_grad():
            feats = h_fn(z[a : a + batch])  # (B, C, h, w)
            imgs = f_fn(feats).clamp(-1, 1)  # (B, 3, H, W)
        H, W = labels.shape[1:]
        for b in range(len(feats)):
            lab = labels[a + b]
            for name, c in concepts.items():
                inst = found[name]
                if len(inst) >= MAX_INSTANCES:
                    continue
                items = find_instances(lab, c, min_area)[: MAX_INSTANCES - len(inst)]
                inst.pixels += int((lab == c).sum())
                inst.instance_pixels += sum(int(m.sum()) for m, _ in items)
                if not items:
                    continue
                boxes = torch.tensor([box for _, box in items], dtype=torch.float32)  # (K, 4) pixels
                scale = torch.tensor([feats.shape[3] / W, feats.shape[2] / H] * 2)
                fgrid = box_grid(boxes * scale, grid, feats.shape[2:])  # (K, g, g, 2)
                patch = F.grid_sample(feats[b : b + 1].expand(len(items), -1, -1, -1), fgrid, align_corners=False)
                masks = torch.from_numpy(np.stack([m for m, _ in items])).float()[:, None]  # (K, 1, H, W)
                fine = F.grid_sample(
                    masks, box_grid(boxes, grid * 4, (H, W)), mode="nearest", align_corners=False
                )  # (K,1,4g,4g)
                cover = F.avg_pool2d(fine, 4)[:, 0]  # (K, g, g) area coverage
                side = (boxes[:, 2:] - boxes[:, :2]).max(dim=1).values * 1.6  # square thumbnail crops
                centre = (boxes[:, :2] + boxes[:, 2:]) / 2
                tbox = torch.cat([centre - side[:, None] / 2, centre + side[:, None] / 2], dim=1)
                tgrid = box_grid(tbox, THUMB, (H, W))
                thumb = F.grid_sample(
                    imgs[b : b + 1].expand(len(items), -1, -1, -1),
                    tgrid,
                    mode="nearest",
                    padding_mode="border",
                    align_corners=False,
                )  # (K, 3, T, T)
                inst.patches.append(patch)
                inst.masks.append(cover)
                inst.boxes.append(boxes)
                inst.thumbs.append(((thumb.permute(0, 2, 3, 1) + 1) * 127.5).round().clamp(0, 255).byte())
    return found


def choose_styles(x: np.ndarray, seed: int) -> np.ndarray:
    """Style index per row of ``x`` (n, d) by the rule in the module docstring; styles ordered largest first."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    n = len(x)
    min_members = max(5, int(np.ceil(MIN_STYLE_SHARE * n)))
    found: list[tuple[int, float, np.ndarray]] = []  # (k, silhouette, labels)
    if n >= 2 * min_members:
        reduced = PCA(n_components=min(16, n - 1, x.shape[1]), random_state=seed).fit_transform(x)
        for k in range(2, MAX_STYLES + 1):
            if k * min_members > n:
                break
            lab = KMeans(k, n_init=10, random_state=seed).fit_predict(reduced)
            if np.bincount(lab, minlength=k).min() >= min_members:
                score = silhouette_score(reduced, lab, sample_size=min(n, 2000), random_state=seed)
                found.append((k, float(score), lab))
    best = np.zeros(n, dtype=np.int64)
    if found:
        top = max(score for _, score, _ in found)
        best = max((f for f in found if f[1] >= top - SILHOUETTE_SLACK), key=lambda f: f[0])[2]
    order = np.argsort(-np.bincount(best), kind="stable")  # old index by new position
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[best]


def build_stamps(found: dict[str, _Instances], seed: int = 0) -> dict[str, ConceptStamps]:
    """Styles, templates, footprints, thumbnails and natural sizes of every concept with enough instances."""
    out = {}
    for name, inst in found.items():
        if len(inst) < MIN_INSTANCES or inst.instance_pixels < OBJECT_SHARE * inst.pixels:
            continue
        patches = torch.cat(inst.patches)  # (n, C, g, g)
        masks = torch.cat(inst.masks)  # (n, g, g)
        boxes = torch.cat(inst.boxes)  # (n, 4)
        thumbs = torch.cat(inst.thumbs).numpy()  # (n, T, T, 3)
        wh = (boxes[:, 2:] - boxes[:, :2]).numpy()  # (n, 2) pixels
        weighted = patches * masks[:, None]  # (n, C, g, g)
        looks = (weighted.sum((2, 3)) / masks.sum((1, 2)).clamp_min(1e-6)[:, None]).numpy()  # (n, C) appearance
        looks = (looks - looks.mean(0)) / (looks.std(0) + 1e-6)
        style_of = choose_styles(looks, seed)
        styles = []
        for s in range(int(style_of.max()) + 1):
            members = np.flatnonzero(style_of == s)
            centre = looks[members].mean(0)
            nearest = members[int(np.argmin(((looks[members] - centre) ** 2).sum(1)))]
            med = np.median(wh[members], axis=0)
            cover = masks[members].sum(0)  # (g, g)
            template = torch.where(  # mask-weighted mean; the plain mean where no member covers the cell
                cover > 1e-3, weighted[members].sum(0) / cover.clamp_min(1e-3), patches[members].mean(0)
            )  # (C, g, g)
            styles.append(
                StampStyle(
                    s, len(members), (float(med[0]), float(med[1])), template, masks[members].mean(0), thumbs[nearest]
                )
            )
        q = np.percentile(wh, [25, 50, 75], axis=0)  # (3, 2)
        natural = {
            "w": float(q[1, 0]),
            "h": float(q[1, 1]),
            "w_iqr": [float(q[0, 0]), float(q[2, 0])],
            "h_iqr": [float(q[0, 1]), float(q[2, 1])],
            "aspect": round(float(q[1, 1] / q[1, 0]), 3),
        }
        out[name] = ConceptStamps(name, len(inst), natural, styles)
    return out


def layer_stamps(ctx, layer: str, concepts: list[str]) -> dict:
    """Stamps of ``concepts`` at ``layer`` from the selection samples; writes the sidecar into the output
    folder and returns its index (cached in ctx.folder by everything it depends on)."""
    s = ctx.settings
    count = s.stamp_samples or s.samples
    key = cache_key(
        **ctx.base_key,
        layer=layer,
        n=count,
        concepts=sorted(concepts),
        grid=GRID,
        rule=STYLE_RULE,
        min_area=MIN_AREA,
        object_share=OBJECT_SHARE,
        stamps_v=2,
    )
    cached = ctx.folder / f"stamps-{layer}-{key}.npz"
    index_path = cached.with_suffix(".json")
    if not (cached.is_file() and index_path.is_file()):
        z, labels = ctx.labels(0, count)
        h_fn, f_fn = (m.to(ctx.device) for m in ctx.generator.split(layer))
        ids = {n: ctx.names.index(n) for n in concepts if n in ctx.names}
        found = collect(
            lambda x: h_fn(x.to(ctx.device)).cpu(),
            lambda r: f_fn(r.to(ctx.device)).cpu(),
            z,
            labels,
            ids,
            s.batch,
            progress=ctx.progress,
            desc=f"{layer} stamps",
        )
        stamps = build_stamps(found, s.seed)
        extra = {"min_area": MIN_AREA, "style_rule": STYLE_RULE, "samples": count}
        index = save_stamps(stamps, cached, GRID, extra)
        index_path.write_text(json.dumps(index))
    index = json.loads(index_path.read_text())
    out = ctx.out_dir / ctx.model_id / f"{layer}.stamps.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, out)
    return {**index, "file": out.name}
