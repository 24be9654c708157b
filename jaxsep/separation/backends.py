"""Choosing a separation backend by name: ``dsp`` or ``demucs`` (htdemucs), found offline.

torch and demucs are an optional extra (``jaxsep[demucs]``): whether they are installed is asked of the import
system without importing them, so choosing a backend stays cheap and a core install fails in one line.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

from ..errors import ConfigError
from .base import Separator
from .dsp import DspSeparator
from .htdemucs import DemucsSeparator
from .weights import DEFAULT_MODEL, MissingWeightsError, find_weights

#: Names accepted by :func:`get_separator`.
SEPARATORS: tuple[str, ...] = ("dsp", "demucs")

#: What the demucs backend imports that a core install (``pip install jaxsep``) leaves out.
DEMUCS_PACKAGES: tuple[str, ...] = ("torch", "demucs")
#: The command that adds them. torch is pinned in the same command, as the Makefile does: the extra's range
#: ``torch>=2.1`` alone lets pip pick the newest torch, a multi-GB CUDA build on Linux (README, "Two commands").
INSTALL_DEMUCS = 'pip install "torch==2.13.0" "jaxsep[demucs]"'


class DemucsNotInstalledError(ConfigError):
    """The demucs backend was asked for, but torch or demucs is not installed; the message says what to install."""


class DemucsNotInstalledWarning(UserWarning):
    """demucs weights were found but torch or demucs is not installed, so the default separator is ``dsp``."""


def missing_demucs_packages() -> tuple[str, ...]:
    """The packages of :data:`DEMUCS_PACKAGES` that cannot be imported (found without importing them)."""
    return tuple(name for name in DEMUCS_PACKAGES if not _importable(name))


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses the name; a module in sys.modules without a spec
        return False


def _missing_demucs_message(missing: tuple[str, ...]) -> str:
    """One line: what is missing, the command that installs it, and the separator that needs neither."""
    return (f"the demucs separator needs PyTorch and demucs ({', '.join(missing)} not installed): {INSTALL_DEMUCS} "
            "(torch pinned in the same command, as the Makefile does, so that pip does not pick the newest, "
            "multi-GB CUDA build), or use --separator dsp, which needs neither")


def require_demucs() -> None:
    """Raises :class:`DemucsNotInstalledError` (one line naming the install command) unless torch and demucs are
    installed."""
    missing = missing_demucs_packages()
    if missing:
        raise DemucsNotInstalledError(_missing_demucs_message(missing))


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
      DemucsNotInstalledError: ``"demucs"`` without torch or demucs installed (checked before the weights).
      MissingWeightsError: demucs weights are not in ``model_repo`` or the caches (fast, offline).
    """
    if name == "dsp":
        if model_name is not None:
            raise ConfigError(f"separator 'dsp' has no model to choose (model_name={model_name!r})")
        return DspSeparator()
    if name == "demucs":
        require_demucs()
        return DemucsSeparator(find_weights(model_name or DEFAULT_MODEL, model_repo=model_repo), device=device)
    raise ConfigError(f"unknown separator {name!r}; choose one of: {', '.join(SEPARATORS)}")


def default_separator_name(model_repo: Path | None = None) -> str:
    """``"demucs"`` when htdemucs weights are in ``model_repo`` or the local caches and torch and demucs are
    installed, else ``"dsp"``.

    Looks only at the file system (no network, no torch import), so it is cheap to call from the CLI. Weights
    found without torch or demucs fall back to ``"dsp"`` with a :class:`DemucsNotInstalledWarning` naming the
    install command (the CLI shows it as a note); an explicit ``model_repo`` asks for demucs, so there the
    missing packages are an error.

    Raises:
      DemucsNotInstalledError: ``model_repo`` was given but torch or demucs is not installed.
    """
    missing = missing_demucs_packages()
    if missing and model_repo is not None:
        raise DemucsNotInstalledError(f"--model-repo {model_repo}: {_missing_demucs_message(missing)}")
    try:
        find_weights(DEFAULT_MODEL, model_repo=model_repo)
    except MissingWeightsError:
        return "dsp"
    except ImportError:  # PyYAML, which reads a bag file, comes with demucs: without it, a bag file was found
        if not missing:
            raise
    if missing:
        warnings.warn(f"htdemucs weights found, but {', '.join(missing)} not installed: separating with dsp "
                      f"({INSTALL_DEMUCS} to use htdemucs)", DemucsNotInstalledWarning, stacklevel=2)
        return "dsp"
    return "demucs"
