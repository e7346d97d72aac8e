"""Benchmark the painting server against a live server on 127.0.0.1 (printed tables, not tests).

    python bench/paint_server.py                         # the embedded default (scenes64)
    python bench/paint_server.py --model tiny --models-dir /tmp/t/models --precomputed-dir /tmp/t/precomputed
    python bench/paint_server.py --quick                 # shorter runs

Parts: (1) compute: FLOPs of the layers re-run per stroke, f's GFLOP/s against a plain conv, fp32 vs
bf16 with the max pixel difference; (2) one websocket painter, one update at a time: stroke update to
frame, p50/p95; (3) 1/4/16/32 websocket painters at 10 updates/s each: frames/s, latency, superseded
updates, and the p95 of the first vs second half (a growing backlog shows as a rising p95); (4) the
same load against ``ganpaint serve --baseline`` (the original design: full re-render per request, one
global lock, JPEG q99 base64 JSON over POST /api/generate), and the ratio. Servers are started here as
subprocesses, one at a time, with the same flags.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import io
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, base: str, seconds: float = 120) -> None:
    """Until ``base``/health answers 200; RuntimeError with the server's stderr tail if it exits first."""
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not start in {seconds:g} s")


# ----------------------------------------------------------------------------- compute


def conv_macs(g, layer: str) -> int:
    """Multiply-accumulates of the convolutions after ``layer`` (f), per image."""
    names = g.layer_names
    total = 0
    for name in names[names.index(layer) + 1 :] + [f"output_{g.resolution}x{g.resolution}"]:
        conv = getattr(g, name).conv
        c, h, w = g.feature_shape(name) if name.startswith("layer") else (3, g.resolution, g.resolution)
        total += h * w * conv.out_channels * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    return total


def timeit(fn, min_time: float = 1.0) -> float:
    """Median seconds per call (robust to other work on a shared machine)."""
    fn()
    times, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < min_time or len(times) < 5:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def compute_part(args) -> dict:
    import torch

    from ganpaint.engine import set_threads, to_pixels
    from ganpaint.models import load_model_info
    from ganpaint.nn.proggan import image_latents, load_generator, serving_copy

    set_threads(args.threads)
    info = load_model_info(args.model, args.models_dir)
    g_loaded = load_generator(info.generator_path).eval()
    g = serving_copy(g_loaded)  # what the server runs
    layer = args.layer or info.default_layer
    h, f = g.split(layer)
    macs = conv_macs(g, layer)
    out = {"layer": layer, "gflop_per_frame": 2 * macs / 1e9}
    print(f"\n## compute ({args.model}, painting layer {layer}, {torch.get_num_threads()} threads)")
    print(f"f = layers after {layer}: {2 * macs / 1e6:.1f} MFLOP per frame (2 x {macs / 1e6:.1f} M MACs)")
    with torch.inference_mode():
        feats = h(image_latents(list(range(8)), g.z_dim))  # (8, C, h, w)
        _, f_loaded = g_loaded.split(layer)
        t = timeit(lambda: f_loaded(feats[:1].contiguous()), args.min_time)
        rows = [("f, batch 1, as loaded (WScale modules, contiguous)", t * 1000, 2 * macs / t / 1e9)]
        for n in (1, 8):
            t = timeit(lambda n=n: f(feats[:n]), args.min_time)
            rows.append((f"f, batch {n}", t / n * 1000, 2 * macs * n / t / 1e9))
        # plain conv microbenchmark: a 3x3 conv of the generator's mid width, same batch of 8
        c = g.feature_shape(layer)[0]
        side = g.feature_shape(layer)[1] * 2
        x = torch.randn(8, c, side, side)
        conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        t = timeit(lambda: conv(x), args.min_time)
        conv_flop = 2 * 8 * side * side * c * c * 9
        rows.append((f"plain conv {c}->{c} 3x3 at {side}x{side}, batch 8", t / 8 * 1000, conv_flop / t / 1e9))
        t_full = timeit(lambda: g(image_latents([0], g.z_dim)), args.min_time)
        rows.append(("whole generator, batch 1 (baseline path)", t_full * 1000, float("nan")))
        # bf16: speed and max pixel difference
        fb = copy.deepcopy(f).to(torch.bfloat16)
        t_bf = timeit(lambda: fb(feats[:1].bfloat16()), args.min_time)
        rows.append(("f, batch 1, bfloat16", t_bf * 1000, 2 * macs / t_bf / 1e9))
        px32 = to_pixels(f(feats)).astype(int)
        px16 = to_pixels(fb(feats.bfloat16())).astype(int)
    print("| what | ms per image | GFLOP/s |\n|---|---|---|")
    for name, ms, gf in rows:
        print(f"| {name} | {ms:.2f} | {gf:.1f} |")
    diff = np.abs(px32 - px16)
    print(f"bf16 vs fp32 over 8 images: max pixel difference {diff.max()}, mean {diff.mean():.2f} (of 255)")
    out.update(rows=rows, bf16_max_diff=int(diff.max()))
    return out


