"""Source separation: a mixture in, ``{stem: audio}`` out for every stem of :data:`jaxsep.constants.STEMS`.

Backends (one protocol, :class:`Separator`, in :mod:`~jaxsep.separation.base`)
    dsp.DspSeparator           median-filtering / REPET-SIM soft masks; no weights, no torch; stems add up
    htdemucs.DemucsSeparator   htdemucs through the demucs package, one segment or a batch per call
    weights.find_weights       a demucs model's weight files, found on disk only (never downloaded)
    backends.get_separator     a backend by name (``"dsp"``, ``"demucs"``)
    backends.default_separator_name   ``"demucs"`` when its weights are found and torch and demucs installed,
                               else ``"dsp"`` (weights without the packages: a DemucsNotInstalledWarning)
    backends.DemucsNotInstalledError  ``"demucs"`` in a core install; the message names the pip command

A song's stems
    stems.open_separator       a backend by name, or :data:`~jaxsep.separation.stems.GIVEN` (true stems)
    stems.separated_stems      separate a song's segment, bring it to the features' rate
    stems.stems_at_feature_rate   a separated segment checked and brought to the features' rate (batches)
    stems.given_stems          the user's true stems, checked against the mix

Out of the pipeline
    export.separate_to_folder  write each song's stems as audio files (``jaxsep separate``)
    evaluation.sdr / evaluate_separation   plain SDR against a folder of true stems

This package is the only part of jaxsep that touches torch or demucs, and only inside functions, so
``import jaxsep`` and the dsp backend run without torch installed (torch and demucs are the ``jaxsep[demucs]``
extra).
"""

from __future__ import annotations

from .backends import (
    SEPARATORS,
    DemucsNotInstalledError,
    DemucsNotInstalledWarning,
    default_separator_name,
    get_separator,
)
from .base import Separator
from .dsp import DspParams, DspSeparator
from .stems import GIVEN, given_stems, open_separator, separated_stems
from .weights import DEFAULT_MODEL, UNITTEST_MODEL, MissingWeightsError, find_weights

__all__ = [
    "DEFAULT_MODEL",
    "GIVEN",
    "SEPARATORS",
    "UNITTEST_MODEL",
    "DemucsNotInstalledError",
    "DemucsNotInstalledWarning",
    "DspParams",
    "DspSeparator",
    "MissingWeightsError",
    "Separator",
    "default_separator_name",
    "find_weights",
    "get_separator",
    "given_stems",
    "open_separator",
    "separated_stems",
]
