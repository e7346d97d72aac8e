# syntax=docker/dockerfile:1
# ganpaint: the painting server (`ganpaint serve`) in a container. See docs/deployment.md.
#
#   CPU (default):  docker build --build-arg TORCH_INDEX_URL="$TORCH_CPU_INDEX_URL" -t ganpaint:cpu .
#   CUDA:           docker build --build-arg TORCH_VARIANT=cuda \
#                                --build-arg TORCH_INDEX_URL="$TORCH_CUDA_INDEX_URL" -t ganpaint:cuda .
#
# Build arguments:
#   TORCH_SPEC       the pip requirement for torch (default torch==2.13.0, the version the suite runs on).
#   TORCH_INDEX_URL  the wheel index pip installs torch from; empty (the default) = pip's configured index.
#                    Give PyTorch's CPU-only wheel index for a small CPU image (the default index's Linux
#                    x86_64 torch wheel is the CUDA build: it runs on a CPU too, but is gigabytes larger),
#                    or one of PyTorch's CUDA wheel indexes for a given CUDA version. No host is written
#                    here: copy the index URL from PyTorch's install instructions.
#   TORCH_VARIANT    cpu | cuda: the device `ganpaint serve` uses by default (GANPAINT_DEVICE).
#   PYTHON_IMAGE     the base image (default python:3.11-slim).
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=
ARG TORCH_VARIANT=cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. torch: the big layer, rebuilt only when a torch build argument changes.
RUN set -eu; \
    case "$TORCH_VARIANT" in cpu|cuda) ;; \
        *) echo "TORCH_VARIANT must be cpu or cuda, got '$TORCH_VARIANT'" >&2; exit 2 ;; esac; \
    if [ -n "$TORCH_INDEX_URL" ]; then pip install --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"; \
    else pip install "$TORCH_SPEC"; fi; \
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

# 2. The other dependencies, from pyproject.toml alone (a stub package), so source edits keep this layer.
WORKDIR /app
COPY pyproject.toml README.md ./
RUN set -eu; \
    mkdir -p server/ganpaint; echo '__version__ = "0"' > server/ganpaint/__init__.py; \
    pip install ".[postgres]"; pip uninstall -y ganpaint; rm -rf server build

# 3. The code, the page, the embedded models and their dissections (.dockerignore lists what enters).
#    Installed in place (-e) so the package finds /app/models and /app/precomputed as in a checkout.
COPY . .
RUN set -eu; \
    pip install --no-deps -e .; \
    install -m 0755 deploy/entrypoint.sh /usr/local/bin/ganpaint-entrypoint; \
    useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin ganpaint; \
    mkdir -p /extra/models /extra/precomputed /uploads; \
    chown ganpaint:ganpaint /uploads; \
    ganpaint --version

# Runs as an unprivileged user; the code and models stay root-owned and read-only to it.
USER ganpaint
# GANPAINT_HOST/PORT/WORKERS/LOG_LEVEL become `ganpaint serve` flags in the entrypoint; the other
# GANPAINT_* variables are the server's settings (docs/deployment.md).
ENV GANPAINT_HOST=0.0.0.0 \
    GANPAINT_PORT=8000 \
    GANPAINT_DEVICE=${TORCH_VARIANT}
EXPOSE 8000

# Extra models and their dissections: mount them read-only at /extra/models and /extra/precomputed;
# the entrypoint merges them with the image's own. GANPAINT_MODELS_DIR / GANPAINT_PRECOMPUTED_DIR
# (set to a mounted folder) replace both.

# slim images have no curl: ask /health with the standard library.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('GANPAINT_PORT', '8000'), timeout=4)"]

ENTRYPOINT ["ganpaint-entrypoint"]
CMD ["serve"]
