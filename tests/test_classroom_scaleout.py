"""One class across two replicas and a real PostgreSQL, behind Debian's nginx (as docker-compose.yml's ``class``
profile runs it), with real processes: the replicas start through the container's entrypoint with classroom
mode switched on by the environment, and share a PostgreSQL cluster the test starts (tests/postgres_server.py).

A student paints on replica A (their websocket goes there directly); the teacher's wall, asked on replica B,
shows the painting (A saves it, NOTIFY tells B); pausing on B refuses the student's strokes on A; the student
hands in; A is SIGKILLed; through nginx (only B is left) the student gets their painting and hand-in back and
paints on; ending the class on B gives the album. Nothing is lost.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from postgres_server import PostgresServer, skip_reason
from test_scaleout import ENTRYPOINT, NGINX, Proc, free_port, start_nginx, wait_until_up

pytestmark = pytest.mark.scaleout
ROOT = Path(__file__).resolve().parents[1]
KEY = "scale-out-teacher-key"
MASK = {"points": [[0.3, 0.3], [0.7, 0.6]], "radius": 0.15}
STROKE = {"concept": "tree", "mode": "draw", "strength": 10, "mask": MASK}


def call(method: str, url: str, body=None, headers=None, timeout: float = 30) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def paint(url: str, token: str, seq: int, strokes: list) -> bytes | str:
    """Open image 3 on ``url`` as the student, send one update: the frame's bytes or the error's detail."""
    from websockets.sync.client import connect

    with connect(url, open_timeout=10, additional_headers={"Cookie": f"ganpaint_student={token}"}) as ws:
        ws.send(json.dumps({"type": "open", "model": "tiny", "image": 3, "format": "png"}))
        assert json.loads(ws.recv(timeout=20))["type"] == "ready"
        ws.send(json.dumps({"type": "render", "seq": seq, "strokes": strokes}))
        msg = ws.recv(timeout=20)
        return msg[6:] if isinstance(msg, bytes) else json.loads(msg)["detail"]


def until(test, timeout: float = 10.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        got = test()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.2)


@pytest.mark.skipif(NGINX is None, reason="Debian's nginx is not installed")
def test_one_class_on_two_replicas_survives_a_killed_replica(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("websockets.sync.client")
    procs: list[Proc] = []
    with PostgresServer() as pg:
        try:
            subprocess.run(
                [sys.executable, "-m", "ganpaint.cli", "make-tiny", "--out", str(tmp_path / "tiny")],
                cwd=ROOT, check=True, timeout=60, capture_output=True,
            )  # fmt: skip
            (tmp_path / "image-models").mkdir()
            ports = [free_port(), free_port()]
            env = {k: v for k, v in os.environ.items() if not k.startswith("GANPAINT_")}
            replicas = []
            for i, port in enumerate(ports):
                replica_env = {
                    **env,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                    "GANPAINT_IMAGE_MODELS_DIR": str(tmp_path / "image-models"),
                    "GANPAINT_IMAGE_PRECOMPUTED_DIR": str(tmp_path / "image-models"),
                    "GANPAINT_EXTRA_MODELS_DIR": str(tmp_path / "tiny" / "models"),
                    "GANPAINT_EXTRA_PRECOMPUTED_DIR": str(tmp_path / "tiny" / "precomputed"),
                    "GANPAINT_RUNTIME_DIR": str(tmp_path / f"replica{i}"),
                    "GANPAINT_MAX_CONNECTIONS_PER_ADDRESS": "0",
                    "GANPAINT_HOST": "127.0.0.1", "GANPAINT_PORT": str(port), "GANPAINT_THREADS": "1",
                    # what docker-compose.yml's class profile sets
                    "GANPAINT_CLASS_ENABLED": "1", "GANPAINT_CLASS_NAME": "two replicas",
                    "GANPAINT_CLASS_TEACHER_KEY": KEY, "GANPAINT_DATABASE_URL": pg.url,
                    "GANPAINT_CLASS_DIR": str(tmp_path / f"class{i}"),
                }  # fmt: skip
                cmd = ["sh", str(ENTRYPOINT), "serve", "--model", "tiny", "--device", "cpu"]
                replicas.append(Proc(f"replica{i}", cmd, tmp_path / f"replica{i}.log", replica_env))
            procs += replicas
            lb, lb_port, _ = start_nginx(tmp_path, ports, NGINX_FAIL_TIMEOUT="30s")
            procs.append(lb)
            deadline = time.monotonic() + 90
            for proc, port in zip(replicas, ports, strict=True):
                wait_until_up(f"http://127.0.0.1:{port}/health", proc, deadline)
            lb_url = f"http://127.0.0.1:{lb_port}"
            wait_until_up(f"{lb_url}/nginx-health", lb, deadline)
            a, b = (f"http://127.0.0.1:{p}" for p in ports)
            run_class(a, b, lb_url, replicas[0])
        finally:
            for proc in reversed(procs):
                proc.stop()


def run_class(a: str, b: str, lb: str, replica_a: Proc) -> None:
    teacher = {"X-Teacher-Key": KEY}
    status, body = call("POST", f"{lb}/class/join", {"name": "Ada"})
    assert status == 201, body
    you = json.loads(body)
    student = {"X-Student-Token": you["token"]}

    # 1. painted on A, seen on B's wall (A saves within a second, NOTIFY tells B)
    assert isinstance(paint(a.replace("http", "ws") + "/ws/paint", you["token"], 1, [STROKE]), bytes)

    def on_b_wall():
        cards = json.loads(call("GET", f"{b}/class/wall", headers=teacher)[1])["students"]
        return next((c for c in cards if c["id"] == you["id"] and c.get("thumbnail")), None)

    assert until(on_b_wall, what="the painting on replica B's wall")["name"] == "Ada"

    # 2. paused on B: A refuses the student's strokes; resumed through nginx
    assert call("POST", f"{b}/class/state", {"state": "paused"}, teacher)[0] == 200
    ws_a = a.replace("http", "ws") + "/ws/paint"

    def refused_on_a() -> str | None:
        answer = paint(ws_a, you["token"], 2, [STROKE])
        return answer if isinstance(answer, str) else None

    refused = until(refused_on_a, what="A refusing strokes")
    assert refused.startswith("class: your teacher paused painting")
    assert call("POST", f"{lb}/class/state", {"state": "open"}, teacher)[0] == 200
    until(lambda: isinstance(paint(ws_a, you["token"], 3, [STROKE, STROKE]), bytes), what="A open again")

    # 3. hand in, then A dies (its last second of strokes saved first)
    assert call("POST", f"{lb}/class/hand-in", headers=student)[0] == 201
    time.sleep(1.5)
    replica_a.kill(signal.SIGKILL)

    # 4. through nginx (B only): the painting and the hand-in are there; painting goes on
    # (a client retries a 502 as the page does: nginx may answer one while it learns that A is gone)
    status, body = until(lambda: (got := call("GET", f"{lb}/class", headers=student))[0] != 502 and got, what="B")
    assert status == 200, body
    me = json.loads(body)["you"]
    assert me["hand_ins"] == 1 and me["painting"]["strokes"] == [STROKE, STROKE], me
    assert isinstance(paint(lb.replace("http", "ws") + "/ws/paint", you["token"], 4, [STROKE]), bytes)

    # 5. the class ends on B: the album has the painting; nothing more is accepted
    status, body = call("POST", f"{lb}/class/end", headers=teacher, timeout=60)
    assert status == 200 and json.loads(body)["paintings"] == 1, body
    status, data = call("GET", f"{lb}/class/album.zip", headers=teacher)
    assert status == 200 and "paintings/01.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert call("POST", f"{lb}/class/join", {})[0] == 409


def test_compose_has_a_class_profile():
    """docker-compose.yml's class profile: PostgreSQL, class replicas that need it and share a key, their nginx."""
    import yaml

    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    db, replica, lb = services["postgres"], services["ganpaint-class"], services["lb-class"]
    assert db["profiles"] == replica["profiles"] == lb["profiles"] == ["class"]
    env = replica["environment"]
    assert env["GANPAINT_CLASS_ENABLED"] == "1" and env["GANPAINT_DATABASE_URL"].startswith("host=postgres ")
    assert "GANPAINT_CLASS_TEACHER_KEY" in env and "ports" not in replica
    assert replica["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert lb["environment"]["GANPAINT_REPLICAS"] == "ganpaint-class:8000"
