"""Static HTML report of a model's dissection: ``precomputed/<model_id>/report/index.html`` + PNGs.

Sections: the default-layer choice, the brushes at that layer (each concept's units with crops of the first
three), per-layer counts (ICLR Fig. 6 style); per layer a concept table
(brush units, ranking, removal by ablation for IoU/ACE/random sets, insertion, draw rule), ablation-curve
plots, the context tables, and a unit browser (label, IoU, top-activating crops with the thresholded
region outlined in yellow), grouped by label so "which units draw trees" is one glance; and the artifact
units (``artifacts.json``, when ``ganpaint dissect --artifacts`` ranked a layer), each with its top samples.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ganpaint.dissect.common import latents
from ganpaint.dissect.iou import upsample

CROPS = 4
ZOOM = 3


def _esc(x) -> str:
    return html.escape(str(x))


def curve_png(curves: dict[str, list], path: Path, title: str, column: int = 1, w: int = 220, h: int = 140) -> None:
    """Column ``column`` of the curve points ([size, removed, ACE]; [size, removed] for the removal ranking)
    vs set size: ACE-ranked (red), IoU-ranked (blue), removal-ranked (green)."""
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 30, w - 8, 16, h - 20
    curves = {n: [(p[0], p[column]) for p in pts if len(p) > column] for n, pts in curves.items()}
    xmax = max([p[0] for c in curves.values() for p in c] + [1])
    lo = min([0.0] + [p[1] for c in curves.values() for p in c])
    hi = max([1.0] + [p[1] for c in curves.values() for p in c])

    def xy(x, y):
        return left + (right - left) * x / xmax, bottom - (bottom - top) * (y - lo) / (hi - lo)

    d.rectangle([left, top, right, bottom], outline=(160, 160, 160))
    for yv in sorted({0.0, 0.5, 1.0, round(hi, 1)}):
        _, yy = xy(0, yv)
        d.line([left, yy, right, yy], fill=(225, 225, 225))
        d.text((2, yy - 5), f"{yv:.1f}", fill=(90, 90, 90))
    d.text((left, bottom + 4), "1", fill=(90, 90, 90))
    d.text((right - 12, bottom + 4), str(xmax), fill=(90, 90, 90))
    d.text((left + 4, 2), title, fill=(0, 0, 0))
    for name, color in (("iou", (40, 90, 220)), ("ace", (220, 40, 40)), ("removal", (30, 150, 60))):
        pts = [xy(x, y) for x, y in curves.get(name, [])]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for px, py in pts:
            d.ellipse([px - 2, py - 2, px + 2, py + 2], fill=color)
    img.save(path)


def _outline(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:] &= m[:-1]
    inner[:-1] &= m[1:]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


@torch.no_grad()
def unit_strips(ctx, layer: str, doc: dict, folder: Path) -> None:
    """One PNG per unit: its top-activating images, cropped around the peak, thresholded region outlined."""
    g = ctx.generator
    # the layer's own selection latents: it may have been dissected with other settings than this run
    z_all = latents(doc["samples"]["selection"], g.z_dim, doc["settings"]["seed"], 0)
    h_fn, f_fn = g.split(layer)
    ids = sorted({i for u in doc["units"] for i in u["top"][:CROPS]})
    if not ids:
        return
    pos = {i: n for n, i in enumerate(ids)}
    rs, xs = [], []
    for a in range(0, len(ids), 64):
        r = h_fn(z_all[ids[a : a + 64]].to(ctx.device))
        rs.append(r.cpu())
        xs.append(f_fn(r).cpu())
    r, x = torch.cat(rs), torch.cat(xs)  # (M, C, h, w), (M, 3, H, W)
    rgb = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()  # (M, H, W, 3)
    side = rgb.shape[1]
    crop = max(16, side // 2)
    folder.mkdir(parents=True, exist_ok=True)
    for u in doc["units"]:
        tiles = []
        for i in u["top"][:CROPS]:
            n = pos[i]
            act = upsample(r[n : n + 1, u["unit"] : u["unit"] + 1], (side, side))[0, 0].numpy()  # (H, W)
            thr = u["threshold"] if u["label"] else u["quantile_99"]
            yy, xx = np.unravel_index(act.argmax(), act.shape)
            y0 = int(np.clip(yy - crop // 2, 0, side - crop))
            x0 = int(np.clip(xx - crop // 2, 0, side - crop))
            tile = rgb[n].copy()
            tile[_outline(act > thr)] = (255, 230, 0)
            tiles.append(tile[y0 : y0 + crop, x0 : x0 + crop])
        strip = np.concatenate(tiles, axis=1) if tiles else np.zeros((crop, crop, 3), np.uint8)
        Image.fromarray(strip).resize((strip.shape[1] * ZOOM, strip.shape[0] * ZOOM), Image.NEAREST).save(
            folder / f"unit{u['unit']}.png"
        )


def _concept_rows(doc: dict, layer: str) -> str:
    rb = doc["layer_summary"].get("random_baseline") or {}
    at20 = rb["sizes"].index(20) if rb.get("draws") and 20 in rb["sizes"] else None
    rows = []
    for name, c in doc["concepts"].items():
        e = c["effect"]
        ins = e["ace_ranked" if c["ranking"] == "ace" else "iou_ranked"]["insertion"][c["draw_rule"]]
        units = " ".join(f'<a href="#{layer}-u{u}">{u}</a>' for u in c["units"][:10])
        rows.append(
            f"<tr><td><b>{_esc(name)}</b></td><td>{e['base_share']:.3f}</td><td>{c['ranking']}</td>"
            f"<td>{e['ace_ranked']['removed']:.2f}</td><td>{e['iou_ranked']['removed']:.2f}</td>"
            f"<td>{_removed(e, 'removal_ranked')}</td><td>{_esc(c.get('erase', {}).get('ranking', c['ranking']))}</td>"
            f"<td>{e['random']['removed']:.2f}</td>"
            f"<td>{'-' if at20 is None else format(rb['concepts'][name]['mean_abs'][at20], '.2f')}</td>"
            f"<td>{e['ace_ranked']['ace']:.2f}</td><td>{e['iou_ranked']['ace']:.2f}</td>"
            f"<td>{e['random'].get('ace', float('nan')):.2f}</td>"
            f"<td>{_esc(c['draw_rule'])}</td><td>{ins['gain']:.3f}</td><td>{ins['spill']:.3f}</td>"
            f"<td>{units}{' ...' if len(c['units']) > 10 else ''}</td>"
            f'<td><img src="{layer}/curve-{_esc(name)}.png"></td>'
            f'<td><img src="{layer}/ace-{_esc(name)}.png"></td></tr>'
        )
    head = (
        "<tr><th>concept</th><th>base share</th><th>brush ranking</th><th>removed (ACE top)</th>"
        "<th>removed (IoU top)</th><th>removed (removal top)</th><th>erase ranking</th>"
        "<th>removed (one random 20)</th><th>|removed|, random 20 (mean of draws)</th>"
        "<th>ACE (ACE top)</th><th>ACE (IoU top)</th><th>ACE (random 20)</th>"
        "<th>draw rule</th><th>window gain</th><th>spill</th><th>brush units (best first)</th>"
        "<th>removed vs units (red ACE-ranked, blue IoU-ranked, green removal-ranked)</th><th>ACE vs units</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _removed(effect: dict, part: str) -> str:
    return format(effect[part]["removed"], ".2f") if part in effect else "-"


def _brush_overview(doc: dict, layer: str, shown: int = 3) -> str:
    """Per concept at the painting layer: its brush numbers and the crops of its first ``shown`` units."""
    rows = []
    for name, c in doc["concepts"].items():
        e, erase = c["effect"], c.get("erase", {})
        crops = "".join(
            f'<a href="#{layer}-u{u}" title="unit {u}"><img class=strip src="{layer}/unit{u}.png"></a>'
            for u in c["units"][:shown]
        )
        rows.append(
            f"<tr><td><b>{_esc(name)}</b></td><td>{c['ranking']}</td><td>{_esc(c['draw_rule'])}</td>"
            f"<td>{e['ace']:.2f}</td><td>{' '.join(map(str, c['units']))}</td>"
            f"<td>{_esc(erase.get('ranking', c['ranking']))}</td><td>{e['removed']:.2f}</td>"
            f"<td>{' '.join(map(str, erase.get('units', c['units'])))}</td>"
            f"<td>{crops}</td></tr>"
        )
    return (
        "<table><tr><th>concept</th><th>draw ranking</th><th>draw rule</th><th>ACE</th><th>draw units, best first</th>"
        "<th>erase ranking</th><th>removed by the erase units</th><th>erase units, best first</th>"
        f"<th>first {shown} draw units: top-activating crops</th></tr>{''.join(rows)}</table>"
    )


def _random_table(doc: dict) -> str:
    """Mean |removed| (and the max) over the draws of random unit sets, per concept and set size."""
    rb = doc["layer_summary"].get("random_baseline")
    if not rb or not rb["draws"]:
        return "<p>not measured</p>"
    head = "".join(f"<th>{n} units</th>" for n in rb["sizes"])
    rows = "".join(
        f"<tr><td>{_esc(name)}</td>"
        + "".join(f"<td>{m:.2f} ({x:.2f})</td>" for m, x in zip(v["mean_abs"], v["max_abs"], strict=True))
        + "</tr>"
        for name, v in rb["concepts"].items()
    )
    return (
        f"<p>|share of the concept's pixels removed| when a random unit set is ablated: mean (max) over "
        f"{rb['draws']} draws of {doc['feature_shape'][0]} units.</p>"
        f"<table><tr><th>concept</th>{head}</tr>{rows}</table>"
    )


def _context_tables(doc: dict) -> str:
    out = []
    for name, c in doc["concepts"].items():
        detail = c["effect"].get("context_detail", {}).get("classes", {})
        if not detail:
            continue
        rows = "".join(
            f"<tr><td>{_esc(k)}</td><td>{v['n']}</td><td>{v['success']:.2f}</td><td>{v['mean_gain']:.3f}</td></tr>"
            for k, v in sorted(detail.items(), key=lambda kv: -kv[1]["success"])
        )
        out.append(
            f"<div class=ctx><b>insert {_esc(name)}</b><table><tr><th>class at location</th><th>n</th>"
            f"<th>success</th><th>mean gain</th></tr>{rows}</table></div>"
        )
    return "".join(out)


def _unit_browser(doc: dict, layer: str) -> str:
    """Every unit: its labels, IoUs, the brushes it belongs to (concept #rank) and its crops."""
    brushes: dict[int, list[str]] = {}
    for name, c in doc["concepts"].items():
        for rank, u in enumerate(c["units"], 1):
            brushes.setdefault(u, []).append(f"{name} #{rank}")
    units = sorted(doc["units"], key=lambda u: (u["label"] is None, u["label"] or "", -u["iou"]))
    rows = "".join(
        f'<tr id="{layer}-u{u["unit"]}"><td>{u["unit"]}</td><td><b>{_esc(u["label"] or "-")}</b></td>'
        f"<td>{u['iou']:.3f}</td><td>{_esc(u['best_concept'])}</td><td>{_esc(u.get('label_top1') or '-')}</td>"
        f"<td>{u['iou_top1']:.3f}</td><td>{_esc(', '.join(brushes.get(u['unit'], [])) or '-')}</td>"
        f'<td>{u["quantile_99"]:.2f}</td><td><img src="{layer}/unit{u["unit"]}.png"></td></tr>'
        for u in units
    )
    return (
        "<table><tr><th>unit</th><th>label (IQR IoU &gt; 0.05)</th><th>IoU</th><th>best concept</th>"
        "<th>label (top-1% IoU &gt; 0.04)</th><th>top-1% IoU</th><th>in the brushes of (rank)</th><th>q99</th>"
        f"<th>top-activating crops</th></tr>{rows}</table>"
    )


def _artifact_section(ctx, root: Path, folder: Path) -> str:
    """The ranked artifact units (``artifacts.json``): the worst max(k, 8), each with its top-activating samples;
    the first k are the ones ``"artifacts": "removed"`` ablates."""
    from ganpaint.dissect.artifact_pictures import save_strips

    path = root / "artifacts.json"
    if not path.is_file():
        return ""
    doc = json.loads(path.read_text())
    if doc.get("model_sha256") != ctx.model_sha256:
        return "<h2>Artifact units</h2><p>artifacts.json ranks another generator: rerun --artifacts</p>"
    layer, k = doc["layer"], doc["k"]
    shown = doc["ranking"][: max(k, 8)]
    save_strips(ctx.generator, doc, shown, folder / layer, ctx.device)
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{u}</td><td>{doc['units'][u]['fd']:.3g}</td><td>{doc['units'][u]['z']:.1f}</td>"
        f'<td>{"removed" if i < k else "-"}</td><td><img src="{layer}/artifact-unit{u}.png"></td></tr>'
        for i, u in enumerate(shown)
    )
    measured = (doc.get("measured") or {}).get("summary", "Not measured on held-out latents.")
    return (
        f"<h2 id=artifacts>Artifact units at {_esc(layer)}</h2><p>Units ranked by the Frechet distance of their "
        f"{doc['settings']['top']} top-activating samples (of {doc['settings']['samples']}) to "
        f"{doc['settings']['real']} scene renders in {_esc(doc['feature_space'])}; a random "
        f"{doc['settings']['top']} samples score {doc['random_top_fd']:.3g}. k = {k} ({_esc(doc['k_rule'])}). "
        f"Default: <b>{_esc(doc.get('default', 'kept'))}</b>. {_esc(measured)}"
        "</p><table><tr><th>rank</th><th>unit</th><th>FD</th><th>robust z</th><th>artifacts: removed</th>"
        f"<th>top-activating samples</th></tr>{rows}</table>"
    )


