import pytest
import torch

from ganpaint.nn.proggan import ProgressiveGenerator


def tiny_generator(seed: int = 0, channels=(16, 16, 16, 16, 8, 8, 8, 8), z_dim: int = 16) -> ProgressiveGenerator:
    """A seeded 32x32 ProGAN with random weights (biases random too, so they matter)."""
    torch.manual_seed(seed)
    g = ProgressiveGenerator(list(channels), z_dim)
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("wscale.b"):
                p.normal_(0, 0.1)
            else:
                p.normal_(0, 1)
    return g.eval()


@pytest.fixture
def tiny_g() -> ProgressiveGenerator:
    return tiny_generator()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """A painting engine serving the seeded tiny model (ganpaint make-tiny), one per test module
    (tests/test_engine.py defines its own)."""
    from ganpaint.engine import Engine
    from ganpaint.tiny import make_tiny_model

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_model(root / "models", root / "precomputed")
    e = Engine(root / "models", root / "precomputed", threads=1)
    yield e
    e.close()
