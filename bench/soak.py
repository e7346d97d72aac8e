"""Soak: good painters plus every kind of abusive client against a live server for a set time.

    python bench/soak.py --duration 300                   # the tiny model (made in a temp folder)
    python bench/soak.py --duration 600 --model scenes64 --models-dir models --precomputed-dir precomputed

Starts ``ganpaint serve`` (one worker, --threads as given), measures the good painters alone for
``--baseline`` seconds, then runs the mixed load: ``--painters`` well-behaved websocket painters (one
update at a time, waiting for each frame), one thread per abuser kind from tests/ws_clients.py looping
for the whole run (malformed JSON, wrong types, oversized, binary junk, rapid connect/disconnect, slow
consumers, clients that vanish mid-frame), and one REST client posting good and bad /intervene bodies.
Prints the server's RSS growth, the painters' latency p50/p95 (alone and under load), error counts,
5xx counts and tracebacks in the server log. Exit status 1 if any limit of issue 9 is broken (RSS growth
>= 100 MB, a 5xx, a traceback, a painter error). Results: docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import ws_clients  # noqa: E402
from live_server import LiveServer  # noqa: E402

REST_BODIES = [
    {"image": 1, "strokes": [ws_clients.STROKE]},
    {"image": 2, "strokes": [ws_clients.STROKE] * 8, "format": "jpeg"},
    {"image": -1},
    {"image": 1, "strokes": [{"concept": "lava", "mask": {"points": [[0, 0]], "radius": 0.1}}]},
    {"image": 1, "strokes": [{"concept": "tree", "mask": {"shape": [2048, 2048], "bounds": [], "runs": [4194304]}}]},
    {"z": [float("nan")] * 3},
    {"image": 1, "edits": [{"layer": "layer4", "units": [99999], "value": 1}]},
]


def post(url: str, body) -> int:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


class Looper(threading.Thread):
    """Runs ``fn()`` again and again until stopped; counts sessions and client-side exceptions."""

    def __init__(self, name: str, fn):
        super().__init__(daemon=True, name=name)
        self.fn, self.sessions, self.exceptions = fn, 0, Counter()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.fn()
            except Exception as exc:  # noqa: BLE001 - abusers misbehave; count what happens to them
                self.exceptions[type(exc).__name__] += 1
            self.sessions += 1


def ms(x: float) -> str:
    return f"{1000 * x:.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=120, help="seconds of mixed load (default 120)")
    ap.add_argument("--baseline", type=float, default=15, help="seconds of painters alone first (default 15)")
    ap.add_argument("--painters", type=int, default=2)
    ap.add_argument("--threads", default="1", help="server torch threads (default 1)")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--models-dir", type=Path)
    ap.add_argument("--precomputed-dir", type=Path)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ganpaint-soak-"))
    dirs = (args.models_dir.resolve(), args.precomputed_dir.resolve()) if args.models_dir else None
    env = {"GANPAINT_WS_SEND_TIMEOUT": "5", "GANPAINT_MAX_CONNECTIONS": "256"}
    server = LiveServer(tmp, "--threads", args.threads, dirs=dirs, model=args.model, **env).wait_ready(120)
    try:
        painters = [ws_clients.GoodPainter(server.ws_url, image=i) for i in range(args.painters)]
        for p in painters:
            p.start()
        time.sleep(args.baseline)
        alone = [x for p in painters for x in p.latencies]
        marks = [len(p.latencies) for p in painters]
        rss = [server.rss_mb()]

        rest_codes: Counter = Counter()

        def rest() -> None:
            body = random.choice(REST_BODIES + [b"\xff" * 10, b"[" * 10000])
            rest_codes[post(server.url + "/intervene", body)] += 1

        url = server.ws_url
        loopers = [Looper(name, lambda f=f: f(url)) for name, f in ws_clients.ABUSERS.items()]
        loopers.append(Looper("rest", rest))
        for lp in loopers:
            lp.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < args.duration:
            time.sleep(1)
            rss.append(server.rss_mb())
        for lp in loopers:
            lp.stopping.set()
        for lp in loopers:
            lp.join(60)
        for p in painters:
            p.stop()
        loaded = [x for p, m in zip(painters, marks, strict=True) for x in p.latencies[m:]]
        health = urllib.request.urlopen(server.url + "/health", timeout=10).status
        log = server.output()
    finally:
        server.stop()

    pct = ws_clients.percentile
    growth = rss[-1] - rss[0]
    tracebacks = log.count("Traceback")
    painter_errors = [e for p in painters for e in p.errors]
    fivexx = sum(n for code, n in rest_codes.items() if code >= 500)
    print(f"soak: {args.duration:g} s of mixed load, {args.model!r}, {args.painters} painters, threads {args.threads}")
    print(f"  server RSS: {rss[0]:.1f} MB at the start of the load, {rss[-1]:.1f} MB at the end")
    print(f"  server RSS: max {max(rss):.1f} MB; growth {growth:+.1f} MB")
    quarters = [rss[min(len(rss) - 1, round(q * (len(rss) - 1) / 4))] for q in range(5)]
    print("  server RSS by quarter of the run:", " ".join(f"{r:.1f}" for r in quarters), "MB")
    print(f"  painters alone:      {len(alone)} frames, p50 {ms(pct(alone, 50))}, p95 {ms(pct(alone, 95))}")
    worst = ms(max(loaded, default=float("nan")))
    print(f"  painters under load: {len(loaded)} frames, p50 {ms(pct(loaded, 50))}, p95 {ms(pct(loaded, 95))}")
    print(f"  painters under load: max {worst}")
    print(f"  painter errors: {len(painter_errors)} {painter_errors[:3]}")
    for lp in loopers:
        print(f"  {lp.name:17s} {lp.sessions:6d} sessions, client-side exceptions {dict(lp.exceptions)}")
    print(f"  REST statuses: {dict(sorted(rest_codes.items()))}; 5xx: {fivexx}")
    print(f"  server log: {tracebacks} tracebacks; /health at the end: {health}")
    ok = growth < 100 and fivexx == 0 and tracebacks == 0 and not painter_errors and health == 200
    print("  verdict:", "PASS" if ok else "FAIL")
    if tracebacks:
        print(log[log.index("Traceback") :][:3000])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
