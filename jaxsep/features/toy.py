"""Small generated feature sets with a known answer, for tests, benchmarks and a no-audio smoke run.

The class signal is put only where the caller says (by default in the ``bass``, ``drums`` and ``other``
maps, not in ``mix`` / ``novox``), so a test can check that the models that read those maps learn it and
the others stay near chance.
"""

from __future__ import annotations

import numpy as np

from ..constants import HOP_LENGTH, MAPS, N_FFT, SAMPLE_RATE
from .file import FeatureSet, validate_features


def toy_features(
    *,
    songs_per_class=(10, 10, 10),
    n_mels: int = 32,
    frames: int = 48,
    signal_maps=("bass", "drums", "other"),
    strength: float = 1.0,
    seed: int = 0,
    dtype=np.float32,
    segments_per_song: int = 1,
) -> FeatureSet:
    """A feature set of noise maps with a class-dependent pattern in ``signal_maps``.

    Class ``c`` adds ``strength`` to a band of mel rows ``[c·b, (c+1)·b)`` (``b = n_mels // classes``) in
    every signal map, on top of unit Gaussian noise around -40 dB; other maps are pure noise.

    Args:
      songs_per_class: songs in each class (its length is the class count).
      n_mels, frames: map size.
      signal_maps: maps that carry the class pattern.
      strength: pattern amplitude relative to the noise's standard deviation.
      seed: numpy seed.
      dtype: float32 or float16.
      segments_per_song: rows per song (its segments: the same pattern in fresh noise); with more than one,
        the rows of song ``s`` are ``s·K .. s·K + K - 1``, ids ``songNNN@k``.

    Returns:
      a validated :class:`FeatureSet` with all six maps, shape ``(songs · segments_per_song, n_mels, frames,
      6)``; with one segment per song the draws are those of earlier jaxsep versions.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(songs_per_class)), songs_per_class)
    rng.shuffle(labels)
    n_classes = len(songs_per_class)
    mels = rng.normal(-40.0, 1.0, size=(len(labels), n_mels, frames, len(MAPS)))
    band = max(1, n_mels // n_classes)
    for channel, name in enumerate(MAPS):
        if name in signal_maps:
            for song, label in enumerate(labels):
                mels[song, label * band : (label + 1) * band, :, channel] += strength
    song_ids = tuple(f"song{i:03d}" for i in range(len(labels)))
    segment_song = None
    if segments_per_song > 1:
        extra = rng.normal(-40.0, 1.0, size=(len(labels), segments_per_song - 1, n_mels, frames, len(MAPS)))
        for channel, name in enumerate(MAPS):
            if name in signal_maps:
                for song, label in enumerate(labels):
                    extra[song, :, label * band : (label + 1) * band, :, channel] += strength
        mels = np.concatenate([mels[:, None], extra], axis=1).reshape(-1, n_mels, frames, len(MAPS))
        segment_song = np.repeat(np.arange(len(labels)), segments_per_song).astype(np.int32)
        song_ids = tuple(f"{s}@{k}" for s in song_ids for k in range(segments_per_song))
        labels = np.repeat(labels, segments_per_song)
    features = FeatureSet(
        mels=mels.astype(dtype),
        maps=MAPS,
        labels=labels.astype(np.int32),
        classes=tuple(f"class{c}" for c in range(n_classes)),
        song_ids=song_ids,
        segment_song=segment_song,
        meta={
            "sample_rate": SAMPLE_RATE,
            "n_fft": N_FFT,
            "hop_length": HOP_LENGTH,
            "n_mels": n_mels,
            "separator": "toy",
            "format_version": 1,
            "signal_maps": list(signal_maps),
            "segments_per_song": segments_per_song,
        },
    )
    return validate_features(features)
