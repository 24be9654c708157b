"""The data-size curve: nested training songs over one fixed test split, per-size statistics, resuming."""

import json
import re

import numpy as np
import pytest

from jaxsep.config import RunConfig, TrainConfig
from jaxsep.errors import ConfigError, RunInterrupted
from jaxsep.features.toy import toy_features
from jaxsep.results.curve import curve_rows
from jaxsep.results.statistics import compare, corrected_interval
from jaxsep.results.tables import metric_values, paired_values
from jaxsep.training.splits import curve_split

LABELS = np.repeat(np.arange(3), [10, 12, 4])


def test_sizes_by_hand_and_nested_training_songs_over_one_test_split():
    for seed in range(5):
        splits = {k: curve_split(LABELS, seed, n_classes=3, train_per_class=k, largest_per_class=8)
                  for k in (2, 5, 8)}
        test = splits[8].test
        # every size tests on the songs beyond the largest size: 10-8, 12-8 and, for 4 songs, all but 3 kept = 1
        assert np.bincount(LABELS[test], minlength=3).tolist() == [2, 4, 1]
        assert all(np.array_equal(s.test, test) for s in splits.values())
        counts = {k: np.bincount(LABELS[s.train], minlength=3).tolist() for k, s in splits.items()}
        assert counts == {2: [2, 2, 2], 5: [5, 5, 3], 8: [8, 8, 3]}
        assert set(splits[2].train) <= set(splits[5].train) <= set(splits[8].train)
        assert not set(splits[8].train) & set(test)
    assert not np.array_equal(curve_split(LABELS, 0, n_classes=3, train_per_class=2, largest_per_class=8).train,
                              curve_split(LABELS, 1, n_classes=3, train_per_class=2, largest_per_class=8).train)


def test_validation_is_carved_from_the_sizes_training_songs():
    split = curve_split(LABELS, 3, n_classes=3, train_per_class=8, largest_per_class=8, validation_fraction=0.25)
    pool = curve_split(LABELS, 3, n_classes=3, train_per_class=8, largest_per_class=8).train
    assert set(split.train) | set(split.validation) == set(pool) and not set(split.train) & set(split.validation)


@pytest.mark.parametrize("changes, message", [
    ({"train_songs_per_class": 5}, "go together"),
    ({"train_songs_per_class": 9, "curve_songs_per_class": 8}, "above the curve's largest size"),
    ({"train_songs_per_class": 2, "curve_songs_per_class": 8, "group_by": "artist"}, "does not split by groups"),
])
def test_curve_settings_are_checked(changes, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)


def test_a_curve_writes_every_size_and_its_statistics_use_that_sizes_ratio(tmp_path):
    from jaxsep.workflows.curve import run_curve

    features = toy_features(songs_per_class=(7, 8, 7), n_mels=8, frames=12, strength=2.0, seed=3)
    config = RunConfig(models=("novox", "stems3"), trials=3, train=TrainConfig(epochs=1, filters=(2, 3)))
    runs = run_curve(features, config, [4, 2], tmp_path / "curve", say=lambda _: None)
    folder = tmp_path / "curve"
    assert sorted(p.name for p in folder.iterdir()) == ["curve.json", "curve.md", "curve.png", "report.html",
                                                         "size-002", "size-004"]
    sizes = {name: results["split"] for name, results in runs.items()}
    assert sizes == {"size-002": {"train": 6, "test": 10, "validation": 0},
                     "size-004": {"train": 12, "test": 10, "validation": 0}}  # 3+4+3 test songs at both sizes
    rows = json.loads((folder / "curve.json").read_text())
    assert [(r["songs_per_class"], r["model"]) for r in rows if r["family"] == "cnn"] == [
        (2, "novox"), (2, "stems3"), (4, "novox"), (4, "stems3")]
    for row in rows:
        if row["model"] != "stems3":
            continue
        results = runs[f"size-{row['songs_per_class']:03d}"]
        mine, theirs = paired_values(results["models"]["stems3"], results["models"]["novox"], "f1")
        expected = compare(mine, theirs, test_train_ratio=10 / results["split"]["train"])
        assert row["f1_vs_baseline_ci_low"] == pytest.approx(expected.ci_low)
        assert row["f1_vs_baseline_p"] == pytest.approx(expected.p)
        low, high = corrected_interval(list(metric_values(results["models"]["stems3"], "f1").values()),
                                       10 / results["split"]["train"])
        assert (row["f1_low"], row["f1_high"]) == pytest.approx((low, high))
    # the reference reads the models' maps at every size, and compares stems with the baseline's maps
    assert {r["model"] for r in rows if r["family"] == "reference"} == {"logreg", "logreg:novox",
                                                                        "logreg:bass+drums+other"}
    holm = [r["f1_vs_baseline_p_holm"] for r in curve_rows(runs) if r["family"] == "cnn" and r["kind"] != "baseline"]
    assert len(holm) == 2 and all(h >= p for h, p in zip(holm, [r["f1_vs_baseline_p"] for r in rows
                                                                   if r["model"] == "stems3"]))


def test_a_killed_curve_continues_to_the_numbers_of_an_uninterrupted_one(tmp_path, monkeypatch):
    import jaxsep.workflows.runs
    from jaxsep.workflows.curve import run_curve

    features = toy_features(songs_per_class=(5, 5, 5), n_mels=8, frames=8, seed=4)
    config = RunConfig(models=("novox",), trials=2, train=TrainConfig(epochs=1, filters=(2, 2)), reference=False)
    quiet = dict(say=lambda _: None)
    whole = run_curve(features, config, [2, 3], tmp_path / "whole", **quiet)
    real, trained = jaxsep.workflows.runs.train_model, []

    def train(name, subset, config, *args, **kwargs):
        trained.append(config.train_songs_per_class)
        if len(trained) == 2:
            raise KeyboardInterrupt
        return real(name, subset, config, *args, **kwargs)

    monkeypatch.setattr(jaxsep.workflows.runs, "train_model", train)
    with pytest.raises(RunInterrupted):
        run_curve(features, config, [2, 3], tmp_path / "killed", **quiet)
    assert not (tmp_path / "killed").exists()
    trained.clear()
    again = run_curve(features, config, [2, 3], tmp_path / "killed", **quiet)
    assert trained == [3]  # the first size had finished
    for name in whole:
        assert again[name]["models"]["novox"]["trials"] == whole[name]["models"]["novox"]["trials"]
    assert (tmp_path / "killed" / "curve.md").read_text() == (tmp_path / "whole" / "curve.md").read_text()


@pytest.mark.parametrize("sizes, changes, message", [
    ([2, 7], {}, "leaves class 'class0' (7 songs) no test song: choose sizes up to 6"),
    ([2, 4], {"models": ("stems3",)}, "the baseline 'novox' is not among the curve's models"),
    ([2, 4], {"train": TrainConfig(select_on="validation")}, "--select-on validation"),
])
def test_a_curve_that_cannot_be_answered_is_refused_before_any_work(tmp_path, sizes, changes, message):
    from jaxsep.workflows.curve import run_curve

    features = toy_features(songs_per_class=(7, 8, 7), n_mels=8, frames=8)
    config = RunConfig(**{"models": ("novox", "stems3"), "trials": 2, **changes})
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_curve(features, config, sizes, tmp_path / "curve", say=lambda _: None)
    assert list(tmp_path.iterdir()) == []
