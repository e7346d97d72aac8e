"""Benchmark a class on one machine: N simulated students painting over the websocket plus one teacher wall.

    python bench/classroom.py                       # 32 students, the embedded scenes64, 30 s, wall on and off
    python bench/classroom.py --students 16 --duration 20 --no-compare

Starts ``ganpaint classroom`` on 127.0.0.1 (a fresh data folder) and runs: every student joins (POST /class/join)
and paints over /ws/paint with its token cookie in the page's update pattern: a drag sends the whole stroke list
every 30 ms (the page's SEND_INTERVAL_MS) for 20 points (with ``--refine`` the last asks for the refined 4x frame,
as the "sharp" view does when a stroke ends; a class's default view is "pixels"), then the student pauses 1-3 s,
and so on (the list keeps the last 12 strokes); the teacher's wall long-polls GET /class/wall as the teacher page
does. Printed: every student's frame round trip (p50, p95, worst student's p95), frames and updates, the wall's lag
(each thumbnail says which update it shows, ``shows_seq``: from the oldest update the wall did not show yet to the
thumbnail that shows it, p50, p95, max; and the oldest update no thumbnail shows at the end), thumbnails, and
errors (error messages, refused or failed connections, HTTP failures). ``--compare`` (default) runs the same load
once more with the wall's thumbnails off (an interval of a day), so the cost of the wall to painters shows. The
machine, its load average before and after, and the spread are printed: on a shared machine, say so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from paint_server import free_port, wait_healthy  # noqa: E402

KEY = "bench-teacher-key"
SEND_INTERVAL = 0.030  # the page's SEND_INTERVAL_MS
CONCEPTS = ["tree", "grass", "sky", "dome", "cloud"]


def pct(xs, q: float) -> float:
    return float(np.percentile(xs, q)) if len(xs) else float("nan")


class ClassServer:
    """``ganpaint classroom`` on 127.0.0.1 in a fresh data folder."""

    def __init__(self, args, thumbnails: bool):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = tempfile.mkdtemp(prefix="ganpaint-class-bench-")
        cmd = [sys.executable, "-m", "ganpaint.cli", "classroom", "--host", "127.0.0.1", "--port", str(self.port)]
        cmd += ["--data-dir", self.data, "--model", args.model]
        if args.models_dir:
            cmd += ["--models-dir", args.models_dir, "--precomputed-dir", args.precomputed_dir]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        env = {**os.environ, "GANPAINT_CLASS_TEACHER_KEY": KEY, "GANPAINT_UPLOAD_DIR": self.data + "/uploads"}
        if not thumbnails:
            env["GANPAINT_CLASS_THUMBNAIL_INTERVAL"] = "86400"
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __enter__(self):
        wait_healthy(self.proc, self.base)
        return self

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used (Linux /proc), robust to other load."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(15)


class Student:
    """One simulated student: drags of 20 points sent every 30 ms, then a pause of 1-3 s."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.strokes: list[dict] = []
        self.sent: dict[int, float] = {}
        self.lat: list[float] = []
        self.sent_at: list[float] = []  # time.time() each update (its seq: the index) was sent
        self.shown = -1  # the newest seq the wall has shown
        self.errors: list[str] = []
        self.refined = 0  # refined 4x frames announced (models with a refiner)

    def new_stroke(self) -> list[list[float]]:
        concept = CONCEPTS[int(self.rng.integers(len(CONCEPTS)))]
        self.strokes = self.strokes[-11:] + [
            {"concept": concept, "mode": "draw", "strength": 15, "mask": {"points": [], "radius": 0.05}}
        ]
        start = self.rng.uniform(0.15, 0.85, 2)
        return np.clip(start + self.rng.normal(0, 0.03, (20, 2)).cumsum(0), 0, 1).round(4).tolist()


async def student_loop(base: str, args, i: int, st: Student, t_end: float) -> None:
    import httpx
    import websockets

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        r = await http.post("/class/join", json={"name": f"student {i}"})
        r.raise_for_status()
        token = r.json()["token"]
    url = base.replace("http", "ws") + "/ws/paint"
    cookie = {"Cookie": f"ganpaint_student={token}"}  # as the page's, set from its token
    async with websockets.connect(url, max_size=2**24, additional_headers=cookie) as ws:
        await ws.send(json.dumps({"type": "open", "model": args.model, "image": i, "format": "png"}))
        json.loads(await ws.recv())

        async def receive():
            async for msg in ws:
                if isinstance(msg, str):
                    data = json.loads(msg)
                    if data.get("type") == "refined":  # the 4x frame of a finished stroke follows
                        st.refined += 1
                    elif data.get("type") == "error":
                        st.errors.append(data.get("detail", msg))
                    continue
                seq = struct.unpack(">IH", msg[:6])[0]
                if seq not in st.sent:
                    continue  # a refined frame (its seq's frame came first)
                st.lat.append((time.perf_counter() - st.sent.pop(seq)) * 1000)
                for old in [s for s in st.sent if s < seq]:  # superseded: never get a frame
                    del st.sent[old]

        receiver = asyncio.create_task(receive())
        seq = 0
        await asyncio.sleep(float(st.rng.uniform(0, 2)))  # students do not start in step
        while time.perf_counter() < t_end:
            path = st.new_stroke()
            for k, point in enumerate(path):
                st.strokes[-1]["mask"]["points"].append(point)
                now = time.perf_counter()
                st.sent[seq] = now
                st.sent_at.append(time.time())
                # the page asks for the refined 4x frame when a stroke ends (its default "sharp" view)
                refine = args.refine and k == len(path) - 1
                message = {"type": "render", "seq": seq, "strokes": st.strokes, "refine": refine}
                await ws.send(json.dumps(message))
                seq += 1
                await asyncio.sleep(SEND_INTERVAL)
            await asyncio.sleep(float(st.rng.uniform(1, 3)))
        await asyncio.sleep(1.0)  # the last frames
        receiver.cancel()


