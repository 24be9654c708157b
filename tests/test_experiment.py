"""End to end on a generated feature file whose class signal lies only in the bass/drums/other maps."""

import json
import math
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy import stats as sps

from jaxsep.config import RunConfig, TrainConfig
from jaxsep.errors import RunFolderError
from jaxsep.features.toy import toy_features
from jaxsep.results.run_folder import load_results, rebuild_report, write_run
from jaxsep.results.tables import table_csv, table_markdown, table_rows
from jaxsep.training.experiment import run_experiment

DATA = Path(__file__).parent / "data"
FEATURES = toy_features(songs_per_class=(10, 12, 11), n_mels=16, frames=24, strength=1.5, seed=1)
# A tiny network (16 × 24 maps, 4/8 filters): the defaults' small step suits the paper's size (tests/test_recipe.py);
# here Adam's 1e-3 learns the toy signal within the six epochs.
# "stepped": four small programs compile in a fraction of the time of 24 unrolled steps (same numbers: test_engine).
CONFIG = RunConfig(trials=8, seed=0, train=TrainConfig(epochs=6, batch_size=8, filters=(4, 8), learning_rate=1e-3),
                   strategy="stepped")


@pytest.fixture(scope="module")
def results():
    return run_experiment(FEATURES, CONFIG, devices=jax.devices()[:1])


def _mean_accuracy(results, model):
    return np.mean([t["chosen"]["accuracy"] for t in results["models"][model]["trials"]])


def test_stem_models_learn_what_mix_models_cannot(results):
    for model in ("stems3", "stems3_dw"):
        assert _mean_accuracy(results, model) > 0.7, model  # chance is 1/3
    for model in ("full", "novox"):
        assert _mean_accuracy(results, model) < 0.55, model


def test_trial_records(results):
    trials = results["models"]["stems3"]["trials"]
    assert [t["seed"] for t in trials] == list(range(8))
    for t in trials:
        assert not t["failed"]
        chosen = t["chosen_epoch"]
        assert t["epochs"]["test_loss"][chosen] == min(t["epochs"]["test_loss"])
        assert t["chosen"]["accuracy"] == t["epochs"]["test_accuracy"][chosen]
        assert t["last"]["f1"] == t["epochs"]["test_f1"][-1]
        assert len(t["predicted_labels"]) == len(t["test_songs"]) == len(t["true_labels"])
        np.testing.assert_array_equal(t["true_labels"], FEATURES.labels[t["test_songs"]])
        accuracy = np.mean(np.array(t["predicted_labels"]) == np.array(t["true_labels"]))
        assert accuracy == pytest.approx(t["chosen"]["accuracy"])
    # every model of a trial saw the same split
    for model in ("full", "novox", "stems3_dw"):
        assert [t["test_songs"] for t in results["models"][model]["trials"]] == [t["test_songs"] for t in trials]


def test_table_and_run_folder(results, tmp_path):
    rows = {r["model"]: r for r in table_rows(results)}
    assert math.isnan(rows["novox"]["f1_vs_baseline_p"]) and rows["novox"]["kind"] == "baseline"
    stems3 = rows["stems3"]
    assert stems3["f1_vs_baseline_mean_difference"] > 0.2 and stems3["f1_vs_baseline_p_better"] > 0.9
    assert stems3["f1_vs_baseline_p_naive_t"] < 0.05
    # the corrected test is more cautious than the naive one: here sqrt(1 + J·r) = sqrt(1 + 8·7/26) = 1.78× smaller t
    assert stems3["f1_vs_baseline_t"] == pytest.approx(
        stems3["f1_vs_baseline_mean_difference"] / stems3["f1_vs_baseline_se"])
    naive_t = sps.t.isf(stems3["f1_vs_baseline_p_naive_t"] / 2, 7)
    assert naive_t / stems3["f1_vs_baseline_t"] == pytest.approx(math.sqrt(1 + 8 * 7 / 26), rel=1e-6)
    assert rows["stems3"]["accuracy_mean"] == pytest.approx(_mean_accuracy(results, "stems3"))
    assert rows["logreg"]["kind"] == "reference" and math.isnan(rows["logreg"]["f1_vs_baseline_p_holm"])
    family = [rows[m]["f1_vs_baseline_p"] for m in ("full", "stems3", "stems3_dw")]
    assert rows["stems3"]["f1_vs_baseline_p_holm"] >= rows["stems3"]["f1_vs_baseline_p"]
    assert max(rows[m]["f1_vs_baseline_p_holm"] for m in ("full", "stems3", "stems3_dw")) >= max(family)
    markdown = table_markdown(results, list(rows.values()))
    assert "min test loss (paper)" in markdown and "Holm" in markdown
    assert "0.456 / 0.435" not in markdown and "paper acc" not in markdown  # the paper's songs are not these
    header = table_csv(list(rows.values())).splitlines()[0]
    assert header.startswith("model,description,kind,trials,failed,diverged")
    assert "f1_vs_baseline_p_naive_t" in header and "welch" not in header
    run = write_run(tmp_path / "run", results)
    assert sorted(p.name for p in run.iterdir()) == ["confusion.png", "f1_distributions.png", "forest.png",
                                                     "learning_curves.png", "report.html", "results.json", "table.csv",
                                                     "table.md"]
    (run / "table.md").unlink()
    rebuild_report(run)
    assert (run / "table.md").read_text() == markdown
    assert load_results(run)["models"]["stems3"]["trials"][0]["seed"] == 0
    json.loads((run / "results.json").read_text())  # strict JSON


