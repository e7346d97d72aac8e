"""Scale-out behind a real load balancer, with real processes (no Docker engine runs on these machines).

Two ``ganpaint serve`` replicas on the tiny model, started through the container's entrypoint
(deploy/entrypoint.sh), and Debian's nginx running the config rendered from deploy/nginx/ exactly as
docker-compose.yml renders it, all on 127.0.0.1. REST and websocket traffic goes through nginx; the
access log's ``$upstream_addr`` shows which replica served what. Then one replica is SIGKILLed while
requests are in flight: every REST request still succeeds (nginx retries it on the live replica) and the
websocket that lived on the dead replica reconnects and gets frames.

The cheap tests at the bottom check the deployment files themselves: docker-compose.yml (structure, and
``docker-compose config`` when Debian's docker-compose is installed), the Dockerfile, the nginx template
renderer and the entrypoint's model merge.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "nginx.conf.template"
RENDER = ROOT / "deploy" / "nginx" / "render.sh"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
STARTUP_S = 45  # replicas import torch and load a model; nginx starts in milliseconds


# --- processes -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A child process in its own process group, output to a log file, killed (group and all) on exit."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None):
        self.name, self.log = name, log
        self._out = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.p = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def tail(self, n: int = 3000) -> str:
        return self.log.read_bytes()[-n:].decode(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, sig)
        self.p.wait(timeout=10)

    def stop(self) -> None:
        try:
            self.kill(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
        self._out.close()


def http(method: str, url: str, body: dict | None = None, timeout: float = 20) -> tuple[int, dict, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until_up(url: str, proc: Proc, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            pytest.fail(f"{proc.name} exited with {proc.p.returncode} before {url} answered:\n{proc.tail()}")
        try:
            if http("GET", url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{proc.name}: no 200 from {url} within {STARTUP_S} s:\n{proc.tail()}")


def render_nginx_conf(out: Path, **env: str) -> Path:
    """deploy/nginx/render.sh TEMPLATE > out, with env on top of os.environ."""
    result = subprocess.run(
        ["sh", str(RENDER), str(TEMPLATE)], env={**os.environ, **env}, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr
    out.write_text(result.stdout)
    return out


def start_nginx(tmp_path: Path, ports: list[int], **env: str) -> tuple[Proc, int, Path]:
    """deploy/nginx's config rendered for the replicas on ``ports`` (``env`` on top), checked with ``nginx -t``
    and started on a free port; (its Proc, the port, its state folder with access.log and error.log)."""
    state = tmp_path / "nginx"
    state.mkdir(exist_ok=True)
    port = free_port()
    conf = render_nginx_conf(
        tmp_path / "nginx.conf",
        GANPAINT_REPLICAS=",".join(f"127.0.0.1:{p}" for p in ports),
        NGINX_LISTEN=f"127.0.0.1:{port}",
        NGINX_STATE_DIR=str(state),
        NGINX_ACCESS_LOG=str(state / "access.log"),
        NGINX_ERROR_LOG=str(state / "error.log"),
        **env,
    )
    shutil.move(conf, state / "nginx.conf")
    check = subprocess.run([NGINX, "-t", "-p", str(state), "-c", "nginx.conf"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = Proc("nginx", [NGINX, "-p", str(state), "-c", "nginx.conf", "-g", "daemon off;"], tmp_path / "nginx.out")
    return proc, port, state


def upstreams(access_log: Path, path_pattern: str) -> list[tuple[str, list[str]]]:
    """(status, [upstream addresses tried, in order]) for each logged request whose path matches."""
    rows = []
    for line in access_log.read_text().splitlines():
        m = re.search(r'"(?:GET|POST) (\S+) HTTP/[\d.]+" (\d{3}) .*upstream="([^"]*)"', line)
        if m and re.fullmatch(path_pattern, m.group(1).split("?")[0]):
            rows.append((m.group(2), [a.strip() for a in re.split(r"[,:] (?=\d)", m.group(3)) if a.strip()]))
    return rows


# --- websocket client ----------------------------------------------------------------------------------


def ws_frame(ws, seq: int, strokes: list, timeout: float = 15) -> bytes:
    """Send a render and return the image bytes of the frame tagged `seq` (text messages are skipped)."""
    ws.send(json.dumps({"type": "render", "seq": seq, "strokes": strokes}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(msg, bytes):
            got = int.from_bytes(msg[:4], "big")
            if got == seq:
                return msg[6:]
        else:
            assert json.loads(msg).get("type") != "error", msg
    raise TimeoutError(f"no frame for seq {seq} within {timeout} s")


def ws_open(url: str, model: str, image: int):
    from websockets.sync.client import connect

    ws = connect(url, open_timeout=10, close_timeout=2).__enter__()  # as `with` would; Painter closes it
    ws.send(json.dumps({"type": "open", "model": model, "image": image, "format": "jpeg"}))
    for _ in range(10):
        msg = json.loads(ws.recv(timeout=15))
        if msg.get("type") == "ready":
            return ws
        assert msg.get("type") != "error", msg
    raise AssertionError("no 'ready' after 'open'")


class Painter:
    """A page's websocket: paints one image; when the connection drops it reconnects (bounded) and resends."""

    def __init__(self, url: str, model: str, image: int):
        self.url, self.model, self.image = url, model, image
        self.reconnects = 0
        self.ws = ws_open(url, model, image)

    def frame(self, seq: int, strokes: list) -> bytes:
        from websockets.exceptions import ConnectionClosed

        for attempt in range(5):
            try:
                return ws_frame(self.ws, seq, strokes)
            except (ConnectionClosed, OSError):
                self.ws.close()
                time.sleep(0.2 * attempt)
                self.reconnects += 1
                self.ws = ws_open(self.url, self.model, self.image)
        raise AssertionError(f"no frame for seq {seq} after 5 reconnects")


