"""``ganpaint dissect``: dissect one layer or all layers of a model into ``precomputed/<model_id>/``.

ganpaint dissect --model scenes64 --all-layers            # layer3 .. layer10, picks the default layer
ganpaint dissect --model scenes64 --layer layer6 --samples 1000 --seed 0
ganpaint dissect --model lsun-church --weights church.pth --segmenter path/to/segmenter.pth --layer layer4
ganpaint dissect --checkpoint churchoutdoor_lsun.pth --segmenter hf:segformer-b0-ade --layer layer4   # docs/byo-gan.md
ganpaint dissect --model scenes64 --all-layers --stamps-only   # add concept stamps to existing dissections
ganpaint dissect --model scenes64 --layer layer4 --artifacts     # rank artifact units (precomputed/<id>/artifacts.json)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dissect", help="find each concept's units (IoU, ACE), k, and write precomputed/<model>/")
    p.add_argument(
        "--model", "--model-id", help="model id: models/<id>/ (with --checkpoint: default the file name's stem)"
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--layer", help="layer to dissect (default: the model's default_layer)")
    which.add_argument("--all-layers", action="store_true", help="layer3 .. the last layer before the output (toRGB)")
    p.add_argument("--samples", type=int, default=1000, help="selection latents for IoU/k/quantiles (default 1000)")
    p.add_argument("--heldout", type=int, default=120, help="held-out latents for ablation effects (default 120)")
    p.add_argument("--insertion", type=int, default=48, help="held-out latents per insertion measurement")
    p.add_argument("--context", type=int, default=120, help="held-out latents per context measurement")
    p.add_argument("--context-windows", type=int, default=4, help="insertion windows per latent in the context")
    p.add_argument(
        "--random-draws", type=int, default=8, help="random unit sets per size (1,2,3,5,10,20) in the random baseline"
    )
    p.add_argument(
        "--erase-choice",
        type=int,
        default=120,
        help="selection latents that choose each erase set's ranking (0: no erase sets, erase with the draw units)",
    )
    p.add_argument("--curve", type=int, default=24, help="held-out latents per ACE/removal curve point")
    p.add_argument(
        "--curve-sizes",
        default="1-40",
        help="unit-set sizes of the ACE/removal curves, ranges with optional step, e.g. 1-10,12-20:2 (default 1-40)",
    )
    p.add_argument("--alpha-steps", type=int, default=64, help="steps of the ACE alpha optimisation (0: IoU init)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--cache-dir", default="cache/dissect", help="cached statistics (default cache/dissect)")
    p.add_argument(
        "--out-dir", default=None, help="precomputed root (default: $GANPAINT_PRECOMPUTED_DIR or precomputed)"
    )
    p.add_argument("--models-dir", default=None, help="models root (default: $GANPAINT_MODELS_DIR or models)")
    p.add_argument(
        "--weights",
        "--checkpoint",
        default=None,
        help="generator .pth (an external checkpoint, or instead of the "
        "model folder's); a new model id also gets models/<id>/model.json naming it (docs/byo-gan.md)",
    )
    p.add_argument(
        "--segmenter",
        default=None,
        help="'embedded' (default), a segmenter .pth, hf:FOLDER_OR_HUB (docs/byo-gan.md), module:factory",
    )
    p.add_argument("--device", default="auto", help="auto (default: cuda when present, else cpu), cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--stamp-samples", type=int, default=0, help="selection latents for the stamps (default: --samples)")
    stamps = p.add_mutually_exclusive_group()
    stamps.add_argument("--no-stamps", action="store_true", help="skip the concept stamps (docs/dissection.md)")
    stamps.add_argument(
        "--stamps-only",
        action="store_true",
        help="add concept stamps to the existing dissection of each layer, recomputing nothing else",
    )
    stamps.add_argument(
        "--artifacts",
        action="store_true",
        help="rank the layer's units by the Frechet distance of their top images to real renders (artifact units; "
        "docs/dissection.md), recomputing nothing else; writes precomputed/<model>/artifacts.json",
    )
    p.add_argument("--artifact-samples", type=int, default=10000, help="--artifacts: generated samples (10000)")
    p.add_argument("--artifact-top", type=int, default=500, help="--artifacts: top samples per unit (500)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_dissect)


@contextlib.contextmanager
def _log_to_stderr():
    """While the command runs, the library's messages (logger ``ganpaint``, INFO and up) print on stderr as
    plain lines; the handler goes again afterwards (it holds the stderr of its time)."""
    log = logging.getLogger("ganpaint")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _dissect(args: argparse.Namespace) -> None:
    with _log_to_stderr():
        _run(args)


def _settings(args: argparse.Namespace):
    from ganpaint.dissect.causal import AlphaSettings
    from ganpaint.dissect.common import parse_sizes
    from ganpaint.dissect.run import DissectSettings

    return DissectSettings(
        samples=args.samples,
        heldout=args.heldout,
        insertion=args.insertion,
        context=args.context,
        context_windows=args.context_windows,
        random_draws=args.random_draws,
        erase_choice=args.erase_choice,
        curve=args.curve,
        curve_sizes=parse_sizes(args.curve_sizes),
        seed=args.seed,
        batch=args.batch,
        alpha=AlphaSettings(steps=args.alpha_steps),
        stamps=not args.no_stamps,
        stamp_samples=args.stamp_samples,
    )


def _model_info(args: argparse.Namespace):
    """models/<id>/model.json, or None for an external checkpoint not registered yet (which needs
    --segmenter); sets ``args.model`` from the checkpoint's name when not given."""
    from ganpaint.models import check_model_id, load_model_info

    if args.model is None:
        if not args.weights:
            raise ValueError("--model: required (or give --checkpoint PATH.pth to derive it from the file name)")
        from ganpaint.checkpoints import model_id_from_checkpoint

        args.model = model_id_from_checkpoint(args.weights)
    check_model_id(args.model)
    try:
        return load_model_info(args.model, args.models_dir)
    except FileNotFoundError:
        if args.weights and not args.segmenter:
            raise ValueError(
                f"--segmenter: required for the external checkpoint {args.weights} (no models/{args.model}/), "
                "e.g. --segmenter hf:path/to/segformer-ade (docs/byo-gan.md)"
            ) from None
        if not args.weights:
            raise
        return None


