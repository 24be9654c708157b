"""End to end on a generated feature file whose class signal lies only in the bass/drums/other maps."""

import json
import math

import jax
import numpy as np
import pytest

from jaxsep.config import RunConfig, TrainConfig
from jaxsep.features.toy import toy_features
from jaxsep.results.run_folder import load_results, rebuild_report, write_run
from jaxsep.results.tables import table_csv, table_markdown, table_rows
from jaxsep.training.experiment import run_experiment

FEATURES = toy_features(songs_per_class=(10, 12, 11), n_mels=16, frames=24, strength=1.5, seed=1)
CONFIG = RunConfig(trials=8, seed=0, train=TrainConfig(epochs=6, batch_size=8, filters=(4, 8)))


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
    assert math.isnan(rows["novox"]["f1_p_paired_t"])
    assert rows["stems3"]["f1_p_paired_t"] < 0.05
    assert rows["stems3"]["accuracy_mean"] == pytest.approx(_mean_accuracy(results, "stems3"))
    markdown = table_markdown(results, list(rows.values()))
    assert "minimum test loss" in markdown and "0.456 / 0.435" in markdown
    assert table_csv(list(rows.values())).splitlines()[0].startswith("model,description,trials,failed")
    run = write_run(tmp_path / "run", results)
    assert sorted(p.name for p in run.iterdir()) == ["f1_distributions.png", "results.json", "table.csv",
                                                     "table.md"]
    (run / "table.md").unlink()
    rebuild_report(run)
    assert (run / "table.md").read_text() == markdown
    assert load_results(run)["models"]["stems3"]["trials"][0]["seed"] == 0
    json.loads((run / "results.json").read_text())  # strict JSON


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