# ----------------------------------------------------------------------------- painters


def stroke_points(rng: np.random.Generator, n: int) -> list[list[float]]:
    start = rng.uniform(0.15, 0.85, 2)
    steps = rng.normal(0, 0.03, (n, 2)).cumsum(0)
    return np.clip(start + steps, 0, 1).round(4).tolist()


class Painter:
    """One simulated painter: a growing stroke (a point per update), a new stroke every 20 updates; a share
    ``erase`` of the strokes erase (the fill erase, the server's default: a fit at each update of the stroke)."""

    def __init__(self, seed: int, concepts: list[str], erase: float = 0.0):
        self.rng = np.random.default_rng(seed)
        self.concepts = concepts
        self.erase = erase
        self.strokes: list[dict] = []
        self.step = 0

    def update(self) -> list[dict]:
        if self.step % 20 == 0:
            concept = self.concepts[int(self.rng.integers(len(self.concepts)))]
            mode = "erase" if self.erase and self.rng.random() < self.erase else "draw"
            self.strokes = self.strokes[-3:] + [
                {"concept": concept, "mode": mode, "strength": 20, "mask": {"points": [], "radius": 0.06}}
            ]
            self.path = stroke_points(self.rng, 20)
        self.strokes[-1]["mask"]["points"] = self.path[: self.step % 20 + 1]
        self.step += 1
        return json.loads(json.dumps(self.strokes))


async def ws_painter(
    url: str,
    model: str,
    image: int,
    concepts,
    duration: float,
    rate: float,
    seed: int,
    stats,
    refine: bool = False,
    erase: float = 0.0,
):
    """``refine``: the last update of each stroke asks for the refined frame (as the page's "sharp" view does);
    refined frames are counted apart (``stats["refined"]``: ms from that update), not in the frame latencies."""
    import websockets

    painter = Painter(seed, concepts, erase)
    sent: dict[int, float] = {}
    erasing: set[int] = set()  # updates whose newest stroke erases
    async with websockets.connect(url, max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "open", "model": model, "image": image, "format": "jpeg"}))
        json.loads(await ws.recv())
        t_end = time.perf_counter() + duration
        done = asyncio.Event()

        async def receive():
            refined = None
            while True:
                msg = await ws.recv()
                if isinstance(msg, str):
                    refined = json.loads(msg).get("seq") if '"refined"' in msg else refined
                    continue
                seq, tenths = struct.unpack(">IH", msg[:6])
                now = time.perf_counter()
                if seq == refined:
                    refined = None
                    stats.setdefault("refined", []).append((now - sent[seq]) * 1000)
                    continue
                stats["frames"].append((now, (now - sent[seq]) * 1000, tenths / 10))
                kind = "erase_frames" if seq in erasing else "draw_frames"  # by the update's newest stroke
                stats.setdefault(kind, []).append((now - sent[seq]) * 1000)
                if done.is_set() and seq == last_seq:
                    return

        receiver = asyncio.create_task(receive())
        seq = 0
        t_next = time.perf_counter()
        while time.perf_counter() < t_end:
            sent[seq] = time.perf_counter()
            strokes = painter.update()
            if strokes[-1]["mode"] == "erase":
                erasing.add(seq)
            last = painter.step % 20 == 0  # the stroke's last point: as the page, a draft until then
            message = {"type": "render", "seq": seq, "strokes": strokes, "refine": refine and last, "draft": not last}
            await ws.send(json.dumps(message))
            seq += 1
            t_next += 1 / rate
            await asyncio.sleep(max(0, t_next - time.perf_counter()))
        last_seq = seq - 1
        done.set()
        stats["sent"] += seq
        try:
            await asyncio.wait_for(receiver, timeout=10)
        except TimeoutError:
            receiver.cancel()


