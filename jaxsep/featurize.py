"""Songs in, feature file out: segment -> separate -> ``{stem: audio}`` -> log-mel maps -> ``.npz``.

For every song: pick the segment (:mod:`jaxsep.segments`), split it into :data:`~jaxsep.constants.STEMS` with a
separator at its native rate and channels (or load the user's true stems, ``given``), bring the mix and each
stem to 22,050 Hz mono, and compute the log-mel maps of :data:`~jaxsep.constants.MAPS`: ``mix`` (the segment
itself), ``novox`` (bass + drums + other, summed as audio), and one per stem.

Results are cached per song (:mod:`jaxsep.cache`) in three layers - the automatically picked start, the stems
at 22,050 Hz mono, the maps - each keyed by exactly what it depends on, so a changed mel parameter reuses the
stems and a killed run, restarted, redoes only the songs it had not finished.

A song that cannot be used (any :class:`~jaxsep.errors.JaxsepError` it raises) becomes a
:class:`~jaxsep.datasets.Problem` and the run goes on; ``strict`` re-raises the first instead. Other
exceptions (a bug, Ctrl-C) stop the run; what was cached stays.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .audio import audio_info, match_channels, resample, write_audio
from .cache import Cache, cache_key
from .constants import HOP_LENGTH, MAPS, N_FFT, N_MELS, SAMPLE_RATE, SEGMENT_SAMPLES, STEMS
from .datasets import Problem, Song, drop_small_classes, summarize
from .errors import AudioError, DatasetError, JaxsepError
from .featurefile import save_features
from .melspec import AMIN, REF_POWER, log_mel
from .segments import DROP_RULE, SEGMENT_SECONDS, fit_length, load_segment, resolve_start
# The package imports torch only when demucs runs, so importing it here keeps the front end torch-free.
from .separation import Separator, default_separator_name, get_separator

#: The ``--separator`` value that reads the user's true stems instead of separating.
GIVEN = "given"
FRAMING = "centred frames (librosa center=True, zero padding), trailing frame at the segment's end dropped"


class Progress:
    """Progress callbacks of :func:`featurize` and :func:`separate_to_folder`; this base class ignores them."""

    def begin(self, total: int) -> None:
        """The run will process ``total`` songs."""

    def song(self, song_id: str) -> None:
        """Work on ``song_id`` starts."""

    def separation(self, fraction: float) -> None:
        """The current song's separation is ``fraction`` (0 to 1) done."""

    def advance(self) -> None:
        """The current song is finished (features made, cached, or skipped)."""


@dataclass(frozen=True)
class FeatureOptions:
    """How songs become maps; every field that changes a result is part of the cache keys.

    Attributes:
      start: segment start (seconds) for songs without their own; ``None`` picks the drop.
      pad: pad songs shorter than a segment with silence instead of skipping them.
      strict: stop at the first problem instead of skipping the song.
      n_fft, hop_length, n_mels: mel parameters (the paper's by default).
      dtype: storage type of the maps in the feature file (``float16`` halves the file; 0.03 dB steps).
      stem_tolerance_db: given stems must add up to the mix with a residual this many dB below the mix.
    """

    start: float | None = None
    pad: bool = False
    strict: bool = False
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    dtype: str = "float16"
    stem_tolerance_db: float = 20.0


@dataclass
class FeatureRun:
    """What a run did: the feature file, the songs in it and the problems (file, problem) it skipped."""

    path: Path | None
    song_ids: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def open_separator(name: str | None, *, model_repo: Path | None = None, device: str | None = None) -> Separator | str:
    """The separator called ``name`` (``dsp``, ``demucs``), :data:`GIVEN`, or the default one for ``None``."""
    if name == GIVEN:
        return GIVEN
    return get_separator(name or default_separator_name(model_repo), model_repo=model_repo, device=device)


