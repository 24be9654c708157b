"""The reference rows: a classical classifier over the same trial splits as the CNNs.

Scikit-learn's logistic regression on the summary features of each song's maps (:mod:`jaxsep.features.summary`:
band means and spreads, MFCCs, onset and tempo statistics; one map's features, or several maps' side by side),
standardized with the trial's training songs, classes weighted as the CNNs' (``balanced``), its L2 strength
chosen by 3-fold cross-validation inside the trial's training songs (never on its test songs). On the ``mix`` it
answers the question a reader asks first: do the CNNs beat what one would otherwise try? On stems (one row per
map set: ``bass+drums+other``, ``mix+bass+drums+other``...) it asks whether stems help a model that learns from
a few dozen songs.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..constants import MAP_JOIN
from ..features.file import FeatureSet
from ..features.summary import summary_matrix
from .outcomes import macro_f1, trial_entry

#: The reference row's name in results.json and the tables (of the row on the mix).
NAME = "logreg"
#: The map the reference reads unless told otherwise.
MAP = "mix"
#: Inverse L2 strengths tried by the inner cross-validation.
C_GRID = tuple(np.logspace(-3, 2, 6))


def _fit_predict(x_train, y_train, x_test, n_classes: int):
    """Probabilities ``(n_test, n_classes)`` of a standardized, class-weighted logistic regression."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    counts = np.bincount(y_train)
    folds = int(min(3, counts[counts > 0].min()))  # stratified folds need that many songs per class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # "the least populated class has only 2 members"
        warnings.simplefilter("ignore", FutureWarning)  # parameter renames announced by newer scikit-learn
        if folds >= 2:
            model = LogisticRegressionCV(Cs=list(C_GRID), cv=folds, class_weight="balanced", max_iter=2000,
                                         scoring="neg_log_loss")
        else:
            model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
        model.fit(scaler.transform(x_train), y_train)
    probabilities = np.zeros((len(x_test), n_classes))
    probabilities[:, model.classes_] = model.predict_proba(scaler.transform(x_test))
    return probabilities


def reference_name(maps: Sequence[str]) -> str:
    """A reference row's name: ``logreg`` on the mix, else ``logreg:<maps joined by +>``."""
    return NAME if tuple(maps) == (MAP,) else f"{NAME}:{MAP_JOIN.join(maps)}"


def map_summaries(features: FeatureSet, maps: Sequence[str]) -> dict[str, np.ndarray]:
    """The summary features of every row for each of ``maps``: ``{map: (rows, features)}``."""
    meta = features.meta
    return {m: summary_matrix(features.select_maps((m,))[..., 0], sample_rate=int(meta["sample_rate"]),
                              hop_length=int(meta["hop_length"])) for m in dict.fromkeys(maps)}


def run_references(features: FeatureSet, plan, map_sets: Sequence[Sequence[str]]) -> dict[str, dict]:
    """One reference row per map set, over every trial of ``plan`` (a
    :class:`~jaxsep.training.experiment.TrialPlan`); each map's summary features are computed once.

    Returns:
      ``{reference_name(maps): entry}`` (see :func:`run_reference`).
    """
    summaries = map_summaries(features, [m for maps in map_sets for m in maps])
    return {reference_name(maps): run_reference(features, plan, side_by_side(summaries, maps), maps)
            for maps in map_sets}


def side_by_side(summaries: dict[str, np.ndarray], maps: Sequence[str]) -> np.ndarray:
    """The summary features of ``maps`` (from :func:`map_summaries`) side by side, ``(rows, Σ features)``."""
    return np.concatenate([summaries[m] for m in maps], axis=1)


def run_reference(features: FeatureSet, plan, x: np.ndarray | None = None, maps: Sequence[str] = (MAP,)) -> dict:
    """The reference classifier over every trial of ``plan`` (a :class:`~jaxsep.training.experiment.TrialPlan`).

    Trained on the rows of the trial's training songs (validation songs left out); a test song's class
    probabilities are the mean of its segments'.

    Args:
      features: the feature set.
      plan: the run's trials.
      x: the summary features of every row, ``(rows, features)``; default: those of ``maps``.
      maps: the maps ``x`` was computed from (named in the row's description).

    Returns:
      ``{"description", "maps", "trials": [...]}`` with records shaped like the CNNs'
      (:func:`~jaxsep.training.outcomes.trial_entry`; ``chosen`` = ``last`` = every selection: no epochs).
    """
    if x is None:
        return run_references(features, plan, [maps])[reference_name(maps)]
    song_labels = features.song_labels
    records = []
    for t, seed in enumerate(plan.seeds):
        train_rows, test_rows = plan.rows["train"][t], plan.rows["test"][t]
        test = plan.songs["test"][t]
        rows_probabilities = _fit_predict(x[train_rows], features.labels[train_rows], x[test_rows],
                                          features.n_classes)
        probabilities = rows_probabilities.reshape(len(test), -1, features.n_classes).mean(axis=1)
        predicted = probabilities.argmax(axis=1)
        truth = song_labels[test]
        picked = np.clip(probabilities[np.arange(len(test)), truth], 1e-12, 1.0)
        # One "epoch": the fitted classifier's test scores (no training curve, no epoch to choose).
        scores = {"test_loss": [-np.mean(np.log(picked))], "test_accuracy": [np.mean(predicted == truth)],
                  "test_f1": [macro_f1(truth, predicted, features.n_classes)], "test_predictions": [predicted],
                  "test_probabilities": [probabilities]}
        records.append(trial_entry({k: np.asarray(v) for k, v in scores.items()}, trial=t, seed=seed,
                                   test_songs=test, true_labels=truth, n_classes=features.n_classes, epochs=False))
    description = f"logistic regression on {MAP_JOIN.join(maps)} summary features (reference)"
    return {"description": description, "maps": list(maps), "trials": records}
