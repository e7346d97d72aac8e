"""Upload flood (issue 32): many concurrent big junk bodies on ``POST /uploads``; the server's memory, measured.

    python bench/upload_flood.py                      # 190 x 8 MiB, each from its own loopback address
    python bench/upload_flood.py --same-address       # all from 127.0.0.2 (the per-address cap refuses most)
    python bench/upload_flood.py --png-header         # bodies that start like a real PNG (read whole, spooled)
    python bench/upload_flood.py --server-path /tmp/old/server   # another checkout's server (before/after)

Starts ``ganpaint serve`` on 127.0.0.1 (tiny model, one worker), then opens ``--clients`` connections at once,
each declaring and sending ``--mib`` MiB that are no picture (as fast as the server reads them), and reads
each answer. Prints the answers' statuses, the server's RSS (start, peak while the flood runs, and after
``--idle`` seconds idle) and the targets: RSS growth under 200 MB, back within 50 MB of the start after idle,
no 5xx but 503 busy. Exit status 1 if a target is missed. Results: docs/reliability.md, round five.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from live_server import LiveServer  # noqa: E402


def flood_one(port: int, source: str, body: bytes, counts: Counter, lock: threading.Lock) -> None:
    head = f"POST /uploads HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0)) as s:
            try:
                s.sendall(head.encode())
                for i in range(0, len(body), 1 << 18):
                    s.sendall(body[i : i + (1 << 18)])
            except OSError:
                pass  # answered and closed before the rest was read
            reply = s.recv(200)
            status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else "closed"
    except OSError as exc:
        status = type(exc).__name__
    with lock:
        counts[status] += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=190, help="concurrent uploads (default 190)")
    ap.add_argument("--mib", type=int, default=8, help="MiB each (default 8: max_upload_bytes)")
    ap.add_argument("--idle", type=float, default=60, help="seconds idle after the flood (default 60)")
    ap.add_argument("--same-address", action="store_true", help="every client from 127.0.0.2")
    ap.add_argument(
        "--png-header",
        action="store_true",
        help="each body starts with a valid 64 x 64 PNG header (its start passes; the body must be read whole)",
    )
    ap.add_argument("--server-path", type=Path, help="put this folder first on the server's PYTHONPATH")
    args = ap.parse_args()
    env = {"PYTHONPATH": str(args.server_path.resolve())} if args.server_path else {}
    body = os.urandom(1 << 20) * args.mib
    if args.png_header:
        ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
        chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
        body = b"\x89PNG\r\n\x1a\n" + chunk + body[: len(body) - 33]
    server = LiveServer(Path(tempfile.mkdtemp(prefix="ganpaint-flood-")), **env).wait_ready(120)
    try:
        rss = {"start": server.rss_mb()}
        counts, lock = Counter(), threading.Lock()
        sources = [
            "127.0.0.2" if args.same_address else f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(args.clients)
        ]
        threads = [threading.Thread(target=flood_one, args=(server.port, src, body, counts, lock)) for src in sources]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        peak = rss["start"]
        while any(t.is_alive() for t in threads):
            peak = max(peak, server.rss_mb())
            time.sleep(0.1)
        took = time.perf_counter() - t0
        rss["peak"] = peak
        rss["end of flood"] = server.rss_mb()
        time.sleep(args.idle)
        rss[f"after {args.idle:g} s idle"] = server.rss_mb()
        log = server.output()
    finally:
        server.stop()
    where = "all from one address" if args.same_address else "each from its own address"
    start = "a valid PNG header, then junk" if args.png_header else "junk"
    print(f"upload flood: {args.clients} x {args.mib} MiB of {start}, {where}")
    print(f"  answers in {took:.1f} s: {dict(counts)}")
    print("  server RSS: " + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items()))
    print(f"  server log: {len(log.splitlines())} lines, {log.count('Traceback')} tracebacks")
    after = rss[f"after {args.idle:g} s idle"]
    targets = {
        "RSS growth under 200 MB": rss["peak"] - rss["start"] < 200,
        "RSS back within 50 MB after idle": after - rss["start"] < 50,
        "no 5xx but 503 busy": not any(isinstance(k, int) and k >= 500 and k != 503 for k in counts),
        "no traceback": "Traceback" not in log,
    }
    for name, ok in targets.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
