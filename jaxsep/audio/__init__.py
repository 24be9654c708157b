"""Audio in: decoding and checking files, finding labelled songs, cutting each song's segment.

Files (:mod:`~jaxsep.audio.files`)
    load_audio, audio_info, write_audio   decode a window / read a header / write atomically
    match_channels, resample, fit_length  ``(channels, samples)`` array helpers

Songs (:mod:`~jaxsep.audio.songs`, :mod:`~jaxsep.audio.layouts`)
    Song, Problem                 a labelled song; why a file, row or class was skipped
    discover                      class folders, a CSV manifest or a GiantSteps folder → songs and problems
    for_each_song, Progress       the per-song loop: one song's error never stops the others

Segments (:mod:`~jaxsep.audio.segments`)
    song_start                    a song's own start, one start for all, or the "drop" (cached)
    load_segment                  the 10.63 s segment at a rate and channel count
"""

from .files import (
           audio_info,
           fit_length,
           load_audio,
           match_channels,
           resample,
           write_audio,
)
from .layouts import discover
from .segments import load_segment, song_start
from .songs import Problem, Progress, Song, SongRun, for_each_song

__all__ = ["Problem", "Progress", "Song", "SongRun", "audio_info", "discover", "fit_length", "for_each_song",
           "load_audio", "load_segment", "match_channels", "resample", "song_start", "write_audio"]