def mask_png(points, radius: float, size: int) -> str:
    from PIL import Image

    from ganpaint.masks import rasterize_polyline

    m = rasterize_polyline({"points": points, "radius": radius}, size)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 3] = (m * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def http_painter(base: str, model: str, image: int, concepts, duration, rate, seed, stats, units, layer):
    """The original client: POST /api/generate with the whole intervention stack; one request in flight."""
    import httpx

    painter = Painter(seed, concepts)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        t_end = time.perf_counter() + duration
        t_next = time.perf_counter()
        sent = 0
        while time.perf_counter() < t_end:
            strokes = painter.update()
            sent += 1
            interventions = [
                {
                    "ablations": [{"layer": layer, "unit": u, "alpha": 1, "value": v} for u, v in units[s["concept"]]],
                    "mask": {"shape": [], "bitbounds": [], "bitstring": mask_png(s["mask"]["points"], 0.06, 32)},
                }
                for s in strokes
            ]
            t0 = time.perf_counter()
            r = await client.post(
                "/api/generate", json={"project": model, "ids": [image], "interventions": interventions}
            )
            r.raise_for_status()
            now = time.perf_counter()
            stats["frames"].append((now, (now - t0) * 1000, float("nan")))
            # updates that came due while waiting are superseded (the painter kept drawing)
            t_next += 1 / rate
            while t_next < now and time.perf_counter() < t_end:
                painter.update()
                sent += 1
                t_next += 1 / rate
            await asyncio.sleep(max(0, t_next - time.perf_counter()))
        stats["sent"] += sent


def summarize(stats, duration: float, t_start: float) -> dict:
    frames = stats["frames"]
    lat = [f[1] for f in frames]
    mid = t_start + duration / 2
    first = [f[1] for f in frames if f[0] < mid]
    second = [f[1] for f in frames if f[0] >= mid]
    refined = stats.get("refined", [])
    erase, draw = stats.get("erase_frames", []), stats.get("draw_frames", [])
    return {
        "erase_frames": len(erase),
        "erase_p50": pct(erase, 50),
        "erase_p95": pct(erase, 95),
        "draw_p95": pct(draw, 95),
        "refined": len(refined),
        "refined_p95": pct(refined, 95),
        "fps": len(frames) / duration,
        "p50": pct(lat, 50),
        "p95": pct(lat, 95),
        "server_p50": pct([f[2] for f in frames], 50),
        "dropped": stats["sent"] - len(frames),
        "sent": stats["sent"],
        "p95_first": pct(first, 95),
        "p95_second": pct(second, 95),
    }


async def load(kind: str, base: str, args, n: int, concepts, units=None, layer=None) -> dict:
    stats = {"frames": [], "sent": 0}
    t0 = time.perf_counter()
    gallery = list(range(n))
    if kind == "ws":
        url = base.replace("http", "ws") + "/ws/paint"
        tasks = [
            ws_painter(
                url, args.model, gallery[i], concepts, args.duration, args.rate, i, stats, args.refine, args.erase
            )
            for i in range(n)
        ]
    else:
        tasks = [
            http_painter(base, args.model, gallery[i], concepts, args.duration, args.rate, i, stats, units, layer)
            for i in range(n)
        ]
    await asyncio.gather(*tasks)
    return summarize(stats, args.duration, t0)


async def single(base: str, args, concepts, updates: int) -> dict:
    """One painter, one update at a time: send, wait for its frame, repeat."""
    import websockets

    painter = Painter(0, concepts)
    lat, server = [], []
    async with websockets.connect(base.replace("http", "ws") + "/ws/paint") as ws:
        await ws.send(json.dumps({"type": "open", "model": args.model, "image": 0}))
        await ws.recv()
        for seq in range(updates):
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "render", "seq": seq, "strokes": painter.update()}))
            msg = await ws.recv()
            lat.append((time.perf_counter() - t0) * 1000)
            server.append(struct.unpack(">IH", msg[:6])[1] / 10)
            await asyncio.sleep(0.02)
    return {"p50": pct(lat, 50), "p95": pct(lat, 95), "server_p50": pct(server, 50), "server_p95": pct(server, 95)}


# ----------------------------------------------------------------------------- servers


class Server:
    def __init__(self, args, baseline: bool):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "ganpaint.cli", "serve", "--model", args.model, "--port", str(self.port)]
        cmd += ["--models-dir", str(args.models_dir), "--precomputed-dir", str(args.precomputed_dir)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if baseline:
            cmd.append("--baseline")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __enter__(self):
        wait_healthy(self.proc, self.base)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)


