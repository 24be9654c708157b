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


def test_what_would_fail_after_training_fails_before_it(features, tmp_path):
    """The reference row's map, a class that cannot be split: checked before the first trial, so nothing is
    written (no unfinished run to block the corrected command)."""
    f = toy_features(songs_per_class=(5, 6), n_mels=8, frames=12)
    keep = [f.maps.index(m) for m in ("novox", "bass", "drums", "other")]
    no_mix = save_features(tmp_path / "nomix.npz", mels=f.mels[..., keep], maps=tuple(f.maps[i] for i in keep),
                           labels=f.labels, classes=f.classes, song_ids=f.song_ids, meta=f.meta)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(no_mix), "--out", str(out), *TINY])
    assert result.exit_code == 1 and "nomix.npz: missing map(s) ['mix']" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nomix.npz"]
    fine = runner.invoke(app, ["run", str(no_mix), "--out", str(out), *TINY, "--no-reference"])
    assert fine.exit_code == 0, fine.output
    lonely = _features(tmp_path / "lonely.npz", songs_per_class=(5, 1))
    said = runner.invoke(app, ["run", str(lonely), "--out", str(tmp_path / "x"), *TINY])
    assert said.exit_code == 1 and "lonely.npz: class(es) ['class1'] have fewer than 2 songs" in said.output


def test_overwrite_replaces_only_what_jaxsep_wrote(features, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a month of notes")
    result = runner.invoke(app, ["run", str(features), "--out", str(mine), *TINY, "--overwrite"])
    assert result.exit_code == 1 and "holds files but no jaxsep output" in result.output
    assert (mine / "notes.txt").read_text() == "a month of notes"


@pytest.mark.parametrize("args, message", [
    (["sweep", "{features}", "--trials", "0"], "trials must be >= 1"),
    (["sweep", "{features}", "--seed", "-1"], "seed must be >= 0"),
    (["sweep", "{features}", "--out", "{tmp}"], "is a folder; --out names the JSON file"),
    (["run", "{features}", "--out", "{tmp}/r", "--l1", "nan"], "l1 and l2 must be finite numbers >= 0"),
    (["run", "{features}", "--out", "{tmp}/r", "--learning-rate", "inf"], "learning_rate must be a finite number"),
    (["run", "{features}", "--out", "{tmp}/r", "--classes", "class0,class0"], "named more than once"),
    (["run", "{features}", "--out", "{tmp}/r", "--num-processes", "2"], "cannot join several processes"),
    (["run", "{features}", "--out", "{tmp}/r", "--num-processes", "2", "--process-id", "5", "--coordinator",
      "localhost:1"], "--process-id must be 0 to 1"),
    (["run", "{features}", "--out", "{tmp}/r", "--num-processes", "2", "--process-id", "0", "--coordinator",
      "localhost"], "--coordinator must be HOST:PORT"),
    (["params", "--n-classes", "0"], "--n-classes must be >= 2"),
    (["params", "--mels", "2"], "--mels and --frames must be >= 4"),
    (["show", "{features}", "--songs", ","], "names no song"),
])
def test_more_bad_options_fail_in_one_line_before_any_work(features, tmp_path, args, message):
    result = runner.invoke(app, [a.format(features=features, tmp=tmp_path) for a in args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


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


def test_any_model_as_baseline_and_reference_rows_on_stems(features, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY, "--baseline", "stems3",
                                 "--reference-maps", "novox,bass+drums+other"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["baseline"] == "stems3"
    assert set(results["reference"]) == {"logreg:novox", "logreg:bass+drums+other"}
    table = (out / "table.md").read_text()
    assert "| stems3 (baseline) |" in table and "against `stems3`" in table
    # the reference rows are compared with the one on the baseline's maps, in a family of their own
    assert "Reference rows against `logreg:bass+drums+other`" in table and (out / "forest.png").is_file()


def test_split_options_are_checked_before_any_work(features, tmp_path):
    out = tmp_path / "run"
    grouped = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY, "--group-by", "artist"])
    assert grouped.exit_code == 1 and "names no artists" in grouped.output
    unknown = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY, "--group-by", "label"])
    assert unknown.exit_code == 1 and "group_by must be one of ['artist']" in unknown.output
    maps = runner.invoke(app, ["run", str(features), "--out", str(out), *TINY, "--reference-maps", "bass+kick"])
    assert maps.exit_code == 1 and "['kick'] not a map" in maps.output
    sizes = runner.invoke(app, ["curve", str(features), "--out", str(out), "--songs-per-class", "2,two"])
    assert sizes.exit_code == 1 and "--songs-per-class takes whole numbers" in sizes.output
    head = runner.invoke(app, ["ablate", str(features), "--out", str(out), "--head", "wide"])
    assert head.exit_code == 1 and "head must be one of ['dense', 'pool', 'rhythm']" in head.output
    largest = runner.invoke(app, ["curve", str(features), "--out", str(out), "--songs-per-class", "2,0"])
    assert largest.exit_code == 1 and "distinct sizes >= 1" in largest.output
    assert not out.exists()


def test_a_finished_folder_shows_what_it_answers(tmp_path, capsys):
    """ablate, curve and rerun (of either) print through one function: the ablation's table before Table 1, a
    curve's table alone."""
    from jaxsep.cli.common import show_folder

    run, ablation, curve = (tmp_path / name for name in ("run", "ablation", "curve"))
    for folder in (run, ablation, curve):
        folder.mkdir()
    for folder in (run, ablation):
        (folder / "table.md").write_text("TABLE-ONE")
    (ablation / "ablation.md").write_text("ABLATION-TABLE")
    (curve / "curve.md").write_text("CURVE-TABLE")
    shown = {}
    for folder in (run, ablation, curve):
        show_folder(folder)
        captured = capsys.readouterr()
        shown[folder.name] = captured.out + captured.err
    assert "TABLE-ONE" in shown["run"] and "ABLATION" not in shown["run"]
    assert shown["ablation"].index("ABLATION-TABLE") < shown["ablation"].index("TABLE-ONE")
    assert "CURVE-TABLE" in shown["curve"] and "TABLE-ONE" not in shown["curve"]
