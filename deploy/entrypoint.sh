#!/bin/sh
# Container entrypoint: serve the models baked into the image plus any mounted read-only at run time.
#
#   /app/models/<id>/, /app/precomputed/<id>/      in the image (the embedded default model)
#   /extra/models/<id>/, /extra/precomputed/<id>/  optional read-only mounts (docker-compose.yml)
#
# When the mounts hold anything, both are merged, as symlinks, into GANPAINT_RUNTIME_DIR (a mounted id
# shadows an image id of the same name) and GANPAINT_MODELS_DIR / GANPAINT_PRECOMPUTED_DIR point there.
# A GANPAINT_MODELS_DIR / GANPAINT_PRECOMPUTED_DIR set by the operator is used as given. Then it runs
# the command: `serve [FLAGS]` (the default) or any other command line, e.g. `ganpaint dissect ...`.
set -eu

image_models=${GANPAINT_IMAGE_MODELS_DIR:-/app/models}
image_precomputed=${GANPAINT_IMAGE_PRECOMPUTED_DIR:-/app/precomputed}
extra_models=${GANPAINT_EXTRA_MODELS_DIR:-/extra/models}
extra_precomputed=${GANPAINT_EXTRA_PRECOMPUTED_DIR:-/extra/precomputed}
runtime=${GANPAINT_RUNTIME_DIR:-/tmp/ganpaint}

# merge OUT DIR...: OUT/<name> -> DIR/<name> for every entry of every DIR (later DIRs win).
merge() {
    out=$1; shift
    rm -rf "$out"
    mkdir -p "$out"
    for dir in "$@"; do
        [ -d "$dir" ] || continue
        for entry in "$dir"/*; do
            [ -e "$entry" ] || continue
            ln -sfn "$entry" "$out/$(basename "$entry")"
        done
    done
}

nonempty() { [ -d "$1" ] && [ -n "$(ls -A "$1" 2>/dev/null)" ]; }

if [ -z "${GANPAINT_MODELS_DIR:-}" ]; then
    if nonempty "$extra_models"; then
        merge "$runtime/models" "$image_models" "$extra_models"
        GANPAINT_MODELS_DIR=$runtime/models
    else
        GANPAINT_MODELS_DIR=$image_models
    fi
    export GANPAINT_MODELS_DIR
fi
if [ -z "${GANPAINT_PRECOMPUTED_DIR:-}" ]; then
    if nonempty "$extra_precomputed"; then
        merge "$runtime/precomputed" "$image_precomputed" "$extra_precomputed"
        GANPAINT_PRECOMPUTED_DIR=$runtime/precomputed
    else
        GANPAINT_PRECOMPUTED_DIR=$image_precomputed
    fi
    export GANPAINT_PRECOMPUTED_DIR
fi

# `serve [FLAGS]` (the image's CMD): `ganpaint serve` listening on every interface of the container.
# Host, port, workers and log level are flags of `ganpaint serve`, not settings: take them from the
# environment here. Later FLAGS win (argparse), so `docker run IMAGE serve --port 9000` works.
if [ "${1:-serve}" = serve ]; then
    [ "$#" -gt 0 ] && shift
    set -- ganpaint serve --host "${GANPAINT_HOST:-0.0.0.0}" --port "${GANPAINT_PORT:-8000}" \
        --workers "${GANPAINT_WORKERS:-1}" --log-level "${GANPAINT_LOG_LEVEL:-warning}" "$@"
fi
exec "$@"
