"""The reference row: summary features against librosa, the classifier against a hand-built scikit-learn fit."""

import librosa
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

from jaxsep.config import RunConfig, TrainConfig
from jaxsep.features.summary import MAX_LAG, N_MFCC, summary_features
from jaxsep.features.toy import toy_features
from jaxsep.training import classical
from jaxsep.training.experiment import trial_plan

CONFIG = RunConfig(trials=4, train=TrainConfig(test_fraction=0.25))


def test_summary_features_are_librosa_statistics():
    rng = np.random.default_rng(0)
    log_mel = rng.normal(-40.0, 6.0, (32, 200)).astype(np.float32)
    got = summary_features(log_mel, sample_rate=22_050, hop_length=512)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    onset = librosa.onset.onset_strength(S=log_mel, sr=22_050, hop_length=512)
    lags = min(MAX_LAG, 100)
    assert got.shape == (2 * 32 + 2 * N_MFCC + 3 + lags,)
    np.testing.assert_allclose(got[:32], log_mel.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(got[32:64], log_mel.std(axis=1), rtol=1e-5)
    np.testing.assert_allclose(got[64:64 + N_MFCC], mfcc.mean(axis=1), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got[64 + 2 * N_MFCC:64 + 2 * N_MFCC + 3], [onset.mean(), onset.std(), onset.max()],
                               rtol=1e-5)
    centred = onset - onset.mean()
    lag5 = np.sum(centred[5:] * centred[:-5]) / np.sum(centred * centred)  # autocorrelation at lag 5, by hand
    assert got[64 + 2 * N_MFCC + 3 + 4] == pytest.approx(lag5, rel=1e-5)


def test_reference_learns_a_signal_in_the_mix_and_not_elsewhere():
    for signal_maps, expected in ((("mix",), "high"), (("bass", "drums", "other"), "chance")):
        features = toy_features(songs_per_class=(8, 8, 8), n_mels=16, frames=40, signal_maps=signal_maps,
                                strength=2.0, seed=5)
        result = classical.run_reference(features, trial_plan(features, CONFIG))
        accuracy = np.mean([r["chosen"]["accuracy"] for r in result["trials"]])
        assert accuracy > 0.9 if expected == "high" else accuracy < 0.6, (signal_maps, accuracy)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # newer scikit-learn announcing parameter renames
def test_reference_equals_a_hand_built_fit_on_the_same_split():
    features = toy_features(songs_per_class=(9, 9, 9), n_mels=16, frames=40, signal_maps=("mix",), strength=0.7,
                            seed=6)
    plan = trial_plan(features, RunConfig(trials=1, seed=3))
    splits = plan.songs
    record = classical.run_reference(features, plan)["trials"][0]
    mix_maps = features.select_maps(["mix"])[..., 0]
    x = np.stack([summary_features(m, sample_rate=22_050, hop_length=512) for m in mix_maps])
    train, test = splits["train"][0], splits["test"][0]
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegressionCV(Cs=list(classical.C_GRID), cv=3, class_weight="balanced", max_iter=2000,
                                 scoring="neg_log_loss").fit(scaler.transform(x[train]), features.labels[train])
    np.testing.assert_allclose(record["probabilities"], model.predict_proba(scaler.transform(x[test])), atol=1e-5)
    assert record["predicted_labels"] == model.predict(scaler.transform(x[test])).tolist()
    assert record["test_songs"] == test.tolist() and record["chosen"] == record["last"]


def test_segments_are_averaged_per_song():
    """With three segments per song the reference trains on every segment and scores songs."""
    features = toy_features(songs_per_class=(6, 6), n_mels=16, frames=40, signal_maps=("mix",), strength=1.0,
                            seed=7, segments_per_song=3)
    plan = trial_plan(features, RunConfig(trials=2))
    assert plan.rows["test"].shape == (2, 3 * plan.songs["test"].shape[1])
    record = classical.run_reference(features, plan)["trials"][0]
    assert len(record["predicted_labels"]) == len(record["test_songs"]) == plan.songs["test"].shape[1]
    np.testing.assert_allclose(np.sum(record["probabilities"], axis=1), 1.0, atol=1e-5)