def write_report(ctx, summary: dict, fresh: tuple[str, ...] = ()) -> Path:
    """The report of every layer in ``summary``; the unit crops (a generator pass) are rendered again only for
    the ``fresh`` layers (just dissected) and for layers that have none yet."""
    root = ctx.out_dir / ctx.model_id
    folder = root / "report"
    folder.mkdir(parents=True, exist_ok=True)
    layers = list(summary["layers"])
    count_rows = "".join(
        f"<tr><td>{ly}</td><td>{s['counts']['units']}</td><td>{s['counts']['matching_iqr_0.05']}</td>"
        f"<td>{s['counts']['matching_top1_0.04']}</td><td>{len(s['counts']['concepts_iqr_0.05'])}</td>"
        f"<td>{_esc(', '.join(f'{k} {v}' for k, v in s['counts']['per_concept_iqr_0.05'].items()))}</td>"
        f"<td>{s['score']:.3f}</td><td>{s['seconds']:.0f}</td></tr>"
        for ly, s in summary["layers"].items()
    )
    sections, overview = [], ""
    for layer in layers:
        path = root / f"{layer}.json"
        if not path.is_file():
            continue
        doc = json.loads(path.read_text())
        for name, c in doc["concepts"].items():
            (folder / layer).mkdir(parents=True, exist_ok=True)
            curves = c["effect"]["curves"]
            curve_png(curves, folder / layer / f"curve-{name}.png", f"{layer} {name}: removed")
            curve_png(curves, folder / layer / f"ace-{name}.png", f"{layer} {name}: ACE", column=2)
        if layer in fresh or not (folder / layer / "unit0.png").is_file():
            unit_strips(ctx, layer, doc, folder / layer)
        if layer == summary["default_layer"]:
            overview = f"<h2>Brushes at the painting layer {_esc(layer)}</h2>{_brush_overview(doc, layer)}"
        sections.append(
            f'<h2 id="{layer}">{layer} {tuple(doc["feature_shape"])}</h2>'
            f"<h3>Concepts (held-out: {doc['samples']['heldout']} latents)</h3>{_concept_rows(doc, layer)}"
            f"<h3>Random baseline: ablating random units</h3>{_random_table(doc)}"
            f"<h3>Context: insertion success by class at the location</h3>{_context_tables(doc)}"
            f"<h3>Unit browser (grouped by label)</h3>{_unit_browser(doc, layer)}"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Dissection of {_esc(ctx.model_id)}</title>
<style>body{{font:13px sans-serif;margin:16px}} table{{border-collapse:collapse;margin:6px 0}}
td,th{{border:1px solid #ccc;padding:2px 6px;vertical-align:middle}} th{{background:#f2f2f2}}
img{{image-rendering:pixelated}} img.strip{{height:48px;margin-right:4px}}
.ctx{{display:inline-block;vertical-align:top;margin-right:16px}}</style></head><body>
<h1>Dissection of {_esc(ctx.model_id)}</h1>
<p>generator sha256 {_esc(summary["model_sha256"][:16])}..., segmenter {_esc(summary["segmenter"])}.
Default painting layer: <b>{_esc(summary["default_layer"])}</b>. {_esc(summary["why"])}</p>
<p>Layers: {" ".join(f'<a href="#{ly}">{ly}</a>' for ly in layers)}</p>
{overview}
<h2>Units matching concepts per layer</h2>
<table><tr><th>layer</th><th>units</th><th>IQR IoU &gt; 0.05</th><th>top-1% IoU &gt; 0.04</th><th>concepts</th>
<th>units per concept (IQR)</th><th>brush score</th><th>seconds</th></tr>{count_rows}</table>
{_artifact_section(ctx, root, folder)}
{"".join(sections)}</body></html>"""
    (folder / "index.html").write_text(page)
    return folder / "index.html"