def featurize(
    songs: Sequence[Song],
    *,
    out: str | os.PathLike,
    separator: Separator | str,
    cache: Cache,
    options: FeatureOptions = FeatureOptions(),
    problems: Sequence[Problem] = (),
    progress: Progress | None = None,
) -> FeatureRun:
    """Computes the maps of every song and writes the feature file (see the module docstring).

    Args:
      songs: from :func:`jaxsep.datasets.discover`.
      out: the ``.npz`` feature file to write.
      separator: a :class:`Separator` or :data:`GIVEN`.
      cache: where per-song results are kept.
      options: segment and feature parameters.
      problems: problems found before (by discovery), carried into the report and the file's meta.
      progress: callbacks; ``None`` for none.

    Returns:
      A :class:`FeatureRun`; the file holds ``mels`` of shape ``(songs, n_mels, frames, 6)`` with maps in
      :data:`~jaxsep.constants.MAPS` order, ``frames = 458`` for the default hop.

    Raises:
      JaxsepError: the first problem when ``options.strict``; DatasetError when no class keeps two songs.
    """
    progress = progress or Progress()
    problems = list(problems)
    if options.strict and problems:
        raise DatasetError(problems[0].file, problems[0].problem)
    done: list[tuple[Song, np.ndarray, float]] = []
    progress.begin(len(songs))
    for song in songs:
        progress.song(song.song_id)
        try:
            maps, start = song_maps(song, separator=separator, cache=cache, options=options, progress=progress)
            done.append((song, maps, start))
        except JaxsepError as error:
            if options.strict:
                raise
            problems.append(Problem(getattr(error, "path", str(song.path)), getattr(error, "problem", str(error))))
        progress.advance()
    kept, small = drop_small_classes([song for song, _, _ in done], where=out)
    problems += small
    if not kept:
        raise DatasetError(out, "no class has two usable songs; nothing to write" + summarize(problems))
    kept_ids = {song.song_id for song in kept}
    done = [entry for entry in done if entry[0].song_id in kept_ids]
    classes = sorted({song.label for song, _, _ in done})
    path = save_features(
        out,
        mels=np.stack([maps for _, maps, _ in done]).astype(options.dtype),
        maps=MAPS,
        labels=np.array([classes.index(song.label) for song, _, _ in done], dtype=np.int32),
        classes=classes,
        song_ids=[song.song_id for song, _, _ in done],
        meta=_meta(separator, options, done, problems),
    )
    return FeatureRun(path=path, song_ids=[song.song_id for song, _, _ in done], problems=problems)


def song_maps(
    song: Song, *, separator: Separator | str, cache: Cache, options: FeatureOptions, progress: Progress | None = None
) -> tuple[np.ndarray, float]:
    """One song's maps, from the cache when possible.

    Returns:
      ``(maps, start)``: float32 maps of shape ``(n_mels, frames, len(MAPS))`` and the segment's start (s).

    Raises:
      JaxsepError: the song cannot be used (AudioError naming the file and the problem).
    """
    progress = progress or Progress()
    start = song_start(song, cache=cache, start=options.start, pad=options.pad)
    stems_key = cache_key(
        kind="stems", audio=cache.file_digest(song.path), start=round(start, 6), segment_samples=SEGMENT_SAMPLES,
        pad=options.pad, separator=_separator_identity(song, separator, cache, options), sample_rate=SAMPLE_RATE,
    )
    maps_key = cache_key(
        kind="maps", stems=stems_key, n_fft=options.n_fft, hop_length=options.hop_length, n_mels=options.n_mels,
        framing=FRAMING, db=(REF_POWER, AMIN),
    )
    cached = cache.load("maps", maps_key)
    if cached is not None:
        return cached["maps"], start
    audio = cache.load("stems", stems_key)
    if audio is None:
        if separator == GIVEN:
            audio = given_stems(song, start=start, pad=options.pad, tolerance_db=options.stem_tolerance_db)
        else:
            audio = separated_stems(song, separator, start=start, pad=options.pad, progress=progress.separation)
        cache.save("stems", stems_key, audio)
    maps = np.stack([log_mel(m, sample_rate=SAMPLE_RATE, n_fft=options.n_fft, hop_length=options.hop_length,
                             n_mels=options.n_mels) for m in _map_audio(audio)], axis=-1)
    cache.save("maps", maps_key, {"maps": maps})
    return maps, start


