"""The embedded model's card (models/scenes64/README.md) states what the committed files hold.

A ship replaces generator.pth, metrics.json and precomputed/; a resumed training run replaces
train_state.pt. These checks fail when the card was not brought along.
"""

import json
import re

import pytest
import torch

from ganpaint import REPO_ROOT

pytestmark = pytest.mark.embedded
MODEL_DIR = REPO_ROOT / "models" / "scenes64"


@pytest.fixture(scope="module")
def card() -> str:
    return (MODEL_DIR / "README.md").read_text()


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"the card has no {pattern!r}"
    return match.group(1)


def test_card_states_the_shipped_generators_images_seen(card):
    meta = json.loads((MODEL_DIR / "model.json").read_text())
    status = _first(r"(?s)\*\*Status:(.*?)\n\n", card)
    assert int(_first(r"(\d+)k images seen", status)) == round(meta["provenance"]["images_seen"] / 1000)


def test_card_states_the_packed_training_states_images_seen(card):
    state = torch.load(MODEL_DIR / "train_state.pt", map_location="cpu", weights_only=False)
    row = _first(r"(\| `train_state.pt` \|.*)", card)
    assert float(_first(r"at (\d+\.\d)k images", row)) == round(state["imgs_seen"] / 1000, 1)


def test_card_states_the_measured_fsd_and_its_floor(card):
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text())
    assert float(_first(r"Frechet Segmentation Distance (\d+\.\d)", card)) == round(metrics["fsd"]["fsd"], 1)
    floor = _first(r"the floor, two disjoint scene-world samples: (\d+\.\d+)", card)
    assert float(floor) == round(metrics["fsd_floor"]["fsd"], len(floor.split(".")[1]))


def test_card_states_the_default_painting_layer(card):
    meta = json.loads((MODEL_DIR / "model.json").read_text())
    summary = json.loads((REPO_ROOT / "precomputed" / "scenes64" / "summary.json").read_text())
    assert _first(r"Default painting layer: \*\*(layer\d+)\*\*", card) == meta["default_layer"]
    assert meta["default_layer"] == summary["default_layer"]
