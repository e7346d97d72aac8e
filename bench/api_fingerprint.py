"""The API's behaviour as hashes: a fixed list of requests against the app in-process, one line per answer.

    PYTHONPATH=server python bench/api_fingerprint.py --out /tmp/before     # before a refactor
    PYTHONPATH=server python bench/api_fingerprint.py --out /tmp/after      # after it
    diff /tmp/before/answers.txt /tmp/after/answers.txt                    # must be empty
    diff /tmp/before/openapi.json /tmp/after/openapi.json                  # only intended changes

Two apps: the seeded tiny model (``ganpaint make-tiny``) and the committed embedded ``scenes64``. Requests: REST
(health, models, concepts, styles, /generate, /intervene with draw, erase, stamp, raw edits and every mask
form), errors (bad fields, unknown names, limits, invalid JSON, a body over the limit), the original client's
/api, websocket sessions (open, strokes, stamps, erase, refined frames, errors, ping, re-open) and uploads
(image and JSON bodies, errors, status, reconstruction, painting an upload over REST and the websocket).

An answer is its status, its content type and the SHA-256 of its body (JSON re-written with its keys in their
order, so a reordered answer shows). What differs from run to run is normalised first: upload ids (random)
become ``<upload-N>``, ``ms`` timings are dropped, the websocket frame header's render time (2 bytes) is
zeroed. Requests run one at a time (each websocket frame awaited before the next update), so "latest wins"
never drops one. A refactor that changes no behaviour leaves every line as it was; the refactor in issue #28
was checked this way after each step.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402
from starlette.testclient import WebSocketDenialResponse  # noqa: E402

from ganpaint.api.app import create_app  # noqa: E402
from ganpaint.api.settings import Settings  # noqa: E402
from ganpaint.masks import encode_runs  # noqa: E402
from ganpaint.project import ProjectSettings  # noqa: E402
from ganpaint.tiny import make_tiny_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FAST = ProjectSettings(bank=32, z_steps=20, feature_steps=30, adapt_steps=20)
LINE = {"points": [[0.2, 0.3], [0.7, 0.6]], "radius": 0.15}
STROKE = {"concept": "tree", "mode": "draw", "strength": 20, "mask": LINE}
ERASE = {**STROKE, "mode": "erase", "strength": 5}
STAMP = {"concept": "sky", "mode": "stamp", "mask": {"points": [[0.5, 0.5]], "radius": 0.1}}
STAMP_ROW = {**STAMP, "style": 1, "mask": {"points": [[0.1, 0.2], [0.9, 0.2]], "radius": 0.1}, "size": [0.2, 0.2]}


def png(w: int = 48, h: int = 40, seed: int = 0, alpha: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (90, 150, 230)
    img[h // 2 :] = (60, 160, 50)
    img += rng.integers(0, 20, img.shape, dtype=np.uint8)
    buf = io.BytesIO()
    (Image.fromarray(img).convert("RGBA") if alpha else Image.fromarray(img)).save(buf, "PNG")
    return buf.getvalue()


def png_url(mask: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(np.where(mask > 0, 0, 255).astype(np.uint8)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class Recorder:
    """Answers as lines ``name status type sha256``; upload ids normalised in order of first appearance."""

    def __init__(self):
        self.lines: list[str] = []
        self.ids: dict[str, str] = {}

    def normal(self, body: bytes) -> bytes:
        try:
            obj = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return body
        return json.dumps(self._walk(obj)).encode()  # key order kept: a reordered answer is a changed answer

    def _walk(self, obj):
        if isinstance(obj, dict):
            return {k: self._walk(v) for k, v in obj.items() if k != "ms"}
        if isinstance(obj, list):
            return [self._walk(v) for v in obj]
        if isinstance(obj, str):
            return re.sub(r"[A-Za-z0-9_-]{24,64}", lambda m: self.ids.get(m.group(0), m.group(0)), obj)
        return obj

    def upload_id(self, uid: str) -> None:
        self.ids.setdefault(uid, f"<upload-{len(self.ids)}>")

    def add(self, name: str, status, ctype: str, body: bytes) -> None:
        digest = hashlib.sha256(self.normal(body)).hexdigest()[:20]
        self.lines.append(f"{name}\t{status}\t{ctype.split(';')[0]}\t{digest}")

    def http(self, name: str, r) -> None:
        self.add(name, r.status_code, r.headers.get("content-type", ""), r.content)

    def ws(self, name: str, message: dict) -> None:
        if message.get("bytes") is not None:
            data = message["bytes"]
            self.add(name, "frame", "bytes", data[:4] + b"\0\0" + data[6:])
        else:
            self.add(name, "text", "json", message["text"].encode())


def rest_requests(c: TestClient, rec: Recorder, model: str, image: int, concept: str, stamp: dict | None) -> None:
    p = model
    rec.http(f"{p} GET /health", c.get("/health"))
    rec.http(f"{p} GET /models", c.get("/models"))
    rec.http(f"{p} GET /models/{model}", c.get(f"/models/{model}"))
    for layer in ("layer4", "layer6", "layer99"):
        rec.http(f"{p} GET /models/{model}?layer={layer}", c.get(f"/models/{model}", params={"layer": layer}))
    rec.http(f"{p} GET concept", c.get(f"/models/{model}/concepts/{concept}"))
    rec.http(f"{p} GET concept unknown", c.get(f"/models/{model}/concepts/nothing"))
    rec.http(f"{p} GET /models/nope", c.get("/models/nope"))
    if stamp is not None:
        for i in (0, 1, 7):
            rec.http(f"{p} GET style {i}", c.get(f"/models/{model}/concepts/{stamp['concept']}/styles/{i}.png"))
    rec.http(f"{p} POST /generate", c.post("/generate", json={"model": model, "ids": [0, 1], "format": "png"}))
    rec.http(f"{p} POST /generate jpeg", c.post("/generate", json={"model": model, "ids": [2], "format": "jpeg"}))
    rec.http(f"{p} POST /generate webp", c.post("/generate", json={"model": model, "ids": [2], "format": "webp"}))
    z = torch.randn(1, 512 if model == "scenes64" else 16, generator=torch.Generator().manual_seed(1)).tolist()
    rec.http(f"{p} POST /generate z", c.post("/generate", json={"model": model, "zs": z, "format": "png"}))
    rec.http(
        f"{p} POST /generate accept png",
        c.post("/generate", json={"model": model, "ids": [4], "format": "png"}, headers={"Accept": "image/png"}),
    )
    stroke = {**STROKE, "concept": concept}
    mask = np.zeros((64, 64), np.uint8)
    mask[10:40, 20:50] = 1
    forms = {
        "polyline": LINE,
        "png": png_url(mask),
        "runs": encode_runs(mask),
        "bitstring": {"shape": [64, 64], "bitbounds": [10, 20, 40, 50], "bitstring": "1" * (30 * 30)},
    }
    body = {"model": model, "image": image, "format": "png"}
    rec.http(f"{p} intervene plain", c.post("/intervene", json={**body, "strokes": []}))
    for name, form in forms.items():
        rec.http(f"{p} intervene {name}", c.post("/intervene", json={**body, "strokes": [{**stroke, "mask": form}]}))
    erase = {**ERASE, "concept": concept}
    rec.http(f"{p} intervene erase", c.post("/intervene", json={**body, "strokes": [stroke, erase]}))
    rec.http(f"{p} intervene layer6", c.post("/intervene", json={**body, "strokes": [stroke], "layer": "layer6"}))
    if stamp is not None:
        rec.http(f"{p} intervene stamp", c.post("/intervene", json={**body, "strokes": [stamp]}))
        row = {**STAMP_ROW, "concept": stamp["concept"]}
        rec.http(f"{p} intervene stamp row", c.post("/intervene", json={**body, "strokes": [stroke, row]}))
        bad = [{**stamp, "style": 9}, {**stamp, "size": [0.001, 2]}, {**stamp, "concept": concept, "size": "x"}]
        for i, s in enumerate(bad):
            rec.http(f"{p} intervene stamp bad {i}", c.post("/intervene", json={**body, "strokes": [s]}))
    raw = {"layer": "layer4", "units": [0, 1], "value": 3.0, "alpha": 1.0, "mask": LINE}
    rec.http(f"{p} intervene raw edit", c.post("/intervene", json={**body, "edits": [raw]}))
    bad_edits = [{**raw, "units": [9999]}, {**raw, "alpha": 2}, {**raw, "value": [1, 2, 3]}, {**raw, "layer": "x"}]
    for i, e in enumerate(bad_edits):
        rec.http(f"{p} intervene raw bad {i}", c.post("/intervene", json={**body, "edits": [e]}))
    bad_strokes = [
        {**stroke, "concept": "nothing"},
        {**stroke, "mode": "smudge"},
        {**stroke, "strength": 99},
        {**stroke, "mask": {"points": [[0, "a"]], "radius": 0.1}},
        {**stroke, "mask": "data:image/png;base64,AAAA"},
        {**stroke, "mask": {"shape": [64, 64], "bounds": [0, 0, 64, 64], "runs": [1, -2]}},
        {**stroke, "mask": {"shape": [64, 64], "bitbounds": [0, 0, 2, 2], "bitstring": "012"}},
        {**stroke, "mask": 17},
        {**stroke, "layer": "layer99"},
    ]
    for i, s in enumerate(bad_strokes):
        rec.http(f"{p} intervene bad stroke {i}", c.post("/intervene", json={**body, "strokes": [s]}))
    rec.http(f"{p} intervene 65 strokes", c.post("/intervene", json={**body, "strokes": [stroke] * 65}))
    for size in (64, 100, 256):  # the refined size where the model ships a refiner (issue 34), else a named error
        rec.http(f"{p} intervene size {size}", c.post("/intervene", json={**body, "strokes": [stroke], "size": size}))
    rec.http(f"{p} intervene no image", c.post("/intervene", json={"model": model, "strokes": []}))
    rec.http(f"{p} intervene image+z", c.post("/intervene", json={**body, "z": z[0]}))
    rec.http(f"{p} intervene image -1", c.post("/intervene", json={**body, "image": -1}))
    rec.http(f"{p} intervene unknown field", c.post("/intervene", json={**body, "nope": 1}))
    as_json = {"Content-Type": "application/json"}
    rec.http(f"{p} intervene bad json", c.post("/intervene", content=b"{", headers=as_json))
    rec.http(f"{p} intervene NaN", c.post("/intervene", content=b'{"image": NaN}', headers=as_json))
    big = b'{"image": 1, "strokes": [' + b" " * (3 * 1024 * 1024) + b"]}"
    rec.http(f"{p} intervene 3 MB", c.post("/intervene", content=big, headers=as_json))
    rec.http(f"{p} GET /nothing", c.get("/nothing"))
    rec.http(f"{p} GET /intervene", c.get("/intervene"))


def classic_requests(c: TestClient, rec: Recorder, model: str) -> None:
    p = f"{model} /api"
    rec.http(f"{p} all_projects", c.get("/api/all_projects"))
    rec.http(f"{p} layers", c.get("/api/layers", params={"project": model}))
    rec.http(f"{p} rankings", c.get("/api/rankings", params={"project": model, "layer": "layer4"}))
    rec.http(f"{p} levels", c.get("/api/levels", params={"project": model, "layer": "layer4", "quantiles": 0.99}))
    rec.http(f"{p} recipes", c.get("/api/recipes", params={"project": model}))
    rec.http(f"{p} units", c.get("/api/units", params={"project": model, "layer": "layer4"}))
    rec.http(f"{p} generate ids", c.post("/api/generate", json={"project": model, "ids": [1, 2]}))
    mask = {"shape": [16, 16], "bitbounds": [2, 2, 10, 10], "bitstring": "1" * 64}
    iv = {"ablations": [{"unit": 3, "alpha": 1.0, "value": 2.0}], "mask": mask}
    gen = {"project": model, "ids": [3], "interventions": [iv], "layer": "layer4"}
    rec.http(f"{p} generate intervention", c.post("/api/generate", json=gen))
    rec.http(f"{p} generate bad project", c.post("/api/generate", json={"project": "nope", "ids": [1]}))
    rec.http(f"{p} generate bad ids", c.post("/api/generate", json={"project": model, "ids": ["a"]}))
    rec.http(f"{p} demo image", c.get("/data/churchoutdoor/cache/img/id/3.jpg"))
    rec.http(f"{p} //api", c.get("//api/all_projects"))


def ws_session(c: TestClient, rec: Recorder, model: str, image: int, concept: str, stamp: dict | None) -> None:
    p = f"{model} ws"
    stroke = {**STROKE, "concept": concept}
    with c.websocket_connect("/ws/paint") as ws:
        ws.send_json({"type": "ping"})
        rec.ws(f"{p} ping", ws.receive())
        ws.send_json({"type": "render", "seq": 1, "strokes": []})
        rec.ws(f"{p} render before open", ws.receive())
        ws.send_text("{")
        rec.ws(f"{p} bad json", ws.receive())
        ws.send_json({"type": "smudge", "seq": 2})
        rec.ws(f"{p} bad type", ws.receive())
        ws.send_bytes(b"abc")
        rec.ws(f"{p} binary", ws.receive())
        ws.send_json({"type": "open", "model": model, "image": image, "format": "png"})
        rec.ws(f"{p} open", ws.receive())
        lists = [[stroke], [stroke, {**ERASE, "concept": concept}], []]
        if stamp is not None:
            lists += [[stamp], [stroke, {**STAMP_ROW, "concept": stamp["concept"]}], [{**stamp, "style": 99}]]
        lists += [[{**stroke, "concept": "nothing"}], [{**stroke, "mask": "data:image/png;base64,AAAA"}]]
        for seq, strokes in enumerate(lists, 10):
            ws.send_json({"type": "render", "seq": seq, "strokes": strokes})
            rec.ws(f"{p} render {seq}", ws.receive())
        ws.send_json({"type": "render", "seq": 30, "strokes": [stroke], "refine": True})
        rec.ws(f"{p} render refine", ws.receive())
        if model == "scenes64":  # it ships a refiner: a "refined" message, then the 4x frame
            rec.ws(f"{p} refined message", ws.receive())
            rec.ws(f"{p} refined frame", ws.receive())
        ws.send_json({"type": "open", "model": model, "image": image + 1, "layer": "layer6", "format": "jpeg"})
        rec.ws(f"{p} reopen", ws.receive())
        ws.send_json({"type": "render", "seq": 40, "strokes": [{**stroke, "layer": "layer6"}]})
        rec.ws(f"{p} render layer6", ws.receive())
        ws.send_json({"type": "open", "model": model, "image": image, "layer": "layer99"})
        rec.ws(f"{p} open bad layer", ws.receive())
        ws.send_json({"type": "open", "model": "nope", "image": 1})
        rec.ws(f"{p} open bad model", ws.receive())
    try:
        with c.websocket_connect("/ws/paint", headers={"Origin": "http://evil.example"}):
            pass
    except WebSocketDenialResponse as denial:
        rec.http(f"{p} bad origin", denial)


def upload_requests(c: TestClient, rec: Recorder, model: str) -> None:
    p = f"{model} uploads"
    r = c.post("/uploads?crop=0,0,0.8,1", content=png(), headers={"Content-Type": "image/png"})
    uid = r.json()["upload"]
    rec.upload_id(uid)
    rec.http(f"{p} png", r)
    r = c.post("/uploads", json={"scene": 3_000_000_123, "model": model})
    rec.upload_id(r.json()["upload"])
    rec.http(f"{p} scene", r)
    data = "data:image/png;base64," + base64.b64encode(png(seed=2, alpha=True)).decode()
    r = c.post("/uploads", json={"data": data, "crop": [0.1, 0.1, 0.8, 0.8]})
    rec.upload_id(r.json()["upload"])
    rec.http(f"{p} data url", r)
    errors = [
        ("scene 12", {"json": {"scene": 12}}),
        ("both", {"json": {"scene": 3_000_000_123, "data": data}}),
        ("neither", {"json": {"model": model}}),
        ("bad data", {"json": {"data": "data:image/gif;base64,AAAA"}}),
        ("bad base64", {"json": {"data": "data:image/png;base64,@@@"}}),
        ("not an object", {"json": [1, 2]}),
        ("unknown field", {"json": {"scene": 3_000_000_123, "x": 1}}),
        ("text", {"content": b"hi", "headers": {"Content-Type": "text/plain"}}),
        ("not a png", {"content": b"\x89PNG nothing", "headers": {"Content-Type": "image/png"}}),
        ("bad crop", {"content": png(), "headers": {"Content-Type": "image/png"}, "params": {"crop": "0,0,2,2"}}),
        ("crop text", {"content": png(), "headers": {"Content-Type": "image/png"}, "params": {"crop": "a"}}),
        ("bad layer", {"json": {"scene": 3_000_000_123, "layer": "layer99"}}),
        ("bad model", {"json": {"scene": 3_000_000_123, "model": "nope"}}),
    ]
    for name, kwargs in errors:
        rec.http(f"{p} error {name}", c.post("/uploads", **kwargs))
    rec.http(f"{p} GET", c.get(f"/uploads/{uid}"))
    rec.http(f"{p} GET unknown", c.get("/uploads/" + "x" * 24))
    rec.http(f"{p} GET bad id", c.get("/uploads/x"))
    rec.http(f"{p} reconstruction", c.get(f"/uploads/{uid}/reconstruction.png"))
    body = {"upload": uid, "format": "png"}
    rec.http(f"{p} intervene plain", c.post("/intervene", json=body))
    rec.http(f"{p} intervene stroke", c.post("/intervene", json={**body, "strokes": [STROKE]}))
    rec.http(f"{p} intervene upload+image", c.post("/intervene", json={**body, "image": 3}))
    rec.http(f"{p} intervene other model", c.post("/intervene", json={**body, "model": "other"}))
    with c.websocket_connect("/ws/paint") as ws:
        ws.send_json({"type": "open", "upload": uid, "format": "png"})
        rec.ws(f"{p} ws open", ws.receive())
        for seq, strokes in enumerate(([STROKE], [STROKE, ERASE], [STAMP]), 1):
            ws.send_json({"type": "render", "seq": seq, "strokes": strokes})
            rec.ws(f"{p} ws render {seq}", ws.receive())
        ws.send_json({"type": "open", "upload": uid, "image": 2})
        rec.ws(f"{p} ws open both", ws.receive())
        ws.send_json({"type": "open", "upload": "y" * 24})
        rec.ws(f"{p} ws open unknown", ws.receive())
        ws.send_json({"type": "open"})
        rec.ws(f"{p} ws open neither", ws.receive())


def fast_projections(app) -> None:
    """Short projections (the tests' settings), wherever the app keeps its projection pool."""
    app.state.projections.settings = FAST


def run(out: Path) -> None:
    torch.set_num_threads(1)
    rec = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tiny_model(root / "models", root / "precomputed")
        tiny = Settings(models_dir=root / "models", precomputed_dir=root / "precomputed", model="tiny", threads=1)
        with TestClient(create_app(tiny)) as c:
            fast_projections(c.app)
            rest_requests(c, rec, "tiny", 3, "tree", STAMP)
            classic_requests(c, rec, "tiny")
            ws_session(c, rec, "tiny", 3, "tree", STAMP)
            upload_requests(c, rec, "tiny")
            openapi = c.get("/openapi.json").json()
        embedded = Settings(models_dir=ROOT / "models", precomputed_dir=ROOT / "precomputed", model="scenes64",
                            threads=1, upload_dir=None)  # fmt: skip
        with TestClient(create_app(embedded)) as c:
            detail = c.get("/models/scenes64").json()
            with_styles = [x["name"] for x in detail["concepts"] if x.get("styles")]
            stamp = {**STAMP, "concept": with_styles[0]} if with_styles else None
            rest_requests(c, rec, "scenes64", 5, "tree", stamp)
            classic_requests(c, rec, "scenes64")
            ws_session(c, rec, "scenes64", 5, "tree", stamp)
    out.mkdir(parents=True, exist_ok=True)
    (out / "answers.txt").write_text("\n".join(rec.lines) + "\n")
    (out / "openapi.json").write_text(json.dumps(openapi, indent=1, sort_keys=True) + "\n")
    print(f"{len(rec.lines)} answers -> {out / 'answers.txt'}; OpenAPI -> {out / 'openapi.json'}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for answers.txt and openapi.json")
    run(p.parse_args().out)


if __name__ == "__main__":
    main()
