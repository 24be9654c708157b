"""Saved models classify new songs: save → predict round trip on generated songs, a broken file among them."""

import json
import shutil

import jax
import numpy as np
import pytest
from flax import serialization
from typer.testing import CliRunner

from jaxsep.cli import app
from jaxsep.errors import RunFolderError
from jaxsep.features.file import load_features
from jaxsep.workflows.predict import load_saved_model, predict
from jaxsep.synth import generate_dataset

runner = CliRunner()
RUN = ["--models", "stems3,novox", "--trials", "2", "--epochs", "1", "--filters", "2,2", "--batch-size", "4",
       "--no-reference"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Eight synthetic songs (two genres), their dsp features, and a run that saved its models."""
    root = tmp_path_factory.mktemp("predict")
    manifest = generate_dataset(root / "songs", seed=3, songs_per_class=4, genres="house,trap")
    features = root / "features.npz"
    made = runner.invoke(app, ["features", str(manifest), "--separator", "dsp", "--out", str(features),
                               "--cache", str(root / "cache")])
    assert made.exit_code == 0, made.output
    run = root / "run"
    done = runner.invoke(app, ["run", str(features), "--out", str(run), "--save-models", *RUN])
    assert done.exit_code == 0, done.output
    return root, features, run


def test_saved_models_are_the_trained_ones(trained):
    """Trial t's saved variables reproduce its recorded test probabilities (one epoch: last = chosen)."""
    _, features, run = trained
    loaded = load_features(features)
    results = json.loads((run / "results.json").read_text())
    saved = load_saved_model(run, "stems3")
    assert len(saved.trials) == 2 and saved.classes == ("house", "trap")
    x = loaded.select_maps(saved.spec.maps).astype(np.float32)
    for trial, variables in zip(results["models"]["stems3"]["trials"], saved.trials):
        songs = np.array(trial["test_songs"])
        logits = saved.network.apply({"params": variables["params"], "batch_stats": variables["batch_stats"]},
                                     (x[songs] - variables["mean"]) / variables["std"], train=False)
        np.testing.assert_allclose(jax.nn.softmax(logits), trial["probabilities"], atol=2e-5)


def test_predict_runs_the_front_end_and_averages_the_trials(trained, tmp_path):
    root, features, run = trained
    loaded = load_features(features)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt ")
    songs = sorted((root / "songs" / "songs").glob("*/mixture.wav"))[:3]
    out = tmp_path / "p.json"
    result = runner.invoke(app, ["predict", str(run), *map(str, songs), str(broken), "--json", str(out),
                                 "--cache", str(root / "cache")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "broken.wav" in result.output and ("2/2" in result.output or "1/2" in result.output)
    records = json.loads(out.read_text())
    assert [r["path"] for r in records] == [str(s) for s in songs]
    # the ensemble of the saved trials on the feature file's own maps of those songs (same front end, same cache)
    saved = load_saved_model(run)
    assert records[0]["model"] == saved.name
    ids = [loaded.song_ids.index(f"songs/{s.parent.name}/mixture") for s in songs]
    x = loaded.select_maps(saved.spec.maps)[ids].astype(np.float32)
    mean = np.mean([jax.nn.softmax(saved.network.apply(
        {"params": v["params"], "batch_stats": v["batch_stats"]}, (x - v["mean"]) / v["std"], train=False))
        for v in saved.trials], axis=0)
    for record, expected in zip(records, mean):
        np.testing.assert_allclose([record["probabilities"][c] for c in saved.classes], expected, atol=1e-5)
        assert record["label"] == saved.classes[int(np.argmax(expected))]
        assert 0 <= record["agreement"] <= record["trials"] == 2


def test_predict_fails_clearly(trained, tmp_path):
    root, features, _ = trained
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    run = root / "run"
    nothing = runner.invoke(app, ["predict", str(run), str(broken), "--cache", str(root / "cache")])
    assert nothing.exit_code == 1 and "broken.wav" in nothing.output and "no song could be classified" in nothing.output
    plain = root / "plain"
    trained_plain = runner.invoke(app, ["run", str(features), "--out", str(plain), *RUN])
    assert trained_plain.exit_code == 0, trained_plain.output
    unsaved = runner.invoke(app, ["predict", str(plain), str(broken)])
    assert unsaved.exit_code == 1 and "holds no saved models" in unsaved.output
    wrong = runner.invoke(app, ["predict", str(run), str(broken), "--model", "stems3_dw"])
    assert wrong.exit_code == 1 and "no saved models of 'stems3_dw'" in wrong.output
    with pytest.raises(Exception, match="no saved models of 'full'"):
        predict(run, [broken], model="full")


@pytest.mark.parametrize("damage, where, expected", [
    ("truncated", "trial-001.msgpack", "not a readable saved trial"),
    ("not a trial", "trial-001.msgpack", r"not a saved trial \(it lacks \['params'"),
    ("other filters", "trial-000.msgpack", "does not fit the network its results.json describes"),
    ("unknown setting", "results.json", r"its 'config.train' does not describe a network \(TypeError"),
])
def test_a_damaged_saved_model_is_named(trained, tmp_path, damage, where, expected):
    _, _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    trial = copy / "models" / "stems3" / "trial-001.msgpack"
    results = json.loads((copy / "results.json").read_text())
    if damage == "truncated":
        trial.write_bytes(trial.read_bytes()[:100])
    elif damage == "not a trial":
        trial.write_bytes(serialization.msgpack_serialize({"weights": np.zeros(3)}))
    elif damage == "other filters":
        results["config"]["train"]["filters"] = [3, 2]
    else:
        results["config"]["train"]["momentum"] = 0.9
    (copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(RunFolderError, match=f"{where}: {expected}"):
        load_saved_model(copy, "stems3")
    said = runner.invoke(app, ["predict", str(copy), str(tmp_path / "none.wav"), "--model", "stems3"])
    assert said.exit_code == 1 and where in said.output


def test_the_default_model_needs_a_trial_that_finished(trained, tmp_path):
    """With every trial of every saved model failed there is no best model to choose: one clear error."""
    _, _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    results = json.loads((copy / "results.json").read_text())
    for entry in results["models"].values():
        for record in entry["trials"]:
            record.update(failed=True, failed_epoch=0)
    (copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(RunFolderError, match="every trial of every saved model failed"):
        load_saved_model(copy, None)


def test_failed_trials_stay_out_of_the_ensemble(trained, tmp_path):
    """A failed trial saved NaN weights; the ensemble reads only the trials that finished."""
    _, _, run = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    results = json.loads((copy / "results.json").read_text())
    results["models"]["stems3"]["trials"][1].update(failed=True, failed_epoch=0)
    (copy / "results.json").write_text(json.dumps(results))
    saved = load_saved_model(copy, "stems3")
    assert len(saved.trials) == 1
    kept, first = jax.tree.leaves(saved.trials[0]), jax.tree.leaves(load_saved_model(run, "stems3").trials[0])
    assert len(kept) == len(first)
    for kept_leaf, first_leaf in zip(kept, first):
        np.testing.assert_array_equal(kept_leaf, first_leaf)
