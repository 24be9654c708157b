"""Which information a small-data classifier needs on the synthetic set, and how the CNN heads compare: the probes
behind the rhythm head (README, "Models"; benchmarks/RESULTS.md, "A head that learns from few songs").

    python benchmarks/heads.py summary FEATURES [--trials 4] [--map novox]
    python benchmarks/heads.py heads FEATURES [--trials 2] [--variants dense,pool@1e-3,rhythm1@1e-3,...]

``summary``: logistic regression (the reference row's classifier, :mod:`jaxsep.training.classical`) on parts of
one map's summary features (:mod:`jaxsep.features.summary`) — all of them, the timbre ones (band means and
spreads, MFCCs), the rhythm ones (onset statistics and autocorrelation), band means alone — over the same
stratified 80/20 splits: which information separates the classes.

``heads``: one model per variant ``HEAD[REGIONS]@LR`` (``dense``, ``pool``, ``rhythmR`` with R frequency regions)
trained with jaxsep's engine for ``--epochs`` on the same splits; prints mean test accuracy by epoch. A probe for
choosing a design, on few splits: report choices made with it as such, and measure the chosen head on other
songs.
"""

from __future__ import annotations

import argparse
import re
import time
import warnings

import numpy as np
from machine import cpu_name  # benchmarks/machine.py

from jaxsep.config import TrainConfig
from jaxsep.features.file import load_features
from jaxsep.features.summary import MAX_LAG, N_MFCC, summary_matrix
from jaxsep.training.splits import make_splits, rows_of


def summary_parts(n_mels: int, frames: int) -> dict[str, slice]:
    """The columns of :func:`summary_features` by kind."""
    timbre = 2 * n_mels + 2 * min(N_MFCC, n_mels)
    return {"all": slice(None), "timbre (band means and spreads, MFCCs)": slice(0, timbre),
            "rhythm (onset statistics and autocorrelation)": slice(timbre, None),
            "band means only": slice(0, n_mels)}


def probe_summary(features, map_name: str, trials: int) -> None:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    x = summary_matrix(features.select_maps((map_name,))[..., 0], sample_rate=int(features.meta["sample_rate"]),
                       hop_length=int(features.meta["hop_length"]))
    splits = make_splits(features.song_labels, np.arange(trials), n_classes=features.n_classes, test_fraction=0.2)
    rows = rows_of(splits, features.song_rows)
    _, n_mels, frames, _ = features.mels.shape
    assert x.shape[1] == 2 * n_mels + 2 * min(N_MFCC, n_mels) + 3 + min(MAX_LAG, frames // 2)
    for name, columns in summary_parts(n_mels, frames).items():
        accuracies = []
        for t in range(trials):
            train, test = rows["train"][t], rows["test"][t]
            scaler = StandardScaler().fit(x[train][:, columns])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LogisticRegressionCV(Cs=list(np.logspace(-3, 2, 6)), cv=3, class_weight="balanced",
                                             max_iter=2000).fit(scaler.transform(x[train][:, columns]),
                                                                features.labels[train])
            predicted = model.predict(scaler.transform(x[test][:, columns]))
            accuracies.append(float(np.mean(predicted == features.labels[test])))
        print(f"logistic regression on {map_name}, {name}: accuracy {np.mean(accuracies):.3f} "
              f"(trials {', '.join(f'{a:.3f}' for a in accuracies)})", flush=True)


def probe_heads(features, map_name: str, trials: int, epochs: int, variants: list[str]) -> None:
    import jax

    import jaxsep.nn.models as models
    from jaxsep.training import engine

    seeds = np.arange(trials)
    splits = rows_of(make_splits(features.song_labels, seeds, n_classes=features.n_classes, test_fraction=0.2),
                     features.song_rows)
    x = features.select_maps((map_name,))
    default = models.rhythm_pool.__defaults__
    for variant in variants:
        head, regions, rate = re.fullmatch(r"(dense|pool|rhythm)(\d*)@?([0-9.e-]*)", variant).groups()
        config = TrainConfig(epochs=epochs, learning_rate=float(rate) if rate else TrainConfig.learning_rate)
        if regions:  # the probe's one knob the engine does not expose
            models.rhythm_pool.__defaults__ = (default[0], int(regions))
        # The engine caches its programs by network and recipe, not by this knob: trace every variant afresh.
        engine._program.cache_clear()
        engine._EXECUTABLES.clear()
        jax.clear_caches()
        try:
            started = time.perf_counter()
            name = map_name if head == "dense" else f"{map_name}:{head}"
            report = engine.run_trials(name, x, features.labels, splits, seeds, config,
                                       n_classes=features.n_classes)
        finally:
            models.rhythm_pool.__defaults__ = default
        by_epoch = report.history["test_accuracy"].mean(axis=0)
        print(f"{variant:>14}: accuracy by epoch {' '.join(f'{a:.3f}' for a in by_epoch)} "
              f"({time.perf_counter() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["summary", "heads"])
    parser.add_argument("features")
    parser.add_argument("--map", default="novox")
    parser.add_argument("--trials", type=int, default=None, help="default 4 (summary), 2 (heads)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--variants", default="dense@1e-4,pool@1e-3,rhythm1@1e-3,rhythm4@1e-3,rhythm8@1e-3")
    args = parser.parse_args()
    features = load_features(args.features, (args.map,))
    print(f"{args.probe} on {args.features} ({features.n_songs} songs), map {args.map}; {cpu_name()}", flush=True)
    if args.probe == "summary":
        probe_summary(features, args.map, args.trials or 4)
    else:
        probe_heads(features, args.map, args.trials or 2, args.epochs, args.variants.split(","))


if __name__ == "__main__":
    main()
