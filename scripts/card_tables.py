"""Print the Markdown tables of the scenes64 model card from what the commands wrote.

    python scripts/card_tables.py [--model scenes64] [--also layer4 layer6]

Reads models/<id>/{model.json, metrics.json} and precomputed/<id>/{summary.json, <layer>.json,
stamps-eval-<layer>.json}; the card's
prose is written by hand around these tables, so its numbers always come from files anyone can re-make.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRUSHES = ("tree", "grass", "door", "sky", "cloud", "brick", "dome")


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="scenes64")
    p.add_argument("--also", nargs="*", default=["layer4", "layer6"], help="more layers to print brush tables for")
    args = p.parse_args()
    model_dir, pre_dir = ROOT / "models" / args.model, ROOT / "precomputed" / args.model
    meta = json.loads((model_dir / "model.json").read_text())
    prov = meta["provenance"]
    print(f"images seen {prov['images_seen'] / 1000:.1f}k, {prov['train_minutes']:.1f} min of training compute")

    metrics = json.loads((model_dir / "metrics.json").read_text())
    print(f"\nFSD {metrics['fsd']}\nfloor {metrics['fsd_floor']}\nbrush check {metrics['brush_check']}\n")
    print("| concept | images with it, gen / data | pixel share, gen / data | ratio |\n|---|---|---|---|")
    for name, c in metrics["concepts"].items():
        g, d = c["generated"], c["data"]
        print(
            f"| {name} | {pct(g['image_fraction'])} / {pct(d['image_fraction'])} | "
            f"{pct(g['pixel_share'])} / {pct(d['pixel_share'])} | {c['pixel_ratio']:.2f} |"
        )

    summary = json.loads((pre_dir / "summary.json").read_text())
    print(f"\ndefault layer {summary['default_layer']}: {summary['why']}\n")
    print("| layer | units, h, w | latents (sel/held-out) | units matching (top-1% IoU > 0.04) | concepts | score |")
    print("|---|---|---|---|---|---|")
    for layer, s in summary["layers"].items():
        doc = json.loads((pre_dir / f"{layer}.json").read_text())
        n = doc["samples"]
        print(
            f"| {layer} | {', '.join(map(str, doc['feature_shape']))} | {n['selection']}/{n['heldout']} | "
            f"{s['counts']['matching_top1_0.04']} | {len(s['counts']['concepts_top1_0.04'])} | {s['score']:.2f} |"
        )

    default = summary["default_layer"]
    for layer in [default] + [ly for ly in args.also if ly != default and ly in summary["layers"]]:
        brush_table(pre_dir, layer)
    if (pre_dir / f"stamps-eval-{default}.json").is_file():
        stamps_tables(pre_dir / f"stamps-eval-{default}.json")


def ci(m: dict | None, digits: int = 2) -> str:
    if not m or m["mean"] is None:
        return "-"
    if not m["ci95"]:
        return f"{m['mean']:+.{digits}f} (n = {m['n']})"
    return f"{m['mean']:+.{digits}f} [{m['ci95'][0]:+.{digits}f}, {m['ci95'][1]:+.{digits}f}]"


def stamps_tables(path: Path) -> None:
    """Stamp vs classic brush (``ganpaint stamps evaluate``): every placement, then every style."""
    doc = json.loads(path.read_text())
    index = json.loads((path.parent / f"{doc['layer']}.json").read_text())["stamps"]["concepts"]
    print(
        f"\nstamps vs classic brush at {doc['layer']}, up to {doc['tries']} held-out images per placement "
        f"({path.name})\n"
    )
    print(
        "| concept | placement | success: stamp / classic (95% CI) | collateral /255: stamp / classic | "
        "dD stamp - classic | dD where it succeeded: stamp / classic |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in doc["concepts"].items():
        for where, p in r["placements"].items():
            st, cl = p["stamp"], p["classic"]
            print(
                f"| {name} | {where} ({p['kind']}, n = {st['tries']}) | **{st['success']:.2f}** "
                f"[{st['success_ci95'][0]:.2f}, "
                f"{st['success_ci95'][1]:.2f}] / {cl['success']:.2f} [{cl['success_ci95'][0]:.2f}, "
                f"{cl['success_ci95'][1]:.2f}] | {st['collateral']['mean']:.2f} / {cl['collateral']['mean']:.2f} | "
                f"{ci(p.get('dD_stamp_minus_classic'))} | {ci(st.get('dD_succeeded'))} / {ci(cl.get('dD_succeeded'))} |"
            )
    print("\n| concept | style | members | natural size (px) | success: stamp / classic | dD stamp - classic |")
    print("|---|---|---|---|---|---|")
    for name, r in doc["concepts"].items():
        for s in r.get("styles", []):
            w, h = s["natural_size"]
            members = index[name]["styles"][s["style"]]["members"]
            print(
                f"| {name} | {s['style']} | {members} | {w:g} x {h:g} | {s['stamp']['success']:.2f} / "
                f"{s['classic']['success']:.2f} | {ci(s.get('dD_stamp_minus_classic'))} |"
            )


def brush_table(pre_dir: Path, layer: str) -> None:
    doc = json.loads((pre_dir / f"{layer}.json").read_text())
    print(f"\n{layer}, {doc['samples']['heldout']} held-out latents")
    rb = doc["layer_summary"].get("random_baseline")
    at20 = rb["sizes"].index(20) if rb and rb["draws"] and 20 in rb["sizes"] else None
    print(
        "| concept | removed: ACE top 20 | IoU top 20 | removal top 20 | erase set (ranking) | one random 20 "
        "| random 20, mean abs over draws | ACE (ACE/IoU top/random) | brush | draw | gain | spill |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in BRUSHES:
        c = doc["concepts"].get(name)
        if c is None:
            print(f"| {name} | absent | | | | | | | | | | |")
            continue
        e = c["effect"]
        ins = e[f"{c['ranking']}_ranked"]["insertion"][c["draw_rule"]]
        print(
            f"| {name} | {pct(e['ace_ranked']['removed'])} | {pct(e['iou_ranked']['removed'])} | "
            f"{pct(e['removal_ranked']['removed']) if 'removal_ranked' in e else '-'} | "
            f"{pct(e['erase']['removed']) + ' (' + e['erase']['ranking'] + ')' if 'erase' in e else '-'} | "
            f"{pct(e['random']['removed'])} | "
            f"{pct(rb['concepts'][name]['mean_abs'][at20]) if at20 is not None else '-'} | "
            f"{e['ace_ranked']['ace']:.2f} / {e['iou_ranked']['ace']:.2f} / "
            f"{e['random'].get('ace', float('nan')):.2f} | "
            f"{c['ranking']} | {c['draw_rule']} | {ins['gain']:.3f} | {ins['spill']:.2f} |"
        )
    if rb and rb["draws"]:
        units = doc["feature_shape"][0]
        print(f"\nrandom baseline: mean |removed| (max) over {rb['draws']} random sets of the {units} units")
        print("| concept | " + " | ".join(f"{n} units" for n in rb["sizes"]) + " |")
        print("|---|" + "---|" * len(rb["sizes"]))
        for name in BRUSHES:
            v = rb["concepts"].get(name)
            if v:
                cells = " | ".join(f"{pct(m)} ({pct(x)})" for m, x in zip(v["mean_abs"], v["max_abs"], strict=True))
                print(f"| {name} | {cells} |")
    print("\ncontext (insertion success by class at the location):")
    for name in ("door", "dome", "tree"):
        if name in doc["concepts"]:
            ctx = doc["concepts"][name]["context"]
            print(f"- {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(ctx.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
