"""Separation quality: the plain energy-ratio SDR, and a separator's SDR against a folder of true stems.

The SDR here is the "new SDR" of the Music Demixing challenges (no bss_eval projection, no allowed distortion
filter): ``10 log10(|s|^2 / |s - s_hat|^2)`` summed over every channel and sample of the clip. It is what the
shared data's README quotes for htdemucs, and it punishes a wrong gain or a filtered estimate, which
bss_eval's SDR forgives.

A folder of true stems (``evaluate_separation``) holds one audio file per source, aligned sample for sample,
and optionally the mixture (a file named ``mixture`` or ``mix``; otherwise the mixture is the sum of the stems).
Each file is assigned to one or more of the separator's stems by its name (see :func:`stem_targets`):

- a name made of a stem's words is that stem (``drums.wav``, ``Vocals30.mp3``, ``lead_vocal.flac``);
- a name naming several stems is a *combined* target (``BassDrums30.mp3`` -> ``bass+drums``): its truth is
  compared with the sum of those stems' estimates, since the truth cannot be split;
- any other name (``synth``, ``violins``, ``Guitar30``) is ``other``; several files for one target are summed.

A stem with no file (trackswitch's vocals) or whose truth is silent in the clip (below -60 dB of the mixture)
gets no SDR: its ratio would measure only leakage against nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..audio.files import is_audio_file, load_audio, match_channels
from ..constants import MIXTURE, STEMS
from ..errors import AudioError, ConfigError
from .base import Separator

#: File names (lower case, without suffix or digits) that hold the mixture rather than a stem.
MIXTURE_NAMES = (MIXTURE, "mix")
#: Words in a file name that point to a stem; everything else is "other".
STEM_WORDS: dict[str, frozenset[str]] = {
    "bass": frozenset({"bass", "basses"}),
    "drums": frozenset({"drum", "drums", "percussion", "perc"}),
    "vocals": frozenset({"vocal", "vocals", "voice", "voices", "vox", "singing", "vocs"}),
    "other": frozenset({"other", "others"}),
}
#: A truth whose energy is below this fraction of the mixture's (-60 dB) is silent: no SDR is reported.
SILENT_RATIO = 1e-6
#: Stems of one folder may differ in length by this much (mp3 decoders pad differently); longer ones are cut.
MAX_LENGTH_MISMATCH_S = 0.05


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Plain energy-ratio SDR in dB: ``10 log10(|s|^2 / |s - s_hat|^2)`` over the whole array.

    Args:
      reference: true signal ``s``, any shape, e.g. ``(channels, samples)``.
      estimate: estimate ``s_hat``, the same shape.

    Returns:
      SDR in dB, computed in float64; ``inf`` for an exact estimate.

    Raises:
      ValueError: shapes differ, or the reference is silent (the ratio is undefined).
    """
    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.shape != estimate.shape:
        raise ValueError(f"reference shape {reference.shape} != estimate shape {estimate.shape}")
    signal = float(np.sum(reference**2))
    if signal == 0.0:
        raise ValueError("reference is silent: SDR is undefined")
    error = float(np.sum((reference - estimate) ** 2))
    return float("inf") if error == 0.0 else float(10.0 * np.log10(signal / error))


@dataclass(frozen=True)
class StemFiles:
    """The files of a folder of true stems.

    Attributes:
      mixture: the mixture file, or ``None`` (the mixture is then the sum of all stem files).
      targets: ``{target: files}`` where ``target`` is a stem name or ``+``-joined stem names in
        :data:`~jaxsep.constants.STEMS` order (``"bass+drums"``); the files' sum is that target's truth.
    """

    mixture: Path | None
    targets: dict[str, tuple[Path, ...]]


