"""Runs that survive interruption: kill part-way (SIGTERM), run again, get the numbers of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jaxsep.cli import app
from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features
from jaxsep.workflows.runs import partial_folder

ARGS = ["--models", "novox,stems3", "--trials", "12", "--epochs", "2", "--filters", "2,3", "--batch-size", "8",
        "--trials-per-unit", "1"]


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    toy = toy_features(songs_per_class=(6, 7, 6), n_mels=12, frames=16, strength=1.5, seed=9)
    return save_features(tmp_path_factory.mktemp("f") / "toy.npz", mels=toy.mels, maps=toy.maps, labels=toy.labels,
                         classes=toy.classes, song_ids=toy.song_ids, meta=toy.meta)


def _trials(folder: Path) -> dict:
    results = json.loads((folder / "results.json").read_text())
    return {name: [{k: t[k] for k in ("trial", "seed", "test_songs", "epochs", "chosen", "predicted_labels",
                                      "probabilities")} for t in model["trials"]]
            for name, model in results["models"].items()}


def test_a_killed_run_continues_to_the_numbers_of_an_uninterrupted_one(features, tmp_path):
    whole = tmp_path / "whole"
    done = CliRunner().invoke(app, ["run", str(features), "--out", str(whole), *ARGS])
    assert done.exit_code == 0, done.output

    out = tmp_path / "killed"
    units = partial_folder(out) / "units"
    command = [sys.executable, "-c", "from jaxsep.cli import main; main()", "run", str(features), "--out", str(out),
               *ARGS]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "300"})
    deadline = time.monotonic() + 240
    while not (units.is_dir() and any(units.glob("novox-*.json"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "SIGTERM" in stderr and "run the same command again to continue" in stderr
    kept = sorted(p.name for p in units.glob("*.json"))
    assert kept and len(kept) < 24 and not out.exists()  # some units kept, the run not finished

    other = CliRunner().invoke(app, ["run", str(features), "--out", str(out), *ARGS[:-2], "--epochs", "3"])
    assert other.exit_code == 1 and "another configuration or feature file" in other.output

    # How many trials run at once is no part of a run's identity (it changes no number).
    again = CliRunner().invoke(app, ["run", str(features), "--out", str(out), *ARGS, "--concurrent-trials", "3"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "results.json").read_text())["config"]["concurrent_trials"] == 3
    assert f"continuing the unfinished run in {partial_folder(out)} ({len(kept)} unit(s) done)" in again.output
    assert _trials(out) == _trials(whole)
    assert not partial_folder(out).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in whole.iterdir())


def test_overwrite_drops_an_unfinished_run(features, tmp_path):
    out = tmp_path / "run"
    staging = partial_folder(out)
    (staging / "units").mkdir(parents=True)
    (staging / "plan.json").write_text(json.dumps({"config": "something else"}))
    two = ["run", str(features), "--out", str(out), "--models", "novox", "--trials", "2", "--epochs", "1",
           "--filters", "2,3"]
    refused = CliRunner().invoke(app, two)
    assert refused.exit_code == 1 and "unfinished run of another configuration" in refused.output
    fresh = CliRunner().invoke(app, [*two, "--overwrite"])
    assert fresh.exit_code == 0, fresh.output
    assert json.loads((out / "results.json").read_text())["config"]["trials"] == 2


def test_resume_continues_a_matching_unfinished_run_and_discards_another(features, tmp_path, monkeypatch):
    """What `make demo` asks for (`--overwrite --resume`): the last finished run is replaced when the new one
    finishes; an unfinished run of the same configuration is continued, one of another is discarded."""
    import jaxsep.workflows.runs
    from jaxsep.config import RunConfig, TrainConfig
    from jaxsep.errors import RunInterrupted
    from jaxsep.features.file import load_features
    from jaxsep.workflows.runs import run_into_folder

    loaded = load_features(features)
    config = RunConfig(models=("novox", "stems3"), trials=2, train=TrainConfig(epochs=1, filters=(2, 3)),
                       reference=False)
    quiet = dict(say=lambda _: None)
    run_into_folder(loaded, config, tmp_path / "whole", **quiet)
    out = tmp_path / "out"
    run_into_folder(loaded, config, out, **quiet)  # the last finished run, to be replaced
    real, trained, kill = jaxsep.workflows.runs.train_model, [], [True]

    def train(name, *args, **kwargs):
        trained.append(name)
        if name == "stems3" and kill:  # killed once, in the second model
            kill.pop()
            raise KeyboardInterrupt
        return real(name, *args, **kwargs)

    monkeypatch.setattr(jaxsep.workflows.runs, "train_model", train)
    with pytest.raises(RunInterrupted):
        run_into_folder(loaded, config, out, overwrite=True, **quiet)
    trained.clear()
    run_into_folder(loaded, config, out, overwrite=True, resume=True, **quiet)
    assert trained == ["stems3"]  # novox's unit was kept
    assert _trials(out) == _trials(tmp_path / "whole")
    staging = partial_folder(out)
    staging.mkdir()
    (staging / "plan.json").write_text(json.dumps({"config": "something else"}))
    trained.clear()
    run_into_folder(loaded, config, out, overwrite=True, resume=True, **quiet)
    assert trained == ["novox", "stems3"] and not staging.exists()
