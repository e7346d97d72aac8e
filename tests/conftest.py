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
