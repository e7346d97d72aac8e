"""Every ``sh`` and ``python`` example in docs/api.md runs as written against the default server.

The default server is what ``bash scripts/serve.sh`` starts: ``ganpaint serve`` on the embedded model
``scenes64`` at 127.0.0.1:8000. Here it runs on a free port, so ``127.0.0.1:8000`` in the examples is the only
thing changed. ``curl`` gets ``--fail-with-body -sS`` (a shell function in front of the example), so an HTTP
error fails the example; each block runs with ``set -euo pipefail`` in a scratch folder (for ``-o`` files).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from live_server import ROOT, LiveServer

DOC = ROOT / "docs" / "api.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.M | re.S)
CURL = 'curl() { command curl --fail-with-body -sS --max-time 60 "$@"; }\n'


def examples() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def test_the_doc_has_examples_for_every_route():
    text = "\n".join(code for _, code in examples())
    for route in ("/health", "/models", "/generate", "/intervene", "/ws/paint", "/api/generate", "/reports/"):
        assert route in text, f"docs/api.md has no runnable example of {route}"
    assert '"model": "tiny"' not in text  # the default server has no model "tiny"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    with LiveServer(root, dirs=(ROOT / "models", ROOT / "precomputed"), model="scenes64") as s:
        yield s


@pytest.mark.embedded
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("index", range(len(examples())))
def test_api_md_example_runs(server, index, tmp_path):
    lang, code = examples()[index]
    code = code.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    if lang == "sh":
        cmd = ["bash", "-c", "set -euo pipefail\n" + CURL + code]
    else:
        cmd = [sys.executable, "-c", code]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"example {index} ({lang}) failed:\n{code}\nstdout: {done.stdout[-2000:]}\n" + (
        f"stderr: {done.stderr[-2000:]}"
    )
    assert done.stdout.strip() or any(tmp_path.iterdir()), f"example {index} printed and wrote nothing:\n{code}"