def run(args) -> None:
    import httpx

    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# paint_server bench: model {args.model}, {os.cpu_count()} CPUs, load average {load_avg:.1f} at start")
    compute_part(args)
    clients = [int(c) for c in args.clients.split(",")]
    results: dict[str, dict[int, dict]] = {"ganpaint": {}, "baseline": {}}
    with Server(args, baseline=False) as s:
        detail = httpx.get(f"{s.base}/models/{args.model}").json()
        layer = detail["layer"]
        concepts = [c["name"] for c in detail["concepts"]]
        units = {}
        for c in concepts:
            d = httpx.get(f"{s.base}/models/{args.model}/concepts/{c}").json()
            units[c] = list(zip(d["units"], d["draw_values"], strict=True))
        one = asyncio.run(single(s.base, args, concepts, args.updates))
        print(f"\n## single painter, one update at a time ({args.updates} updates, JPEG q90)")
        print("| stroke update -> frame | p50 ms | p95 ms |\n|---|---|---|")
        print(f"| round trip (client) | {one['p50']:.1f} | {one['p95']:.1f} |")
        print(f"| server (receive -> encoded) | {one['server_p50']:.1f} | {one['server_p95']:.1f} |")
        for n in clients:
            results["ganpaint"][n] = asyncio.run(load("ws", s.base, args, n, concepts))
    with Server(args, baseline=True) as s:
        for n in clients:
            if n <= args.max_baseline_clients:
                results["baseline"][n] = asyncio.run(load("http", s.base, args, n, concepts, units, layer))
    print(f"\n## load: painters at {args.rate:g} updates/s each for {args.duration:g} s")
    print("| server | painters | frames/s | p50 ms | p95 ms | p95 1st half / 2nd half | superseded | vs baseline |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("ganpaint", "baseline"):
        for n, r in results[name].items():
            base = results["baseline"].get(n)
            ratio = f"{r['fps'] / base['fps']:.1f}x" if base and name == "ganpaint" and base["fps"] else ""
            print(
                f"| {name} | {n} | {r['fps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | "
                f"{r['p95_first']:.0f} / {r['p95_second']:.0f} | {r['dropped']} of {r['sent']} | {ratio} |"
            )
    if args.erase:
        for n, r in results["ganpaint"].items():
            print(
                f"- {n} painters: {r['erase_frames']} frames of an erase stroke, p50 {r['erase_p50']:.0f} ms, "
                f"p95 {r['erase_p95']:.0f} ms; the other frames p95 {r['draw_p95']:.0f} ms"
            )
    if args.refine:
        for n, r in results["ganpaint"].items():
            print(
                f"- {n} painters: {r['refined']} refined frames (one per stroke end unless superseded), "
                f"p95 {r['refined_p95']:.0f} ms from the stroke's last update"
            )
    print("\nceiling: a server can deliver at most the updates offered (painters x rate), so the best possible ratio")
    for n, base in results["baseline"].items():
        if base["fps"]:
            offered = n * args.rate
            best = offered / base["fps"]
            print(f"- {n} painters: {offered:g} updates/s offered / baseline {base['fps']:.1f} frames/s = {best:.1f}x")


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as ganpaint serve; before torch loads
    sys.path.insert(0, str(ROOT / "server"))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="scenes64")
    p.add_argument("--models-dir", type=Path, default=Path(os.environ.get("GANPAINT_MODELS_DIR", ROOT / "models")))
    p.add_argument(
        "--precomputed-dir", type=Path, default=Path(os.environ.get("GANPAINT_PRECOMPUTED_DIR", ROOT / "precomputed"))
    )
    p.add_argument("--layer", help="painting layer for the compute part (default: the model's)")
    p.add_argument("--threads", type=int, default=0, help="server torch threads (0 = all cores)")
    p.add_argument("--clients", default="1,4,16,32")
    p.add_argument("--max-baseline-clients", type=int, default=32)
    p.add_argument("--rate", type=float, default=10.0, help="updates per second per painter")
    p.add_argument("--duration", type=float, default=20.0, help="seconds per load level")
    p.add_argument("--updates", type=int, default=200, help="single-painter updates")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per compute timing")
    p.add_argument("--quick", action="store_true", help="--duration 6 --updates 60 --min-time 0.3")
    p.add_argument("--refine", action="store_true", help="painters ask for the refined frame at each stroke's end")
    p.add_argument("--erase", type=float, default=0.0, help="share of the websocket painters' strokes that erase")
    args = p.parse_args()
    if args.quick:
        args.duration, args.updates, args.min_time = 6.0, 60, 0.3
    run(args)


if __name__ == "__main__":
    main()
