"""The CLI through typer's CliRunner: a tiny run, report, params, and every bad input of the core issue."""

import json

import pytest
from typer.testing import CliRunner

from jaxsep.cli import app
from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features

runner = CliRunner()
TINY = ["--trials", "2", "--epochs", "1", "--batch-size", "8", "--filters", "2,3", "--models", "novox,stems3"]


def _features(path, songs_per_class=(5, 6)):
    f = toy_features(songs_per_class=songs_per_class, n_mels=8, frames=12)
    return save_features(path, mels=f.mels, maps=f.maps, labels=f.labels, classes=f.classes,
                         song_ids=f.song_ids, meta=f.meta)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    return _features(tmp_path_factory.mktemp("cli") / "features.npz")


def test_run_report_and_refusal(features, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert "stems3" in result.output and "Run folder" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["trials"] == 2 and set(results["models"]) == {"novox", "stems3"}
    assert results["timing"]["compile_seconds"] > 0

    again = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY])
    assert again.exit_code == 1 and "already holds a finished run" in again.output
    assert json.loads((out / "results.json").read_text()) == results  # untouched

    (out / "table.md").unlink()
    rebuilt = runner.invoke(app, ["report", str(out)])
    assert rebuilt.exit_code == 0 and (out / "table.md").exists()

    replaced = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY, "--seed", "3", "--overwrite"])
    assert replaced.exit_code == 0
    assert json.loads((out / "results.json").read_text())["config"]["seed"] == 3


def test_params_prints_counts():
    result = runner.invoke(app, ["params"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "stems3_dw: 701,249 parameters" in result.output and "stems3: 705,558 parameters" in result.output
    assert "depthwise_kernel" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--trials", "0"], "trials must be >= 1"),
        (["--models", "novox,resnet"], "unknown model 'resnet'"),
        (["--select-on", "train"], "select_on must be one of"),
        (["--filters", "16"], "--filters must be two integers"),
    ],
)
def test_bad_options(features, tmp_path, args, message):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY, *args])
    assert result.exit_code == 1
    assert message in result.output
    assert not out.exists()


def test_bad_feature_files(tmp_path):
    out = tmp_path / "run"
    missing = runner.invoke(app, ["run", str(tmp_path / "nope.npz"), "--out", str(out), *TINY])
    assert missing.exit_code == 1 and "nope.npz: no such feature file" in missing.output
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    result = runner.invoke(app, ["run", str(bad), "--out", str(out), *TINY])
    assert result.exit_code == 1 and "bad.npz: cannot read as .npz" in result.output
    lonely = _features(tmp_path / "lonely.npz", songs_per_class=(5, 1))
    result = runner.invoke(app, ["run", str(lonely), "--out", str(out), *TINY])
    assert result.exit_code == 1 and "fewer than 2 songs" in result.output
    assert not out.exists()


def test_interrupted_run_leaves_no_finished_looking_folder(features, tmp_path, monkeypatch):
    import jaxsep.results.run_folder as runfolder

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runfolder, "_write_report_files", explode)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY])
    assert result.exit_code != 0  # click turns the interrupt into an abort
    assert not out.exists()
    # the trained trials are kept, hidden, for the same command to finish (tests/test_runs.py)
    assert [p.name for p in tmp_path.iterdir()] == [".run.partial"]
    monkeypatch.undo()
    finished = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY])
    assert finished.exit_code == 0 and "continuing the unfinished run" in finished.output
    assert not (tmp_path / ".run.partial").exists()
