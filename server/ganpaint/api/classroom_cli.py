"""``ganpaint classroom``: ``ganpaint serve`` for a class on the LAN; argparse-only imports at module top.

    ganpaint classroom --name "7B art"       # listens on 0.0.0.0:8000, prints join URLs, a QR code, the teacher URL

It sets ``GANPAINT_CLASS_*`` (enabled, name, a fresh teacher key from ``secrets.token_urlsafe``, the data folder,
this machine's join URLs) and serves as ``ganpaint serve`` does, in one worker process (the class lives in
it). The teacher URL carries the key in its fragment (``/teacher#key=...``): browsers send no fragment to a
server, and the teacher page drops it from the address bar once read. It is also written to
``<data dir>/teacher-url.txt`` (readable by this user only). Teacher guide: docs/classroom.md.
"""

from __future__ import annotations

import argparse
import os


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classroom", help="serve a class on this network: join URLs + QR code, a teacher page")
    p.add_argument("--name", default="ganpaint class", help="the class's name, shown on every student's page")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0: every network)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", help="the class database and albums (default: data/classroom in the checkout)")
    p.add_argument("--model", help="default model id (default: GANPAINT_MODEL or scenes64)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: GANPAINT_DEVICE or cpu")
    p.add_argument("--models-dir", help="folder of models/<id>/ (default: GANPAINT_MODELS_DIR or ./models)")
    p.add_argument("--precomputed-dir", help="folder of precomputed/<id>/ (default: GANPAINT_PRECOMPUTED_DIR)")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=_classroom)


def teacher_url(base: str, key: str) -> str:
    return f"{base.rstrip('/')}/teacher#key={key}"


def _classroom(args: argparse.Namespace) -> None:
    import secrets
    from pathlib import Path

    from ganpaint import REPO_ROOT
    from ganpaint.api.cli import _serve
    from ganpaint.api.join import join_urls

    data = Path(args.data_dir or os.environ.get("GANPAINT_CLASS_DIR") or REPO_ROOT / "data" / "classroom").resolve()
    key = os.environ.get("GANPAINT_CLASS_TEACHER_KEY") or secrets.token_urlsafe(18)
    urls = join_urls(args.host, args.port)
    os.environ.update(
        GANPAINT_CLASS_ENABLED="1",
        GANPAINT_CLASS_NAME=args.name,
        GANPAINT_CLASS_TEACHER_KEY=key,
        GANPAINT_CLASS_DIR=str(data),
        GANPAINT_CLASS_JOIN_URLS=",".join(urls),
    )
    local = teacher_url(f"http://127.0.0.1:{args.port}", key)
    data.mkdir(parents=True, exist_ok=True)
    saved = data / "teacher-url.txt"
    saved.touch(mode=0o600)
    saved.write_text(local + "\n")
    after = (
        f"class {args.name!r}: teacher page (keep this private, do not project it; also in {saved}):\n  {local}\n"
        "  on the teacher page: the class wall, spotlight, pause, a big QR code to project, end class + album"
    )
    args.workers, args.checkpoint, args.dtype, args.baseline, args.classic_client = 1, None, None, False, None
    _serve(args, after_join=after)
