"""Concept stamps: extraction from planted patterns, placement by box, styles, schema, API errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from api_helpers import STROKE, tiny_client, tiny_settings

from ganpaint.dissect.stamps import build_stamps, choose_styles, collect
from ganpaint.dissect.stamps_cli import best_style, write_measured
from ganpaint.engine import Engine
from ganpaint.nn.intervene import UnitEdit, apply_edits
from ganpaint.precomputed import load_precomputed, validate
from ganpaint.stamps.place import MAX_STAMPS, row_centres, stamp_edits, stamp_maps
from ganpaint.stamps.templates import (
    MIN_STYLE_SUCCESS,
    StampStyle,
    default_mode,
    default_style,
    load_stamps,
    offered_styles,
    save_stamps,
)
from ganpaint.strokes import Stroke, stroke_edits

C, H, CELLS = 6, 64, 16  # units, image side, feature-map side (4 px per cell)


def planted_world(n_images: int, seed: int = 0):
    """Images with rectangular instances of concept 1; features: seeded noise, and inside each instance's
    cells (plus a one-cell margin, so bilinear sampling sees only the pattern) a pattern linear in position
    (bilinear sampling reproduces it exactly). Half the instances carry pattern A, half pattern B."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(n_images, C, CELLS, CELLS, generator=gen)
    labels = np.zeros((n_images, H, H), np.uint8)
    coef = {s: torch.randn(3, C, generator=gen) * 2 + (4 if s == "A" else -4) for s in "AB"}
    truth = []
    for i in range(n_images):
        cx0, cy0 = 2 + (i % 5) * 2, 3 + (i % 3) * 2  # cells; the box is 2 x 3 cells = 8 x 12 px
        style = "AB"[i % 2]
        a, bx, by = coef[style]
        for yy in range(cy0 - 1, cy0 + 4):
            for xx in range(cx0 - 1, cx0 + 3):
                base[i, :, yy, xx] = a + bx * (xx + 0.5) + by * (yy + 0.5)
        labels[i, cy0 * 4 : cy0 * 4 + 12, cx0 * 4 : cx0 * 4 + 8] = 1
        truth.append((style, (cx0, cy0)))
    return base, labels, coef, truth


def expected_template(coef: torch.Tensor, cx0: int, cy0: int, g: int = 8) -> torch.Tensor:
    t = (torch.arange(g) + 0.5) / g
    x = cx0 + 2 * t  # sample x in cells across the 2-cell box
    y = cy0 + 3 * t
    a, bx, by = coef
    return a[:, None, None] + bx[:, None, None] * x[None, None, :] + by[:, None, None] * y[None, :, None]


def test_extracted_template_equals_the_planted_pattern_per_style():
    feats, labels, coef, truth = planted_world(40)
    z = torch.arange(40, dtype=torch.float32)[:, None]  # latents are indices into the planted features

    def h_fn(zb):
        return feats[zb[:, 0].long()]

    def f_fn(r):
        return torch.zeros(len(r), 3, H, H)

    found = collect(h_fn, f_fn, z, labels, {"thing": 1}, batch=8, progress=False)
    assert len(found["thing"]) == 40
    stamps = build_stamps(found)["thing"]
    assert len(stamps.styles) == 2 and [s.members for s in stamps.styles] == [20, 20]
    assert stamps.natural_size["w"] == 8 and stamps.natural_size["h"] == 12
    assert stamps.natural_size["aspect"] == pytest.approx(1.5)
    for style in stamps.styles:
        key = "A" if style.template.mean() > 0 else "B"
        # positions differ per instance: the template is the mean over members of a + b * position
        members = [pos for s, pos in truth if s == key]
        want = torch.stack([expected_template(coef[key], x0, y0) for x0, y0 in members]).mean(0)
        assert torch.allclose(style.template, want, atol=1e-4)
        assert torch.allclose(style.footprint, torch.ones(8, 8))  # the box is exactly the instance


