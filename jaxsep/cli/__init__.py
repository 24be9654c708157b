"""The ``jaxsep`` command line: a thin typer layer, one module per command group.

    common       consoles, the one error-to-exit wrapper, option types with the config's defaults
    train        run, report, params
    audio        features, separate
    separation   evaluate-separation
    synth        synth
    demo         demo, pairs

Heavy modules (jax, the front end) are imported inside the commands, so ``jaxsep --help`` stays quick.
"""

from __future__ import annotations

import typer

from . import audio, demo, separation, synth, train

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Source-separated spectrogram stacks for genre "
                  "classification, with a vectorized JAX trial engine.")

for _group in (train, audio, separation, synth, demo):
    _group.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


__all__ = ["app", "main"]
