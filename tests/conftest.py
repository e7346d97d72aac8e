import pytest

from ganpaint.nn.proggan import ProgressiveGenerator
from ganpaint.tiny import tiny_generator  # the one tiny test generator (test files import it from here)

__all__ = ["tiny_generator"]


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
