"""The committed embedded default (models/scenes64 + precomputed/scenes64), end to end, kept fast."""

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ganpaint import REPO_ROOT
from ganpaint.api.app import create_app
from ganpaint.api.settings import Settings
from ganpaint.models import load_model_info
from ganpaint.nn.proggan import load_generator
from ganpaint.precomputed import load_precomputed, precomputed_layers

pytestmark = pytest.mark.embedded
MODELS, PRECOMPUTED = REPO_ROOT / "models", REPO_ROOT / "precomputed"


def test_embedded_model_loads_through_the_published_layout_loader():
    info = load_model_info("scenes64", MODELS)
    g = load_generator(info.generator_path)
    assert g.resolution == info.resolution == 64 and g.z_dim == info.z_dim
    assert "output_64x64.conv.weight" in g.state_dict()
    layers = precomputed_layers(PRECOMPUTED, "scenes64")
    assert info.default_layer in layers
    pre = load_precomputed(PRECOMPUTED / "scenes64" / f"{info.default_layer}.json")
    assert pre.feature_shape == g.feature_shape(info.default_layer)
    assert {"tree", "door", "dome", "sky", "grass"} <= set(pre.concepts)


@pytest.fixture(scope="module")
def client():
    settings = Settings(models_dir=MODELS, precomputed_dir=PRECOMPUTED, model="scenes64", threads=1)
    with TestClient(create_app(settings)) as c:
        yield c


def _png(client, body) -> np.ndarray:
    r = client.post("/intervene", json=body, headers={"accept": "image/png"})
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)


def test_painting_on_the_embedded_model_changes_the_painted_region_most(client):
    info = client.get("/models/scenes64").json()
    image = info["gallery"][0]
    base = _png(client, {"model": "scenes64", "image": image, "strokes": []})
    stroke = {
        "concept": "tree",
        "mode": "draw",
        "strength": 20,
        "mask": {"points": [[0.1, 0.5], [0.45, 0.5]], "radius": 0.2},
    }
    painted = _png(client, {"model": "scenes64", "image": image, "strokes": [stroke]})
    diff = np.abs(painted - base).sum(-1)  # (64, 64)
    inside, outside = diff[:, :32].mean(), diff[:, 40:].mean()
    assert inside > 0 and inside > outside


def test_embedded_brushes_erase_with_their_erase_sets(client):
    image = client.get("/models/scenes64").json()["gallery"][0]
    for name in ("tree", "grass", "door", "sky", "cloud", "brick", "dome"):
        c = client.get(f"/models/scenes64/concepts/{name}").json()
        assert len(set(c["erase_units"])) == 20 and c["erase_ranking"] in ("removal", "ace", "iou")
        assert c["effect"]["erase"]["ranking"] == c["erase_ranking"]
    everywhere = {"points": [[0.5, 0.5]], "radius": 1.0}
    base = _png(client, {"model": "scenes64", "image": image, "strokes": []})
    stroke = {"concept": "tree", "mode": "erase", "mask": everywhere}
    erased = _png(client, {"model": "scenes64", "image": image, "strokes": [{**stroke, "method": "units"}]})
    tree = client.get("/models/scenes64/concepts/tree").json()
    edit = {"layer": tree["layer"], "units": tree["erase_units"], "value": 0.0}  # the same, as a raw edit
    raw = _png(client, {"model": "scenes64", "image": image, "edits": [edit]})
    assert np.abs(erased - base).sum() > 0 and np.array_equal(erased, raw)
    # the fill erase over every cell has nothing around it to fill from: it is GANPaint's erase too
    assert np.array_equal(_png(client, {"model": "scenes64", "image": image, "strokes": [stroke]}), raw)
