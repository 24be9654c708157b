"""The ``jaxsep`` command line: a thin typer layer, one module per command group.

    common       consoles, the one error-to-exit wrapper, option types with the config's defaults
    train        run, report, sweep, show, params
    predict      predict
    audio        features, separate
    separation   evaluate-separation
    synth        synth
    demo         demo, pairs

The audio front end (librosa, and torch for demucs) is imported inside the commands that use it.
"""

from __future__ import annotations

import typer

from . import audio, demo, predict, separation, synth, train

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Source-separated spectrogram stacks for genre "
                  "classification, with a vectorized JAX trial engine.")

for _group in (train, predict, audio, separation, synth, demo):
    _group.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


__all__ = ["app", "main"]
