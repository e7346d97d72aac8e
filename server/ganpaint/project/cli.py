"""``ganpaint project IMAGE --model ID --out FOLDER``: project a picture, write its reconstruction, numbers, state."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="project a picture into a model's generator (paint on your own picture)")
    p.add_argument("image", type=Path, help="a PNG, JPEG or WebP file")
    p.add_argument("--model", default=None, help="model id (default: the embedded default)")
    p.add_argument("--models-dir", type=Path, default=None, help="default: GANPAINT_MODELS_DIR or models/")
    p.add_argument("--out", type=Path, required=True, help="folder for reconstruction.png, numbers.json, state.pt")
    p.add_argument("--layer", default=None, help="painting layer (default: the model's)")
    p.add_argument("--crop", default=None, help="x,y,w,h in 0..1 (default: the centred square)")
    p.add_argument("--z-steps", type=int, default=None)
    p.add_argument("--feature-steps", type=int, default=None)
    p.add_argument("--adapt-steps", type=int, default=None)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.set_defaults(func=run)


def register_encoder(sub: argparse._SubParsersAction) -> None:
    """``ganpaint train encoder`` (registered by ganpaint.train.cli with the other ``train`` commands)."""
    t = sub.add_parser("encoder", help="train (or continue) the projection's encoder for a model")
    t.add_argument("--model", default=None, help="model id (default: the embedded default)")
    t.add_argument("--models-dir", type=Path, default=None, help="default: GANPAINT_MODELS_DIR or models/")
    t.add_argument("--layer", default=None, help="painting layer (default: the model's)")
    t.add_argument("--minutes", type=float, default=30.0, help="wall-clock minutes to train this time")
    t.add_argument("--run", type=Path, default=None, help="checkpoint (default runs/encoder-<model>.pt): resumes")
    t.add_argument("--out", type=Path, default=None, help="default: the model folder's encoder.pth")
    t.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    t.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> None:
    import json

    import torch

    from ganpaint.models import DEFAULT_MODEL_ID, default_models_dir, load_model_info
    from ganpaint.nn.proggan import load_generator, serving_copy
    from ganpaint.project.encoder import ENCODER_FILE, train_encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    models_dir = args.models_dir or default_models_dir()
    info = load_model_info(args.model or DEFAULT_MODEL_ID, models_dir)
    g = serving_copy(load_generator(info.generator_path))
    out = args.out or info.generator_path.parent / ENCODER_FILE
    run = args.run or Path("runs") / f"encoder-{info.id}.pt"
    numbers = train_encoder(g, args.layer or info.default_layer, out, run, args.minutes)
    print(f"{out}: {json.dumps(numbers)}")


def run(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    import torch
    from PIL import Image

    from ganpaint.models import DEFAULT_MODEL_ID, default_models_dir, load_model_info
    from ganpaint.nn.proggan import load_generator, serving_copy
    from ganpaint.project.encoder import projector_for
    from ganpaint.project.images import decode_picture
    from ganpaint.project.projector import ProjectSettings, image_tensor

    if args.threads:
        torch.set_num_threads(args.threads)
    info = load_model_info(args.model or DEFAULT_MODEL_ID, args.models_dir or default_models_dir())
    g = serving_copy(load_generator(info.generator_path))  # the server's copy: states load there unchanged
    crop = [float(v) for v in args.crop.split(",")] if args.crop else None
    pixels = decode_picture(args.image.read_bytes(), g.resolution, crop=crop, field="IMAGE")
    overrides = {
        k: v
        for k, v in (
            ("z_steps", args.z_steps),
            ("feature_steps", args.feature_steps),
            ("adapt_steps", args.adapt_steps),
        )
        if v is not None
    }
    settings = dataclasses.replace(ProjectSettings(), **overrides) if overrides else None
    projector = projector_for(g, args.layer or info.default_layer, info.generator_path.parent, settings)

    def progress(stage: str, frac: float) -> None:
        print(f"\r{stage:9s} {frac:4.0%}", end="", flush=True)

    proj = projector.project(image_tensor(pixels), progress)
    print()
    args.out.mkdir(parents=True, exist_ok=True)
    from ganpaint.project.projector import to_uint8

    Image.fromarray(pixels).save(args.out / "original.png")
    Image.fromarray(to_uint8(proj.generate())).save(args.out / "reconstruction.png")
    numbers = {"model": info.id, "image": str(args.image), **proj.numbers()}
    (args.out / "numbers.json").write_text(json.dumps(numbers, indent=1) + "\n")
    torch.save({"model": info.id, **proj.state()}, args.out / "state.pt")
    psnr = ", ".join(f"{k} {v:.1f} dB" for k, v in proj.psnr.items())
    total = sum(proj.ms.values()) / 1000
    print(f"{args.image} -> {args.out}: {psnr}; {total:.1f} s; weight delta {proj.delta['total']:.3f}")
