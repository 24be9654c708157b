"""jaxsep.features.logmel: 458 frames per segment, librosa's numbers, one fixed dB scale."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from audio_helpers import tone

from jaxsep.constants import N_FRAMES, N_MELS, SEGMENT_SAMPLES
from jaxsep.features.logmel import AMIN, FLOOR_DB, log_mel


@pytest.fixture(scope="module")
def segment():
    return tone(SEGMENT_SAMPLES / 22_050, seed=3)[0]


def test_segment_gives_128_by_458_and_matches_librosa(segment):
    maps = log_mel(segment)
    assert maps.shape == (N_MELS, N_FRAMES) == (128, 458) and maps.dtype == np.float32
    power = librosa.feature.melspectrogram(y=segment, sr=22_050, n_fft=2_048, hop_length=512, n_mels=128)
    assert power.shape[1] == 459  # librosa's centred framing: one frame more, dropped by log_mel
    reference = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)[:, :458]
    np.testing.assert_allclose(maps, reference, atol=1e-4)


@pytest.mark.parametrize("frame", [0, 100, 457])
def test_frame_is_the_window_centred_on_its_hop(segment, frame):
    # Hand-computed reference: zero-pad n_fft/2 both sides, Hann window centred on sample 512 * frame.
    padded = np.pad(segment.astype(np.float64), 1_024)
    chunk = padded[512 * frame: 512 * frame + 2_048] * np.hanning(2_049)[:-1]  # periodic Hann, as scipy's "hann"
    power = np.abs(np.fft.rfft(chunk)) ** 2
    mel = librosa.filters.mel(sr=22_050, n_fft=2_048, n_mels=128) @ power
    np.testing.assert_allclose(log_mel(segment)[:, frame], 10 * np.log10(np.maximum(mel, AMIN)), atol=2e-3)


def test_fixed_reference_keeps_levels_comparable(segment):
    loud, quiet = log_mel(segment), log_mel(0.1 * segment)
    above_floor = quiet > FLOOR_DB + 1
    np.testing.assert_allclose((loud - quiet)[above_floor], 20.0, atol=1e-3)  # -20 dB, not renormalised


def test_silent_stem_gives_finite_floor():
    maps = log_mel(np.zeros(SEGMENT_SAMPLES, np.float32))
    assert np.isfinite(maps).all() and FLOOR_DB == -100.0
    np.testing.assert_allclose(maps, FLOOR_DB, atol=1e-4)


def test_shapes_accepted_and_refused(segment):
    np.testing.assert_array_equal(log_mel(segment[None]), log_mel(segment))
    assert log_mel(segment[:51_200], n_mels=64).shape == (64, 100)
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.stack([segment, segment]))
    with pytest.raises(ValueError, match="shorter than one hop"):
        log_mel(segment[:100])
    bad = segment.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="finite"):
        log_mel(bad)
