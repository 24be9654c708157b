"""``jaxsep predict``: classify new songs with the models a run saved."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..cache import Cache, default_cache_dir
from .common import CacheDir, ModelRepo, fail_cleanly, out, say


def predict_command(
    run: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A run folder trained with "
                                                                           "--save-models.")],
    songs: Annotated[list[Path], typer.Argument(help="Audio files, or folders of them.")],
    model: Annotated[Optional[str], typer.Option(help="The model to use (default: the run's best by mean "
                                                      "F1).")] = None,
    json_file: Annotated[Optional[Path],
                         typer.Option("--json", help="Also write the predictions as JSON here.")] = None,
    cache: CacheDir = None,
    model_repo: ModelRepo = None,
):
    """Classify new songs: the run's front end (segment, separator, mels), then every saved trial of one
    model; prints each song's ensemble class, its probability and how many trials agree."""
    from ..atomic import write_text_atomic
    from ..workflows.predict import predict, predictions_json

    predictions, problems = predict(run, songs, model=model, cache=Cache(cache or default_cache_dir()),
                                    model_repo=model_repo, say=say)
    for problem in problems:
        say(f"{problem.file}: {problem.problem}", style="yellow")
    if predictions:
        table = Table(title=f"{predictions[0].model} ({predictions[0].trials} trials)")
        for column in ("song", "class", "probability", "trials agreeing"):
            table.add_column(column, justify="left" if column in ("song", "class") else "right")
        for p in predictions:
            table.add_row(p.path, p.label, f"{p.probability:.3f}", f"{p.agreement}/{p.trials}")
        out.print(table)
    if json_file is not None:
        write_text_atomic(json_file, predictions_json(predictions))
    if not predictions:
        say("no song could be classified", style="red")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Adds ``predict`` to ``app``."""
    app.command("predict")(fail_cleanly(predict_command))
