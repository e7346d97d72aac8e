"""The original GANPaint client against ganpaint (issue 21): its request sequence replayed at its 256 px canvas,
CORS for a client served elsewhere, demo mode's data route, and ``--classic-client`` serving its files.

The requests follow the original client's source (gandissect client/ts/ganpaint.ts, GanterAPI.ts and
vis/GanPaintView.ts, read, not copied): expert mode lists the projects, takes the first layer of the list (its
first load marks the layer ending in 4 as selected on d3's update selection, empty while the options are being
created, so the <select> keeps its first option), reads the rankings and the 0.99 levels, generates its image
strip and the main image (``ablations: [], wantz: 0``), then for every stroke sends the whole stack as
interventions whose mask is a 32 x 32 canvas (discs of radius 1 grid cell, colour #0bc6d4, antialiased) as a PNG
data URL with empty ``shape`` and ``bitbounds``; a stroke sets the first 15 units of the ascending sort of the
chosen ranking to ``levels[unit][0]`` (0 to remove).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from api_helpers import tiny_client
from fastapi.testclient import TestClient
from PIL import Image, ImageFont
from starlette.testclient import WebSocketDenialResponse

from ganpaint.api.app import create_app
from ganpaint.api.classic import classic_layer_order
from ganpaint.api.notice import notice_png, wrap
from ganpaint.api.settings import Settings
from ganpaint.models import write_model_json
from ganpaint.nn.proggan import ProgressiveGenerator, load_generator
from ganpaint.precomputed import write_precomputed
from ganpaint.tiny import make_tiny_model, tiny_dissection

ROOT = Path(__file__).resolve().parents[1]
STRIP = [104, 425, 457, 489, 495, 570, 584, 644, 700, 705, 719, 726, 816, 1085, 1146, 1362]  # the client's ids
GRID, CANVAS, HIGH = 32, 256, 15  # mask canvas cells, canvas px, units at the default strength


def jpeg(url: str) -> np.ndarray:
    assert url.startswith("data:image/jpeg;base64,"), url[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")).astype(int)


def mask_canvas(points: list[tuple[float, float]]) -> str:
    """The client's stroke canvas: 32 x 32 transparent RGBA, a disc of radius 1 cell at every drag point
    (grid coordinates), antialiased (4 x 4 supersampled coverage), as a PNG data URL."""
    sub = (np.arange(GRID * 4) + 0.5) / 4  # sample positions in grid units
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = np.zeros_like(xx, dtype=bool)
    for gx, gy in points:
        inside |= (xx - gx) ** 2 + (yy - gy) ** 2 <= 1.0
    cover = inside.reshape(GRID, 4, GRID, 4).mean(axis=(1, 3))  # (32, 32) coverage
    rgba = np.zeros((GRID, GRID, 4), np.uint8)
    rgba[..., :3] = (0x0B, 0xC6, 0xD4)
    rgba[..., 3] = np.round(cover * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def replay(client: TestClient, recipe_name: str | None = None, remove: bool = False) -> dict:
    """The client's requests up to one stroke dragged across the top-right of the canvas; returns the images."""
    projects = client.get("/api/all_projects").json()
    project = projects[0]["project"]
    layer = projects[0]["info"]["layers"][0]  # what the client's first load selects (module docstring)
    ranks = client.get(f"/api/rankings?project={project}&layer={layer}").json()["res"]
    levels = client.get(f"/api/levels?project={project}&layer={layer}&quantiles=0.99").json()["res"]
    strip = client.post(
        "/api/generate", json={"ablations": [], "project": project, "ids": STRIP[:4], "wantz": 0}
    ).json()["res"]
    assert [jpeg(x["d"]).shape for x in strip] == [(CANVAS, CANVAS, 3)] * 4
    image = strip[1]["id"]
    main = client.post("/api/generate", json={"ablations": [], "project": project, "ids": [image], "wantz": 0})
    plain = jpeg(main.json()["res"][0]["d"])
    names = sorted(r["name"] for r in ranks)
    recipe = next(r for r in ranks if r["name"] == (recipe_name or names[0]))
    units = sorted(range(len(recipe["scores"])), key=lambda u: recipe["scores"][u])[:HIGH]  # ascending, stable
    payload = [{"layer": layer, "unit": u, "alpha": 1, "value": 0 if remove else levels[u][0]} for u in units]
    drag = [(20 + 0.5 * i, 6 + 0.25 * i) for i in range(13)]  # grid (20, 6) -> (26, 9): canvas x 160-208, y 48-72
    mask = {"bitbounds": [], "bitstring": mask_canvas(drag), "shape": []}
    body = {
        "project": project,
        "ids": [image],
        "wantz": 0,
        "interventions": [{"ablations": payload, "mask": mask}],
        "return_urls": 0,
    }
    r = client.post("/api/generate", json=body)
    assert r.status_code == 200, r.json()
    assert r.json()["request"]["ids"] == [image]
    return {"plain": plain, "painted": jpeg(r.json()["res"][0]["d"]), "units": units, "layer": layer}


