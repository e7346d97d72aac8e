"""``bash scripts/serve.sh`` on a set-up checkout starts offline: nothing is installed, the server answers /health.

The package index is made unreachable (``PIP_INDEX_URL`` at a closed 127.0.0.1 port, ``PIP_NO_INDEX``), so any
install step would fail; the script must see from ``.venv/ganpaint-stamp`` that the environment is current and
go straight to ``ganpaint serve`` (the embedded default model). The server is stopped by its pid (serve.sh
``exec``s it, so the pid is the script's).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from live_server import free_port, quiet_env

ROOT = Path(__file__).resolve().parents[1]


def _stamp_is_current() -> bool:
    want = subprocess.run(["bash", "scripts/venv_stamp.sh"], cwd=ROOT, capture_output=True, text=True, check=True)
    stamp = ROOT / ".venv" / "ganpaint-stamp"
    return stamp.is_file() and stamp.read_text() == want.stdout


@pytest.mark.embedded
def test_serve_sh_starts_offline_without_installing(tmp_path):
    if not (ROOT / ".venv" / "bin" / "ganpaint").exists() or not _stamp_is_current():
        pytest.skip(".venv is not set up by scripts/test.sh or scripts/serve.sh (no current .venv/ganpaint-stamp)")
    stamp_before = (ROOT / ".venv" / "ganpaint-stamp").read_text()
    port = free_port()
    env = quiet_env(
        PIP_INDEX_URL=f"http://127.0.0.1:{free_port()}/simple",  # nothing listens there
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS="",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
    )
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    p = subprocess.Popen(
        ["bash", "scripts/serve.sh", "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    started = time.monotonic()
    try:
        health = None
        deadline = time.monotonic() + 120
        while health is None and time.monotonic() < deadline and p.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    health = json.load(r)
            except OSError:
                time.sleep(0.2)
        output = (tmp_path / "serve.log").read_text(errors="replace")
        assert health is not None, f"no /health (exit {p.poll()}):\n{output[-3000:]}"
        assert health["status"] == "ok"
        assert "setting up .venv" not in output, output[-3000:]
        print(f"serve.sh offline: /health after {time.monotonic() - started:.1f} s")
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)  # the pid is ganpaint serve's: serve.sh exec'd it
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        log.close()
    assert p.returncode is not None
    assert (ROOT / ".venv" / "ganpaint-stamp").read_text() == stamp_before
