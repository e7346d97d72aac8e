#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && { ! command -v chromium >/dev/null || ! command -v nginx >/dev/null || ! command -v docker-compose >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium nginx docker-compose postgresql >/dev/null
fi
python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q torch==2.13.0          # the CPU build here; never a bare 'torch' (that pulls CUDA)
pip install -q -e '.[test]'
bash scripts/venv_stamp.sh > .venv/ganpaint-stamp  # scripts/serve.sh then starts without installing
ruff check .
python -m pytest -q --timeout 600 "$@"
