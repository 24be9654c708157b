"""Several segments per song: picked without overlap, split by song (never leaking), scored per song."""

import jax
import numpy as np
import pytest
from audio_helpers import write

from jaxsep.audio.segments import pick_starts, song_starts
from jaxsep.audio.songs import Song
from jaxsep.cache import Cache
from jaxsep.config import RunConfig, TrainConfig
from jaxsep.constants import SEGMENT_SAMPLES, SEGMENT_SECONDS
from jaxsep.errors import AudioError
from jaxsep.features.toy import toy_features
from jaxsep.training.engine import run_trials
from jaxsep.training.experiment import run_experiment, trial_plan

FEATURES = toy_features(songs_per_class=(5, 6, 5), n_mels=12, frames=16, strength=1.5, seed=8, segments_per_song=3)
CONFIG = RunConfig(models=("stems3",), trials=3, train=TrainConfig(epochs=2, batch_size=8, filters=(2, 3)),
                   reference=False)


def test_windows_are_picked_best_first_without_overlap():
    scores = np.array([0.0, 5.0, 9.0, 8.0, 1.0, 1.0, 7.0, 2.0, 6.0, 0.5])
    # width 3 over a span of 12: 2 (score 9) blocks starts 0..4; then 6 (7) blocks 4..8; then 9 is left
    assert pick_starts(scores, 3, 3) == [2, 6, 9]
    assert pick_starts(np.ones(4), 2, 2) == [0, 2]  # ties go to the earliest
    # four windows of 3 tile the span of 12: the best start (2) would leave room for two more, not three, so the
    # next best that leaves room (3) comes first, then 6, then 9 (0.5) before 0 (0.0)
    assert pick_starts(scores, 4, 3) == [3, 6, 9, 0]
    assert pick_starts(scores, 5, 3) == [3, 6, 9, 0]  # no more than four fit


def test_song_starts_follow_a_given_start_or_the_drop(tmp_path):
    rng = np.random.default_rng(0)
    sr = 22_050
    audio = 0.01 * rng.standard_normal(int(4.2 * SEGMENT_SECONDS * sr))
    loud = int(1.5 * SEGMENT_SECONDS * sr)
    audio[loud: loud + int(SEGMENT_SECONDS * sr)] *= 30  # the drop: one segment long, 1.5 segments in
    path = write(tmp_path / "song.wav", audio[None].astype(np.float32))
    cache = Cache(tmp_path / "cache")
    starts = song_starts(Song("s", path, "x"), cache=cache, start=None, pad=False, count=3)
    assert starts[0] == pytest.approx(1.5 * SEGMENT_SECONDS, abs=0.05)
    assert all(abs(a - b) >= SEGMENT_SECONDS - 1e-6 for i, a in enumerate(starts) for b in starts[i + 1:])
    assert song_starts(Song("s", path, "x"), cache=cache, start=None, pad=False, count=3) == starts  # cached
    given = song_starts(Song("s", path, "x", start=1.0), cache=cache, start=None, pad=False, count=2)
    assert given == pytest.approx([1.0, 1.0 + SEGMENT_SECONDS])
    tight = song_starts(Song("s", path, "x"), cache=cache, start=None, pad=False, count=4)  # room for 4 only
    assert sorted(tight) == pytest.approx([0.0, SEGMENT_SECONDS, 2 * SEGMENT_SECONDS, 3 * SEGMENT_SECONDS],
                                          abs=0.2 * SEGMENT_SECONDS)
    with pytest.raises(AudioError, match="too short for 5 segments"):
        song_starts(Song("s", path, "x"), cache=cache, start=None, pad=False, count=5)


def test_a_header_that_overstates_the_length_names_the_file(tmp_path, monkeypatch):
    """A truncated mp3's header can promise minutes that do not decode: the song is refused by name, not with
    an error from deep inside the drop search."""
    from jaxsep.audio import segments
    from jaxsep.audio.files import AudioInfo

    path = write(tmp_path / "cut.wav", np.zeros((1, SEGMENT_SAMPLES // 2), np.float32) + 0.1)
    monkeypatch.setattr(segments, "audio_info", lambda _: AudioInfo(sample_rate=22_050, channels=1,
                                                                    frames=3 * SEGMENT_SAMPLES))
    with pytest.raises(AudioError, match=r"cut.wav.*too short for 2 segments .*decodes to 5.32 s .*says 31.90 s"):
        song_starts(Song("s", path, "x"), cache=Cache(tmp_path / "cache"), start=None, pad=False, count=2)


def test_trials_split_songs_and_never_leak_segments():
    plan = trial_plan(FEATURES, CONFIG)
    song_of = FEATURES.segment_song
    for t in range(CONFIG.trials):
        train, test = set(song_of[plan.rows["train"][t]]), set(song_of[plan.rows["test"][t]])
        assert not train & test
        assert train == set(plan.songs["train"][t]) and test == set(plan.songs["test"][t])
        assert len(plan.rows["test"][t]) == 3 * len(plan.songs["test"][t])


def test_song_scores_are_the_mean_of_segment_probabilities():
    """The last epoch's test accuracy equals the one computed by hand from the trained variables: every
    segment through the network, probabilities averaged per song."""
    plan = trial_plan(FEATURES, CONFIG)
    x = FEATURES.select_maps(("bass", "drums", "other"))
    report = run_trials("stems3", x, FEATURES.labels, plan.rows, plan.seeds, CONFIG.train, n_classes=3,
                        keep_state=True, segments_per_song=3, devices=jax.devices()[:1])
    from jaxsep.nn.models import build_network

    network = build_network(False, 3, CONFIG.train)
    final = report.variables
    for t in range(CONFIG.trials):
        rows = plan.rows["test"][t]
        state = jax.tree.map(lambda leaf, t=t: leaf[t], final)
        logits = network.apply({"params": state["params"], "batch_stats": state["batch_stats"]},
                               (x[rows].astype(np.float32) - state["mean"]) / state["std"], train=False)
        songs = np.asarray(jax.nn.softmax(logits)).reshape(-1, 3, 3).mean(axis=1)
        truth = FEATURES.song_labels[plan.songs["test"][t]]
        assert report.history["test_predictions"][t, -1].tolist() == songs.argmax(axis=1).tolist()
        assert report.history["test_accuracy"][t, -1] == pytest.approx(np.mean(songs.argmax(axis=1) == truth))


def test_results_count_songs():
    results = run_experiment(FEATURES, CONFIG, devices=jax.devices()[:1])
    assert results["data"]["songs"] == 16 and results["data"]["segments_per_song"] == 3
    assert results["split"]["test"] + results["split"]["train"] == 16
    assert results["data"]["song_ids"][:2] == ["song000", "song001"]
    record = results["models"]["stems3"]["trials"][0]
    assert len(record["test_songs"]) == results["split"]["test"] == len(record["predicted_labels"])
