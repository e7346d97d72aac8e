"""``ganpaint stamps evaluate``: stamp vs classic brush on held-out latents (``ganpaint.dissect.stamp_eval``).

ganpaint stamps evaluate --model scenes64                      # the default layer, 100 tries per placement
ganpaint stamps evaluate --model scenes64 --layer layer4 --tries 40 --figures docs/img --all-styles

Besides its JSON, it writes each concept's favourable-placement success (stamp and classic brush) into the
layer's stamps index as ``measured``: the page then starts with the unit brush where stamps measured worse.
With ``--all-styles`` it also writes each style's success there (``style_success``): styles below
``MIN_STYLE_SUCCESS`` are then not offered (``ganpaint.stamps.templates.offered_styles``).
With ``--all-styles`` every style is first measured at the favourable placement and the concept's default
style chosen (``best_style``: the most successful, the most realistic by the critic among styles within 0.02
of it); the placements are then measured with that style (without it: the index's default style).
"""

from __future__ import annotations

import argparse

FIGURE_CONCEPTS = ("door", "dome", "window", "tree", "tower")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stamps", help="measure concept stamps against the classic brush")
    s = p.add_subparsers(dest="stamps_command", required=True)
    e = s.add_parser("evaluate", help="success, collateral and realism of stamps vs the classic brush (held-out)")
    e.add_argument("--model", default="scenes64", help="model id: models/<id>/ (default scenes64)")
    e.add_argument("--layer", help="dissected layer with stamps (default: the model's default layer)")
    e.add_argument("--tries", type=int, default=100, help="held-out images per placement (default 100)")
    e.add_argument("--concepts", help="comma-separated (default: every concept with placements and stamps)")
    e.add_argument("--figures", help="folder for the example grids stamps-<concept>.png (default: none)")
    e.add_argument("--out", help="JSON output (default precomputed/<model>/stamps-eval-<layer>.json)")
    e.add_argument("--models-dir", default=None)
    e.add_argument("--precomputed-dir", default=None)
    e.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    e.add_argument("--all-styles", action="store_true", help="also measure every style at the favourable placement")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("--context", action="store_true", help='also the stamp with context "respect" (docs/context.md)')
    e.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> None:
    import json
    import time
    from pathlib import Path

    import torch
    from PIL import Image

    from ganpaint.dissect.stamp_eval import PLACES, evaluate_concept, example_grid
    from ganpaint.models import default_precomputed_dir, load_model_info
    from ganpaint.nn.proggan import image_latents, load_generator
    from ganpaint.precomputed import load_precomputed
    from ganpaint.segment import load_segmenter
    from ganpaint.stamps.templates import default_style
    from ganpaint.train.critic import Critic

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tries < 2:
        raise ValueError(f"--tries: expected at least 2, got {args.tries}")
    info = load_model_info(args.model, args.models_dir)
    layer = args.layer or info.default_layer
    root = Path(args.precomputed_dir) if args.precomputed_dir else default_precomputed_dir()
    pre = load_precomputed(root / args.model / f"{layer}.json")
    if not pre.stamps:
        raise ValueError(f"--layer {layer}: the dissection has no stamps (ganpaint dissect --stamps-only)")
    g = load_generator(info.generator_path).eval()
    segmenter = load_segmenter(None, info)
    critic_path = info.folder / "discriminator.pth"
    critic = None
    if critic_path.is_file():
        with torch.no_grad():
            refs = g(image_latents([99990, 99991, 99992], g.z_dim))  # (3, 3, R, R) fixed unedited references
        critic = Critic(critic_path, refs)
    else:
        print(f"no {critic_path}: realism (dD) not measured")
    names = args.concepts.split(",") if args.concepts else [c for c in PLACES if c in pre.stamps]
    for name in names:
        if name not in PLACES or name not in pre.stamps:
            raise ValueError(f"--concepts: {name!r} has no placements or no stamps; choose from {sorted(PLACES)}")
    t0 = time.time()
    results = {}
    for name in names:
        styles = []
        if args.all_styles:  # every style at the favourable placement first: they choose the default style
            for i in range(len(pre.stamps[name].styles)):
                one = evaluate_concept(
                    g, segmenter, critic, pre, name, args.tries, args.seed, False, 0, i, ("favourable",)
                )
                where, p = next(iter(one["placements"].items()))
                p.pop("examples")
                styles.append({"style": i, "natural_size": one["natural_size"], "placement": where, **p})
                dd = p.get("dD_stamp_minus_classic")
                print(
                    f"{name:7s} style {i} {where:18s} success {p['stamp']['success']:.2f} (classic "
                    f"{p['classic']['success']:.2f})"
                    + (f"  dD stamp-classic {dd['mean']:+.3f} {dd['ci95']}" if dd else "")
                )
        style = best_style(styles) if styles else default_style(pre.raw["stamps"]["concepts"][name])
        opts = {"style_index": style, "context": args.context}
        r = evaluate_concept(g, segmenter, critic, pre, name, args.tries, args.seed, not args.no_progress, **opts)
        for where, p in r["placements"].items():
            examples = p.pop("examples")
            if args.figures and p["kind"] == "favourable" and name in FIGURE_CONCEPTS and examples:
                out = Path(args.figures) / f"stamps-{name}.png"
                out.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(example_grid(examples)).save(out)
            st, cl = p["stamp"], p["classic"]
            dd = p.get("dD_stamp_minus_classic")
            print(
                f"{name:7s} {where:18s} {p['kind']:12s} style {style} n={st['tries']:3d}  success stamp "
                f"{st['success']:.2f} {st['success_ci95']} classic {cl['success']:.2f} {cl['success_ci95']}  "
                f"collateral stamp {st['collateral']['mean']:.2f} classic {cl['collateral']['mean']:.2f}"
                + (f"  dD stamp-classic {dd['mean']:+.3f} {dd['ci95']}" if dd else "")
                + (f"  in context {p['stamp in context']['success']:.2f}" if "stamp in context" in p else "")
            )
        if styles:
            r["styles"] = styles
        results[name] = r
    doc = {
        "model": args.model,
        "layer": layer,
        "tries": args.tries,
        "seed": args.seed,
        "critic": critic_path.name if critic else None,
        "seconds": round(time.time() - t0, 1),
        "method": "ganpaint.dissect.stamp_eval (module docstring)",
        "concepts": results,
    }
    out = Path(args.out) if args.out else root / args.model / f"stamps-eval-{layer}.json"
    if args.concepts and out.is_file():  # a run for some concepts keeps the others' earlier results
        old = json.loads(out.read_text())
        if (old.get("layer"), old.get("tries"), old.get("seed")) == (layer, args.tries, args.seed):
            doc["concepts"] = {**old["concepts"], **results}
    out.write_text(json.dumps(doc, indent=1, default=float, allow_nan=False))
    print(f"wrote {out} ({doc['seconds']:.0f} s)")
    path = root / args.model / f"{layer}.json"
    write_measured(path, results)
    print(f"wrote the measured success and default styles into {path}")