def stem_targets(folder: str | Path, *, stem_map: Mapping[str, str | Sequence[str]] | None = None) -> StemFiles:
    """Assigns the audio files of ``folder`` to stems (rules in the module docstring).

    Args:
      folder: a folder of aligned audio files.
      stem_map: overrides, ``{file name without suffix: stem, "a+b" or [stems]}``; a file mapped to
        ``"mixture"`` is the mixture, to ``"ignore"`` is skipped.

    Returns:
      The mixture file (or ``None``) and the files of every target.

    Raises:
      ConfigError: no stem files, an unknown stem in ``stem_map``, or targets that overlap (e.g. both
        ``bass.wav`` and ``BassDrums.wav``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder of true stems")
    stem_map = {key.lower(): value for key, value in (stem_map or {}).items()}
    mixture: Path | None = None
    groups: dict[frozenset[str], list[Path]] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and is_audio_file(p)):
        override = stem_map.get(path.stem.lower())
        if override == "ignore":
            continue
        if override == "mixture" or (override is None and _words(path.stem) in ([name] for name in MIXTURE_NAMES)):
            if mixture is not None:
                raise ConfigError(f"{folder}: two mixture files, {mixture.name} and {path.name}")
            mixture = path
            continue
        stems = _parse_target(override, path) if override is not None else _guess_target(path.stem)
        groups.setdefault(stems, []).append(path)
    if not groups:
        raise ConfigError(f"{folder}: no stem audio files found")
    seen: dict[str, Path] = {}
    for stems, paths in groups.items():
        for stem in stems:
            if stem in seen:
                raise ConfigError(
                    f"{folder}: {seen[stem].name} and {paths[0].name} both hold {stem!r}; "
                    "map them apart with stem_map"
                )
            seen[stem] = paths[0]
    ordered = sorted(groups.items(), key=lambda item: min(STEMS.index(s) for s in item[0]))
    return StemFiles(mixture, {_target_name(stems): tuple(paths) for stems, paths in ordered})


def evaluate_separation(
    folder: str | Path,
    separator: Separator,
    *,
    offset: float | None = None,
    duration: float | None = None,
    stem_map: Mapping[str, str | Sequence[str]] | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """Separates a folder's mixture and scores every target with :func:`sdr`.

    Args:
      folder: a folder of true stems (see the module docstring).
      separator: any :class:`~jaxsep.separation.Separator`.
      offset: start of the excerpt in seconds (``None``: 0).
      duration: length of the excerpt in seconds (``None``: to the end).
      stem_map: file-name overrides, see :func:`stem_targets`.
      progress: passed on to ``separator.separate`` (fraction of the separation done).

    Returns:
      ``{target: SDR in dB}`` for every target whose truth is not silent, in stem order; a combined target
      (``"bass+drums"``) is scored against the sum of its stems' estimates.

    Raises:
      ConfigError: see :func:`stem_targets`.
      AudioError: an unreadable file, or stems whose lengths differ.
    """
    files = stem_targets(folder, stem_map=stem_map)
    window = {"offset": offset or 0.0, "duration": duration}
    first = files.mixture if files.mixture is not None else next(iter(files.targets.values()))[0]
    reference, rate = load_audio(first, allow_silent=True, **window)
    channels = reference.shape[0]

    def read(path: Path) -> np.ndarray:
        audio, _ = load_audio(path, sample_rate=rate, allow_silent=True, **window)
        try:
            return match_channels(audio, channels)
        except ValueError as error:
            raise AudioError(path, f"{error} (the first file, {first.name}, has {channels})") from None

    truths = {target: [read(path) for path in paths] for target, paths in files.targets.items()}
    everything = [audio for parts in truths.values() for audio in parts]
    length = _common_length(folder, [reference] + everything, rate)
    truths = {target: np.sum([a[:, :length] for a in parts], axis=0) for target, parts in truths.items()}
    mixture = reference[:, :length] if files.mixture is not None else np.sum(list(truths.values()), axis=0)
    estimates = separator.separate(mixture.astype(np.float32), rate, progress=progress)
    mixture_energy = float(np.sum(np.asarray(mixture, dtype=np.float64) ** 2))
    scores = {}
    for target, truth in truths.items():
        if float(np.sum(np.asarray(truth, dtype=np.float64) ** 2)) <= SILENT_RATIO * mixture_energy:
            continue
        estimate = np.sum([estimates[stem] for stem in target.split("+")], axis=0)
        scores[target] = sdr(truth, estimate)
    return scores


def _words(name: str) -> list[str]:
    """Lower-case words of a file name: camelCase, separators and digits split (``BassDrums30`` -> bass, drums)."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return [word.lower() for word in re.split(r"[^A-Za-z]+", spaced) if word]


def _guess_target(name: str) -> frozenset[str]:
    named = {stem for stem, words in STEM_WORDS.items() for word in _words(name) if word in words}
    return frozenset(named) if named else frozenset({"other"})


def _parse_target(value: str | Sequence[str], path: Path) -> frozenset[str]:
    stems = value.split("+") if isinstance(value, str) else list(value)
    unknown = [stem for stem in stems if stem not in STEMS]
    if unknown or not stems:
        raise ConfigError(
            f"stem_map for {path.name}: {unknown or value!r} is not a stem; choose from {', '.join(STEMS)}, "
            "'a+b' for a combined stem, 'mixture' or 'ignore'"
        )
    return frozenset(stems)


def _target_name(stems: frozenset[str]) -> str:
    return "+".join(stem for stem in STEMS if stem in stems)


def _common_length(folder: Path, audios: list[np.ndarray], rate: int) -> int:
    """The shortest length, after checking that no file is much longer (misaligned stems)."""
    lengths = [audio.shape[1] for audio in audios]
    if max(lengths) - min(lengths) > MAX_LENGTH_MISMATCH_S * rate:
        raise AudioError(folder, f"stems differ in length ({min(lengths)} to {max(lengths)} samples at {rate} Hz)")
    return min(lengths)
