"""Fuzzing what the OpenAPI fuzz (test_fuzz_api.py) cannot reach: ``/client/`` paths (not in the schema) and
``POST /uploads`` bodies and query fields of any shape. Never a 5xx; every refusal ``{"detail": ...}`` JSON."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from api_helpers import tiny_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def strict(text: str):
    return json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    folder = root / "client_dist"
    folder.mkdir()
    (folder / "ganpaint.html").write_text("<!doctype html><title>client</title>")
    with tiny_client(root, classic_client=folder, max_projections=1) as c:
        yield c


segment = st.one_of(
    st.text(min_size=1, max_size=40).filter(lambda s: "/" not in s and "?" not in s and "#" not in s),
    st.integers(250, 5000).map(lambda n: "a" * n),  # longer than a file name may be
    st.sampled_from(["..", ".", ".hidden", "%00", "ganpaint.html", "\\..\\x", "%2e%2e"]),
)


@FUZZ
@given(parts=st.lists(segment, min_size=1, max_size=4))
def test_client_paths_never_fail(client, parts):
    r = client.get("/client/" + "/".join(urllib.parse.quote(p, safe="%") for p in parts))
    assert r.status_code in (200, 404), r.text
    if r.status_code == 404:
        assert isinstance(strict(r.text)["detail"], str)  # "path: no file ..." (or the router's, for /client/../x)


number = st.one_of(
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([10**400, -(10**30), 1e308, 0.5]),
)
value = st.one_of(st.none(), st.booleans(), number, st.text(max_size=20), st.lists(number, max_size=6))


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(["data", "scene", "model", "layer", "crop", "wait", "other"]), value, max_size=4
    )
)
def test_upload_json_fields_never_fail(client, fields):
    fields.setdefault("wait", False)  # never wait for a projection that was admitted
    r = client.post("/uploads", content=json.dumps(fields), headers={"Content-Type": "application/json"})
    assert r.status_code in (202, 404, 413, 422, 503), r.text
    body = strict(r.text)
    if r.status_code != 202:
        assert isinstance(body["detail"], str) and ":" in body["detail"]


@FUZZ
@given(
    crop=st.one_of(st.text(max_size=40), st.lists(number, min_size=4, max_size=4).map(lambda v: ",".join(map(str, v))))
)
def test_upload_query_crop_never_fails(client, crop):
    r = client.post(
        "/uploads", params={"crop": crop, "wait": "false"}, content=b"GIF89a", headers={"Content-Type": "image/png"}
    )
    assert r.status_code in (413, 422, 503), r.text
    assert strict(r.text)["detail"].split(":")[0].split("[")[0] in ("crop", "file", "server")