def assert_lands_where_painted(plain: np.ndarray, painted: np.ndarray) -> None:
    """The stroke (canvas x 150-215, y 40-80) changes its own region far more than the opposite corner or the
    place it would land at a quarter of its coordinates (the 64 px picture in the corner of the canvas)."""
    diff = np.abs(painted - plain).mean(axis=2)  # (256, 256)
    here = diff[24:96, 136:232].mean()
    assert here > 4, here
    for name, far in (("opposite corner", diff[160:232, 24:120]), ("quarter coordinates", diff[8:24, 36:56])):
        assert here > 4 * far.mean(), (name, here, far.mean())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("classic")) as c:
        yield c


def test_replayed_client_paints_where_it_draws_on_the_tiny_model(tiny):
    got = replay(tiny)
    plain, painted = got["plain"], got["painted"]
    # the 32 px picture fills the 256 px canvas, every model pixel an 8 x 8 block (not smoothed)
    png = tiny.post("/generate", json={"model": "tiny", "ids": [STRIP[1]]}).json()["images"][0]["data"]
    native = Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1]))).convert("RGB")
    nearest = np.asarray(native.resize((CANVAS, CANVAS), Image.NEAREST)).astype(int)
    smooth = np.asarray(native.resize((CANVAS, CANVAS), Image.BILINEAR)).astype(int)
    assert np.abs(plain - nearest).mean() < 5 < np.abs(plain - smooth).mean(), (
        np.abs(plain - nearest).mean(),
        np.abs(plain - smooth).mean(),
    )
    assert_lands_where_painted(plain, painted)
    removed = replay(tiny, remove=True)["painted"]
    assert_lands_where_painted(plain, removed)


def test_rankings_and_levels_give_the_client_the_brushes_draw_units_and_values(tiny):
    """The client's recipe at any strength takes the brush's units in the brush's order and writes its draw values
    (tiny: tree 0-7 at 4, grass 8-15 at 3, sky [15, 0] at 5; a shared unit gets the mean of its brushes' values)."""
    ranks = tiny.get("/api/rankings", params={"project": "tiny", "layer": "layer4"}).json()["res"]
    levels = [v[0] for v in tiny.get("/api/levels?project=tiny&layer=layer4&quantiles=0.99").json()["res"]]
    assert levels == [4.5] + [4.0] * 7 + [3.0] * 7 + [4.0]
    for r in ranks:
        concept = tiny.get(f"/models/tiny/concepts/{r['name'].split('-')[0]}").json()
        assert r["name"] == f"{concept['name']}-{concept['ranking']}"
        order = sorted(range(16), key=lambda u: r["scores"][u])
        assert order[: len(concept["units"])] == concept["units"]
        assert len(set(r["scores"])) == 16  # no ties: the order does not depend on the browser's sort
    sky = next(r for r in ranks if r["name"] == "sky-iou")
    # after the brush's units: units no brush draws with (none here), then those the brushes rank last: 7 (7th
    # of tree), then 6 and 14 (6th of tree and of grass; 15 is sky's best)
    assert sorted(range(16), key=lambda u: sky["scores"][u])[2:5] == [7, 6, 14]


