"""A content-addressed cache folder for per-song results (picked starts, separated stems, mel maps).

An entry's key is the SHA-256 of a canonical JSON record of everything that changes the result: the audio
files' *content* hashes (not their names or dates, so moving a data set keeps its cache), the segment's start
and length, the separator's name and signature, the feature parameters - whatever the caller passes. Entries
are ``ROOT/KIND/KEY[:2]/KEY.npz``, each written to a temporary file and renamed into place, so a killed run
leaves only whole entries behind and the next run redoes just the songs it had not finished. An entry that
cannot be read (e.g. a disk that filled up) counts as missing and is rewritten.

The folder is ``$JAXSEP_CACHE`` when set, else ``.jaxsep-cache/`` in the working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .atomic import atomic_path
from .errors import CacheError

#: Bumped when the front end's output changes for the same inputs, so old entries stop matching.
CACHE_VERSION = 1
_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """``$JAXSEP_CACHE`` if set, else ``.jaxsep-cache`` in the working directory."""
    return Path(os.environ.get("JAXSEP_CACHE") or ".jaxsep-cache")


def cache_key(**parts: Any) -> str:
    """SHA-256 hex digest of the keyword arguments as canonical JSON (sorted keys; paths as strings)."""
    record = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(record.encode("utf-8")).hexdigest()


class Cache:
    """Arrays stored by ``(kind, key)`` under one folder; see the module docstring.

    Args:
      root: the cache folder (created on first write).
      force: ignore existing entries (every :meth:`load` misses) but still write new ones.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, force: bool = False):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.force = force
        self._digests: dict[tuple[str, int, int], str] = {}

    def ensure_folder(self) -> None:
        """Creates the cache folder, or checks that it is one: called before any work, so that a cache that cannot
        be used stops a run at once rather than after its first song. A folder that exists but cannot be written
        is let through (a shared, read-only cache that already holds every entry works): a miss then becomes a
        :class:`CacheError` for that song (:meth:`save`).

        Raises:
          CacheError: naming the folder and why.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(self.root, f"cannot be used as the cache folder ({error.strerror or error}); choose "
                                        "another with --cache or $JAXSEP_CACHE") from None

    def file_digest(self, path: str | os.PathLike) -> str:
        """SHA-256 of a file's bytes, remembered per ``(path, size, mtime)`` for the life of this object."""
        path = Path(path)
        stat = path.stat()
        memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if memo not in self._digests:
            digest = hashlib.sha256()
            with path.open("rb") as stream:
                for chunk in iter(lambda: stream.read(_CHUNK), b""):
                    digest.update(chunk)
            self._digests[memo] = digest.hexdigest()
        return self._digests[memo]

    def path(self, kind: str, key: str) -> Path:
        """Where the entry ``(kind, key)`` lives."""
        return self.root / kind / key[:2] / f"{key}.npz"

    def load(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``(kind, key)``, or ``None`` when absent, unreadable or ``force`` is set."""
        if self.force:
            return None
        path = self.path(kind, key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            return None

    def save(self, kind: str, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Stores ``arrays`` under ``(kind, key)`` atomically (temporary file, then rename); returns the path.

        Raises:
          CacheError: the entry cannot be written (a read-only cache, a full disk).
        """
        path = self.path(kind, key)
        try:
            with atomic_path(path, suffix=".tmp.npz") as temporary, temporary.open("wb") as stream:
                np.savez(stream, **{name: np.asarray(value) for name, value in arrays.items()})
        except OSError as error:
            raise CacheError(path, f"cannot write this cache entry ({error.strerror or error})") from None
        return path

    def entries(self, kind: str) -> list[Path]:
        """Every stored entry of ``kind`` (for tests and housekeeping)."""
        folder = self.root / kind
        return sorted(p for p in folder.glob("*/*.npz") if not p.name.startswith(".")) if folder.is_dir() else []