def best_style(styles: list[dict]) -> int:
    """The default style from per-style results: the most successful, and among those within 0.02 of it the
    one the critic preferred most over the classic brush (the largest, style 0, without a critic)."""
    top = max(s["stamp"]["success"] for s in styles)
    near = [s for s in styles if s["stamp"]["success"] >= top - 0.02]
    realism = [s for s in near if s.get("dD_stamp_minus_classic")]
    if not realism:
        return min(s["style"] for s in near)
    return max(realism, key=lambda s: s["dD_stamp_minus_classic"]["mean"])["style"]


def write_measured(path, results: dict) -> None:
    """Each concept's default style and its favourable-placement success (stamp and classic brush) into the
    layer's stamps index (``measured``)."""
    import json

    from ganpaint.precomputed import write_precomputed

    layer_doc = json.loads(path.read_text())
    for name, r in results.items():
        where, p = next((w, p) for w, p in r["placements"].items() if p["kind"] == "favourable")
        layer_doc["stamps"]["concepts"][name]["measured"] = {
            "placement": where,
            "tries": p["stamp"]["tries"],
            "style": r["style"],
            "stamp_success": p["stamp"]["success"],
            "classic_success": p["classic"]["success"],
        }
        if p.get("dD_stamp_minus_classic"):
            layer_doc["stamps"]["concepts"][name]["measured"]["dD"] = p["dD_stamp_minus_classic"]["mean"]
        styles = sorted(r.get("styles", []), key=lambda s: s["style"])
        if [s["style"] for s in styles] == list(range(len(layer_doc["stamps"]["concepts"][name]["styles"]))):
            # every style measured (--all-styles): the near-invisible ones are not offered (offered_styles)
            layer_doc["stamps"]["concepts"][name]["measured"]["style_success"] = [s["stamp"]["success"] for s in styles]
    write_precomputed(layer_doc, path)
