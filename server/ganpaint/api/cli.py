"""``ganpaint serve`` (uvicorn) and ``ganpaint make-tiny``; argparse-only imports at module top."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the painting server (web page at /, API, /ws/paint, OpenAPI at /docs)")
    p.add_argument("--model", help="default model id (default: GANPAINT_MODEL or scenes64)")
    p.add_argument("--checkpoint", help="serve an external ProGAN .pth (id: --model or the file name; docs/byo-gan.md)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network, e.g. for a class "
        "on the same Wi-Fi: the join URLs and a QR code are printed)",
    )
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: GANPAINT_DEVICE or cpu")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (each loads the model)")
    p.add_argument("--models-dir", help="folder of models/<id>/ (default: GANPAINT_MODELS_DIR or ./models)")
    p.add_argument("--precomputed-dir", help="folder of precomputed/<id>/ (default: GANPAINT_PRECOMPUTED_DIR)")
    p.add_argument("--threads", type=int, help="torch threads per worker (default: all cores)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], help="default float32")
    p.add_argument("--baseline", action="store_true", help="the original GANPaint server's design (benchmarks)")
    p.add_argument(
        "--classic-client",
        metavar="DIR",
        help="serve the original GANPaint client you downloaded (its client_dist/) at /client/ (docs/api.md)",
    )
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=_serve)

    t = sub.add_parser("make-tiny", help="write a tiny seeded model + dissection (tests, demos)")
    t.add_argument("--out", required=True, help="writes OUT/models/<id>/ and OUT/precomputed/<id>/")
    t.add_argument("--id", default="tiny", help="model id (default tiny)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--size", type=int, default=32, choices=[32, 64, 128, 256], help="output px (default 32)")
    t.add_argument("--refiner", action="store_true", help="also a seeded random 4x refiner (sharp-view tests)")
    t.set_defaults(func=_make_tiny)


FLAG_ENV = {
    "model": "GANPAINT_MODEL",
    "device": "GANPAINT_DEVICE",
    "models_dir": "GANPAINT_MODELS_DIR",
    "precomputed_dir": "GANPAINT_PRECOMPUTED_DIR",
    "threads": "GANPAINT_THREADS",
    "dtype": "GANPAINT_DTYPE",
}


def _serve(args: argparse.Namespace, after_join: str = "") -> None:
    # OpenMP threads that spin while idle starve the render thread on a busy 2-core machine (measured: a
    # 3 ms render took 80-300 ms with the default policy); must be set before torch loads OpenMP
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.checkpoint:  # writes models/<id>/model.json naming the weights (ganpaint.checkpoints)
        from ganpaint.checkpoints import prepare_serve

        args.model, warning = prepare_serve(args.checkpoint, args.model, args.models_dir, args.precomputed_dir)
        if warning:
            print(f"ganpaint serve: warning: {warning}", file=sys.stderr)
    # flags become GANPAINT_* variables, so every uvicorn worker process builds the same Settings
    for name, env in FLAG_ENV.items():
        value = getattr(args, name)
        if value is not None:
            os.environ[env] = str(os.path.abspath(value) if name.endswith("_dir") else value)
    if args.baseline:
        os.environ["GANPAINT_BASELINE"] = "1"
    if args.classic_client:
        if not os.path.isfile(os.path.join(args.classic_client, "ganpaint.html")):
            where = repr(args.classic_client)
            print(f"ganpaint serve: error: --classic-client: no ganpaint.html in {where}", file=sys.stderr)
            raise SystemExit(2)
        os.environ["GANPAINT_CLASSIC_CLIENT"] = os.path.abspath(args.classic_client)

    if "GANPAINT_UPLOAD_DIR" not in os.environ:  # uploads survive a restart (bounded: docs/projection.md)
        from ganpaint import REPO_ROOT

        os.environ["GANPAINT_UPLOAD_DIR"] = str(REPO_ROOT / "data" / "uploads")

    import uvicorn

    from ganpaint.api.guards.protocol import uvicorn_options
    from ganpaint.api.settings import Settings
    from ganpaint.api.startup import startup_problem

    try:
        settings = Settings()
        problem = startup_problem(settings)
    except ValueError as exc:  # a GANPAINT_* variable that does not parse (pydantic's ValidationError)
        problem = f"settings: {exc}".replace("\n", " ")
    if problem:
        print(f"ganpaint serve: error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    from ganpaint.api.join import join_message

    print(f"ganpaint: serving {settings.model!r} on port {args.port} (API docs at /docs)", flush=True)
    print(join_message(args.host, args.port), flush=True)
    if after_join:  # ganpaint classroom: the teacher's URL (api/classroom_cli.py)
        print(after_join, flush=True)
    uvicorn.run(
        "ganpaint.api.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **uvicorn_options(settings, args.log_level),  # limits and timeouts for facing clients (api/guards/protocol.py)
    )


def _make_tiny(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ganpaint.tiny import make_tiny_model

    out = Path(args.out)
    folder = make_tiny_model(out / "models", out / "precomputed", args.id, args.seed, args.size, args.refiner)
    print(f"wrote {folder}/ and {out / 'precomputed' / args.id}/")
    print(
        f"serve it: ganpaint serve --models-dir {out / 'models'} "
        f"--precomputed-dir {out / 'precomputed'} --model {args.id}"
    )
