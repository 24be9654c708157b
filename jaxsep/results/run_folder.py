"""The run folder: ``results.json``, ``table.md``, ``table.csv``, ``f1_distributions.png``, written atomically.

Files are written into a hidden sibling folder which is renamed into place only when complete, so an
interrupted run never leaves a folder that looks finished. ``results.json`` marks a finished run.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from ..errors import RunFolderError
from .figures import plot_f1_distributions
from .tables import table_csv, table_markdown, table_rows

RESULTS = "results.json"


def check_out_dir(out: Path, *, overwrite: bool) -> None:
    """Refuses an output folder that is a file, or that is not empty, unless ``overwrite``.

    Raises:
      RunFolderError: naming the folder and what it holds.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: exists and is not a folder")
    if overwrite or not out.exists() or not any(out.iterdir()):
        return
    what = "a finished run" if (out / RESULTS).exists() else "files"
    raise RunFolderError(f"{out}: already holds {what}; pass --overwrite to replace it")


def _json_safe(value):
    """NaN/inf → None so results.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _write_report_files(folder: Path, results: dict) -> None:
    import matplotlib.pyplot as plt

    rows = table_rows(results)
    (folder / "table.md").write_text(table_markdown(results, rows))
    (folder / "table.csv").write_text(table_csv(rows))
    axes = plot_f1_distributions(results)
    figure = axes[0].figure
    figure.tight_layout()
    figure.savefig(folder / "f1_distributions.png", dpi=120)
    plt.close(figure)


@contextlib.contextmanager
def staged_folder(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yields a hidden staging folder beside ``out`` and renames it to ``out`` when the block succeeds;
    on any error (or Ctrl-C) the staging folder is removed and ``out`` is left as it was.

    Raises:
      RunFolderError: see :func:`check_out_dir`.
    """
    out = Path(out)
    check_out_dir(out, overwrite=overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield staging
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            out.rename(trash / out.name)
            staging.rename(out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_run_files(folder: Path, results: dict) -> None:
    """Writes ``results.json`` and the report files into an existing (staging) folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS).write_text(json.dumps(_json_safe(results), indent=1))
    _write_report_files(folder, results)


def write_run(out: Path, results: dict, *, overwrite: bool = False) -> Path:
    """Writes a finished run atomically and returns its folder.

    Raises:
      RunFolderError: see :func:`check_out_dir`.
    """
    with staged_folder(out, overwrite=overwrite) as staging:
        write_run_files(staging, results)
    return Path(out)


def load_results(run: Path) -> dict:
    """Reads ``results.json`` of a run folder; RunFolderError if missing or unreadable."""
    path = Path(run) / RESULTS
    if not path.is_file():
        raise RunFolderError(f"{run}: no {RESULTS} (not a finished jaxsep run)")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: not valid JSON ({error})") from error


def rebuild_report(run: Path) -> dict:
    """Rewrites ``table.md``, ``table.csv`` and the figure of a run folder from its ``results.json``."""
    results = load_results(run)
    _write_report_files(Path(run), _restore_nan(results))
    return results


def _restore_nan(value):
    """None → NaN where results.json stored a non-finite number (inverse of :func:`_json_safe` for
    metric values)."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {k: _restore_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_nan(v) for v in value]
    return value
