"""The run folder: ``results.json``, ``table.md``, ``table.csv`` and the figures, written atomically.

Files are written into a hidden sibling folder which is renamed into place only when complete, so an
interrupted run never leaves a folder that looks finished. ``results.json`` marks a finished run; a folder
written by an earlier jaxsep (``format_version`` 1) is read by upgrading its records (:func:`upgrade_results`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import swap_folder
from ..errors import FeatureFileError, RunFolderError
from ..features.file import FeatureSet, load_features
from ..training.experiment import RESULTS_FORMAT_VERSION
from ..training.outcomes import METRICS, class_f1, selected_epochs
from .ablation import ABLATION, ablation_markdown
from .curve import CURVE
from .figures import (
    STACK_MAPS,
    plot_confusion,
    plot_f1_distributions,
    plot_feature_stacks,
    plot_forest,
    plot_learning_curves,
)
from .html import report_html
from .tables import reference_rows, table_csv, table_markdown, table_rows

RESULTS = "results.json"
#: The summaries of a folder of runs: one run per separator (``demo --compare-separators``), per class pair, per
#: size of a data-size curve.
COMPARISON, PAIRS = "comparison.md", "pairs.md"
#: Files that mark a folder as jaxsep's own output (``--overwrite`` replaces only such a folder).
OUTPUTS = (RESULTS, COMPARISON, PAIRS, CURVE)
REPORT = "report.html"
STACKS = "feature_stacks.png"
#: The figures of a run folder: file name → plotting function.
FIGURES = {"f1_distributions.png": plot_f1_distributions, "forest.png": plot_forest,
           "learning_curves.png": plot_learning_curves, "confusion.png": plot_confusion}


def check_out_dir(out: Path, *, overwrite: bool) -> None:
    """Refuses an output folder that is a file, or that is not empty unless ``overwrite`` — and even then one
    that jaxsep did not write (no ``results.json``, ``comparison.md`` or ``pairs.md``): ``--overwrite`` replaces an
    earlier output, never a folder of other files.

    Raises:
      RunFolderError: naming the folder and what it holds.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"{out}: exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    ours = any((out / name).is_file() for name in OUTPUTS)
    if overwrite and ours:
        return
    if overwrite:
        raise RunFolderError(f"{out}: holds files but no jaxsep output ({', '.join(OUTPUTS[:-1])} or "
                             f"{OUTPUTS[-1]}); --overwrite only replaces a folder jaxsep wrote: choose another folder")
    what = "a finished run" if (out / RESULTS).exists() else "files"
    raise RunFolderError(f"{out}: already holds {what}; pass --overwrite to replace it")


