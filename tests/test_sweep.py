"""Sweeps: hyperparameters vmapped with the trials give the numbers of separate runs; the CLI writes its table."""

import json

import jax
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from jaxsep.cli import train as cli_train
from jaxsep.config import TrainConfig
from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features
from jaxsep.results.sweeps import sweep_markdown
from jaxsep.training.engine import run_trials
from jaxsep.training.splits import make_splits
from jaxsep.training.sweep import SweepGrid, run_sweep

FEATURES = toy_features(songs_per_class=(7, 8, 7), n_mels=12, frames=16, strength=1.5, seed=4)
CONFIG = TrainConfig(epochs=3, filters=(3, 4))
GRID = SweepGrid(batch_size=(8,), learning_rate=(1e-3, 3e-4), l1=(1e-4,), l2=(1e-3,), dropout=(0.5, 0.2))
SEEDS = np.arange(5, 8)


@pytest.fixture(scope="module")
def sweep():
    return run_sweep(FEATURES, "stems3", GRID, CONFIG, trials=len(SEEDS), seed=5, strategy="vmap",
                     devices=jax.devices()[:1])


def test_every_combination_equals_its_own_run(sweep):
    assert len(sweep["points"]) == 4
    x = FEATURES.select_maps(("bass", "drums", "other"))
    splits = make_splits(FEATURES.labels, SEEDS, n_classes=3, test_fraction=CONFIG.test_fraction)
    for point in sweep["points"][1:3]:  # two of the four (dropout 0.2 at 1e-3, dropout 0.5 at 3e-4), to keep it short
        config = CONFIG.replace(batch_size=point["batch_size"], learning_rate=point["learning_rate"], l1=point["l1"],
                                l2=point["l2"], dropout=point["dropout"])
        alone = run_trials("stems3", x, FEATURES.labels, splits, SEEDS, config, n_classes=3, strategy="vmap",
                           devices=jax.devices()[:1])
        np.testing.assert_allclose(point["test_loss"]["mean"], alone.history["test_loss"].mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(point["test_accuracy"]["mean"], alone.history["test_accuracy"].mean(axis=0),
                                   atol=1e-6)
        np.testing.assert_allclose(point["train_loss"]["mean"], alone.history["train_loss"].mean(axis=0), atol=1e-5)


def test_the_grid_changes_the_training(sweep):
    first, second = sweep["points"][:2]  # lr 1e-3: dropout 0.5 and 0.2
    assert (first["dropout"], second["dropout"]) == (0.5, 0.2)
    assert first["train_loss"]["mean"] != second["train_loss"]["mean"]
    table = sweep_markdown(sweep)
    assert table.count("\n| 8 |") == 4 and "acc e3" in table


def test_cli_sweep_writes_json_and_table(tmp_path):
    path = save_features(tmp_path / "f.npz", mels=FEATURES.mels, maps=FEATURES.maps, labels=FEATURES.labels,
                         classes=FEATURES.classes, song_ids=FEATURES.song_ids, meta=FEATURES.meta)
    app = typer.Typer()
    cli_train.register(app)
    out = tmp_path / "s.json"
    result = CliRunner().invoke(app, ["sweep", str(path), "--trials", "2", "--learning-rate", "1e-3,1e-4",
                                      "--batch-size", "8", "--epochs", "2", "--filters", "2,3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert [p["learning_rate"] for p in written["points"]] == [1e-3, 1e-4]
    assert "acc e2" in out.with_suffix(".md").read_text() and "acc e2" in result.output
    bad = CliRunner().invoke(app, ["sweep", str(path), "--learning-rate", "fast", "--out", str(out)])
    assert bad.exit_code == 1 and "fast" in bad.output
    negative = CliRunner().invoke(app, ["sweep", str(path), "--dropout", "1.5", "--out", str(out)])
    assert negative.exit_code == 1 and "dropout must be in [0, 1)" in negative.output
