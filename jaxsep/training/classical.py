"""The reference row: a classical classifier over the same trial splits as the CNNs.

Scikit-learn's logistic regression on the summary features of each song's ``mix`` map
(:mod:`jaxsep.features.summary`: band means and spreads, MFCCs, onset and tempo statistics), standardized with
the trial's training songs, classes weighted as the CNNs' (``balanced``), its L2 strength chosen by 3-fold
cross-validation inside the trial's training songs (never on its test songs). It answers the question a
reader asks first: do the CNNs beat what one would otherwise try?
"""

from __future__ import annotations

import warnings

import numpy as np

from ..features.file import FeatureSet
from ..features.summary import summary_matrix
from .outcomes import macro_f1, trial_entry

#: The reference row's name in results.json and the tables.
NAME = "logreg"
DESCRIPTION = "logistic regression on mix summary features (reference)"
#: The one map the reference reads.
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


def run_reference(features: FeatureSet, plan) -> dict:
    """The reference classifier over every trial of ``plan`` (a :class:`~jaxsep.training.experiment.TrialPlan`).

    Trained on the rows of the trial's training songs (validation songs left out); a test song's class
    probabilities are the mean of its segments'.

    Returns:
      ``{"description", "trials": [...]}`` with records shaped like the CNNs' (:func:`~jaxsep.training.outcomes.
      trial_entry`; ``chosen`` = ``last`` = every selection: there are no epochs).
    """
    meta = features.meta
    x = summary_matrix(features.select_maps((MAP,))[..., 0], sample_rate=int(meta["sample_rate"]),
                       hop_length=int(meta["hop_length"]))
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
    return {"description": DESCRIPTION, "trials": records}
