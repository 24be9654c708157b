"""The project's error classes: every message names the file (or value) and the problem."""

from __future__ import annotations


class JaxsepError(Exception):
    """Base class for every error jaxsep raises on bad input or configuration."""


class PathError(JaxsepError):
    """An error about one file or folder: ``str(error)`` is ``"<path>: <problem>"``."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class CacheError(PathError):
    """The cache folder cannot be used (a file stands in its place, or it cannot be written)."""


class FeatureFileError(PathError):
    """A feature file is missing, unreadable or inconsistent."""


class ConfigError(JaxsepError):
    """A run or trial configuration value is out of range."""


class AudioError(PathError):
    """An audio file cannot be used (unreadable, silent, not finite, too short...)."""


class RunFolderError(JaxsepError):
    """An output folder cannot be used (holds a finished run, not empty...)."""


class SynthError(JaxsepError):
    """A synthetic-set request cannot be met (unknown genre, too few songs, bad seed, folder in use...)."""


class DatasetError(PathError):
    """A data set cannot be read at all (no such folder, unknown layout, a manifest without its columns...)."""


class RunInterrupted(JaxsepError):
    """A run stopped by SIGTERM or SIGINT; what finished is kept. ``signal_number`` is the signal's."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.signal_number = signal_number