def json_safe(value):
    """NaN/inf → None so results.json is strict JSON; numpy numbers as Python's."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def save_figure(axes, path: Path) -> None:
    """Saves the figure of ``axes`` (an axis or an array of them) as a PNG at ``path`` and closes it."""
    import matplotlib.pyplot as plt

    figure = np.asarray(axes, dtype=object).reshape(-1)[0].figure
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _write_report_files(folder: Path, results: dict, features: FeatureSet | None = None,
                        name: str | None = None) -> None:
    """Tables, figures (the feature stacks when ``features`` holds the stem maps) and ``report.html`` (titled
    ``name``, default the folder's)."""
    rows, references = table_rows(results), reference_rows(results)
    (folder / "table.md").write_text(table_markdown(results, rows, references))
    (folder / "table.csv").write_text(table_csv(rows))
    if results.get("ablation"):
        (folder / ABLATION).write_text(ablation_markdown(results, rows, references))
    for file_name, plot in FIGURES.items():
        save_figure(plot(results), folder / file_name)
    if features is not None and all(m in features.maps for m in ("mix", *STACK_MAPS)):
        save_figure(plot_feature_stacks(features), folder / STACKS)
    (folder / REPORT).write_text(report_html(folder, results, name=name), encoding="utf-8")


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
        swap_folder(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_run_files(folder: Path, results: dict, features: FeatureSet | None = None, *,
                    name: str | None = None) -> None:
    """Writes ``results.json`` and the report files into an existing (staging) folder; with ``features`` (the
    run's feature set) the report also shows its feature stacks; ``name`` titles the report (default: the
    folder's name)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RESULTS).write_text(json.dumps(json_safe(results), indent=1))
    _write_report_files(folder, results, features, name)


def write_run(out: Path, results: dict, *, features: FeatureSet | None = None, overwrite: bool = False) -> Path:
    """Writes a finished run atomically and returns its folder (``features``: see :func:`write_run_files`).

    Raises:
      RunFolderError: see :func:`check_out_dir`.
    """
    with staged_folder(out, overwrite=overwrite) as staging:
        write_run_files(staging, results, features, name=Path(out).name)
    return Path(out)


def load_results(run: Path) -> dict:
    """Reads ``results.json`` of a run folder, upgraded to the current layout (:func:`upgrade_results`).

    Raises:
      RunFolderError: missing, unreadable, or written in a layout this jaxsep cannot read.
    """
    path = Path(run) / RESULTS
    if not path.is_file():
        raise RunFolderError(f"{run}: no {RESULTS} (not a finished jaxsep run)")
    try:
        results = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunFolderError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(results, dict):
        raise RunFolderError(f"{path}: not a JSON object (damaged, or not written by jaxsep)")
    try:
        results = upgrade_results(results, where=path)
    except (KeyError, TypeError, IndexError, AttributeError, StopIteration, ValueError) as error:
        raise RunFolderError(f"{path}: cannot read this earlier layout ({type(error).__name__}: {error}; damaged?)") \
            from None
    _check_layout(results, path)
    return results


def _check_layout(results: dict, path: Path) -> None:
    """Checks that ``results`` holds what the tables, figures and ``predict`` read.

    Raises:
      RunFolderError: naming the first entry missing or of the wrong kind.
    """
    def need(ok, what: str) -> None:
        if not ok:
            raise RunFolderError(f"{path}: {what} (damaged, or not written by jaxsep)")

    for key in ("config", "data", "split", "models"):
        need(isinstance(results.get(key), dict), f"lacks the {key!r} object")
    config, data, split = results["config"], results["data"], results["split"]
    need(isinstance(data.get("classes"), list) and data["classes"], "'data.classes' is not a list of classes")
    need(isinstance(config.get("trials"), int) and config["trials"] >= 1, "'config.trials' is not a count")
    need(isinstance(config.get("train"), dict), "lacks the 'config.train' object")
    need(all(isinstance(split.get(k), int) and split[k] > 0 for k in ("train", "test")),
         "'split' lacks positive 'train' and 'test' song counts")
    need(len(results["models"]) > 0, "holds no models")
    for name, entry in results["models"].items():
        need(isinstance(entry, dict) and isinstance(entry.get("trials"), list), f"model {name!r} lacks its trials")
        for record in entry["trials"]:
            need(isinstance(record, dict) and "trial" in record and "failed" in record,
                 f"a trial of {name!r} lacks 'trial' or 'failed'")
            need(record["failed"] or all(isinstance(record.get(k), dict) for k in ("chosen", "last")),
                 f"trial {record['trial']} of {name!r} lacks its 'chosen' or 'last' scores")


def upgrade_results(results: dict, *, where: str | Path = "<results>") -> dict:
    """``results`` in the layout of :data:`RESULTS_FORMAT_VERSION`; version 1 is upgraded from its own records.

    Version 1 kept each trial's per-epoch history and predictions, so its split sizes, every selection rule's
    epoch and the per-class F1 are recomputed; its divergence was not recorded (the table says so with "–").
    The upgraded dict says ``"upgraded_from": 1``.

    Raises:
      RunFolderError: a version newer than this jaxsep, or one it does not know.
    """
    version = results.get("format_version", 1)
    if version == RESULTS_FORMAT_VERSION:
        return results
    if version != 1:
        raise RunFolderError(f"{where}: results format_version {version!r}; this jaxsep reads versions 1 to "
                             f"{RESULTS_FORMAT_VERSION} (a newer jaxsep wrote it?)")
    upgraded = copy.deepcopy(results)
    n_classes = len(upgraded["data"]["classes"])
    first = next(iter(upgraded["models"].values()))["trials"][0]
    n_test, n_validation = len(first["test_songs"]), len(first.get("validation_songs", []))
    upgraded["split"] = {"train": upgraded["data"]["songs"] - n_test - n_validation, "test": n_test,
                         "validation": n_validation}
    for entry in upgraded["models"].values():
        for record in entry["trials"]:
            if record["failed"]:
                continue
            history = {k: np.asarray(v, dtype=np.float64) for k, v in record["epochs"].items()}
            record["selections"] = {
                rule: {"epoch": epoch, **{m: float(history[f"test_{m}"][epoch]) for m in METRICS}}
                for rule, epoch in selected_epochs(history).items()
            }
            record["class_f1"] = class_f1(record["true_labels"], record["predicted_labels"], n_classes)
    upgraded["format_version"] = RESULTS_FORMAT_VERSION
    upgraded["upgraded_from"] = version
    return upgraded


def rebuild_report(run: Path) -> dict:
    """Rewrites the tables, figures and report of a run folder from its ``results.json`` (any readable
    version); the feature stacks are redrawn when the run's feature file is still where it was."""
    results = load_results(run)
    features = None
    path = results.get("data", {}).get("path")
    if path and Path(path).is_file():
        try:
            features = load_features(path)
        except FeatureFileError:
            features = None  # changed since the run: keep the picture the run drew
    # NaN only where a metric was not finite: a setting recorded as null (trials_per_chunk...) stays None
    restored = {**results, **{key: _restore_nan(results[key]) for key in ("models", "reference") if key in results}}
    _write_report_files(Path(run), restored, features)
    return results


def _restore_nan(value):
    """None → NaN where results.json stored a non-finite number (inverse of :func:`json_safe` for
    metric values)."""
    if value is None:
        return math.nan
    if isinstance(value, dict):
        return {k: _restore_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore_nan(v) for v in value]
    return value