def test_styles_are_ordered_largest_first_and_one_style_without_structure():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (30, 4)) + 5, rng.normal(0, 0.1, (12, 4)) - 5])
    lab = choose_styles(x, 0)
    assert np.bincount(lab).tolist() == [30, 12] and (lab[:30] == 0).all()
    assert (choose_styles(rng.normal(0, 1, (9, 4)), 0) == 0).all()  # too few for two styles of >= 5


def _style(template: torch.Tensor, footprint: torch.Tensor | None = None, size=(8.0, 12.0)) -> StampStyle:
    g = template.shape[-1]
    foot = torch.ones(g, g) if footprint is None else footprint
    return StampStyle(0, 1, size, template, foot, np.zeros((4, 4, 3), np.uint8))


@pytest.mark.parametrize(("centre", "size"), [((0.5, 0.5), (8 / 64, 12 / 64)), ((0.3, 0.7), (20 / 64, 6 / 64))])
def test_a_stamp_lands_at_the_requested_box_with_its_size_and_aspect(centre, size):
    style = _style(torch.full((C, 8, 8), 2.0))
    value, alpha = stamp_maps(style, centre, size, (H, H), H)  # at pixel resolution
    ys, xs = torch.nonzero(alpha > 0.5, as_tuple=True)
    x0, x1 = (centre[0] - size[0] / 2) * H, (centre[0] + size[0] / 2) * H
    y0, y1 = (centre[1] - size[1] / 2) * H, (centre[1] + size[1] / 2) * H
    assert (xs.min().item(), xs.max().item() + 1) == (round(x0), round(x1))
    assert (ys.min().item(), ys.max().item() + 1) == (round(y0), round(y1))
    assert torch.allclose(value[:, alpha > 0.5], torch.tensor(2.0))
    # on the 16 x 16 feature map the alpha is the box's area in cells, also for boxes smaller than a cell
    _, coarse = stamp_maps(style, centre, size, (CELLS, CELLS), H)
    assert coarse.sum().item() == pytest.approx(size[0] * size[1] * CELLS * CELLS, rel=1e-3)
    _, tiny = stamp_maps(style, (33 / 64, 33 / 64), (2 / 64, 2 / 64), (CELLS, CELLS), H)  # inside one cell
    assert tiny.sum().item() == pytest.approx(0.25) and tiny.max().item() == pytest.approx(0.25)


def test_a_stamp_is_a_unit_edit_with_a_value_map():
    style = _style(torch.arange(C * 64, dtype=torch.float32).view(C, 8, 8) / 100)
    (edit,) = stamp_edits("layer6", style, [(0.5, 0.5)], (0.25, 0.25), (CELLS, CELLS), H)
    assert isinstance(edit, UnitEdit) and list(edit.units) == list(range(C)) and edit.value.shape == (C, CELLS, CELLS)
    r = torch.randn(1, C, CELLS, CELLS)
    out = apply_edits(r, [edit])
    inside = edit.mask > 0.999
    assert torch.allclose(out[0][:, inside], edit.value[:, inside])  # fully covered cells take the template
    assert torch.equal(out[0][:, edit.mask == 0], r[0][:, edit.mask == 0])  # the rest is untouched
    with pytest.raises(ValueError, match="value map"):
        apply_edits(r, [UnitEdit("layer6", [0, 1], torch.zeros(2, 4, 4))])


def test_a_drag_stamps_a_row_spaced_by_the_stamp_width():
    centres = row_centres([(0.1, 0.5), (0.5, 0.5)], 0.1, "mask")
    assert [round(x, 6) for x, _ in centres] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert row_centres([(0.2, 0.2)], 0.1, "mask") == [(0.2, 0.2)]
    with pytest.raises(ValueError, match=rf"mask\.points: .*more than {MAX_STAMPS}"):
        row_centres([(0.0, 0.0), (1.0, 1.0)], 0.01, "mask")


