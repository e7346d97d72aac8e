#!/usr/bin/env bash
# Start the painting app on the embedded default model, setting up .venv first when it is missing or out of date.
#
# Out of date: .venv/ganpaint-stamp (written after an install by this script or scripts/test.sh) differs from
# scripts/venv_stamp.sh (pyproject.toml's hash and the install command). Otherwise nothing is installed and the
# server starts with no network.
set -euo pipefail
cd "$(dirname "$0")/.."
want="$(bash scripts/venv_stamp.sh)"
if [ ! -x .venv/bin/ganpaint ] || [ "$(cat .venv/ganpaint-stamp 2>/dev/null)" != "$want" ]; then
  echo "serve.sh: setting up .venv (missing, or pyproject.toml / the install command changed)" >&2
  python3 -m venv .venv
  rm -f .venv/ganpaint-stamp
  . .venv/bin/activate
  pip install -q --upgrade pip
  pip install -q torch==2.13.0          # the CPU build here; a GPU machine may install its own torch first
  pip install -q -e .
  echo "$want" > .venv/ganpaint-stamp
fi
. .venv/bin/activate
exec ganpaint serve "$@"