# --- the scale-out test --------------------------------------------------------------------------------


@pytest.mark.scaleout
@pytest.mark.skipif(
    NGINX is None, reason="Debian's nginx is not installed (scripts/test.sh installs it: apt-get install nginx)"
)
def test_two_replicas_behind_nginx_survive_a_killed_replica(tmp_path):
    pytest.importorskip("websockets.sync.client", reason="websockets>=12 (the test extra) is needed")
    procs: list[Proc] = []
    try:
        # The tiny seeded model, mounted the way docker-compose mounts extra models.
        subprocess.run(
            [sys.executable, "-m", "ganpaint.cli", "make-tiny", "--out", str(tmp_path / "tiny")],
            cwd=ROOT,
            check=True,
            timeout=60,
            capture_output=True,
        )
        (tmp_path / "image-models").mkdir()
        ports = [free_port(), free_port()]
        env = {k: v for k, v in os.environ.items() if not k.startswith("GANPAINT_")}
        replicas = []
        for i, port in enumerate(ports):
            replica_env = {
                **env,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # this venv's `ganpaint`
                "GANPAINT_IMAGE_MODELS_DIR": str(tmp_path / "image-models"),
                "GANPAINT_IMAGE_PRECOMPUTED_DIR": str(tmp_path / "image-models"),
                "GANPAINT_EXTRA_MODELS_DIR": str(tmp_path / "tiny" / "models"),
                "GANPAINT_EXTRA_PRECOMPUTED_DIR": str(tmp_path / "tiny" / "precomputed"),
                "GANPAINT_RUNTIME_DIR": str(tmp_path / f"replica{i}"),
                "GANPAINT_UPLOAD_DIR": str(tmp_path / "uploads"),  # the compose volume both replicas share
                "GANPAINT_MAX_CONNECTIONS_PER_ADDRESS": "0",  # as in compose: behind nginx, nginx caps per client
            }
            replica_env.update(GANPAINT_HOST="127.0.0.1", GANPAINT_PORT=str(port), GANPAINT_THREADS="1")
            # The image's CMD: `serve [FLAGS]` -> `ganpaint serve --host $GANPAINT_HOST --port $GANPAINT_PORT ...`
            cmd = ["sh", str(ENTRYPOINT), "serve", "--model", "tiny", "--device", "cpu"]
            replicas.append(Proc(f"replica{i}", cmd, tmp_path / f"replica{i}.log", replica_env))
        procs += replicas

        lb, lb_port, state = start_nginx(
            tmp_path,
            ports,
            NGINX_WORKER_PROCESSES="2",  # least_conn counts shared through the upstream zone
            NGINX_FAIL_TIMEOUT="30s",  # a killed replica stays marked down for the rest of the test
        )
        procs.append(lb)

        deadline = time.monotonic() + STARTUP_S
        for proc, port in zip(replicas, ports, strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/health", proc, deadline)
        base = f"http://127.0.0.1:{lb_port}"
        wait_until_up(f"{base}/nginx-health", lb, deadline)
        addr = [f"127.0.0.1:{p}" for p in ports]
        access_log = state / "access.log"

        # 1. REST through nginx: every request answered, both replicas served some.
        status, _, body = http("GET", f"{base}/models/tiny")
        assert status == 200, body
        concept = json.loads(body)["concepts"][0]["name"]
        stroke = {
            "concept": concept,
            "mode": "draw",
            "strength": 5,
            "mask": {"points": [[0.3, 0.3], [0.7, 0.6]], "radius": 0.15},
        }
        for i in range(8):
            status, _, body = http("POST", f"{base}/generate", {"model": "tiny", "ids": [i]})
            assert status == 200, body
            assert json.loads(body)["images"][0]["data"].startswith("data:image/png;base64,")
            status, _, body = http("POST", f"{base}/intervene", {"model": "tiny", "image": i, "strokes": [stroke]})
            assert status == 200, body
        served = {a for _, tried in upstreams(access_log, r"/(generate|intervene)") for a in tried}
        assert served == set(addr), f"REST went to {served}, expected both of {addr}"

        # 1b. A picture uploaded through nginx paints the same through either replica (the shared upload folder).
        status, _, body = http("POST", f"{base}/uploads", {"model": "tiny", "scene": 3_000_000_777}, timeout=120)
        assert status == 200, body
        paint = {"model": "tiny", "upload": json.loads(body)["upload"], "strokes": [stroke]}
        painted = {http("POST", f"http://{a}/intervene", paint)[2] for a in addr}
        status, _, via_lb = http("POST", f"{base}/intervene", paint)
        assert status == 200 and len(painted) == 1 and via_lb in painted, (status, via_lb[:200])

        # 2. Two painters (websockets). least_conn puts the second on the replica without the first.
        ws_url = f"ws://127.0.0.1:{lb_port}/ws/paint"
        painters = [Painter(ws_url, "tiny", 3), Painter(ws_url, "tiny", 4)]
        for p in painters:
            assert p.frame(1, [])[:2] == b"\xff\xd8"  # a JPEG
            assert p.frame(2, [stroke])[:2] == b"\xff\xd8"

        # 3. Kill replica 0 while two clients keep sending REST renders through nginx.
        results: list[tuple[int, bytes]] = []
        done = threading.Semaphore(0)

        def client(offset: int) -> None:
            for i in range(12):
                path, body = (
                    ("/generate", {"model": "tiny", "ids": [offset + i]})
                    if i % 2
                    else ("/intervene", {"model": "tiny", "image": offset + i, "strokes": [stroke]})
                )
                try:
                    status, _, answer = http("POST", base + path, body)
                except OSError as exc:
                    status, answer = -1, repr(exc).encode()
                results.append((status, answer))
                done.release()

        threads = [threading.Thread(target=client, args=(100 * k,), daemon=True) for k in range(2)]
        for t in threads:
            t.start()
        for _ in range(4):
            assert done.acquire(timeout=30), "REST clients stalled before the kill"
        replicas[0].kill(signal.SIGKILL)
        for t in threads:
            t.join(timeout=45)
        assert not any(t.is_alive() for t in threads), "REST clients did not finish"
        assert len(results) == 24
        failed = [(s, a[:200]) for s, a in results if s != 200]
        assert not failed, f"requests failed after a replica died: {failed}"
        rest = upstreams(access_log, r"/(generate|intervene)")
        retried = [tried for _, tried in rest if len(tried) > 1]
        assert any(tried[0] == addr[0] and tried[-1] == addr[1] for tried in retried), (
            f"expected nginx to retry a request from the killed {addr[0]} on {addr[1]}; log: {rest[-12:]}"
        )

        # Passive health check: after max_fails failures nginx stops sending to the dead replica.
        assert "upstream server temporarily disabled" in (state / "error.log").read_text()

        # 4. The painter whose replica died reconnects through nginx and gets frames; the other never noticed.
        for p in painters:
            assert p.frame(3, [stroke, stroke])[:2] == b"\xff\xd8"
            assert p.frame(4, [])[:2] == b"\xff\xd8"
        assert sorted(p.reconnects for p in painters) == [0, 1], [p.reconnects for p in painters]
        for p in painters:
            p.ws.close()

        # 5. The access log agrees: websockets were upgraded (101) on both replicas.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ws_served = {tried[-1] for status, tried in upstreams(access_log, r"/ws/paint") if status == "101"}
            if ws_served == set(addr):
                break
            time.sleep(0.1)
        assert ws_served == set(addr), f"websockets went to {ws_served}, expected both of {addr}"

        # 6. The image's HEALTHCHECK command: healthy on the live replica, unhealthy on the dead one.
        health_cmd = dockerfile_healthcheck_cmd()
        live = subprocess.run(health_cmd, env={**env, "GANPAINT_PORT": str(ports[1])}, capture_output=True, timeout=10)
        dead = subprocess.run(health_cmd, env={**env, "GANPAINT_PORT": str(ports[0])}, capture_output=True, timeout=10)
        assert live.returncode == 0, live.stderr
        assert dead.returncode != 0
    finally:
        for proc in reversed(procs):
            proc.stop()


# --- the deployment files ------------------------------------------------------------------------------


def dockerfile_healthcheck_cmd() -> list[str]:
    """The exec-form CMD of the Dockerfile's HEALTHCHECK, runnable here ('python' -> this interpreter)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
    assert m, "Dockerfile: no exec-form HEALTHCHECK ... CMD [...]"
    cmd = json.loads(m.group(1))
    return [sys.executable if cmd[0] == "python" else cmd[0], *cmd[1:]]


def test_dockerfile_builds_cpu_torch_by_default_and_runs_unprivileged():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.search(r"^ARG TORCH_SPEC=torch==2\.13\.0$", text, re.M)
    assert re.search(r"^ARG TORCH_INDEX_URL=$", text, re.M), "TORCH_INDEX_URL must default to empty"
    assert re.search(r"^ARG TORCH_VARIANT=cpu$", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0"), users
    assert "/health" in " ".join(dockerfile_healthcheck_cmd())
    assert re.search(r"^ENTRYPOINT \[\"ganpaint-entrypoint\"\]", text, re.M)
    ignore = (ROOT / ".dockerignore").read_text().split()
    for kept in ("!server/", "!models/", "!precomputed/", "!pyproject.toml", "!deploy/entrypoint.sh"):
        assert kept in ignore, f".dockerignore must let {kept[1:]} into the image"


def test_no_registry_hosts_in_deployment_files():
    """Index and registry URLs are build arguments: no host but the loopback is written into these files."""
    files = [ROOT / "Dockerfile", ROOT / "docker-compose.yml", TEMPLATE, RENDER, ENTRYPOINT]
    for path in files:
        hosts = re.findall(r"\b[a-z][a-z0-9+.-]*://([^/\s\"':;]+)", path.read_text())
        assert set(hosts) <= {"127.0.0.1", "localhost", "ganpaint_replicas"}, (
            f"{path.name}: URLs with hosts {sorted(set(hosts))}"
        )


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_structure():
    """What `docker compose up`, `--profile gpu` and `--scale ganpaint=N` rely on."""
    services = load_compose()["services"]
    cpu, lb, gpu, lb_gpu = (services[n] for n in ("ganpaint", "lb", "ganpaint-gpu", "lb-gpu"))
    # CPU replicas: no host port (so --scale works), CPU torch, extra models mounted read-only.
    assert "ports" not in cpu and "profiles" not in cpu
    assert cpu["build"]["args"]["TORCH_VARIANT"] == "cpu"
    assert cpu["environment"]["GANPAINT_DEVICE"] == "cpu"
    assert any(v.endswith(":/extra/models:ro") for v in cpu["volumes"]), cpu["volumes"]
    # everything read-only but the uploads, a named volume every replica shares (any replica paints any upload)
    assert all(v.endswith(":ro") for v in cpu["volumes"] if v != "uploads:/uploads"), cpu["volumes"]
    assert "uploads:/uploads" in cpu["volumes"] and cpu["environment"]["GANPAINT_UPLOAD_DIR"] == "/uploads"
    # behind nginx every client shares its address: the replicas cap no address, nginx's limit_conn caps clients
    assert str(cpu["environment"]["GANPAINT_MAX_CONNECTIONS_PER_ADDRESS"]) == "0"
    # The balancer: waits for healthy replicas, renders the template, publishes the one public port.
    assert lb["depends_on"] == {"ganpaint": {"condition": "service_healthy"}}
    assert "render.sh" in " ".join(lb["command"]) and "daemon off;" in " ".join(lb["command"])
    assert lb["environment"]["GANPAINT_REPLICAS"].endswith("ganpaint:8000}")
    assert lb["ports"] and "profiles" not in lb
    # GPU profile: CUDA build, an NVIDIA device reserved, its own balancer.
    assert gpu["profiles"] == ["gpu"] and lb_gpu["profiles"] == ["gpu"]
    assert gpu["build"]["args"]["TORCH_VARIANT"] == "cuda"
    assert gpu["environment"]["GANPAINT_DEVICE"] == "cuda"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and device["count"] == 1
    assert lb_gpu["depends_on"] == {"ganpaint-gpu": {"condition": "service_healthy"}}
    assert lb_gpu["environment"]["GANPAINT_REPLICAS"] == "ganpaint-gpu:8000"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose (1.29) is not installed")
def test_docker_compose_config_validates():
    """`docker-compose config` validates against the compose schema without a Docker engine."""
    for args in ([], ["--profile", "gpu"]):
        r = subprocess.run(
            ["docker-compose", *args, "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "GANPAINT_EXTRA_MODELS": "/srv/models"},
        )
        assert r.returncode == 0, r.stderr
        resolved = yaml.safe_load(r.stdout)["services"]
        assert "/srv/models:/extra/models:ro" in resolved["ganpaint"]["volumes"]
        # 1.29 prints every service whatever the profile; the device reservation survives its schema.
        devices = resolved["ganpaint-gpu"]["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"capabilities": ["gpu"], "count": 1, "driver": "nvidia"}]


def test_nginx_template_renders_every_placeholder(tmp_path):
    settings = dict(GANPAINT_REPLICAS="10.0.0.1:8000, 10.0.0.2:8000", NGINX_STATE_DIR=str(tmp_path))
    conf = render_nginx_conf(tmp_path / "nginx.conf", **settings).read_text()
    assert "${" not in conf
    busybox = shutil.which("busybox")
    if busybox:  # the official nginx image (alpine) runs render.sh with busybox's sh, awk, tr and mkdir
        applets = tmp_path / "busybox"
        applets.mkdir()
        for name in ("sh", "awk", "tr", "mkdir"):
            (applets / name).symlink_to(busybox)
        env = {**os.environ, **settings, "PATH": str(applets)}
        r = subprocess.run([busybox, "sh", str(RENDER), str(TEMPLATE)], env=env, capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == conf, r.stderr
    assert conf.count("max_fails=2 fail_timeout=10s;") == 2
    for directive in (
        "limit_conn ganpaint_per_address 200;",
        "proxy_set_header Upgrade $http_upgrade;",
        'proxy_set_header Connection "upgrade";',
        "non_idempotent;",
        "least_conn;",
        "proxy_next_upstream_tries 3;",
    ):
        assert directive in conf
    if NGINX:
        r = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", "nginx.conf"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    for bad, message in (
        (dict(GANPAINT_REPLICAS=" "), "GANPAINT_REPLICAS is empty"),
        (dict(NGINX_BALANCE="random"), "NGINX_BALANCE must be"),
    ):
        r = subprocess.run(
            ["sh", str(RENDER), str(TEMPLATE)],
            env={**os.environ, "NGINX_STATE_DIR": str(tmp_path), **bad},
            capture_output=True,
            text=True,
        )
        assert r.returncode == 2 and message in r.stderr, r.stderr


def test_entrypoint_merges_mounted_models_with_the_images(tmp_path):
    for root, ids in (("image", ["scenes64", "shared"]), ("extra", ["church", "shared"])):
        for kind in ("models", "precomputed"):
            for model_id in ids:
                (tmp_path / root / kind / model_id).mkdir(parents=True)
                (tmp_path / root / kind / model_id / "from").write_text(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANPAINT_")}
    env.update(
        {
            f"GANPAINT_{side}_{kind.upper()}_DIR": str(tmp_path / side.lower() / kind)
            for side in ("IMAGE", "EXTRA")
            for kind in ("models", "precomputed")
        }
    )
    env["GANPAINT_RUNTIME_DIR"] = str(tmp_path / "run")

    def run(**extra: str) -> dict[str, str]:
        out = subprocess.run(["sh", str(ENTRYPOINT), "env"], env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return dict(line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("GANPAINT_"))

    got = run()
    for kind in ("models", "precomputed"):
        merged = Path(got[f"GANPAINT_{kind.upper()}_DIR"])
        assert merged == tmp_path / "run" / kind
        assert sorted(p.name for p in merged.iterdir()) == ["church", "scenes64", "shared"]
        assert (merged / "shared" / "from").read_text() == "extra"  # a mounted id shadows the image's
    # Nothing mounted: the image's folders as they are. An operator's folder: used as given.
    empty = tmp_path / "empty"
    empty.mkdir()
    got = run(GANPAINT_EXTRA_MODELS_DIR=str(empty), GANPAINT_EXTRA_PRECOMPUTED_DIR=str(empty))
    assert got["GANPAINT_MODELS_DIR"] == str(tmp_path / "image" / "models")
    assert run(GANPAINT_MODELS_DIR="/srv/m")["GANPAINT_MODELS_DIR"] == "/srv/m"


def test_entrypoint_turns_serve_into_ganpaint_serve_flags(tmp_path):
    (tmp_path / "ganpaint").write_text('#!/bin/sh\necho "ganpaint $*"\n')
    (tmp_path / "ganpaint").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANPAINT_")}
    env.update(PATH=f"{tmp_path}{os.pathsep}{env.get('PATH', '')}", GANPAINT_RUNTIME_DIR=str(tmp_path / "run"))

    def run(*args: str, **extra: str) -> str:
        out = subprocess.run(["sh", str(ENTRYPOINT), *args], env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    default = "ganpaint serve --host 0.0.0.0 --port 8000 --workers 1 --log-level warning"
    assert run() == default
    assert run("serve", "--port", "9000") == default + " --port 9000"  # later flags win in argparse
    assert run("serve", GANPAINT_PORT="9001", GANPAINT_WORKERS="3") == default.replace("8000", "9001").replace(
        "workers 1", "workers 3"
    )
    assert run("ganpaint", "--version") == "ganpaint --version"
