"""Start-up faults: a missing or corrupt model or dissection gives one clear message and exit 2, no traceback."""

import json
import shutil
import subprocess

import pytest
from live_server import ROOT, free_port, quiet_env, serve_command, tiny_dirs

from ganpaint.api.settings import Settings
from ganpaint.api.startup import startup_problem


@pytest.fixture
def dirs(tmp_path_factory, tmp_path):
    """A fresh copy of the tiny model and dissection, free to break."""
    models, pre = tiny_dirs(tmp_path_factory.getbasetemp() / "startup-tiny")
    shutil.copytree(models, tmp_path / "models")
    shutil.copytree(pre, tmp_path / "precomputed")
    return tmp_path / "models", tmp_path / "precomputed"


def problem(models, pre, **kw) -> str | None:
    return startup_problem(Settings(models_dir=models, precomputed_dir=pre, model="tiny", **kw))


def test_good_files_pass(dirs):
    assert problem(*dirs) is None


def test_missing_model(dirs):
    models, pre = dirs
    assert problem(models.parent / "nowhere", pre).startswith(
        f"model 'tiny' not found in {models.parent / 'nowhere'} (models there: the folder does not exist)"
    )
    shutil.rmtree(models / "tiny")
    assert problem(models, pre).startswith(f"model 'tiny' not found in {models} (models there: none)")


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (lambda m, p: (m / "tiny/model.json").write_text("{not json"), "malformed model.json"),
        (lambda m, p: (m / "tiny/generator.pth").write_bytes(b"\x80garbage"), "cannot read generator weights"),
        (lambda m, p: (m / "tiny/generator.pth").unlink(), "generator weights not found"),
        (lambda m, p: (p / "tiny/layer4.json").write_text('{"schema": 1'), "is not valid JSON"),
        (lambda m, p: (p / "tiny/layer6.json").write_text("[]"), "of model 'tiny' at layer6 cannot be loaded: "),
        (lambda m, p: shutil.rmtree(p / "tiny"), "model 'tiny' has no dissection"),
    ],
    ids=["model.json", "weights", "no-weights", "precomputed-json", "precomputed-schema", "no-precomputed"],
)
def test_corrupt_files_name_the_file(dirs, corrupt, expected):
    corrupt(*dirs)
    got = problem(*dirs)
    assert got is not None and expected in got, got
    assert "\n" not in got


def test_dissection_of_another_model(dirs):
    models, pre = dirs
    doc = json.loads((pre / "tiny/layer4.json").read_text())
    c, h, w = doc["feature_shape"]
    doc["feature_shape"] = [c, 2 * h, 2 * w]
    (pre / "tiny/layer4.json").write_text(json.dumps(doc))
    got = problem(models, pre)
    assert got == (
        f"dissection {pre / 'tiny/layer4.json'}: feature_shape {[c, 2 * h, 2 * w]} does not match the generator's "
        f"{[c, h, w]} at layer4 (a dissection of another model?)"
    )


def run_serve(models, pre, **env) -> subprocess.CompletedProcess:
    cmd = serve_command(models, pre, free_port())
    return subprocess.run(cmd, cwd=ROOT, env=quiet_env(**env), capture_output=True, text=True, timeout=60)


def test_serve_exits_2_with_one_line(dirs):
    models, pre = dirs
    (models / "tiny/generator.pth").write_bytes(b"\x80garbage")
    r = run_serve(models, pre)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganpaint serve: error: model 'tiny' cannot be loaded: "), r.stderr


def test_serve_bad_setting_exits_2_with_one_line(dirs):
    r = run_serve(*dirs, GANPAINT_MAX_CONNECTIONS="lots")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganpaint serve: error: settings:"), r.stderr
    assert "max_connections" in lines[0]