def test_split_sizes_selections_and_reference_are_recorded(results):
    assert results["format_version"] == 2
    assert results["split"] == {"train": 26, "test": 7, "validation": 0}
    for record in results["models"]["stems3"]["trials"]:
        assert set(record["selections"]) == {"test", "last"}
        assert record["selections"]["test"]["epoch"] == record["chosen_epoch"]
        assert record["diverged"] in (False, True) and len(record["class_f1"]) == 3
        np.testing.assert_allclose(np.asarray(record["probabilities"]).sum(axis=1), 1.0, atol=1e-5)
    reference = results["reference"]["logreg"]["trials"]
    assert [r["test_songs"] for r in reference] == [r["test_songs"] for r in results["models"]["novox"]["trials"]]


def test_a_version_1_run_folder_is_upgraded_and_reported(tmp_path):
    """tests/data/results_v1.json was written by jaxsep at commit 24a45d0 (format_version 1)."""
    folder = tmp_path / "old"
    folder.mkdir()
    shutil.copy(DATA / "results_v1.json", folder / "results.json")
    upgraded = load_results(folder)
    assert upgraded["upgraded_from"] == 1 and upgraded["format_version"] == 2
    assert upgraded["split"] == {"train": 15, "test": 4, "validation": 0}
    record = upgraded["models"]["stems3"]["trials"][0]
    assert record["selections"]["test"]["epoch"] == record["chosen_epoch"]
    assert record["selections"]["last"]["f1"] == record["last"]["f1"]
    rebuild_report(folder)
    table = (folder / "table.md").read_text()
    assert "| stems3 |" in table and "/ 1 |" in table  # one failed trial, divergence unknown ("–")
    assert "| – / 1 |" in table


def test_an_unknown_results_version_is_refused(tmp_path):
    folder = tmp_path / "future"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({"format_version": 9, "models": {}}))
    with pytest.raises(RunFolderError, match="format_version 9"):
        load_results(folder)


def _damaged(results: dict, damage: str):
    damaged = json.loads(json.dumps(results))
    if damage == "a list":
        return []
    if damage == "no split":
        del damaged["split"]
    elif damage == "empty training split":
        damaged["split"]["train"] = 0
    elif damage == "no models":
        damaged["models"] = {}
    elif damage == "trial without scores":
        del damaged["models"]["stems3"]["trials"][1]["chosen"]
    elif damage == "no trials count":
        del damaged["config"]["trials"]
    return damaged


@pytest.mark.parametrize("damage, message", [
    ("a list", "not a JSON object"),
    ("no split", "lacks the 'split' object"),
    ("empty training split", "'split' lacks positive 'train' and 'test' song counts"),
    ("no models", "holds no models"),
    ("trial without scores", "trial 1 of 'stems3' lacks its 'chosen' or 'last' scores"),
    ("no trials count", "'config.trials' is not a count"),
])
def test_a_damaged_results_file_is_named_before_anything_is_rewritten(results, tmp_path, damage, message):
    folder = tmp_path / "run"
    write_run(folder, results)
    table = (folder / "table.md").read_text()
    (folder / "results.json").write_text(json.dumps(_damaged(results, damage), allow_nan=True))
    with pytest.raises(RunFolderError, match=f"results.json: {message}"):
        rebuild_report(folder)
    assert (folder / "table.md").read_text() == table


def test_table_says_so_when_the_baseline_was_not_run(results):
    without = {**results, "config": {**results["config"], "baseline": "nobody"}}
    table = table_markdown(without, table_rows(without))
    assert "No Δ, p or P: the baseline `nobody` is not among this run's models" in table
    assert "against `nobody`" not in table


def test_failed_trial_is_reported_and_left_out(results):
    broken = json.loads(json.dumps(results))
    trial = broken["models"]["stems3"]["trials"][2]
    trial.update(failed=True, failed_epoch=3)
    del trial["chosen"]
    rows = {r["model"]: r for r in table_rows(broken)}
    assert rows["stems3"]["failed"] == 1
    kept = [t["chosen"]["accuracy"] for t in broken["models"]["stems3"]["trials"] if not t["failed"]]
    assert rows["stems3"]["accuracy_mean"] == pytest.approx(np.mean(kept))


def test_validation_selection():
    config = RunConfig(models=("stems3",), trials=2, train=TrainConfig(epochs=2, batch_size=8, filters=(2, 3),
                                                                       select_on="validation"))
    out = run_experiment(FEATURES, config, devices=jax.devices()[:1])
    assert out["select_on"] == "validation"
    for t in out["models"]["stems3"]["trials"]:
        assert t["validation_songs"] and set(t["test_songs"]).isdisjoint(t["validation_songs"])
        losses = t["epochs"]["validation_loss"]
        assert t["chosen_epoch"] == int(np.argmin(losses))
