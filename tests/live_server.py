"""A real ``ganpaint serve`` process on the tiny model, for the hardening tests (SIGTERM, fuzzing, abuse)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from ganpaint.tiny import make_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_dirs(root: Path) -> tuple[Path, Path]:
    if not (root / "models" / "tiny" / "model.json").is_file():
        make_tiny_model(root / "models", root / "precomputed")
    return root / "models", root / "precomputed"


def serve_command(models: Path, precomputed: Path, port: int, *extra: str, model: str = "tiny") -> list[str]:
    return [
        sys.executable, "-c", "from ganpaint.cli import main; main()", "serve",
        "--models-dir", str(models), "--precomputed-dir", str(precomputed), "--model", model,
        "--port", str(port), "--threads", "1", *extra,
    ]  # fmt: skip


def quiet_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANPAINT_")}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


class LiveServer:
    """``with LiveServer(root, GANPAINT_X="1", prelude=...) as s: s.url``; ``prelude`` is Python run before the
    server starts in its process (tests use it to slow the renderer down)."""

    def __init__(
        self, root: Path, *extra: str, prelude: str = "", dirs: tuple[Path, Path] | None = None, model: str = "tiny",
        **env: str,
    ):  # fmt: skip
        self.models, self.precomputed = dirs or tiny_dirs(root)
        self.port = free_port()
        env.setdefault("GANPAINT_UPLOAD_DIR", str(root / f"uploads-{self.port}"))  # its own, not data/uploads
        cmd = serve_command(self.models, self.precomputed, self.port, *extra, model=model)
        if prelude:
            cmd[2] = prelude + "\n" + cmd[2]
        self.log = root / f"server-{self.port}.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(cmd, cwd=ROOT, env=quiet_env(**env), stdout=self._out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/paint"

    def wait_ready(self, timeout: float = 60) -> LiveServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"server exited {self.p.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"server not ready in {timeout} s: {self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def rss_mb(self) -> float:
        """The server process's resident memory (Linux /proc)."""
        for line in Path(f"/proc/{self.p.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def terminate(self) -> None:
        self.p.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._out.close()

    def __enter__(self) -> LiveServer:
        return self.wait_ready()

    def __exit__(self, *exc) -> None:
        self.stop()
