#!/usr/bin/env bash
# Start a class on this laptop: ganpaint classroom (docs/classroom.md), with .venv set up as scripts/serve.sh does.
#   bash scripts/classroom.sh --name "7B art"
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/serve.sh --help > /dev/null  # creates or updates .venv when needed, then only prints help
exec .venv/bin/ganpaint classroom "$@"
