"""`jaxsep demo` and `jaxsep pairs` end to end on a tiny synthetic set (few songs, 2 trials, 1 epoch)."""

import functools
import json

import pytest
from typer.testing import CliRunner

import jaxsep.synth
from jaxsep.cli import app
from jaxsep.synth import generate_dataset

runner = CliRunner()
TINY = ["--trials", "2", "--epochs", "1", "--batch-size", "8", "--filters", "2,3", "--models", "novox,stems3"]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("synth") / "set", seed=1, songs_per_class=3,
                            genres="house,techno,dubstep")


def test_demo_on_the_builtin_set(tmp_path, monkeypatch):
    """No --data: the demo renders the synthetic set itself (made tiny here), separates with dsp, trains."""
    monkeypatch.setattr(jaxsep.synth, "generate_dataset",
                        functools.partial(generate_dataset, songs_per_class=2, genres="house,trance"))
    out = tmp_path / "run"
    args = ["demo", "--out", str(out), "--cache", str(tmp_path / "cache"), *TINY]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "note: 2 trials" in result.output and "separator: dsp" in result.output
    results = json.loads((out / "results.json").read_text())
    assert results["demo"]["generated"] and results["data"]["meta"]["separator"] == "dsp"
    assert results["data"]["classes"] == ["house", "trance"]
    assert (out / "f1_distributions.png").stat().st_size > 0
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and "already holds a finished run" in refused.output
    again = runner.invoke(app, [*args, "--overwrite"])
    assert again.exit_code == 0 and "from the cache" in again.output  # the set is rendered once


def test_demo_compares_separators(tiny_set, tmp_path):
    out = tmp_path / "cmp"
    result = runner.invoke(app, ["demo", "--data", str(tiny_set), "--compare-separators", "--out", str(out),
                                 "--cache", str(tmp_path / "cache"), *TINY, "--models", "full,novox,stems3"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["comparison.md", "dsp", "given"]
    comparison = (out / "comparison.md").read_text()
    assert "given: f1" in comparison and "dsp − given: Δ [95% CI], p, P(better)" in comparison
    assert "| stems3 |" in comparison
    full = next(line for line in comparison.splitlines() if line.startswith("| full |"))
    assert "+0.000 [+0.000, +0.000], p 1.000" in full  # the mix is the same whatever the separator
    given = json.loads((out / "given" / "results.json").read_text())
    assert given["data"]["meta"]["separator"] == "given" and given["data"]["songs"] == 9


def test_pairs(tiny_set, tmp_path):
    features = tmp_path / "features.npz"
    made = runner.invoke(app, ["features", str(tiny_set), "--separator", "given", "--out", str(features),
                               "--cache", str(tmp_path / "cache")])
    assert made.exit_code == 0, made.output
    out = tmp_path / "pairs"
    result = runner.invoke(app, ["pairs", str(features), "--pair", "house,techno", "--pair", "house,dubstep",
                                 "--out", str(out), "--trials", "2", "--epochs", "1", "--batch-size", "4",
                                 "--filters", "2,3"])
    assert result.exit_code == 0, result.output
    table = (out / "pairs.md").read_text()
    assert "| house-vs-techno | full | 6 |" in table and "| house-vs-dubstep | full | 6 |" in table
    bad = runner.invoke(app, ["pairs", str(features), "--pair", "house,polka", "--out", str(tmp_path / "p2")])
    assert bad.exit_code == 1 and "unknown class(es) ['polka']" in bad.output
    assert not (tmp_path / "p2").exists()


@pytest.mark.parametrize("count", ["0", "57"])
def test_demo_names_its_own_option_for_impossible_segments(tmp_path, count):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "cache"),
                                 "--segments-per-song", count, *TINY])
    assert result.exit_code == 1 and "--segments-per-song must be 1 to 56 for the synthetic set" in result.output
    assert not (tmp_path / "run").exists()


def test_pairs_checks_every_pair_before_the_first_trains(tmp_path, monkeypatch):
    import jaxsep.workflows.demo
    import jaxsep.workflows.runs
    from jaxsep.config import RunConfig, TrainConfig
    from jaxsep.errors import FeatureFileError
    from jaxsep.features.toy import toy_features

    trained = []
    monkeypatch.setattr(jaxsep.workflows.runs, "train_model", lambda name, features, *a, **k: trained.append(features.classes))
    features = toy_features(songs_per_class=(3, 3, 3), n_mels=8, frames=8)
    config = RunConfig(models=("novox",), trials=2, train=TrainConfig(epochs=1, filters=(2, 2)))
    with pytest.raises(FeatureFileError, match=r"unknown class\(es\) \['polka'\]"):
        jaxsep.workflows.demo.run_pairs(features, [("class0", "class1"), ("class0", "polka")], config, tmp_path / "pairs")
    assert trained == [] and list(tmp_path.iterdir()) == []


def test_a_killed_pairs_run_keeps_its_finished_pairs(tmp_path, monkeypatch):
    """Killed while training the second pair, then run again: only that pair trains, and every number, pairs.md
    included, is the uninterrupted run's."""
    import jaxsep.workflows.runs
    from jaxsep.config import RunConfig, TrainConfig
    from jaxsep.workflows.demo import run_pairs
    from jaxsep.errors import RunFolderError, RunInterrupted
    from jaxsep.features.toy import toy_features

    features = toy_features(songs_per_class=(4, 4, 4), n_mels=8, frames=8, seed=5)
    config = RunConfig(models=("novox",), trials=2, train=TrainConfig(epochs=1, filters=(2, 2)), reference=False)
    pairs = [("class0", "class1"), ("class0", "class2")]
    quiet = dict(say=lambda _: None)
    whole = run_pairs(features, pairs, config, tmp_path / "whole", **quiet)
    real, trained = jaxsep.workflows.runs.train_model, []

    def train(name, subset, *args, **kwargs):
        trained.append(subset.classes)
        if len(trained) == 2:
            raise KeyboardInterrupt
        return real(name, subset, *args, **kwargs)

    monkeypatch.setattr(jaxsep.workflows.runs, "train_model", train)
    with pytest.raises(RunInterrupted, match="run the same command again"):
        run_pairs(features, pairs, config, tmp_path / "killed", **quiet)
    assert not (tmp_path / "killed").exists()
    assert (tmp_path / ".killed.partial" / "class0-vs-class1" / "results.json").is_file()
    with pytest.raises(RunFolderError, match="holds unfinished runs of other jobs"):
        run_pairs(features, pairs[:1], config, tmp_path / "killed", **quiet)
    trained.clear()
    again = run_pairs(features, pairs, config, tmp_path / "killed", **quiet)
    assert trained == [("class0", "class2")]
    assert not (tmp_path / ".killed.partial").exists()
    assert (tmp_path / "killed" / "pairs.md").read_text() == (tmp_path / "whole" / "pairs.md").read_text()
    for name in whole:
        assert ([t["chosen"] for t in again[name]["models"]["novox"]["trials"]]
                == [t["chosen"] for t in whole[name]["models"]["novox"]["trials"]])
