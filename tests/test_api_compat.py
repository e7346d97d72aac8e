import base64
import io

import numpy as np
import pytest
from api_helpers import tiny_client
from PIL import Image


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("compat")) as c:
        yield c


def image(url: str) -> np.ndarray:
    assert url.startswith("data:image/jpeg;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def png_mask_url(mask: np.ndarray) -> str:
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[..., 3] = mask * 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_read_all_projects(client):
    assert client.get("/api/all_projects").json() == [{"project": "tiny", "info": {"layers": ["layer4", "layer6"]}}]


def test_read_layers(client):
    assert client.get("/api/layers", params={"project": "tiny"}).json() == {
        "request": {"project": "tiny"},
        "res": [
            {"layer": "layer4", "channels": 16, "shape": [8, 8]},
            {"layer": "layer6", "channels": 8, "shape": [16, 16]},
        ],
    }


def test_read_rankings(client):
    body = client.get("/api/rankings", params={"project": "tiny", "layer": "layer4"}).json()
    names = [r["name"] for r in body["res"]]
    assert names == ["grass-iou", "sky-iou", "tree-ace"]
    tree = body["res"][2]
    assert tree["metric"] == "ace" and len(tree["scores"]) == 16
    assert list(np.argsort(tree["scores"], kind="stable")[:8]) == list(range(8))  # best first, as the client sorts


def test_read_levels(client):
    body = client.get("/api/levels", params={"project": "tiny", "layer": "layer4", "quantiles": 0.99}).json()
    # the brushes' draw values (tree 0-7 at 4, grass 8-15 at 3, sky [15, 0] at 5: shared units get the mean)
    assert body["res"] == [[4.5]] + [[4.0]] * 7 + [[3.0]] * 7 + [[4.0]]


def test_create_generation_ids_and_zs(client):
    r = client.post("/api/generate", json={"project": "tiny", "ids": [1, 2]})
    assert r.status_code == 200
    body = r.json()
    assert body["request"] == {"project": "tiny", "ids": [1, 2]}
    assert [x["id"] for x in body["res"]] == [1, 2] and image(body["res"][0]["d"]).shape == (256, 256, 3)
    from ganpaint.nn.proggan import image_latents

    z = image_latents([1], 16).tolist()
    zr = client.post("/api/generate", json={"project": "tiny", "zs": z}).json()
    assert zr["res"][0]["d"] == body["res"][0]["d"] and "id" not in zr["res"][0]


def test_mask_forms_and_over_compositing(client):
    """A 0/1 bitstring and a PNG data URL of the same mask give the same image, as in the original client."""
    mask = np.zeros((32, 32), np.uint8)
    mask[:16, :16] = 1
    ablate = [{"layer": "layer4", "unit": u, "alpha": 1, "value": 4.0} for u in range(8)]
    bits = {"shape": [32, 32], "bitbounds": [0, 0, 16, 16], "bitstring": "1" * 256}
    png = {"shape": [], "bitbounds": [], "bitstring": png_mask_url(mask)}
    outs = []
    for m in (bits, png):
        body = {"project": "tiny", "ids": [5], "interventions": [{"ablations": ablate, "mask": m}], "wantz": 0}
        r = client.post("/api/generate", json=body)
        assert r.status_code == 200, r.json()
        outs.append(r.json()["res"][0]["d"])
    assert outs[0] == outs[1]
    plain = client.post("/api/generate", json={"project": "tiny", "ids": [5]}).json()["res"][0]["d"]
    assert outs[0] != plain
    # two half-alpha interventions composite "over": the same as one with alpha 0.75
    half = [{**a, "alpha": 0.5} for a in ablate]
    two = {"project": "tiny", "ids": [5], "interventions": [{"ablations": half, "mask": bits}] * 2}
    one = {
        "project": "tiny",
        "ids": [5],
        "interventions": [{"ablations": [{**a, "alpha": 0.75} for a in ablate], "mask": bits}],
    }
    a = image(client.post("/api/generate", json=two).json()["res"][0]["d"]).astype(int)
    b = image(client.post("/api/generate", json=one).json()["res"][0]["d"]).astype(int)
    assert np.abs(a - b).max() <= 2  # float rounding, through JPEG q99


@pytest.mark.parametrize(
    "body, status, detail",
    [
        ({"project": "nope", "ids": [1]}, 404, "unknown model 'nope'; available: tiny"),
        ({"project": "tiny"}, 422, "ids/zs: give exactly one of 'ids' or 'zs'"),
        (
            {"project": "tiny", "ids": [1], "interventions": [{"ablations": [{"layer": "layer4", "unit": 99}]}]},
            422,
            "interventions[0].ablations[0].unit: expected 0..15, got 99",
        ),
        (
            {"project": "tiny", "ids": [1], "interventions": [{"ablations": [{"layer": "layerX", "unit": 1}]}]},
            404,
            "interventions[0].ablations[0].layer: unknown layer 'layerX' for model 'tiny'; available: "
            "layer1, layer2, layer3, layer4, layer5, layer6, layer7, layer8",
        ),
        (
            {
                "project": "tiny",
                "ids": [1],
                "interventions": [{"ablations": [{"layer": "layer4", "unit": 1}], "mask": {"bitstring": "10"}}],
            },
            422,
            "interventions[0].mask.bitstring: expected 65536 characters for bounds [0, 0, 256, 256], got 2",
        ),
    ],
)
def test_create_generation_errors(client, body, status, detail):
    r = client.post("/api/generate", json=body)
    assert r.status_code == status
    assert r.json() == {"detail": detail}


def test_baseline_mode_serves_the_same_images(tmp_path):
    body = {
        "project": "tiny",
        "ids": [3],
        "interventions": [{"ablations": [{"layer": "layer4", "unit": 2, "value": 3}]}],
    }
    with tiny_client(tmp_path) as fast:
        a = fast.post("/api/generate", json=body).json()
    with tiny_client(tmp_path, baseline=True) as slow:
        b = slow.post("/api/generate", json=body).json()
    assert a == b


def test_read_units_and_report_files(tmp_path):
    with tiny_client(tmp_path) as c:
        body = c.get("/api/units", params={"project": "tiny", "layer": "layer4"}).json()
        assert [u["unit"] for u in body["res"]] == list(range(16))
        assert all(u["img"] is None for u in body["res"])  # no report was made for the tiny model
        report = tmp_path / "precomputed" / "tiny" / "report" / "layer4"
        report.mkdir(parents=True)
        (report / "unit3.png").write_bytes(b"\x89PNG fake")
        res = c.get("/api/units", params={"project": "tiny", "layer": "layer4"}).json()["res"]
        assert [u["img"] for u in res if u["img"]] == ["/reports/tiny/layer4/unit3.png"]
        got = c.get("/reports/tiny/layer4/unit3.png")
        assert got.status_code == 200 and got.content == b"\x89PNG fake" and got.headers["content-type"] == "image/png"
        for bad in ("/reports/tiny/layer4/unit4.png", "/reports/tiny/..%2F..%2Fmodels%2Ftiny%2Fmodel.json"):
            r = c.get(bad)
            assert r.status_code == 404, bad
            assert r.json()["detail"].startswith("path: no report file"), r.json()
        assert c.get("/reports/..%2Fetc/x.png").status_code == 404
        r = c.get("/api/units", params={"project": "tiny", "layer": "layer9"})
        assert r.status_code == 404 and "layer: " in r.json()["detail"]


def test_read_recipes_are_the_draw_strokes(client):
    res = client.get("/api/recipes", params={"project": "tiny"}).json()["res"]
    assert sorted(r["name"] for r in res) == ["grass", "sky", "tree"]
    tree = next(r for r in res if r["name"] == "tree")
    concept = client.get("/models/tiny/concepts/tree").json()
    assert [a["unit"] for a in tree["ablations"]] == concept["units"]
    assert [a["value"] for a in tree["ablations"]] == concept["draw_values"]
    assert {a["layer"] for a in tree["ablations"]} == {"layer4"} and tree["ranking"] == concept["ranking"]