async def wall_loop(base: str, students: dict[str, Student], t_end: float, out: dict) -> None:
    """The teacher page's long poll; a thumbnail that arrives for a student ends that student's lag."""
    import httpx

    since = 0
    async with httpx.AsyncClient(base_url=base, timeout=40, headers={"X-Teacher-Key": KEY}) as http:
        while time.perf_counter() < t_end + 3:
            try:
                r = await http.get("/class/wall", params={"since": since, "wait": 5 if since else 0})
                r.raise_for_status()
            except httpx.HTTPError as exc:
                out["errors"].append(f"wall: {exc!r}")
                await asyncio.sleep(1)
                continue
            data = r.json()
            since = data["version"]
            now = time.time()
            for card in data["students"]:
                st = students.get(card["name"])
                shows = card.get("shows_seq")
                if st is None or "thumbnail" not in card or shows is None:
                    continue
                out["thumbnails"] += 1
                if shows > st.shown and st.shown + 1 < len(st.sent_at):
                    # the oldest update the wall had not shown until now waited the longest
                    out["lag"].append(now - st.sent_at[st.shown + 1])
                st.shown = max(st.shown, shows)
            out["polls"] += 1
            out["server"] = data["thumbnails"]


async def run_class(args, thumbnails: bool) -> dict:
    with ClassServer(args, thumbnails) as server:
        students = {f"student {i}": Student(i) for i in range(args.students)}
        out = {"lag": [], "thumbnails": 0, "polls": 0, "errors": []}
        cpu0 = server.cpu_seconds()
        t_end = time.perf_counter() + args.duration
        tasks = [student_loop(server.base, args, i, st, t_end) for i, st in enumerate(students.values())]
        results = await asyncio.gather(wall_loop(server.base, students, t_end, out), *tasks, return_exceptions=True)
        out["errors"] += [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        out["cpu"] = server.cpu_seconds() - cpu0
        end = time.time()
        stale = [end - st.sent_at[st.shown + 1] for st in students.values() if st.shown + 1 < len(st.sent_at)]
    lat = [x for st in students.values() for x in st.lat]
    per_student = [pct(st.lat, 95) for st in students.values() if st.lat]
    return {
        "frames": len(lat),
        "cpu_ms_per_frame": 1000 * out["cpu"] / max(1, len(lat)),
        "cpu": out["cpu"],
        "p50": pct(lat, 50),
        "p95": pct(lat, 95),
        "worst_student_p95": max(per_student, default=float("nan")),
        "students_with_frames": len(per_student),
        "lag_p50": pct(out["lag"], 50),
        "lag_p95": pct(out["lag"], 95),
        "lag_max": max(out["lag"], default=float("nan")),
        "stale_at_end": max(stale, default=0.0),
        "thumbnails": out["thumbnails"],
        "server": out.get("server", {}),
        "errors": out["errors"] + [e for st in students.values() for e in st.errors],
        "refined": sum(st.refined for st in students.values()),
    }


def report(label: str, r: dict) -> None:
    print(
        f"{label}: {r['frames']} frames for {r['students_with_frames']} students; frame round trip p50 "
        f"{r['p50']:.0f} ms, p95 {r['p95']:.0f} ms, worst student's p95 {r['worst_student_p95']:.0f} ms; server CPU "
        f"{r['cpu']:.1f} s, {r['cpu_ms_per_frame']:.1f} ms per frame; {r['refined']} refined frames"
    )
    if r["thumbnails"]:
        print(
            f"  wall: {r['thumbnails']} thumbnails; lag p50 {r['lag_p50']:.2f} s, p95 {r['lag_p95']:.2f} s, "
            f"max {r['lag_max']:.2f} s; stalest at the end {r['stale_at_end']:.2f} s; server: {r['server']}"
        )
    errors = r["errors"]
    print(f"  errors: {len(errors)}" + (f" (first: {errors[:3]})" if errors else ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=32)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of painting per run")
    p.add_argument("--model", default="scenes64")
    p.add_argument("--models-dir")
    p.add_argument("--precomputed-dir")
    p.add_argument("--threads", type=int, default=0, help="server torch threads (default: all cores)")
    p.add_argument("--no-compare", dest="compare", action="store_false", help="skip the run without thumbnails")
    p.add_argument("--refine", action="store_true", help="ask for the refined 4x frame at each stroke's end (sharp)")
    p.add_argument("--repeat", type=int, default=1, help="run with and without the wall this many times, alternating")
    args = p.parse_args()
    load = os.getloadavg()
    print(f"# classroom bench: {args.students} students + 1 wall, model {args.model}, {args.duration:g} s per run")
    print(f"# machine: {os.cpu_count()} CPUs; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at start")
    for _ in range(args.repeat):  # alternating, so a busy spell on a shared machine hits both kinds of run
        report("with the wall", asyncio.run(run_class(args, thumbnails=True)))
        if args.compare:
            report("without thumbnails", asyncio.run(run_class(args, thumbnails=False)))
    load = os.getloadavg()
    print(f"# load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end")


if __name__ == "__main__":
    main()