def test_the_layer_the_client_opens_first_is_the_one_the_docs_name(tmp_path):
    """The client opens the first listed layer: /api lists the first layer ending in 4 first (docs/api.md: its
    recipe paints like the brushes there), else the model's painting layer, then the rest in layer order."""
    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    g = load_generator(tmp_path / "models" / "tiny" / "generator.pth")
    sha = hashlib.sha256((tmp_path / "models" / "tiny" / "generator.pth").read_bytes()).hexdigest()
    for layer in ("layer3", "layer5"):  # layer3 sorts before layer4: the first entry before this fix
        doc = tiny_dissection(layer, g.feature_shape(layer), sha, "tiny")
        write_precomputed(doc, tmp_path / "precomputed" / "tiny" / f"{layer}.json")
    with tiny_client(tmp_path) as c:
        assert c.get("/api/all_projects").json()[0]["info"]["layers"] == ["layer4", "layer3", "layer5", "layer6"]
        assert [x["layer"] for x in c.get("/api/layers?project=tiny").json()["res"]] == [
            "layer4", "layer3", "layer5", "layer6"
        ]  # fmt: skip
        assert replay(c)["layer"] == "layer4"
    # no layer ending in 4: the model's painting layer leads
    assert classic_layer_order(["layer3", "layer6", "layer8"], "layer6") == ["layer6", "layer3", "layer8"]
    assert classic_layer_order(["layer3", "layer8"], "layer6") == ["layer3", "layer8"]
    assert classic_layer_order(["layer6", "layer8", "layer14"], None) == ["layer14", "layer6", "layer8"]


def test_image_size_setting_and_models_larger_than_the_canvas(tmp_path, caplog):
    with tiny_client(tmp_path, classic_image_size=0) as c:
        r = c.post("/api/generate", json={"project": "tiny", "ids": [3]}).json()
        assert jpeg(r["res"][0]["d"]).shape == (32, 32, 3)  # 0: the model's own size
    with tiny_client(tmp_path, classic_image_size=16) as c, caplog.at_level(logging.WARNING, logger="ganpaint"):
        r = c.post("/api/generate", json={"project": "tiny", "ids": [3]}).json()
        assert jpeg(r["res"][0]["d"]).shape == (32, 32, 3)  # never downscaled
    assert "larger than classic_image_size 16" in caplog.text


@pytest.mark.embedded
def test_replayed_client_paints_where_it_draws_on_the_embedded_model():
    settings = Settings(models_dir=ROOT / "models", precomputed_dir=ROOT / "precomputed", model="scenes64", threads=1)
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/all_projects").json()[0]["info"]["layers"][0] == "layer4"  # layer3 is dissected too
        got = replay(c, recipe_name="tree-ace")
        assert got["layer"] == "layer4" and len(got["units"]) == HIGH
        tree = c.get("/models/scenes64/concepts/tree", params={"layer": "layer4"}).json()
        # 15 of the brush's 20 units, those whose shared level matches the brush's draw value (api/classic.py)
        assert set(got["units"]) < set(tree["units"]) and got["units"][:5] == tree["units"][:5]
        assert_lands_where_painted(got["plain"], got["painted"])


# ------------------------------------------------------------------------------ CORS


@pytest.fixture(scope="module")
def cors(tmp_path_factory):
    with tiny_client(tmp_path_factory.mktemp("cors"), cors_origins="https://paint.example, http://localhost:3000") as c:
        yield c


SERVER = "http://testserver"  # before a path with two slashes, which alone would name a host
PREFLIGHT = {"access-control-request-method": "POST", "access-control-request-headers": "content-type"}


