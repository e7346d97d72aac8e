"""``ganpaint train``: train the scene-world GAN (resumable) and export it in the published layout."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the embedded default GAN or segmenter on the scene world")
    sub = p.add_subparsers(dest="train_command", required=True)

    g = sub.add_parser("gan", help="progressive GAN training; checkpoints every few minutes; --resume continues")
    g.add_argument(
        "--data", default="data/scenes64", help="a dataset from `ganpaint scenes render` (default data/scenes64)"
    )
    g.add_argument(
        "--run", default="runs/gan64", help="run folder: checkpoint, log.jsonl, samples (default runs/gan64)"
    )
    g.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt")
    g.add_argument("--kimg", type=float, default=1000, help="stop after this many thousand images seen in total")
    g.add_argument("--minutes", type=float, default=float("inf"), help="stop after this many minutes of this run")
    g.add_argument("--checkpoint-minutes", type=float, default=3.0, help="minutes between checkpoints (default 3)")
    g.add_argument("--channels", help="generator widths at 4,8,16,32,64 px, e.g. 256,128,64,32,16 (new runs only)")
    g.add_argument("--z-dim", type=int, default=128, help="latent size (new runs only, default 128)")
    g.add_argument("--batch", type=int, default=32)
    g.add_argument("--kimg-fade", help="thousands of images per fade-in, per doubling, e.g. 8,12,16,20")
    g.add_argument("--kimg-stable", help="thousands of images per stable phase below the final size, e.g. 8,12,16")
    g.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    g.add_argument("--no-progress", action="store_true")
    g.set_defaults(func=_train_gan)

    e = sub.add_parser("export", help="ship a run as models/<id>/: EMA generator, model.json, samples")
    e.add_argument("--run", default="runs/gan64")
    e.add_argument("--out", required=True, help="model folder, e.g. models/scenes64")
    e.add_argument("--id", help="model id (default: the folder name)")
    e.add_argument("--default-layer", default="layer6", help="painting layer when model.json has none yet")
    e.add_argument("--gallery", type=int, default=16, help="curated gallery size (default 16)")
    e.set_defaults(func=_export)

    k = sub.add_parser("pack", help="write a run's state small (fp16, no Adam moments) to commit and resume elsewhere")
    k.add_argument("--run", default="runs/gan64")
    k.add_argument(
        "--out",
        required=True,
        help="e.g. models/scenes64/train_state.pt (resume: copy it to RUN/checkpoint.pt)",
    )
    k.set_defaults(func=_pack)

    c = sub.add_parser("critic", help="ship a training state's discriminator as models/<id>/discriminator.pth")
    c.add_argument("--state", default="models/scenes64/train_state.pt", help="a packed or full training state")
    c.add_argument("--out", default="models/scenes64/discriminator.pth")
    c.set_defaults(func=_critic)
    _register_segmenter(sub)
    from ganpaint.project.cli import register_encoder
    from ganpaint.refine.cli import register_refiner

    register_encoder(sub)
    register_refiner(sub)


def _critic(args: argparse.Namespace) -> None:
    from ganpaint.train.critic import export_critic

    out = export_critic(args.state, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def _train_gan(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch

    from ganpaint.scenes.dataset import load_dataset
    from ganpaint.train.gan import GanConfig, Trainer, train

    if args.threads:
        torch.set_num_threads(args.threads)
    images, _labels, meta = load_dataset(args.data)
    if args.resume:
        if not (Path(args.run) / "checkpoint.pt").is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {args.run}/checkpoint.pt")
        trainer = Trainer.resume(args.run, images, **_schedule(args))
        print(f"resumed {args.run} at {trainer.imgs_seen / 1000:.1f} kimg, {trainer.wall / 60:.1f} min trained")
    else:
        if (Path(args.run) / "checkpoint.pt").exists():
            raise ValueError(f"{args.run} already holds a checkpoint: pass --resume, or choose another --run")
        cfg = GanConfig(data=args.data, resolution=int(meta["size"]), z_dim=args.z_dim, batch=args.batch)
        for key, value in _schedule(args).items():
            setattr(cfg, key, value)
        if args.channels:
            cfg.g_channels = [int(c) for c in args.channels.split(",")]
        trainer = Trainer(cfg, args.run, images)
    train(trainer, args.kimg, args.minutes, args.checkpoint_minutes, progress=not args.no_progress)


def _schedule(args: argparse.Namespace) -> dict:
    """Schedule overrides given on the command line."""
    out = {}
    for key in ("kimg_fade", "kimg_stable"):
        if getattr(args, key):
            out[key] = [float(v) for v in getattr(args, key).split(",")]
    return out


def _export(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ganpaint.train.export import export_model

    meta = export_model(args.run, args.out, args.id or Path(args.out).name, args.default_layer, args.gallery)
    kimg = meta["provenance"]["images_seen"] / 1000
    print(f"exported {kimg:.1f} kimg EMA generator to {args.out}/ (model.json, samples.png, gallery {meta['gallery']})")


def _pack(args: argparse.Namespace) -> None:
    import torch

    from ganpaint.train.gan import Trainer, pack_state

    trainer = Trainer.resume(args.run)
    torch.save(pack_state(trainer), args.out)
    print(f"packed {trainer.imgs_seen / 1000:.1f} kimg of {args.run} into {args.out}")


def _register_segmenter(sub) -> None:
    s = sub.add_parser("segmenter", help="train the scene-world segmenter (U-Net) and evaluate it on held-out renders")
    s.add_argument("--data", default="data/scenes64", help="a dataset from `ganpaint scenes render`")
    s.add_argument("--out", default="models/scenes64/segmenter.pth", help="weights file; segmenter_eval.json beside")
    s.add_argument("--run", default="runs/segmenter64", help="checkpoint folder (default runs/segmenter64)")
    s.add_argument("--minutes", type=float, default=8.0, help="training minutes of this run (default 8)")
    s.add_argument("--heldout-seeds", default="1000000..", help="START.. or START..STOP of fresh scenes to evaluate on")
    s.add_argument("--heldout-n", type=int, default=1000, help="held-out scenes when STOP is not given (default 1000)")
    s.add_argument("--resume", action="store_true", help="continue from RUN/checkpoint.pt (extends the plan)")
    s.add_argument("--batch", type=int, default=32)
    s.add_argument("--widths", default="16,32,96,192", help="U-Net widths per scale (new runs only)")
    s.add_argument("--checkpoint-minutes", type=float, default=2.0)
    s.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    s.add_argument("--eval-only", action="store_true", help="skip training; evaluate --out")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_train_segmenter)


def _train_segmenter(args: argparse.Namespace) -> None:
    from ganpaint.train.segmenter_cli import run

    run(args)
