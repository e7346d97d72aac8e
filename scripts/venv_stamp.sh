#!/usr/bin/env bash
# Print the stamp of the environment that scripts/serve.sh and scripts/test.sh build in .venv: the hash of
# pyproject.toml and the install command. Both scripts write it to .venv/ganpaint-stamp after installing;
# serve.sh installs again only when the stamp differs (a set-up checkout then starts offline, in seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "pyproject.toml $(sha256sum pyproject.toml | cut -c1-64); install: torch==2.13.0, pip install -e ."
