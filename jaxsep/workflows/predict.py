"""Classifying new songs with what a run trained: the run's own front end, every saved trial, one ensemble.

Each song goes through the front end exactly as the run's feature file was made (its segment rule and number
of segments, its separator, its mel parameters and storage precision; cached as ``jaxsep features`` caches),
then through every saved trial of one model (each standardizes with its own training songs' statistics; a
song's probabilities are the mean of its segments'). The ensemble's class is
the argmax of the trials' mean probabilities; ``agreement`` counts the trials whose own argmax is that class.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio.files import is_audio_file
from ..audio.songs import Problem, Song, for_each_song
from ..cache import Cache
from ..config import TrainConfig
from ..constants import MAPS
from ..errors import ConfigError, RunFolderError
from ..features.extract import FeatureOptions, song_segment_maps, song_workers
from ..nn.models import GenreCNN, ModelSpec, build_network, get_spec, init_variables
from ..results.run_folder import RESULTS, load_results
from ..results.tables import metric_values
from .runs import SAVED_MODELS
from ..separation.stems import GIVEN, open_separator


@dataclass(frozen=True)
class SavedModel:
    """A model of a run with its saved trials.

    Attributes:
      name, spec: the model.
      classes: the run's class names (the network's outputs, in order).
      network: the Flax module.
      trials: each trial's ``{"params", "batch_stats", "mean", "std"}`` (numpy).
      meta: the run's feature-file meta (how its songs became maps).
    """

    name: str
    spec: ModelSpec
    classes: tuple[str, ...]
    network: GenreCNN
    trials: tuple[dict, ...]
    meta: dict


@dataclass(frozen=True)
class Prediction:
    """One song's ensemble prediction: its class, that class's mean probability, every class's mean
    probability, and how many of the trials pick that class themselves."""

    path: str
    model: str
    label: str
    probability: float
    probabilities: dict[str, float]
    agreement: int
    trials: int

    def record(self) -> dict:
        """The JSON record of ``--json``: ``{path, model, label, probabilities, agreement, trials}``."""
        return {"path": self.path, "model": self.model, "label": self.label, "probabilities": self.probabilities,
                "agreement": self.agreement, "trials": self.trials}


def load_saved_model(run: str | os.PathLike, model: str | None = None) -> SavedModel:
    """The saved trials of ``model`` in a run folder (default: the run's best model by mean F1).

    Raises:
      RunFolderError: not a finished run, no saved models, none for ``model``, or a saved trial that cannot be
        read.
      ConfigError: an unknown model name.
    """

    run = Path(run)
    results = load_results(run)
    saved = run / SAVED_MODELS
    names = [n for n in results["models"] if (saved / n).is_dir() and any((saved / n).glob("trial-*.msgpack"))]
    if not names:
        raise RunFolderError(f"{run}: holds no saved models; train with `jaxsep run ... --save-models`")
    if model is None:
        scored = {n: list(metric_values(results["models"][n], "f1").values()) for n in names}
        scored = {n: float(np.mean(values)) for n, values in scored.items() if values}
        if not scored:
            raise RunFolderError(f"{run}: every trial of every saved model failed; nothing to classify with")
        model = max(scored, key=scored.get)
    elif model not in names:
        get_spec(model)
        raise RunFolderError(f"{run}: no saved models of {model!r}; saved: {names}")
    spec = get_spec(model)
    try:
        train = {**results["config"]["train"], "filters": tuple(results["config"]["train"]["filters"])}
        network = build_network(spec.separable, len(results["data"]["classes"]), TrainConfig(**train),
                                 head=spec.head)
    except (KeyError, TypeError, ValueError) as error:
        raise RunFolderError(f"{run / RESULTS}: its 'config.train' does not describe a network "
                             f"({type(error).__name__}: {error})") from None
    # A trial whose loss turned NaN saved NaN weights: it would turn the ensemble's mean into NaN.
    failed = {record["trial"] for record in results["models"][model]["trials"] if record.get("failed")}
    paths = [path for path in sorted((saved / model).glob("trial-*.msgpack"))
             if int(path.stem.rsplit("-", 1)[1]) not in failed]
    if not paths:
        raise RunFolderError(f"{run}: every saved trial of {model!r} failed; nothing to classify with")
    trials = tuple(_read_trial(path) for path in paths)
    if "shape" in results["data"]:
        _check_weights(trials, paths, network, (*results["data"]["shape"], len(spec.maps)))
    return SavedModel(model, spec, tuple(results["data"]["classes"]), network, trials, results["data"]["meta"])


def _read_trial(path: Path) -> dict:
    """One saved trial's ``{"params", "batch_stats", "mean", "std"}``.

    Raises:
      RunFolderError: the file is not a saved trial (truncated, corrupt, or something else).
    """
    import msgpack
    from flax import serialization

    try:
        trial = serialization.msgpack_restore(path.read_bytes())
    except (ValueError, TypeError, msgpack.UnpackException) as error:
        raise RunFolderError(f"{path}: not a readable saved trial ({type(error).__name__}: {error}); train again "
                             "with --save-models") from None
    keys = trial if isinstance(trial, dict) else {}
    missing = [key for key in ("params", "batch_stats", "mean", "std") if key not in keys]
    if missing:
        raise RunFolderError(f"{path}: not a saved trial (it lacks {missing}); train again with --save-models")
    return trial


def _check_weights(trials: Sequence[dict], paths: Sequence[Path], network: GenreCNN,
                   input_shape: tuple[int, int, int]) -> None:
    """Checks that every trial's weights (read from ``paths``) have the shapes of ``network`` on inputs of
    ``input_shape``.

    Raises:
      RunFolderError: naming the first trial that does not fit.
    """
    import jax

    expected = jax.eval_shape(lambda: init_variables(network, jax.random.key(0), input_shape))
    want = jax.tree.map(lambda leaf: tuple(leaf.shape), expected)
    for path, trial in zip(paths, trials):
        have = jax.tree.map(np.shape, {key: trial[key] for key in want})
        if have != want:
            raise RunFolderError(f"{path}: does not fit the network its results.json describes (classes, filters, "
                                 "input size): saved by another run?")


def songs_of(inputs: Sequence[str | os.PathLike]) -> tuple[list[Song], list[Problem]]:
    """The songs named on the command line: audio files, and the audio files under folders (recursively)."""
    songs: list[Song] = []
    problems: list[Problem] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.is_file() and is_audio_file(p)
                           and not any(part.startswith(".") for part in p.relative_to(item).parts))
            if not files:
                problems.append(Problem(str(item), "no audio files in this folder"))
            songs += [Song(song_id=str(p), path=p, label="") for p in files]
        elif item.is_file():
            songs.append(Song(song_id=str(item), path=item, label=""))
        else:
            problems.append(Problem(str(item), "no such file or folder"))
    return songs, problems


def _front_end(meta: dict, model_repo: Path | None):
    """The separator and feature options the run's feature file was made with."""
    name = meta.get("separator")
    if name == GIVEN:
        raise ConfigError("the run was trained on true stems ('given'); new songs have none. Train a run on "
                          "separated stems (--separator dsp or demucs) to classify new songs")
    if name not in ("dsp", "demucs"):
        raise ConfigError(f"the run's features came from separator {name!r}, which jaxsep cannot run on new songs")
    options = {k: v for k, v in meta.get("options", {}).items() if k in FeatureOptions.__dataclass_fields__}
    return open_separator(name, model_repo=model_repo), FeatureOptions(**{**options, "strict": False})


def predict(
    run: str | os.PathLike,
    inputs: Sequence[str | os.PathLike],
    *,
    model: str | None = None,
    cache: Cache | None = None,
    model_repo: Path | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[list[Prediction], list[Problem]]:
    """Classifies every song in ``inputs`` with the saved trials of a run's model.

    Returns:
      ``(predictions, problems)``: one :class:`Prediction` per song that could be classified, one
      :class:`~jaxsep.audio.songs.Problem` per file (or folder) that could not.

    Raises:
      RunFolderError, ConfigError: the run cannot classify (see :func:`load_saved_model`), or its separator
        cannot run here (demucs weights missing, true stems).
    """
    import jax

    saved = load_saved_model(run, model)
    separator, options = _front_end(saved.meta, model_repo)
    signature = getattr(separator, "signature", None)
    if say is not None and signature != saved.meta.get("separator_signature"):
        say(f"note: separator {signature} differs from the run's {saved.meta.get('separator_signature')}")
    songs, problems = songs_of(inputs)
    cache = cache or Cache()

    def maps_of(song: Song) -> list[np.ndarray]:
        maps, _ = song_segment_maps(song, separator=separator, cache=cache, options=options)
        return maps

    done, failed = for_each_song(songs, maps_of, workers=song_workers(separator))  # as `jaxsep features` does
    problems += failed
    if not done:
        return [], problems
    channels = [MAPS.index(name) for name in saved.spec.maps]
    segments = options.segments_per_song
    # Stored as the run's feature file stored them (float16 by default), read back as float32.
    x = np.stack([m[..., channels] for _, maps in done for m in maps]).astype(options.dtype).astype(np.float32)
    apply = jax.jit(lambda variables, inputs: jax.nn.softmax(saved.network.apply(variables, inputs, train=False)))
    probabilities = np.stack([
        np.asarray(apply({"params": trial["params"], "batch_stats": trial["batch_stats"]},
                         (x - trial["mean"]) / trial["std"])).reshape(len(done), segments, -1).mean(axis=1)
        for trial in saved.trials
    ])  # (trials, songs, classes): a song's probabilities are the mean of its segments'
    mean = probabilities.mean(axis=0)
    votes = probabilities.argmax(axis=2)
    predictions = []
    for index, (song, _) in enumerate(done):
        label = int(mean[index].argmax())
        predictions.append(Prediction(
            path=str(song.path), model=saved.name, label=saved.classes[label], probability=float(mean[index, label]),
            probabilities={c: round(float(p), 6) for c, p in zip(saved.classes, mean[index])},
            agreement=int(np.sum(votes[:, index] == label)), trials=len(saved.trials)))
    return predictions, problems


def predictions_json(predictions: Sequence[Prediction]) -> str:
    """The ``--json`` file: a list of ``{path, model, label, probabilities: {class: p}, agreement}``."""
    return json.dumps([p.record() for p in predictions], indent=1)
