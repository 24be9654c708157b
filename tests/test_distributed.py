"""Two local processes on JAX's multi-controller runtime (gloo on CPU) give the numbers of one process."""

import json
import os
import socket
import subprocess
import sys

import pytest

from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features

ARGS = ["--models", "stems3", "--trials", "5", "--epochs", "2", "--filters", "2,3", "--batch-size", "8",
        "--trials-per-unit", "3", "--no-reference"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_share_the_trials_and_agree_with_one(tmp_path):
    toy = toy_features(songs_per_class=(6, 7, 6), n_mels=12, frames=16, strength=1.5, seed=9)
    features = save_features(tmp_path / "toy.npz", mels=toy.mels, maps=toy.maps, labels=toy.labels,
                             classes=toy.classes, song_ids=toy.song_ids, meta=toy.meta)
    # every run in a fresh process with one CPU device, as on a host without forced devices (the pytest process
    # itself forces 8, which XLA:CPU compiles for with other thread partitions: other float rounding)
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu", "COLUMNS": "200"}
    alone = subprocess.run([sys.executable, "-c", "from jaxsep.cli import main; main()", "run", str(features),
                            "--out", str(tmp_path / "one"), *ARGS], capture_output=True, text=True, env=env,
                           timeout=600)
    assert alone.returncode == 0, alone.stderr[-3000:]

    port = _free_port()
    processes = [
        subprocess.Popen([sys.executable, "-c", "from jaxsep.cli import main; main()", "run", str(features),
                          "--out", str(tmp_path / "two"), *ARGS, "--coordinator", f"127.0.0.1:{port}",
                          "--num-processes", "2", "--process-id", str(rank)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    assert "jax.distributed: process 1 of 2" in outputs[1][1]

    def trials(folder):
        results = json.loads((folder / "results.json").read_text())
        return {name: [{k: t[k] for k in ("trial", "seed", "test_songs", "epochs", "chosen", "probabilities")}
                       for t in model["trials"]] for name, model in results["models"].items()}

    assert trials(tmp_path / "two") == trials(tmp_path / "one")


@pytest.mark.slow
def test_two_processes_share_a_curve_and_agree_with_one(tmp_path):
    """The data-size curve over two processes: every size's trials shared, process 0 writes the folder."""
    toy = toy_features(songs_per_class=(5, 5, 5), n_mels=8, frames=12, strength=1.5, seed=3)
    features = save_features(tmp_path / "toy.npz", mels=toy.mels, maps=toy.maps, labels=toy.labels,
                             classes=toy.classes, song_ids=toy.song_ids, meta=toy.meta)
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu", "COLUMNS": "200"}
    curve = ["curve", str(features), "--songs-per-class", "2,3", "--models", "novox", "--trials", "3", "--epochs",
             "1", "--filters", "2,2", "--no-reference"]
    command = [sys.executable, "-c", "from jaxsep.cli import main; main()", *curve]
    alone = subprocess.run([*command, "--out", str(tmp_path / "one")], capture_output=True, text=True, env=env,
                           timeout=600)
    assert alone.returncode == 0, alone.stderr[-3000:]
    port = _free_port()
    processes = [subprocess.Popen([*command, "--out", str(tmp_path / "two"), "--coordinator", f"127.0.0.1:{port}",
                                   "--num-processes", "2", "--process-id", str(rank)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for rank in (0, 1)]
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    assert "done: process 0 writes" in outputs[1][1]
    for size in ("size-002", "size-003"):
        one, two = (json.loads((tmp_path / run / size / "results.json").read_text())["models"]["novox"]["trials"]
                    for run in ("one", "two"))
        assert [t["probabilities"] for t in two] == [t["probabilities"] for t in one]
    assert (tmp_path / "two" / "curve.md").read_text() == (tmp_path / "one" / "curve.md").read_text()
