#!/usr/bin/env bash
# Set up a fresh machine and start the painting app on the embedded default model.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q torch==2.13.0          # the CPU build here; a GPU machine may install its own torch first
pip install -q -e .
exec ganpaint serve "$@"
