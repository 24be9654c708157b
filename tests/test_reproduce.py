"""Reproducible runs: a --config file under the command line's options, the command recorded, rerun from the
folder with the same numbers, compare runs paired by trial (and refuse what cannot be paired)."""

import json

import pytest
from typer.testing import CliRunner

from jaxsep.cli import app
from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features

runner = CliRunner()
TINY = ["--epochs", "1", "--filters", "2,3", "--batch-size", "8"]
CONFIG = """
models = ["novox", "stems3"]
trials = 3
reference_maps = ["novox", "bass+drums+other"]

[train]
epochs = 2
filters = [2, 3]
"""


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    toy = toy_features(songs_per_class=(5, 6, 5), n_mels=8, frames=12, seed=6)
    return save_features(tmp_path_factory.mktemp("f") / "toy.npz", mels=toy.mels, maps=toy.maps, labels=toy.labels,
                         classes=toy.classes, song_ids=toy.song_ids, meta=toy.meta)


def _trials(folder):
    results = json.loads((folder / "results.json").read_text())
    return {name: [(t["test_songs"], t.get("epochs"), t["probabilities"]) for t in entry["trials"]]
            for name, entry in {**results["models"], **results.get("reference", {})}.items()}


@pytest.fixture(scope="module")
def configured(features, tmp_path_factory):
    """A run from a config file, its trials overridden on the command line."""
    folder = tmp_path_factory.mktemp("runs")
    config = folder / "mine.toml"
    config.write_text(CONFIG)
    out = folder / "mine"
    done = runner.invoke(app, ["run", str(features), "--out", str(out), "--config", str(config), "--trials", "2"])
    assert done.exit_code == 0, done.output
    return out, config


def test_the_file_sets_what_the_command_line_does_not(configured):
    out, config = configured
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["trials"] == 2  # the command line wins
    assert results["config"]["models"] == ["novox", "stems3"] and results["config"]["train"]["epochs"] == 2
    assert set(results["reference"]) == {"logreg:novox", "logreg:bass+drums+other"}
    assert results["command"].startswith("jaxsep run ") and f"--config {config}" in results["command"]
    assert "--trials 2" in results["command"] and "--epochs" not in results["command"]


@pytest.mark.parametrize("text, message", [
    ("trials = 'ten'", "'trials' must be a whole number, got 'ten'"),
    ("model = ['novox']", "unknown key 'model'"),
    ("[train]\nepoch = 3", "unknown key 'train.epoch'"),
    ("[train]\nfilters = [4]", "'train.filters' must be a list of 2 whole numbers"),
    ("[train]\nselect_on = 'train'", "select_on must be one of ['test', 'validation']"),
    ("trials = [", "not a TOML file"),
])
def test_a_bad_config_file_is_named_before_any_work(features, tmp_path, text, message):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", str(features), "--out", str(out), "--config", str(config), *TINY])
    assert result.exit_code == 1 and "bad.toml: " in result.output and message in result.output, result.output
    assert not out.exists()


def test_rerun_repeats_the_numbers_and_checks_the_feature_file(configured, features, tmp_path):
    out, _ = configured
    again = tmp_path / "again"
    done = runner.invoke(app, ["rerun", str(out), "--out", str(again)])
    assert done.exit_code == 0, done.output
    assert _trials(again) == _trials(out)
    rerun = json.loads((again / "results.json").read_text())
    assert rerun["rerun_of"] == str(out) and rerun["command"].startswith("jaxsep rerun")
    toy = toy_features(songs_per_class=(5, 6, 5), n_mels=8, frames=12, seed=7)  # another file at the same path
    moved = save_features(tmp_path / "other.npz", mels=toy.mels, maps=toy.maps, labels=toy.labels,
                          classes=toy.classes, song_ids=toy.song_ids, meta=toy.meta)
    refused = runner.invoke(app, ["rerun", str(out), "--out", str(tmp_path / "x"), "--data", str(moved)])
    assert refused.exit_code == 1 and "the run read another feature file" in refused.output
    assert not (tmp_path / "x").exists()


def test_compare_pairs_runs_by_trial_and_refuses_other_splits(configured, features, tmp_path):
    out, _ = configured
    longer = tmp_path / "longer"
    done = runner.invoke(app, ["run", str(features), "--out", str(longer), "--models", "novox,stems3",
                               "--trials", "2", "--epochs", "3", "--filters", "2,3", "--no-reference"])
    assert done.exit_code == 0, done.output
    table = runner.invoke(app, ["compare", str(out), str(longer), "--out", str(tmp_path / "c.md")],
                          env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    assert "longer − mine: Δ [95% CI], p, P(better)" in table.output and "| stems3 |" in table.output
    assert (tmp_path / "c.md").read_text().startswith("Mean test f1 over 2 trials per run")
    shifted = tmp_path / "shifted"
    runner.invoke(app, ["run", str(features), "--out", str(shifted), "--models", "novox", "--trials", "2",
                        "--seed", "5", *TINY, "--no-reference"])
    refused = runner.invoke(app, ["compare", str(out), str(shifted)])
    assert refused.exit_code == 1 and "split differently" in refused.output


def test_compare_by_hand(tmp_path):
    """Two folders of the same trials: the second's stems3 F1 raised by 0.1 in every trial gives Δ +0.100 for
    stems3, with a zero-width interval, and exactly 0 for novox."""
    from pathlib import Path

    original = json.loads((Path(__file__).parent / "data" / "results_v1.json").read_text())
    raised = json.loads(json.dumps(original))
    for trial in raised["models"]["stems3"]["trials"]:
        if not trial["failed"]:
            trial["chosen"]["f1"] += 0.1
    for name, results in (("one", original), ("two", raised)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    shown = runner.invoke(app, ["compare", str(tmp_path / "one"), str(tmp_path / "two")], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    rows = {line.split("|")[1].strip(): line for line in shown.output.splitlines() if line.startswith("| ")}
    assert "trials per run" in shown.output
    assert "+0.100 [+0.100, +0.100]" in rows["stems3"] and "+0.000" in rows["novox"]


def test_a_file_value_is_checked_with_the_command_lines_options(features, tmp_path):
    """No reference maps is refused as the file's error on its own, and valid beside --no-reference."""
    config = tmp_path / "plain.toml"
    config.write_text("reference_maps = []\nmodels = ['novox']\ntrials = 2\n")
    refused = runner.invoke(app, ["run", str(features), "--out", str(tmp_path / "a"), "--config", str(config), *TINY])
    assert refused.exit_code == 1 and "plain.toml: reference rows need at least one map set" in refused.output
    done = runner.invoke(app, ["run", str(features), "--out", str(tmp_path / "b"), "--config", str(config),
                               "--no-reference", *TINY])
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "b" / "results.json").read_text())["config"]["reference"] is False