def song_start(song: Song, *, cache: Cache, start: float | None, pad: bool) -> float:
    """The song's segment start: its own, else ``start``, else the drop (cached by audio content)."""
    info = audio_info(song.path)
    chosen = song.start if song.start is not None else start
    if chosen is not None:
        return resolve_start(song.path, start=chosen, pad=pad, info=info)
    key = cache_key(kind="start", audio=cache.file_digest(song.path), rule=DROP_RULE, segment=SEGMENT_SAMPLES, pad=pad)
    cached = cache.load("start", key)
    if cached is not None:
        return float(cached["start"])
    picked = resolve_start(song.path, start=None, pad=pad, info=info)
    cache.save("start", key, {"start": np.float64(picked)})
    return picked


def separated_stems(song: Song, separator: Separator, *, start: float, pad: bool, progress=None) -> dict[str, np.ndarray]:
    """Separates the song's segment; returns ``mix`` and each stem, float32 ``(SEGMENT_SAMPLES,)`` at 22,050 Hz."""
    segment = load_segment(song.path, start=start, sample_rate=separator.sample_rate, channels=separator.channels, pad=pad)
    stems = separator.separate(segment.audio, segment.sample_rate, progress=progress)
    wrong = [s for s in STEMS if s not in stems or np.shape(stems[s]) != segment.audio.shape]
    if wrong:
        raise ValueError(f"separator {separator.name!r} returned bad stem(s) {wrong} for shape {segment.audio.shape}")
    return {name: _to_feature_rate(audio, segment.sample_rate) for name, audio in {"mix": segment.audio, **stems}.items()}


def given_stems(song: Song, *, start: float, pad: bool, tolerance_db: float) -> dict[str, np.ndarray]:
    """Loads the song's true stems (like :func:`separated_stems`) after checking them against the mix.

    Raises:
      AudioError: a stem is missing, differs from the mix in length or rate, or the stems do not add up to
        the mix within ``tolerance_db``.
    """
    missing = [s for s in STEMS if s not in song.stems]
    if missing:
        raise AudioError(song.path, f"no true stem(s) {missing} for --separator given")
    mix_info = audio_info(song.path)
    for name in STEMS:
        info = audio_info(song.stems[name])
        if (info.frames, info.sample_rate) != (mix_info.frames, mix_info.sample_rate):
            raise AudioError(
                song.stems[name],
                f"{name} stem has {info.frames} samples at {info.sample_rate} Hz but the mix has "
                f"{mix_info.frames} at {mix_info.sample_rate} Hz",
            )
    rate, channels = mix_info.sample_rate, mix_info.channels
    mix = load_segment(song.path, start=start, sample_rate=rate, channels=channels, pad=pad).audio
    stems = {
        name: load_segment(song.stems[name], start=start, sample_rate=rate, channels=channels, pad=True,
                           allow_silent=True).audio
        for name in STEMS
    }
    residual = mix - sum(stems.values())
    ratio_db = 10 * np.log10(np.sum(mix.astype(np.float64) ** 2) / max(np.sum(residual.astype(np.float64) ** 2), 1e-30))
    if ratio_db < tolerance_db:
        raise AudioError(
            song.path,
            f"true stems do not add up to the mix: residual only {ratio_db:.1f} dB below it (need {tolerance_db:g} dB)",
        )
    return {name: _to_feature_rate(audio, rate) for name, audio in {"mix": mix, **stems}.items()}