def test_old_schema_files_load_without_stamps_and_v2_loads_them(tmp_path):
    settings = tiny_settings(tmp_path)
    path = settings.precomputed_dir / "tiny" / "layer4.json"
    pre = load_precomputed(path)
    assert sorted(pre.stamps) == ["sky"] and len(pre.stamps["sky"].styles) == 2
    old = json.loads(path.read_text())
    old["schema_version"] = 1
    stamps = old.pop("stamps")
    assert validate(old).stamps == {}
    with pytest.raises(ValueError, match="stamps: needs schema_version 2"):
        validate({**old, "stamps": stamps})
    bad = json.loads(json.dumps(stamps))
    bad["concepts"]["sky"]["styles"][1]["index"] = 5
    with pytest.raises(ValueError, match=r"stamps\.concepts\.sky\.styles\[1\]"):
        validate({**old, "schema_version": 2, "stamps": bad})
    # a measurement (ganpaint stamps evaluate) makes the unit brush the default where stamps did worse
    measured = json.loads(json.dumps(stamps))
    sky = measured["concepts"]["sky"]
    assert default_mode(sky) == "stamp" and default_mode(None) == "draw"
    sky["measured"] = {"placement": "sky", "tries": 10, "stamp_success": 0.2, "classic_success": 0.9}
    assert validate({**old, "schema_version": 2, "stamps": measured}) and default_mode(sky) == "draw"
    sky["measured"].update(stamp_success=0.9, classic_success=0.5, dD=-0.5)  # succeeds, but looks far worse
    assert default_mode(sky) == "draw"
    sky["measured"]["dD"] = -0.1
    assert default_mode(sky) == "stamp"
    assert default_style(sky) == 0 and default_style(None) == 0  # unmeasured: the largest style
    sky["measured"]["style"] = 1
    assert validate({**old, "schema_version": 2, "stamps": measured}) and default_style(sky) == 1
    sky["measured"]["style"] = 2
    with pytest.raises(ValueError, match=r"stamps\.concepts\.sky\.measured\.style"):
        validate({**old, "schema_version": 2, "stamps": measured})
    sky["measured"].update(style=1, stamp_success=1.5)
    with pytest.raises(ValueError, match=r"stamps\.concepts\.sky\.measured\.stamp_success"):
        validate({**old, "schema_version": 2, "stamps": measured})
    # a sidecar whose arrays disagree with the index names the array
    loaded = load_stamps(stamps, path.parent, pre.feature_shape[0])
    save_stamps({"sky": loaded["sky"]}, tmp_path / "other.stamps.npz", 8)
    with pytest.raises(ValueError, match="sky/templates"):
        load_stamps({**stamps, "file": "other.stamps.npz"}, tmp_path, pre.feature_shape[0] + 1)


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    settings = tiny_settings(tmp_path_factory.mktemp("stamps"))
    engine = Engine(settings.models_dir, settings.precomputed_dir, threads=1)
    yield engine
    engine.close()


def test_the_style_index_picks_the_template_and_size_defaults_to_natural(tiny_engine):
    m = tiny_engine.model("tiny")
    pre = m.dissection("layer4")
    mask = {"points": [[0.5, 0.5]], "radius": 0.05}
    _, h, w = m.generator.feature_shape("layer4")
    for index in (0, 1):
        (edit,) = stroke_edits(m, [Stroke("sky", mask, "stamp", style=index)], "layer4")
        style = pre.stamps["sky"].styles[index]
        want = stamp_maps(style, (0.5, 0.5), (style.natural_size[0] / 32, style.natural_size[1] / 32), (h, w), 32)
        assert torch.allclose(edit.value, want[0]) and torch.allclose(edit.mask, want[1])
        assert (edit.value[:, edit.mask > 0] > 0).all() == (index == 0)  # style 0 is +, style 1 is -
    (big,) = stroke_edits(m, [Stroke("sky", mask, "stamp", size=(0.5, 0.25))], "layer4")
    assert big.mask.sum().item() == pytest.approx(0.5 * 0.25 * h * w, rel=1e-3)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"style": 2}, "strokes[0].style"),
        ({"style": True}, "strokes[0].style"),
        ({"size": [0.0, 0.2]}, "strokes[0].size[0]"),
        ({"size": [0.2, 5e-324]}, "strokes[0].size[1]"),
        ({"size": [1.5, 0.2]}, "strokes[0].size[0]"),
        ({"concept": "grass"}, "strokes[0].concept"),
        ({"mask": {"shape": [4, 4], "bounds": [0, 0, 4, 4], "runs": [0, 16]}}, "strokes[0].mask"),
        ({"mask": {"points": [[0.5, 10**400]], "radius": 0.1}}, "strokes[0].mask.points[0][1]"),
    ],
)
def test_stamp_errors_name_the_field(tmp_path, change, field):
    stroke = {**STROKE, "concept": "sky", "mode": "stamp", **change}
    with tiny_client(tmp_path) as client:
        res = client.post("/intervene", json={"image": 1, "strokes": [stroke]})
    assert res.status_code == 422, res.text
    assert field in res.json()["detail"]


