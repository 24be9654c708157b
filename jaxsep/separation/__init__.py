"""Source separation backends: a mixture in, ``{stem: audio}`` out for every stem of ``constants.STEMS``.

Two backends share one protocol, :class:`Separator`:

- ``"dsp"`` (:class:`~jaxsep.separation.dsp.DspSeparator`): median-filtering / REPET-SIM soft masks; needs no
  weights and no torch; its stems add back to the mix exactly.
- ``"demucs"`` (:class:`~jaxsep.separation.demucs_backend.DemucsSeparator`): htdemucs through the demucs package,
  weights from a local demucs repository folder or the user's Hugging Face / torch hub cache, never downloaded.

This package is the only part of jaxsep that touches torch or demucs, and only inside functions, so
``import jaxsep`` and the dsp backend run without torch installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError
from .demucs_backend import DEFAULT_MODEL, UNITTEST_MODEL, MissingWeightsError, find_weights
from .dsp import DspParams, DspSeparator

#: Names accepted by :func:`get_separator`.
SEPARATORS: tuple[str, ...] = ("dsp", "demucs")


@runtime_checkable
class Separator(Protocol):
    """What every backend provides.

    Attributes:
      name: the backend's name (``"dsp"``, ``"demucs"``).
      signature: package version plus weights hash / parameters: equal signatures give equal stems, so it keys
        caches and is written into feature files.
      sample_rate: the backend's native rate in Hz (44,100 for demucs, 22,050 for dsp).
      channels: the backend's native channel count (2 for demucs, 1 for dsp).
    """

    name: str
    sample_rate: int
    channels: int

    @property
    def signature(self) -> str: ...

    def separate(
        self, audio: np.ndarray, sample_rate: int, *, progress: Callable[[float], None] | None = None
    ) -> dict[str, np.ndarray]:
        """``audio`` ``(channels, samples)`` at any rate -> ``{stem: (channels, samples)}`` at the same rate."""
        ...


def get_separator(
    name: str,
    *,
    model_repo: Path | None = None,
    device: str | None = None,
    model_name: str | None = None,
) -> Separator:
    """Builds a separation backend by name.

    Args:
      name: ``"dsp"`` or ``"demucs"``.
      model_repo: demucs only: a folder in demucs' local-repository format (``htdemucs.yaml`` plus
        ``<signature>-<checksum>.th``); ``None`` looks in the Hugging Face and torch hub caches.
      device: demucs only: a torch device (``"cpu"``, ``"cuda"``); ``None`` uses the GPU when torch sees one.
      model_name: demucs only: the pretrained model (default ``"htdemucs"``); ``"demucs_unittest"`` is demucs'
        tiny untrained model, built without weights, for plumbing tests.

    Returns:
      A :class:`Separator`. A demucs model is loaded on its first ``separate`` call; its weight files are
      found (or found missing) here, without any network access.

    Raises:
      ConfigError: an unknown name, or a demucs-only option given to ``dsp``.
      MissingWeightsError: demucs weights are not in ``model_repo`` or the caches (fast, offline).
    """
    if name == "dsp":
        if model_name is not None:
            raise ConfigError(f"separator 'dsp' has no model to choose (model_name={model_name!r})")
        return DspSeparator()
    if name == "demucs":
        from .demucs_backend import DemucsSeparator

        return DemucsSeparator(find_weights(model_name or DEFAULT_MODEL, model_repo=model_repo), device=device)
    raise ConfigError(f"unknown separator {name!r}; choose one of: {', '.join(SEPARATORS)}")


def default_separator_name(model_repo: Path | None = None) -> str:
    """``"demucs"`` when htdemucs weights are in ``model_repo`` or the local caches, else ``"dsp"``.

    Looks only at the file system (no network, no torch import), so it is cheap to call from the CLI.
    """
    try:
        find_weights(DEFAULT_MODEL, model_repo=model_repo)
    except MissingWeightsError:
        return "dsp"
    return "demucs"


__all__ = [
    "SEPARATORS",
    "DEFAULT_MODEL",
    "UNITTEST_MODEL",
    "DspParams",
    "DspSeparator",
    "MissingWeightsError",
    "Separator",
    "default_separator_name",
    "find_weights",
    "get_separator",
]