def _run(args: argparse.Namespace) -> None:
    import time
    from pathlib import Path

    import torch

    from ganpaint.dissect.run import Context, add_stamps, default_layers, dissect_layers
    from ganpaint.models import default_precomputed_dir
    from ganpaint.nn.proggan import load_generator
    from ganpaint.segment import load_segmenter
    from ganpaint.train.segmenter import sha256_of

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device!r}: CUDA is not available")
    info = _model_info(args)
    weights = Path(args.weights) if args.weights else info.generator_path
    generator = load_generator(weights).to(args.device)
    segmenter = load_segmenter(args.segmenter, info)
    if hasattr(getattr(segmenter, "net", None), "to"):
        segmenter.net.to(args.device)
    ctx = Context(
        generator,
        segmenter,
        args.model,
        sha256_of(weights),
        _settings(args),
        Path(args.cache_dir),
        Path(args.out_dir) if args.out_dir else default_precomputed_dir(),
        device=args.device,
        progress=not args.no_progress,
    )
    if args.all_layers:
        layers = default_layers(generator)
    else:
        layers = [args.layer or (info.default_layer if info else "layer4")]
    t0 = time.time()
    if args.artifacts:
        from ganpaint.dissect.artifacts_cli import run_artifacts

        return run_artifacts(ctx, layers, args.artifact_samples, args.artifact_top, report=not args.no_report)
    if args.stamps_only:
        for layer in layers:
            doc = add_stamps(ctx, layer)
            styles = {n: len(c["styles"]) for n, c in doc.get("stamps", {}).get("concepts", {}).items()}
            print(f"{layer}: stamps for {len(styles)} concepts (styles: {styles}), {time.time() - t0:.0f} s")
        return
    summary = dissect_layers(ctx, layers, report=not args.no_report)
    for layer, s in summary["layers"].items():
        c = s["counts"]
        print(
            f"{layer}: {c['units']} units, {c['matching_iqr_0.05']} match (IQR IoU>0.05), "
            f"{c['matching_top1_0.04']} (top-1% IoU>0.04), score {s['score']:.3f}, {s['seconds']:.0f} s"
        )
    print(f"default layer: {summary['default_layer']} ({time.time() - t0:.0f} s); wrote {ctx.out_dir / ctx.model_id}/")
    from ganpaint.checkpoints import REGISTERED_BY, register_checkpoint

    external = info is None or info.provenance.get("registered_by") == REGISTERED_BY
    if args.weights and external:  # an external checkpoint: models/<id>/model.json names it, so serve finds it
        folder = register_checkpoint(
            weights, args.model, args.models_dir, ctx.out_dir, summary["default_layer"], {"segmenter": ctx.seg_id}
        )
        print(f"wrote {folder / 'model.json'}; serve it: ganpaint serve --checkpoint {weights} --model {args.model}")
