import base64
import io

import numpy as np
import pytest
from api_helpers import STROKE, tiny_client
from PIL import Image


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("api")) as c:
        yield c


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def from_data_url(url: str) -> bytes:
    return base64.b64decode(url.split(",", 1)[1])


def test_read_health(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "models": ["tiny"], "device": "cpu"}


def test_read_models(client):
    r = client.get("/models")
    assert r.status_code == 200
    assert r.json() == {
        "default_model": "tiny",
        "models": [
            {"id": "tiny", "name": "Tiny random generator (seed 0)", "resolution": 32, "default_layer": "layer4"}
        ],
    }


def test_read_model(client):
    r = client.get("/models/tiny")
    assert r.status_code == 200
    body = r.json()
    assert body["resolution"] == 32 and body["default_layer"] == "layer4" and body["layer"] == "layer4"
    assert body["paint_layers"] == ["layer4", "layer6"] and body["gallery"] == list(range(8))
    assert body["layers"][3] == {"name": "layer4", "feature_shape": [16, 8, 8], "paintable": True}
    brushes = [{k: c[k] for k in ("name", "color", "units", "ranking", "erase_ranking")} for c in body["concepts"]]
    assert brushes == [
        {"name": "tree", "color": "#146e28", "units": 8, "ranking": "ace", "erase_ranking": "ace"},
        {"name": "grass", "color": "#50be46", "units": 8, "ranking": "iou", "erase_ranking": "iou"},
        {"name": "sky", "color": "#6eaaf0", "units": 3, "ranking": "iou", "erase_ranking": "removal"},
    ]
    assert [len(c["styles"]) for c in body["concepts"]] == [0, 0, 2]  # the tiny model's stamps: sky only
    assert client.get("/models/tiny", params={"layer": "layer6"}).json()["concepts"][0]["units"] == 4


def test_read_model_errors(client):
    r = client.get("/models/nope")
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown model 'nope'; available: tiny"}
    r = client.get("/models/a..b")
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown model 'a..b'; available: tiny"}
    r = client.get("/models/tiny", params={"layer": "layer99"})
    assert r.status_code == 404
    assert r.json()["detail"] == (
        "layer: unknown layer 'layer99' for model 'tiny'; available: "
        "layer1, layer2, layer3, layer4, layer5, layer6, layer7, layer8"
    )


def test_read_concept(client):
    r = client.get("/models/tiny/concepts/tree")
    assert r.status_code == 200
    body = r.json()
    assert body["units"] == list(range(8)) and body["draw_values"] == [4.0] * 8 and body["layer"] == "layer4"
    assert body["effect"]["ablation_removed"] == 0.5
    assert body["erase_units"] == body["units"] and body["erase_ranking"] == "ace"  # no erase set: the draw units
    sky = client.get("/models/tiny/concepts/sky").json()
    assert sky["units"] == [15, 0] and sky["erase_units"] == [1, 2, 3] and sky["erase_ranking"] == "removal"
    r = client.get("/models/tiny/concepts/lava")
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown concept 'lava' at layer4; available: grass, sky, tree"}
    r = client.get("/models/tiny/concepts/tree", params={"layer": "layer2"})
    assert r.status_code == 404
    assert r.json() == {"detail": "layer 'layer2' of model 'tiny' has no dissection; dissected layers: layer4, layer6"}


def test_create_generation(client):
    r = client.post("/generate", json={"ids": [0, 1], "format": "png"})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "tiny" and [i["id"] for i in body["images"]] == [0, 1]
    assert pixels(from_data_url(body["images"][0]["data"])).shape == (32, 32, 3)
    again = client.post("/generate", json={"ids": [0, 1], "format": "png"}).json()
    assert again == body  # same request, same bytes


