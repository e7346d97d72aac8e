"""api/errors.py: one error shape, ``{"detail": ...}``, for every refusal."""

from api_helpers import tiny_client

from ganpaint.api.errors import nesting_depth


def test_error_shapes(tmp_path):
    with tiny_client(tmp_path) as c:
        r = c.get("/reports/tiny/%00")
        assert r.status_code == 404 and r.json()["detail"].startswith("path: no report file"), r.text
        deep: object = 1
        for _ in range(300):
            deep = [deep]
        frames = c.app.state.engine.frames
        r = c.post("/api/generate", json={"project": "tiny", "ids": [1], "wantz": deep})
        assert r.status_code == 422 and r.json() == {"detail": "wantz: nested deeper than 32 levels"}
        assert c.app.state.engine.frames == frames  # refused before rendering
        r = c.post("/api/generate", json={"project": "tiny", "ids": [1], "wantz": [[1]]})
        assert r.status_code == 200 and r.json()["request"]["wantz"] == [[1]]  # shallow extras still echo
    assert nesting_depth({"a": [1, {"b": 2}]}, 10) == 4 and nesting_depth(deep, 5) == 6
