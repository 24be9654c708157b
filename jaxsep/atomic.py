"""Atomic file writes: a file (or a folder) appears whole under its name or not at all.

Every writer in jaxsep (feature files, cache entries, audio, the synthetic set, run folders) writes a
temporary file in the destination's folder and renames it into place, so a run killed mid-write leaves
the old file (or none) and no half-written one; the temporary file is removed on any failure. Folders are
built under a hidden name beside their destination and swapped in by :func:`swap_folder`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once (reading it means setting it).
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; renames it to ``path`` when the block succeeds.

    Args:
      path: the destination (its folder is created).
      suffix: the temporary file's suffix (``".tmp.npz"`` for ``np.savez``, which appends ``.npz`` otherwise).

    On any exception (Ctrl-C included) the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp made the file private (0600): give it the mode of the file it replaces, or what open() gives
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.is_file() else 0o666 & ~_UMASK)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def swap_folder(staging: Path, out: Path) -> None:
    """Renames the finished folder ``staging`` to ``out`` (both in one folder); an earlier ``out`` is first moved
    into a fresh hidden folder beside it, then removed, so ``out`` always names a whole folder."""
    staging, out = Path(staging), Path(out)
    if not out.exists():
        staging.rename(out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    out.rename(trash / out.name)
    staging.rename(out)
    shutil.rmtree(trash, ignore_errors=True)
