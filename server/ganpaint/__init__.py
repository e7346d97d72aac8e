"""ganpaint: semantic painting on a Progressive GAN (GAN Dissection, Bau et al.)."""

from pathlib import Path

__version__ = "0.1.0"

# Where the repository keeps the embedded models and their dissections. An installed copy run
# from elsewhere can point at other folders with GANPAINT_MODELS_DIR / GANPAINT_PRECOMPUTED_DIR.
REPO_ROOT = Path(__file__).resolve().parents[2]