def test_the_api_lists_styles_serves_thumbnails_and_paints_stamps(tmp_path):
    with tiny_client(tmp_path) as client:
        detail = client.get("/models/tiny").json()
        sky = next(c for c in detail["concepts"] if c["name"] == "sky")
        assert [s["index"] for s in sky["styles"]] == [0, 1] and sky["natural_size"] == [8.0, 12.0]
        assert sky["styles"][1]["natural_size"] == [6.0, 6.0]
        grass = next(c for c in detail["concepts"] if c["name"] == "grass")
        assert grass["styles"] == [] and grass["natural_size"] is None
        assert (sky["default_mode"], grass["default_mode"]) == ("stamp", "draw")
        thumb = client.get(sky["styles"][1]["thumbnail"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
        assert client.get("/models/tiny/concepts/sky/styles/7.png").status_code == 404
        assert client.get("/models/tiny/concepts/grass/styles/0.png").status_code == 404
        l6 = client.get("/models/tiny", params={"layer": "layer6"}).json()
        assert all(c["styles"] == [] for c in l6["concepts"])
        stamp = {"concept": "sky", "mode": "stamp", "mask": {"points": [[0.5, 0.5]], "radius": 0.1}}
        body = {"image": 3, "strokes": [stamp], "format": "png"}
        a = client.post("/intervene", json=body).json()["data"]
        b = client.post("/intervene", json=body).json()["data"]
        c = client.post("/intervene", json={**body, "strokes": [{**stamp, "style": 1}]}).json()["data"]
        plain = client.post("/intervene", json={**body, "strokes": []}).json()["data"]
        assert a == b and a != c and a != plain  # deterministic; the style changes the result


def test_websocket_stamp_errors_are_messages(tmp_path):
    import struct

    with tiny_client(tmp_path) as client, client.websocket_connect("/ws/paint") as ws:
        ws.send_json({"type": "open", "image": 1})
        assert ws.receive_json()["type"] == "ready"
        bad = {"concept": "sky", "mode": "stamp", "style": 9, "mask": {"points": [[0.5, 0.5]]}}
        ws.send_json({"type": "render", "seq": 1, "strokes": [bad]})
        msg = ws.receive_json()
        assert msg["type"] == "error" and msg["seq"] == 1 and "strokes[0].style" in msg["detail"]
        ws.send_json({"type": "render", "seq": 2, "strokes": [{**bad, "style": 1}]})
        frame = ws.receive()["bytes"]
        assert struct.unpack(">I", frame[:4])[0] == 2  # the connection lives on and paints the good stamp


def test_stamp_pixels_change_inside_the_footprint_far_more_than_outside(tiny_engine):
    from ganpaint.engine import RenderJob

    m = tiny_engine.model("tiny")
    edits = stroke_edits(m, [Stroke("sky", {"points": [[0.3, 0.4]]}, "stamp", size=(0.3, 0.3))], "layer4")
    before = tiny_engine.render_uncached(RenderJob("tiny", image=2)).astype(float)
    after = tiny_engine.render_uncached(RenderJob("tiny", image=2, edits=edits)).astype(float)
    diff = np.abs(after - before).mean(-1)  # (32, 32)
    box = np.zeros_like(diff, bool)  # the stamp's box: x 0.15..0.45, y 0.25..0.55 of 32 px
    box[8:18, 5:14] = True
    near = np.zeros_like(diff, bool)  # its 4 px cells, and 6 px of spread by the random layers after layer4
    near[8 - 6 : 20 + 6, 0 : 16 + 6] = True
    assert diff[box].mean() > 10 and diff[~near].max() == 0


def test_the_default_style_is_the_most_successful_then_the_most_realistic():
    def style(i, success, dd):
        return {"style": i, "stamp": {"success": success}, "dD_stamp_minus_classic": {"mean": dd} if dd else None}

    assert best_style([style(0, 1.0, -0.1), style(1, 0.99, 0.2), style(2, 0.5, 0.4)]) == 1
    assert best_style([style(0, 0.96, -0.1), style(1, 0.86, 0.1)]) == 0
    assert best_style([style(0, 0.5, None), style(1, 0.5, None)]) == 0  # no critic: the largest


def test_a_stamp_stroke_without_a_style_uses_the_measured_default(tmp_path):
    settings = tiny_settings(tmp_path)
    path = settings.precomputed_dir / "tiny" / "layer4.json"
    doc = json.loads(path.read_text())
    doc["stamps"]["concepts"]["sky"]["measured"] = {
        "placement": "sky",
        "tries": 4,
        "style": 1,
        "stamp_success": 1.0,
        "classic_success": 0.5,
    }
    path.write_text(json.dumps(doc))
    stamp = {"concept": "sky", "mode": "stamp", "mask": {"points": [[0.5, 0.5]]}}
    with tiny_client(tmp_path) as client:
        sky = next(c for c in client.get("/models/tiny").json()["concepts"] if c["name"] == "sky")
        assert sky["default_style"] == 1 and sky["default_mode"] == "stamp"
        body = {"image": 3, "format": "png"}
        plain = client.post("/intervene", json={**body, "strokes": [stamp]}).json()["data"]
        one = client.post("/intervene", json={**body, "strokes": [{**stamp, "style": 1}]}).json()["data"]
        zero = client.post("/intervene", json={**body, "strokes": [{**stamp, "style": 0}]}).json()["data"]
    assert plain == one != zero


def test_a_row_of_stamps_is_one_edit_equal_to_stamping_one_after_another():
    style = _style(torch.randn(C, 8, 8), torch.rand(8, 8))
    centres = [(0.3, 0.5), (0.38, 0.52), (0.46, 0.5)]  # overlapping boxes
    (row,) = stamp_edits("layer6", style, centres, (0.15, 0.2), (CELLS, CELLS), H)
    r = torch.randn(1, C, CELLS, CELLS)
    one_by_one = r
    for c in centres:
        one_by_one = apply_edits(one_by_one, stamp_edits("layer6", style, [c], (0.15, 0.2), (CELLS, CELLS), H))
    assert torch.allclose(apply_edits(r, [row]), one_by_one, atol=1e-5)
    assert stamp_edits("layer6", style, [(3.0, 3.0)], (0.1, 0.1), (CELLS, CELLS), H) == []  # off the map


def test_stamps_are_bounded_per_request_and_placed_off_the_event_loop(tmp_path, monkeypatch):
    import threading

    import ganpaint.strokes.stamp as strokes_mod

    threads = []
    real = strokes_mod.stamp_edits

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(strokes_mod, "stamp_edits", spy)
    row = {"concept": "sky", "mode": "stamp", "size": [0.05, 0.05], "mask": {"points": [[0.1, 0.5], [0.9, 0.5]]}}
    with tiny_client(tmp_path, max_stamps=20) as client:
        r = client.post("/intervene", json={"image": 2, "strokes": [row]})  # 17 stamps in a row: allowed
        assert r.status_code == 200, r.text
        r = client.post("/intervene", json={"image": 2, "strokes": [row, {**row, "style": 1}]})  # 34: refused
        assert r.status_code == 422 and "strokes[1].mask: at most 20 stamps per request" in r.json()["detail"]
    assert threads and all(name.startswith("ganpaint-masks") for name in threads), threads


def test_near_invisible_styles_are_not_offered(tmp_path):
    """Styles whose measured success is below MIN_STYLE_SUCCESS are left out of the API's list (the page's
    picker); the default style always stays; a stroke may still name one (saved paintings keep painting)."""
    sky = {
        "styles": [{"index": 0}, {"index": 1}, {"index": 2}],
        "measured": {"style": 2, "style_success": [0.9, 0.1, 0.2]},
    }
    assert MIN_STYLE_SUCCESS == 0.25
    assert offered_styles(sky, 3) == [0, 2]  # 1 is below; 2 is below but the default
    assert offered_styles({"measured": {"style": 0}}, 3) == [0, 1, 2] and offered_styles(None, 2) == [0, 1]
    settings = tiny_settings(tmp_path)
    path = settings.precomputed_dir / "tiny" / "layer4.json"
    doc = json.loads(path.read_text())
    measured = {"placement": "sky", "tries": 4, "style": 0, "stamp_success": 1.0, "classic_success": 0.5}
    for bad, field in (
        ([0.9], "style_success"),
        ([0.9, 1.5], r"style_success\[1\]"),
        ([0.9, "x"], r"style_success\[1\]"),
    ):
        doc["stamps"]["concepts"]["sky"]["measured"] = {**measured, "style_success": bad}
        with pytest.raises(ValueError, match=rf"stamps\.concepts\.sky\.measured\.{field}"):
            validate(doc)
    doc["stamps"]["concepts"]["sky"]["measured"] = {**measured, "style_success": [0.9, 0.24]}
    path.write_text(json.dumps(doc))
    with tiny_client(tmp_path) as client:
        sky = next(c for c in client.get("/models/tiny").json()["concepts"] if c["name"] == "sky")
        assert [s["index"] for s in sky["styles"]] == [0]
        stamp = {"concept": "sky", "mode": "stamp", "style": 1, "mask": {"points": [[0.5, 0.5]]}}
        assert client.post("/intervene", json={"image": 3, "strokes": [stamp]}).status_code == 200
        assert client.get("/models/tiny/concepts/sky/styles/1.png").status_code == 200


def test_write_measured_records_every_styles_success(tmp_path):
    settings = tiny_settings(tmp_path)
    path = settings.precomputed_dir / "tiny" / "layer4.json"
    place = {"sky": {"kind": "favourable", "stamp": {"tries": 9, "success": 0.5}, "classic": {"success": 0.4}}}
    styles = [{"style": 1, "stamp": {"success": 0.1}}, {"style": 0, "stamp": {"success": 0.8}}]
    write_measured(path, {"sky": {"style": 0, "placements": place, "styles": styles}})
    assert load_precomputed(path).raw["stamps"]["concepts"]["sky"]["measured"]["style_success"] == [0.8, 0.1]
    write_measured(path, {"sky": {"style": 0, "placements": place, "styles": styles[:1]}})  # not every style
    assert "style_success" not in load_precomputed(path).raw["stamps"]["concepts"]["sky"]["measured"]


@pytest.mark.embedded
def test_the_embedded_models_near_invisible_styles_are_not_offered():
    """scenes64 layer6, by the committed stamp evaluation (precomputed/scenes64/stamps-eval-layer6.json): the
    styles offered are those that succeeded in at least a quarter of the tries at their favourable placement."""
    from pathlib import Path

    from fastapi.testclient import TestClient

    from ganpaint.api.app import create_app
    from ganpaint.api.settings import Settings

    root = Path(__file__).resolve().parents[1]
    evaluation = json.loads((root / "precomputed" / "scenes64" / "stamps-eval-layer6.json").read_text())
    settings = Settings(models_dir=root / "models", precomputed_dir=root / "precomputed", model="scenes64", threads=1)
    with TestClient(create_app(settings)) as client:
        concepts = {c["name"]: c for c in client.get("/models/scenes64", params={"layer": "layer6"}).json()["concepts"]}
    for name, r in evaluation["concepts"].items():
        want = [s["style"] for s in r["styles"] if s["stamp"]["success"] >= 0.25 or s["style"] == r["style"]]
        assert [s["index"] for s in concepts[name]["styles"]] == want, name
    assert [s["index"] for s in concepts["dome"]["styles"]] == [0, 1, 2, 4]  # 3 (19%) and 5 (1%) are not offered
    assert sum(len(r["styles"]) for r in evaluation["concepts"].values()) == 34
    assert sum(len(c["styles"]) for c in concepts.values()) == 23  # 11 of 34 left out
