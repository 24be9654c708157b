"""Summary features of one log-mel map per song: what a researcher would feed a classical classifier first.

Computed from the feature file's ``mix`` map (128 × 458 dB values), so they need no audio and work on every
feature file. Per song, concatenated (``SUMMARY_SIZE`` values for 128 mel bands):

* timbre: the mean and standard deviation over time of every mel band (dB);
* MFCCs: the first :data:`N_MFCC` cepstral coefficients of the map (a DCT over mel bands, librosa's
  ``mfcc(S=...)``), their mean and standard deviation over time;
* rhythm: the onset-strength envelope of the map (librosa's ``onset_strength(S=...)``) — its mean, standard
  deviation and maximum — and its autocorrelation at lags of 1 to :data:`MAX_LAG` frames (~2 s at hop 512,
  22,050 Hz: beat periods down to 30 BPM), normalized by the lag-0 value: the tempo and groove of the clip.
"""

from __future__ import annotations

import numpy as np

#: Cepstral coefficients kept.
N_MFCC = 20
#: Longest onset-autocorrelation lag, in frames.
MAX_LAG = 96


def summary_features(log_mel: np.ndarray, *, sample_rate: int, hop_length: int) -> np.ndarray:
    """The summary features of one map.

    Args:
      log_mel: dB values, shape ``(n_mels, frames)``, at least 4 frames.
      sample_rate, hop_length: the map's framing (from the feature file's meta).

    Returns:
      float64 ``(2·n_mels + 2·min(N_MFCC, n_mels) + 3 + lags,)`` with ``lags = min(MAX_LAG, frames // 2)``.
    """
    import librosa  # slow to import; only this reference classifier needs it here

    log_mel = np.asarray(log_mel, dtype=np.float32)
    if log_mel.ndim != 2 or log_mel.shape[1] < 4:
        raise ValueError(f"need a (n_mels, frames >= 4) map, got shape {log_mel.shape}")
    max_lag = min(MAX_LAG, log_mel.shape[1] // 2)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    onset = librosa.onset.onset_strength(S=log_mel, sr=sample_rate, hop_length=hop_length).astype(np.float64)
    centred = onset - onset.mean()
    autocorrelation = np.correlate(centred, centred, mode="full")[len(centred) - 1:]
    lags = autocorrelation[1: max_lag + 1] / autocorrelation[0] if autocorrelation[0] > 0 else np.zeros(max_lag)
    return np.concatenate([
        log_mel.mean(axis=1), log_mel.std(axis=1),
        mfcc.mean(axis=1), mfcc.std(axis=1),
        [onset.mean(), onset.std(), onset.max()],
        lags,
    ]).astype(np.float64)


def summary_matrix(maps: np.ndarray, *, sample_rate: int, hop_length: int) -> np.ndarray:
    """:func:`summary_features` of every song: ``maps (songs, n_mels, frames)`` → ``(songs, features)``."""
    return np.stack([summary_features(m, sample_rate=sample_rate, hop_length=hop_length) for m in maps])