def separate_to_folder(
    songs: Sequence[Song],
    *,
    out: str | os.PathLike,
    separator: Separator,
    cache: Cache,
    start: float | None = None,
    pad: bool = False,
    strict: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> FeatureRun:
    """Writes each song's segment and its stems as ``OUT/LABEL/SONG/{mixture,bass,drums,other,vocals}.wav``.

    The stems keep the separator's native rate and channels (32-bit float wav, so they add up to the mixture).
    The output is itself a class-folder data set with true stems (``--separator given`` reads it). A song whose
    five files all exist is skipped unless ``force``, so an interrupted run resumes.

    Returns:
      A :class:`FeatureRun` with ``path = out`` and the (file, problem) list of skipped songs.
    """
    out = Path(out)
    progress = progress or Progress()
    run = FeatureRun(path=out)
    progress.begin(len(songs))
    for song in songs:
        progress.song(song.song_id)
        folder = out / song.label / _folder_name(song)
        files = {name: folder / f"{name}.wav" for name in ("mixture", *STEMS)}
        try:
            if force or not all(p.is_file() for p in files.values()):
                chosen = song_start(song, cache=cache, start=start, pad=pad)
                segment = load_segment(song.path, start=chosen, sample_rate=separator.sample_rate,
                                       channels=separator.channels, pad=pad)
                stems = separator.separate(segment.audio, segment.sample_rate, progress=progress.separation)
                for name in STEMS:
                    write_audio(files[name], stems[name], segment.sample_rate)
                write_audio(files["mixture"], segment.audio, segment.sample_rate)  # last: marks the song done
            run.song_ids.append(song.song_id)
        except JaxsepError as error:
            if strict:
                raise
            run.problems.append(Problem(getattr(error, "path", str(song.path)), getattr(error, "problem", str(error))))
        progress.advance()
    return run


def _to_feature_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(channels, samples)`` at ``sample_rate`` -> float32 ``(SEGMENT_SAMPLES,)`` mono at 22,050 Hz."""
    mono = resample(match_channels(np.asarray(audio, dtype=np.float32), 1), orig_sr=sample_rate, target_sr=SAMPLE_RATE)
    return fit_length(mono[0], SEGMENT_SAMPLES).astype(np.float32)


def _map_audio(audio: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The audio behind each map of :data:`MAPS`, in order (``novox`` = bass + drums + other)."""
    sources = {**audio, "novox": audio["bass"] + audio["drums"] + audio["other"]}
    return [sources[name] for name in MAPS]


def _separator_identity(song: Song, separator: Separator | str, cache: Cache, options: FeatureOptions) -> dict:
    if separator == GIVEN:
        stems = {name: cache.file_digest(path) for name, path in sorted(song.stems.items())}
        return {"name": GIVEN, "stems": stems, "tolerance_db": options.stem_tolerance_db}
    return {"name": separator.name, "signature": separator.signature,
            "rate": separator.sample_rate, "channels": separator.channels}


def _meta(separator: Separator | str, options: FeatureOptions, done: list, problems: list[Problem]) -> dict[str, Any]:
    named = separator if isinstance(separator, str) else separator.name
    return {
        "sample_rate": SAMPLE_RATE, "n_fft": options.n_fft, "hop_length": options.hop_length,
        "n_mels": options.n_mels, "n_frames": SEGMENT_SAMPLES // options.hop_length,
        "separator": named, "separator_signature": getattr(separator, "signature", GIVEN),
        "separator_sample_rate": getattr(separator, "sample_rate", None),
        "separator_channels": getattr(separator, "channels", None),
        "segment_samples": SEGMENT_SAMPLES, "segment_seconds": SEGMENT_SECONDS, "start_rule": DROP_RULE,
        "options": asdict(options), "framing": FRAMING,
        "db": {"ref_power": REF_POWER, "amin": AMIN, "top_db": None},
        "starts": {song.song_id: round(start, 6) for song, _, start in done},
        "skipped": [[p.file, p.problem] for p in problems],
    }


def _folder_name(song: Song) -> str:
    """The song's folder under its label: its id without a leading ``label/``, slashes as ``__``."""
    name = song.song_id.removeprefix(f"{song.label}/")
    return name.replace("/", "__").replace("\\", "__") or "song"
