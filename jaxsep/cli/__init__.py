"""The ``jaxsep`` command line: a thin typer layer, one module per command group.

    common       consoles, the one error-to-exit wrapper, option types with the config's defaults
    train        run, report, sweep, show, params
    experiments  ablate, curve
    folders      rerun, compare
    predict      predict
    audio        features, separate
    separation   evaluate-separation
    synth        synth
    demo         demo, pairs

Here: ``--version``, typer's shell completion (``--install-completion``, ``--show-completion``), and jaxsep's
own warnings (a separator fallback, say) shown as one ``note:`` line each. The audio front end (librosa, and
torch for demucs, an optional extra) is imported inside the commands that use it.
"""

from __future__ import annotations

import contextlib
import warnings
from importlib import metadata
from typing import Annotated, Iterator

import typer

from . import audio, demo, experiments, folders, predict, separation, synth, train
from .common import say

app = typer.Typer(add_completion=True, no_args_is_help=True, help="Source-separated spectrogram stacks for genre "
                  "classification, with a vectorized JAX trial engine.")

for _group in (train, experiments, folders, predict, audio, separation, synth, demo):
    _group.register(app)


def package_version() -> str:
    """The installed distribution's version; a checkout run without installing (``python cli.py``) has none."""
    try:
        return metadata.version("jaxsep")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"jaxsep {package_version()}")
        raise typer.Exit()


@contextlib.contextmanager
def _warnings_as_notes() -> Iterator[None]:
    """While a command runs, a warning of jaxsep's own classes is one plain ``note:`` line on stderr (not
    Python's two-line ``file:line: Category: ...``); other warnings show as usual."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def note(message, category, filename, lineno, file=None, line=None):
            if category.__module__.split(".")[0] == "jaxsep":
                say(f"note: {message}")
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = note
        yield


@app.callback()
def _main(
    context: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print jaxsep's version and exit.")] = False,
) -> None:
    context.with_resource(_warnings_as_notes())


def main() -> None:  # pragma: no cover - console entry
    app()


__all__ = ["app", "main", "package_version"]
