"""Choosing a separation backend by name: ``dsp`` or ``demucs`` (htdemucs), found offline."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .base import Separator
from .dsp import DspSeparator
from .htdemucs import DEFAULT_MODEL, DemucsSeparator, MissingWeightsError, find_weights

#: Names accepted by :func:`get_separator`.
SEPARATORS: tuple[str, ...] = ("dsp", "demucs")


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
