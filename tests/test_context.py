"""ganpaint.context and GET /context, /activations: a planted context the map recovers, the stamp switch,
errors that name the field. The planted context: a test segmenter that calls "sky" any pixel a stroke
changed, but only in the top half of the picture, so on the tiny model sky can be painted only up there."""

from __future__ import annotations

import torch
from api_helpers import tiny_client

from ganpaint.context.grid import context_map, sample, stroke_grid
from ganpaint.context.probe import brush_stroke, spaced_groups, window_radius

NAMES = ["tree", "grass", "sky"]


class TopHalfSky:
    """Sky where the picture differs from the unedited one by more than 0.05, in the top half only."""

    id = "test/top-half-sky"
    names = NAMES

    def __init__(self, reference: torch.Tensor):
        self.reference = reference  # (1, 3, H, W) the unedited picture

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        n, _, h, w = images.shape
        changed = ((images - self.reference).abs().mean(1) > 0.05).float()  # (N, H, W)
        top = (torch.arange(h) < h // 2).float()[None, :, None]  # (1, H, 1)
        sky = changed * top
        rest = (1 - sky) / 2
        return torch.stack([rest, rest, sky], dim=1)  # (N, 3, H, W)


def planted(engine, image: int = 0, layer: str = "layer4"):
    m = engine.model("tiny")
    r = engine.features(m, image, None, layer)  # (1, C, h, w)
    render = m.split(layer)[1]
    with torch.inference_mode():
        seg = TopHalfSky(render(r))
    return m, r, render, seg


def test_spaced_groups_cover_every_cell_once_and_keep_their_distance():
    groups = spaced_groups(16, 16, 8)
    cells = [c for g in groups for c in g]
    assert len(groups) == 64 and sorted(cells) == [(i, j) for i in range(16) for j in range(16)]
    for g in groups:
        for a in g:
            for b in g:
                assert a == b or max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= 8


def test_the_map_recovers_a_planted_context(engine):
    m, r, render, seg = planted(engine)
    pre = m.dissection("layer4")
    sky = pre.concepts["sky"]
    _, _, h, w = r.shape

    def stroke_at(c):
        return brush_stroke("layer4", sky.units, sky.draw_values, c, window_radius(h), (h, w), m.info.resolution)

    cmap = context_map(r, render, seg.probabilities, 2, stroke_grid(h, w, stroke_at, stride=4))
    kept = stroke_grid(h, w, stroke_at, stride=4, channels=r.shape[1])  # the groups kept as one affine edit
    assert kept.painted is not None
    assert torch.allclose(context_map(r, render, seg.probabilities, 2, kept).gain, cmap.gain, atol=1e-4)
    top, bottom = cmap.gain[: h // 2 - 1], cmap.gain[h // 2 + 1 :]  # rows whose stroke stays in one half
    assert cmap.renders == 17
    assert float(top.mean()) > 0.3, cmap.gain
    assert float(bottom.abs().max()) == 0.0, cmap.gain
    assert sample(cmap.gain, 0.5, 0.1) > 0.3 and sample(cmap.gain, 0.5, 0.9) == 0.0


def test_the_spaced_map_agrees_with_one_render_per_cell(engine):
    m, r, render, seg = planted(engine, image=3)
    sky = m.dissection("layer4").concepts["sky"]
    _, _, h, w = r.shape

    def stroke_at(c):
        return brush_stroke("layer4", sky.units, sky.draw_values, c, window_radius(h), (h, w), m.info.resolution)

    spaced = context_map(r, render, seg.probabilities, 2, stroke_grid(h, w, stroke_at, stride=4))
    exact = context_map(r, render, seg.probabilities, 2, stroke_grid(h, w, stroke_at, stride=h))
    assert exact.renders == h * w + 1
    assert float((spaced.gain - exact.gain).abs().max()) < 0.05


STAMP = {"concept": "sky", "mode": "stamp", "style": 0}


def test_the_context_switch_changes_a_stamp_only_where_the_concept_does_not_belong(tmp_path):
    with tiny_client(tmp_path) as client:
        engine = client.app.state.engine
        _, _, _, seg = planted(engine)
        engine.context.put_segmenter("tiny", seg)

        def render(y: float, context: str) -> bytes:
            stroke = {**STAMP, "mask": {"points": [[0.5, y]]}, "context": context}
            res = client.post("/intervene", json={"image": 0, "strokes": [stroke]}, headers={"Accept": "image/png"})
            assert res.status_code == 200, res.text
            return res.content

        assert render(0.8, "respect") != render(0.8, "ignore")  # the bottom half: the brush, not the stamp
        assert render(0.2, "respect") == render(0.2, "ignore")  # the top half: the stamp
        assert render(0.8, "respect") == render(0.8, "respect")


def test_an_unresolved_context_stamp_paints_the_stamp_and_a_refused_one_the_brush(engine):
    from ganpaint.context.gate import Decisions, resolve
    from ganpaint.strokes import Stroke, stroke_edits

    m, r, render, seg = planted(engine)
    low = Stroke("sky", {"points": [[0.5, 0.8]]}, "stamp", style=0, context="respect")
    ignored = Stroke("sky", {"points": [[0.5, 0.8]]}, "stamp", style=0, context="ignore")
    (cs,) = stroke_edits(m, [low], "layer4")
    (plain,) = stroke_edits(m, [ignored], "layer4")
    assert torch.equal(cs.stamp().value, plain.value) and torch.equal(cs.stamp().mask, plain.mask)
    (decided,) = resolve([cs], r, render, seg.probabilities, seg.names, m.info.resolution, Decisions())
    assert list(decided.units) == list(m.dissection("layer4").concepts["sky"].units)  # the brush's units
    assert torch.equal(decided.mask, plain.mask)  # through the stamp's footprint


NO_PICTURE = "image/upload: give exactly one of 'image' (an image id) or 'upload' (an upload id)"
NO_SEGMENTER = "model: 'tiny' has no segmenter; the context map needs one (model.json 'segmenter')"
NO_STAMPS = "concept: 'tree' has no stamps at layer4 (mode 'stamp'); concepts with stamps: sky"


def test_context_errors_name_the_field(tmp_path):
    with tiny_client(tmp_path) as client:
        cases = [
            ({"concept": "sky"}, 422, NO_PICTURE),
            ({"image": 0, "concept": "sky", "mode": "paint"}, 422, "mode: expected 'draw' or 'stamp', got 'paint'"),
            ({"image": 0, "concept": "sky"}, 422, NO_SEGMENTER),
        ]
        for params, status, detail in cases:
            res = client.get("/context", params=params)
            assert (res.status_code, res.json()["detail"]) == (status, detail), params
        engine = client.app.state.engine
        engine.context.put_segmenter("tiny", planted(engine)[3])
        layers = ", ".join(engine.model("tiny").generator.layer_names)
        unknown = "concept: unknown concept 'door' at layer4; available: grass, sky, tree"
        cases = [
            ({"image": 0, "concept": "door"}, 404, unknown),
            ({"image": 0, "concept": "tree", "mode": "stamp"}, 422, NO_STAMPS),
            ({"image": 0, "concept": "sky", "layer": "layer9"}, 404, f"layer: unknown layer 'layer9' for model 'tiny'; available: {layers}"),  # noqa: E501
            ({"image": 0, "concept": "sky", "model": "nope"}, 404, "unknown model 'nope'; available: tiny"),
        ]  # fmt: skip
        for params, status, detail in cases:
            res = client.get("/context", params=params)
            assert (res.status_code, res.json()["detail"]) == (status, detail), params
        client.app.state.context_maps.in_flight = 2  # two maps computing for others
        res = client.get("/context", params={"image": 0, "concept": "sky"})
        busy = "context: busy, 2 context maps computing (at most 2); retry shortly"
        assert (res.status_code, res.json()["detail"], res.headers["retry-after"]) == (503, busy, "1")
        client.app.state.context_maps.in_flight = 0
        res = client.get("/context", params={"image": 0, "concept": "sky"})
        assert res.status_code == 200 and res.json()["shape"] == [8, 8] and res.json()["layer"] == "layer4"
        assert res.json() == client.get("/context", params={"image": 0, "concept": "sky"}).json()  # cached
        many = ",".join(["1"] * 21)
        for units, detail in (
            ("1,99", "units: expected unit indices in 0..15, got '99'"),
            (many, f"units: expected 1..20 comma-separated unit indices, got {many[:60]!r}"),
            ("a", "units: expected unit indices in 0..15, got 'a'"),
        ):
            res = client.get("/activations", params={"image": 0, "units": units})
            assert (res.status_code, res.json()["detail"]) == (422, detail)
        res = client.get("/activations", params={"image": 0, "units": "0,15"})
        body = res.json()
        assert res.status_code == 200 and [u["unit"] for u in body["units"]] == [0, 15]
        r = engine.features(engine.model("tiny"), 0, None, "layer4")
        assert abs(body["units"][1]["grid"][2][3] - float(r[0, 15, 2, 3])) < 1e-3
        assert body["units"][0]["quantile_99"] == 3.0 and body["units"][0]["label"] == "tree"


def test_an_upload_has_a_context_map_activations_and_stamps_that_respect_it(tmp_path):
    from test_uploads import FAST, png

    with tiny_client(tmp_path) as client:
        client.app.state.projections.settings = FAST
        up = client.post("/uploads", content=png(), headers={"Content-Type": "image/png"}).json()
        projected = client.app.state.uploads.get(up["upload"]).projected
        engine = client.app.state.engine
        with torch.inference_mode():
            engine.context.put_segmenter("tiny", TopHalfSky(projected.generate(())))
        res = client.get("/context", params={"upload": up["upload"], "concept": "sky"})
        body = res.json()
        assert res.status_code == 200 and body["upload"] == up["upload"] and body["shape"] == [8, 8]
        gain = torch.tensor(body["gain"])
        assert float(gain[:3].mean()) > 0.3 and float(gain[5:].abs().max()) == 0.0  # the planted top half
        res = client.get("/activations", params={"upload": up["upload"], "units": "4"})
        want = projected.features_at(up["layer"])[0, 4]
        assert abs(res.json()["units"][0]["grid"][1][2] - float(want[1, 2])) < 1e-3
        stroke = {**STAMP, "mask": {"points": [[0.5, 0.8]]}}
        shots = {
            c: client.post("/intervene", json={"upload": up["upload"], "strokes": [{**stroke, "context": c}]})
            for c in ("respect", "ignore")
        }
        assert all(r.status_code == 200 for r in shots.values())
        assert shots["respect"].json()["data"] != shots["ignore"].json()["data"]
        res = client.get("/context", params={"upload": up["upload"], "image": 3, "concept": "sky"})
        assert (res.status_code, res.json()["detail"]) == (422, NO_PICTURE)


def test_renders_without_stamps_never_load_a_segmenter(tmp_path):
    from ganpaint.engine import Engine, RenderJob
    from ganpaint.nn.intervene import UnitEdit
    from ganpaint.tiny import make_tiny_model

    make_tiny_model(tmp_path / "models", tmp_path / "precomputed")
    e = Engine(tmp_path / "models", tmp_path / "precomputed", threads=1)
    try:
        m = e.model("tiny")
        edit = m.dissection("layer4").concepts["tree"]
        e.render(RenderJob("tiny", image=0, edits=[UnitEdit("layer4", edit.units, edit.draw_values, 1.0, None)]))
        assert "tiny" not in e.context._segmenters
    finally:
        e.close()


def test_a_dragged_row_is_decided_stamp_by_stamp_in_one_probe(engine):
    from ganpaint.context.gate import ContextStamp, Decisions, resolve
    from ganpaint.strokes import Stroke, stroke_edits

    m, r, render, seg = planted(engine)
    row = Stroke("sky", {"points": [[0.5, 0.15], [0.5, 0.95]]}, "stamp", style=0, context="respect")
    stamps = stroke_edits(m, [row], "layer4")
    assert len(stamps) >= 3 and all(isinstance(s, ContextStamp) for s in stamps)
    calls = []

    def counted(x):
        calls.append(len(x))
        return render(x)

    decisions = Decisions()
    decided = resolve(stamps, r, counted, seg.probabilities, seg.names, m.info.resolution, decisions)
    assert calls == [1 + len(stamps)]  # the picture and one render per stamp, in one batch
    brush_units = list(m.dissection("layer4").concepts["sky"].units)
    kinds = ["brush" if list(d.units) == brush_units else "stamp" for d in decided]
    tops = [s.centre[1] < 0.4 for s in stamps]
    assert kinds == ["stamp" if top else "brush" for top in tops], (kinds, [s.centre for s in stamps])
    assert resolve(stamps, r, counted, seg.probabilities, seg.names, m.info.resolution, decisions) and len(calls) == 1