def test_cors_allows_listed_origins_on_api_and_rest(cors):
    for path in ("/api/all_projects", "/models", "/health"):
        r = cors.get(path, headers={"origin": "https://paint.example"})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://paint.example", path
    body = {"project": "tiny", "ids": [1], "wantz": 0}
    r = cors.post("/api/generate", json=body, headers={"origin": "http://localhost:3000"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://localhost:3000"
    pre = cors.options("/api/generate", headers={"origin": "https://paint.example", **PREFLIGHT})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://paint.example"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert "content-type" in pre.headers["access-control-allow-headers"].lower()


def cors_headers(r) -> list[str]:
    return [k for k in r.headers if k.lower().startswith("access-control-")]


def test_cors_refuses_other_origins_and_leaves_the_websocket_allow_list_alone(cors):
    r = cors.get("/api/all_projects", headers={"origin": "https://evil.example"})
    assert r.status_code == 200 and cors_headers(r) == []  # the browser blocks it
    pre = cors.options("/api/generate", headers={"origin": "https://evil.example", **PREFLIGHT})
    # a refused preflight tells nothing of the policy: no allowed methods, headers or max-age
    assert pre.status_code == 400 and cors_headers(pre) == [], dict(pre.headers)
    assert pre.json()["detail"] == "Origin: 'https://evil.example' is not in GANPAINT_CORS_ORIGINS"
    bad = {"origin": "https://paint.example", "access-control-request-method": "PUT"}
    pre = cors.options("/api/generate", headers={**bad, "access-control-request-headers": "content-type, x-secret"})
    assert pre.status_code == 400 and cors_headers(pre) == [], dict(pre.headers)
    assert pre.json()["detail"] == (
        "Access-Control-Request-Method: 'PUT' is not allowed (allowed: GET, HEAD, POST); "
        "Access-Control-Request-Headers: 'content-type, x-secret' names a header that is not allowed"
    )
    with pytest.raises(WebSocketDenialResponse) as exc:  # GANPAINT_WS_ORIGINS is the websocket's own list
        with cors.websocket_connect("/ws/paint", headers={"origin": "https://paint.example"}):
            pass
    assert exc.value.status_code == 403


def test_an_api_prefix_with_a_trailing_slash_reaches_the_api(cors):
    """The client joins ``api=`` and ``/api/...`` as strings: ``api=http://host:8000/`` asks ``//api/...``."""
    r = cors.get(SERVER + "//api/all_projects", headers={"origin": "https://paint.example"})
    assert r.status_code == 200 and r.json()[0]["project"] == "tiny"
    assert r.headers["access-control-allow-origin"] == "https://paint.example"
    pre = cors.options(SERVER + "///api/generate", headers={"origin": "https://paint.example", **PREFLIGHT})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://paint.example"
    r = cors.post(SERVER + "//api/generate", json={"project": "tiny", "ids": [1], "wantz": 0})
    assert r.status_code == 200 and jpeg(r.json()["res"][0]["d"]).shape == (CANVAS, CANVAS, 3)
    assert cors.get(SERVER + "//data/tiny/cache/img/id/1.jpg").headers["x-ganpaint-error"].startswith("project: demo")
    assert cors.get(SERVER + "//nope").status_code == 404
    assert cors.get("/api//all_projects").status_code == 404  # only leading slashes are merged


def test_cors_is_off_by_default_and_star_allows_any(tiny, tmp_path):
    r = tiny.get("/api/all_projects", headers={"origin": "https://paint.example"})
    assert "access-control-allow-origin" not in r.headers
    assert tiny.options("/api/generate", headers={"origin": "https://paint.example", **PREFLIGHT}).status_code == 405
    with tiny_client(tmp_path, cors_origins="*") as c:
        r = c.get("/api/all_projects", headers={"origin": "https://anywhere.example"})
        assert r.headers["access-control-allow-origin"] == "*"
        pre = c.options("/api/generate", headers={"origin": "https://anywhere.example", **PREFLIGHT})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "*"


# ------------------------------------------------------------------------------ demo mode's data route


def church_like_model(root: Path) -> None:
    """A random 32 px generator registered as 'churchoutdoor' whose layer4 has 512 units, like the LSUN model."""
    torch.manual_seed(0)
    g = ProgressiveGenerator([16, 16, 16, 512, 8, 8, 8, 8], 16)
    folder = root / "models" / "churchoutdoor"
    folder.mkdir(parents=True)
    torch.save(g.state_dict(), folder / "generator.pth")
    meta = {"id": "churchoutdoor", "name": "church-like", "resolution": 32, "z_dim": 16, "generator": "generator.pth"}
    write_model_json(folder, {**meta, "segmenter": None, "default_layer": "layer4", "gallery": [], "description": ""})
    (root / "precomputed").mkdir(exist_ok=True)


def test_demo_data_route_renders_the_clients_images_for_churchoutdoor(tmp_path):
    church_like_model(tmp_path)
    settings = Settings(
        models_dir=tmp_path / "models", precomputed_dir=tmp_path / "precomputed", model="churchoutdoor", threads=1
    )
    with TestClient(create_app(settings)) as c:
        r = c.get("/data/churchoutdoor/cache/img/id/104.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
        assert img.shape == (CANVAS, CANVAS, 3)
        # the same picture /api/generate paints on (demo mode's strokes go there)
        gen = c.post("/api/generate", json={"project": "churchoutdoor", "ids": [104], "wantz": 0}).json()
        assert np.abs(jpeg(gen["res"][0]["d"]) - img).max() <= 1
        assert c.get("/data/churchoutdoor/cache/img/id/100000.jpg").status_code == 422


def demo_refusal(r) -> str:
    """A refused demo picture: 404, a PNG at the client's canvas that is not blank, the reason in the header."""
    assert r.status_code == 404 and r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "no-store"
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    assert img.shape == (CANVAS, CANVAS, 3)
    assert (img.max(axis=2) > 180).mean() > 0.02  # light text on the dark ground
    return r.headers["x-ganpaint-error"]


def test_demo_data_route_refuses_other_models_with_a_picture_of_the_reason(tiny, tmp_path):
    r = tiny.get("/data/churchoutdoor/cache/img/id/104.jpg")
    assert demo_refusal(r) == (
        "project: demo mode of the original GANPaint client paints 'churchoutdoor', which this server does not "
        "have: open the client with ?expert=1 to paint this server's models (tiny), or register the LSUN church "
        "ProGAN as 'churchoutdoor' (docs/api.md)"
    )
    # the picture is the words of the reason and of what to do (the same text renders the same pixels)
    assert r.content == notice_png(
        "Demo mode cannot paint on this server",
        "Demo mode paints only the LSUN church ProGAN, registered as 'churchoutdoor'; this server has no such model.",
        "Open this page with ?expert=1 to paint this server's models: tiny",
    )
    assert demo_refusal(tiny.get("/data/tiny/cache/img/id/104.jpg")) == (
        "project: demo mode of the original GANPaint client paints only 'churchoutdoor' (its built-in rankings "
        "and levels), got 'tiny': open the client with ?expert=1 to paint this server's models (tiny)"
    )
    # a name that is not ASCII comes back escaped in the header, never a 500
    assert "got 'ch\\xe9'" in demo_refusal(tiny.get("/data/ch%C3%A9/cache/img/id/1.jpg"))
    with _tiny_as_church(tmp_path) as c:  # another model under the demo's name: its units would be wrong
        assert demo_refusal(c.get("/data/churchoutdoor/cache/img/id/104.jpg")) == (
            "project: demo mode's built-in rankings and levels are for layer4 of the LSUN church ProGAN (512 "
            "units); model 'churchoutdoor' has 16 layer4 units: open the client with ?expert=1 to paint this "
            "server's models (churchoutdoor)"
        )
    with tiny_client(tmp_path / "zero", classic_image_size=0) as c:  # the model's 32 px would not be readable
        r = c.get("/data/churchoutdoor/cache/img/id/104.jpg")
        assert Image.open(io.BytesIO(r.content)).size == (CANVAS, CANVAS)


def test_notice_wraps_its_words_to_the_picture():
    font = ImageFont.load_default(size=16)
    lines = wrap("Open this page with ?expert=1 to paint this server's models: scenes64", font, 200)
    assert len(lines) == 3 and all(font.getlength(x) <= 200 for x in lines)
    assert " ".join(lines) == "Open this page with ?expert=1 to paint this server's models: scenes64"
    small = Image.open(io.BytesIO(notice_png("a", "b", "c", side=16)))
    assert small.size == (128, 128)  # never too small to read


def _tiny_as_church(root: Path):
    make_tiny_model(root / "models", root / "precomputed", "churchoutdoor")
    settings = Settings(
        models_dir=root / "models", precomputed_dir=root / "precomputed", model="churchoutdoor", threads=1
    )
    return TestClient(create_app(settings))


# ------------------------------------------------------------------------------ --classic-client DIR


@pytest.fixture()
def client_dir(tmp_path):
    folder = tmp_path / "client_dist"
    (folder / "fonts").mkdir(parents=True)
    (folder / "ganpaint.html").write_text("<!doctype html><title>GAN Paint</title>")
    (folder / "ganpaint.js").write_text("// the client")
    (folder / "index.html").write_text("<!doctype html><title>Ganter</title>")
    (folder / "fonts" / "a.ttf").write_bytes(b"\0font")
    (folder / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    return folder


def test_classic_client_folder_is_served_read_only_at_client(tmp_path, client_dir):
    with tiny_client(tmp_path, classic_client=client_dir) as c:
        r = c.get("/client/ganpaint.html")
        assert r.status_code == 200 and r.text.startswith("<!doctype html><title>GAN Paint")
        assert r.headers["content-type"].startswith("text/html")
        assert c.get("/client/fonts/a.ttf").content == b"\0font"
        assert c.get("/client/").text.endswith("Ganter</title>")  # a folder: its index.html
        r = c.get("/client", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/client/ganpaint.html"
        assert c.head("/client/ganpaint.js").status_code == 200
        assert c.post("/client/ganpaint.js").status_code == 405
        assert c.get("/api/all_projects").status_code == 200  # same origin as the API it calls


@pytest.mark.parametrize(
    "path",
    [
        "/client/..%2Fsecret.txt",
        "/client/%2e%2e/secret.txt",
        "/client/fonts/..%2F..%2Fsecret.txt",
        "/client/link.txt",  # a symlink out of the folder
        "/client/.env",
        "/client/fonts/..%5C..%5Csecret.txt",
        "/client/nope.js",
        "/client/fonts",  # a folder without index.html
    ],
)
def test_classic_client_refuses_traversal(tmp_path, client_dir, path):
    with tiny_client(tmp_path, classic_client=client_dir) as c:
        r = c.get(path)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["detail"].startswith("path: no file ") and "outside" not in r.text


def test_no_classic_client_no_route(tiny):
    assert tiny.get("/client/ganpaint.html").status_code == 404


def test_serve_refuses_a_folder_without_the_client(tmp_path):
    env = {**os.environ, "GANPAINT_MODELS_DIR": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, "-m", "ganpaint.cli", "serve", "--classic-client", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 2
    assert f"--classic-client: no ganpaint.html in '{tmp_path}'" in r.stderr


def test_nginx_template_passes_client_and_data_to_the_replicas_read_only():
    conf = (ROOT / "deploy" / "nginx" / "nginx.conf.template").read_text()
    block = conf[conf.index("location ^~ /client/ {") :]
    block = block[: block.index("\n        }\n")]
    assert "limit_except GET" in block and "proxy_pass http://ganpaint_replicas;" in block
    assert "location ~ ^/(generate|intervene|api/generate)$" in conf  # CORS preflights reach the replicas