def test_create_generation_binary_and_formats(client):
    for fmt, media in [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp")]:
        r = client.post("/generate", json={"ids": [3], "format": fmt}, headers={"accept": media})
        assert r.status_code == 200 and r.headers["content-type"] == media
        assert pixels(r.content).shape == (32, 32, 3)


def test_create_generation_from_z(client):
    from ganpaint.nn.proggan import image_latents

    z = image_latents([2], 16)[0].tolist()
    a = client.post("/generate", json={"zs": [z]}).json()["images"][0]
    b = client.post("/generate", json={"ids": [2]}).json()["images"][0]
    assert a["id"] is None and a["data"] == b["data"]


@pytest.mark.parametrize(
    "body, status, detail",
    [
        ({}, 422, "ids/zs: give exactly one of 'ids' (image ids) or 'zs' (latent vectors)"),
        ({"ids": []}, 422, "ids: expected 1..16 entries, got 0"),
        ({"ids": list(range(17))}, 422, "ids: expected 1..16 entries, got 17"),
        ({"ids": [-1]}, 422, "ids[0]: Input should be greater than or equal to 0, got -1"),
        ({"ids": [100000]}, 422, "ids[0]: Input should be less than or equal to 99999, got 100000"),
        ({"ids": [1], "format": "gif"}, 422, "format: Input should be 'png', 'jpeg' or 'webp', got 'gif'"),
        ({"ids": [1], "quality": 0}, 422, "quality: Input should be greater than or equal to 1, got 0"),
        ({"zs": [[0.0] * 3]}, 422, "zs[0]: expected 16 numbers (z_dim of model 'tiny'), got 3"),
        ({"ids": [1], "model": "nope"}, 404, "unknown model 'nope'; available: tiny"),
        ({"ids": [1], "colour": 1}, 422, "colour: unknown field"),
    ],
)
def test_create_generation_errors(client, body, status, detail):
    r = client.post("/generate", json=body)
    assert r.status_code == status
    assert r.json() == {"detail": detail}


def test_create_generation_rejects_nan(client):
    r = client.post("/generate", content='{"zs": [[NaN]]}', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json() == {"detail": "zs[0][0]: Input should be a finite number, got nan"}
    r = client.post("/generate", content='{"zs": [[Infinity]]}', headers={"content-type": "application/json"})
    assert r.json() == {"detail": "zs[0][0]: Input should be a finite number, got inf"}


def test_create_intervention(client):
    plain = client.post("/generate", json={"ids": [3]}, headers={"accept": "image/png"}).content
    r = client.post("/intervene", json={"image": 3, "strokes": [STROKE]}, headers={"accept": "image/png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert not np.array_equal(pixels(r.content), pixels(plain))
    again = client.post("/intervene", json={"image": 3, "strokes": [STROKE]}, headers={"accept": "image/png"})
    assert again.content == r.content
    j = client.post("/intervene", json={"image": 3, "strokes": [STROKE]})
    assert j.json()["image"] == 3 and from_data_url(j.json()["data"]) == r.content
    empty = client.post("/intervene", json={"image": 3}, headers={"accept": "image/png"})
    assert empty.content == plain


def test_create_intervention_mask_forms_agree(client):
    """A square as a bitstring, run lengths and a PNG gives the same image."""
    m = np.zeros((32, 32), np.uint8)
    m[8:24, 4:20] = 1
    bits = {"shape": [32, 32], "bitbounds": [8, 4, 24, 20], "bitstring": "1" * 256}
    runs = {"shape": [32, 32], "bounds": [], "runs": []}
    from ganpaint.masks import encode_runs

    runs = encode_runs(m)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = m * 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    outs = []
    for mask in (bits, runs, url):
        stroke = {**STROKE, "mask": mask}
        r = client.post("/intervene", json={"image": 1, "strokes": [stroke]}, headers={"accept": "image/png"})
        assert r.status_code == 200
        outs.append(r.content)
    assert outs[0] == outs[1] == outs[2]


def test_create_intervention_raw_edits(client):
    body = {"image": 2, "edits": [{"layer": "layer6", "units": [0, 1], "value": [2.0, 3.0], "alpha": 1.0}]}
    r = client.post("/intervene", json=body, headers={"accept": "image/png"})
    assert r.status_code == 200
    plain = client.post("/intervene", json={"image": 2}, headers={"accept": "image/png"})
    assert r.content != plain.content


def test_erase_methods_fill_by_default(client):
    """An erase stroke fills from what surrounds it unless it asks for GANPaint's units (ganpaint.erase)."""
    erase = {**STROKE, "mode": "erase"}

    def shot(stroke):
        r = client.post("/intervene", json={"image": 2, "strokes": [stroke]}, headers={"accept": "image/png"})
        assert r.status_code == 200, r.text
        return pixels(r.content)

    fill, units, weak = shot(erase), shot({**erase, "method": "units"}), shot({**erase, "strength": 1})
    assert np.array_equal(fill, shot({**erase, "method": "fill"}))
    assert not np.array_equal(fill, units)
    raw = {"layer": "layer4", "units": client.get("/models/tiny/concepts/tree").json()["erase_units"], "value": 0.0,
           "mask": STROKE["mask"]}  # fmt: skip
    r = client.post("/intervene", json={"image": 2, "edits": [raw]}, headers={"accept": "image/png"})
    assert np.array_equal(pixels(r.content), units)  # "units": GANPaint's erase, the erase units set to 0
    assert not np.array_equal(weak, fill)  # strength 1 holds one erase unit at 0 in the fit, not three


BAD_MASK = {**STROKE, "mask": {"points": [[0.5, 1.5]], "radius": 0.1}}


@pytest.mark.parametrize(
    "body, status, detail",
    [
        ({"strokes": [STROKE]}, 422, "image/z: give exactly one of 'image' (an image id) or 'z' (a latent vector)"),
        ({"image": 100000}, 422, "image: Input should be less than or equal to 99999, got 100000"),
        (
            {"image": 1, "strokes": [{**STROKE, "strength": 21}]},
            422,
            "strokes[0].strength: Input should be less than or equal to 20, got 21",
        ),
        (
            {"image": 1, "strokes": [{**STROKE, "strength": 0}]},
            422,
            "strokes[0].strength: Input should be greater than or equal to 1, got 0",
        ),
        (
            {"image": 1, "strokes": [{**STROKE, "mode": "smudge"}]},
            422,
            "strokes[0].mode: Input should be 'draw', 'erase' or 'stamp', got 'smudge'",
        ),
        (
            {"image": 1, "strokes": [{**STROKE, "mode": "erase", "method": "blur"}]},
            422,
            "strokes[0].method: Input should be 'fill' or 'units', got 'blur'",
        ),
        (
            {"image": 1, "strokes": [STROKE, {**STROKE, "concept": "lava"}]},
            404,
            "strokes[1].concept: unknown concept 'lava' at layer4; available: grass, sky, tree",
        ),
        (
            {"image": 1, "strokes": [{**STROKE, "layer": "layer9"}]},
            404,
            "strokes[0].layer: unknown layer 'layer9' for model 'tiny'; available: "
            "layer1, layer2, layer3, layer4, layer5, layer6, layer7, layer8",
        ),
        (
            {"image": 1, "layer": "layer2", "strokes": [STROKE]},
            404,
            "strokes[0].layer: layer 'layer2' of model 'tiny' has no dissection; dissected layers: layer4, layer6",
        ),
        ({"image": 1, "strokes": [BAD_MASK]}, 422, "strokes[0].mask.points[0][1]: expected a number in 0..1, got 1.5"),
        (
            {"image": 1, "strokes": [{**STROKE, "mask": "data:image/png;base64,AAAA"}]},
            422,
            "strokes[0].mask: not a readable PNG (3 bytes)",
        ),
        ({"image": 1, "strokes": [STROKE] * 65}, 422, "strokes: at most 64 strokes, got 65"),
        (
            {"image": 1, "strokes": [{"mode": "draw", "mask": STROKE["mask"]}]},
            422,
            "strokes[0].concept: Field required",
        ),
        (
            {"image": 1, "edits": [{"layer": "layer4", "units": [16]}]},
            422,
            "edits[0].units[0]: expected a unit in 0..15 of layer4, got 16",
        ),
        (
            {"image": 1, "edits": [{"layer": "layer4", "units": [1, 2], "value": [1.0]}]},
            422,
            "edits[0].value: expected one number or 2 (one per unit), got 1",
        ),
        (
            {"image": 1, "edits": [{"layer": "layer4", "units": [1], "alpha": 2}]},
            422,
            "edits[0].alpha: expected numbers in 0..1, got 2.0",
        ),
        (
            {"image": 1, "z": [0.0] * 16},
            422,
            "image/z: give exactly one of 'image' (an image id) or 'z' (a latent vector)",
        ),
        ({"z": [0.0] * 15}, 422, "z: expected 16 numbers (z_dim of model 'tiny'), got 15"),
    ],
)
def test_create_intervention_errors(client, body, status, detail):
    r = client.post("/intervene", json=body)
    assert r.status_code == status, r.json()
    assert r.json() == {"detail": detail}


def test_oversized_body_is_413(client):
    body = '{"image": 1, "strokes": [], "pad": "' + "x" * (2 * 1024 * 1024) + '"}'
    r = client.post("/intervene", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"detail": f"request body: {len(body)} bytes exceeds the limit of 2097152 bytes"}


def test_invalid_json(client):
    r = client.post("/intervene", content="{", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("body: invalid JSON")


def test_openapi_and_index(client):
    spec = client.get("/openapi.json").json()
    assert {"/generate", "/intervene", "/models/{model_id}", "/api/generate"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    assert client.get("/").status_code == 200
