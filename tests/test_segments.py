"""jaxsep.audio.segments: the drop rule on a signal whose loud part is known, start checks, padding, cutting."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from audio_helpers import tone, write

from jaxsep.audio.files import fit_length
from jaxsep.audio.segments import (
    drop_scores,
    load_segment,
    pick_start,
    resolve_start,
    segment_length,
)
from jaxsep.constants import SEGMENT_SAMPLES, SEGMENT_SECONDS
from jaxsep.errors import AudioError

SR = 22_050
DROP_AT = 17.0  # seconds


def _song_with_drop(seconds: float = 40.0) -> np.ndarray:
    """Quiet noise, and from DROP_AT for one segment: loud noise with a kick every 0.5 s."""
    rng = np.random.default_rng(7)
    song = 0.01 * rng.standard_normal(int(seconds * SR))
    first = int(DROP_AT * SR)
    loud = 0.2 * rng.standard_normal(SEGMENT_SAMPLES)
    kick = np.exp(-np.arange(2_000) / 300.0) * np.sin(2 * np.pi * 60 * np.arange(2_000) / SR)
    for beat in range(0, SEGMENT_SAMPLES - 2_000, SR // 2):
        loud[beat: beat + 2_000] += 0.8 * kick
    song[first: first + SEGMENT_SAMPLES] += loud
    return song.astype(np.float32)


def test_segment_lengths():
    assert segment_length(22_050) == SEGMENT_SAMPLES == 234_496
    assert segment_length(44_100) == 2 * SEGMENT_SAMPLES
    assert abs(SEGMENT_SECONDS - 10.6348) < 1e-4


def test_drop_is_found_where_the_loud_part_is():
    start = pick_start(_song_with_drop())
    assert start % 512 == 0
    assert abs(start / SR - DROP_AT) <= 0.1  # within 4 hops of the true start


def test_drop_scores_match_a_numpy_loop():
    song = _song_with_drop(30.0)
    onset = librosa.onset.onset_strength(y=song, sr=SR, hop_length=512)
    rms = librosa.feature.rms(y=song, frame_length=2_048, hop_length=512)[0]
    frames, width = song.size // 512, 458
    onset, rms = onset[:frames], rms[:frames]
    expected = [onset[s: s + width].mean() / onset.mean() + rms[s: s + width].mean() / rms.mean()
                for s in range(frames - width + 1)]
    np.testing.assert_allclose(drop_scores(song), expected, rtol=1e-5)


def test_constant_signal_ties_to_the_earliest_window():
    assert pick_start(np.zeros(SEGMENT_SAMPLES * 2, np.float32)) == 0


def test_resolve_start_rules(tmp_path):
    long_song = write(tmp_path / "long.wav", _song_with_drop()[None])
    assert abs(resolve_start(long_song, start=None) - DROP_AT) <= 0.1
    assert resolve_start(long_song, start=3.5) == 3.5
    with pytest.raises(AudioError, match="runs past the end"):
        resolve_start(long_song, start=35.0)
    assert resolve_start(long_song, start=35.0, pad=True) == 35.0
    with pytest.raises(AudioError, match="outside the song"):
        resolve_start(long_song, start=45.0, pad=True)
    short = write(tmp_path / "short.wav", tone(4.0))
    with pytest.raises(AudioError, match="too short: 4.00 s.*--pad") as raised:
        resolve_start(short, start=None)
    assert raised.value.path == str(short)
    assert resolve_start(short, start=None, pad=True) == 0.0


def test_load_segment_cuts_the_window_and_converts(tmp_path):
    source = tone(14.0, sample_rate=44_100, channels=2)
    path = write(tmp_path / "s.wav", source, 44_100)
    segment = load_segment(path, start=2.0, sample_rate=44_100, channels=2)
    assert segment.audio.shape == (2, 2 * SEGMENT_SAMPLES) and not segment.padded
    np.testing.assert_array_equal(segment.audio, source[:, 88_200: 88_200 + 2 * SEGMENT_SAMPLES])
    mono = load_segment(path, start=2.0, sample_rate=22_050, channels=1)
    assert mono.audio.shape == (1, SEGMENT_SAMPLES) and mono.sample_rate == 22_050


def test_short_song_is_padded_only_when_asked(tmp_path):
    source = tone(4.0)
    path = write(tmp_path / "short.wav", source)
    with pytest.raises(AudioError, match="early.*--pad"):
        load_segment(path, start=0.0, sample_rate=22_050, channels=2)
    segment = load_segment(path, start=0.0, sample_rate=22_050, channels=2, pad=True)
    assert segment.padded and segment.audio.shape == (2, SEGMENT_SAMPLES)
    np.testing.assert_array_equal(segment.audio[:, : source.shape[1]], np.vstack([source, source]))
    assert not segment.audio[:, source.shape[1]:].any()


def test_fit_length():
    x = np.arange(10.0).reshape(1, 10)
    np.testing.assert_array_equal(fit_length(x, 4), x[:, :4])
    np.testing.assert_array_equal(fit_length(x, 12), np.concatenate([x, [[0.0, 0.0]]], axis=1))
