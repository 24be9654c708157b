"""``jaxsep demo`` (the main job on the built-in synthetic set) and ``jaxsep pairs`` (binary class pairs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..cache import Cache, default_cache_dir
from ..results.run_folder import COMPARISON, PAIRS
from ..workflows.demo import DEMO_DIFFICULTY, DEMO_SEGMENTS, DEMO_TRIALS, run_demo, run_pairs
from .common import (
    RECIPE,
    RUN,
    CacheDir,
    ConfigFile,
    ModelRepo,
    Models,
    Overwrite,
    command_config,
    command_line,
    config_of,
    console,
    fail_cleanly,
    join,
    load_run_features,
    out,
    parse_names,
    show_run,
    train_bars,
    with_options,
)


@with_options(RECIPE)
def demo(
    ctx: typer.Context,
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")] = Path("runs/demo"),
    data: Annotated[Optional[Path], typer.Option(help="Songs to use instead of the synthetic set (folder or "
                                                      "manifest).")] = None,
    separator: Annotated[Optional[str], typer.Option(help="dsp (default), given (true stems) or demucs.")] = None,
    compare_separators: Annotated[bool, typer.Option(help="Run true, dsp and (if weights are found) demucs "
                                                          "stems and compare.")] = False,
    trials: Annotated[int, typer.Option(help=f"Trials (default {DEMO_TRIALS}; the paper ran 50).")] = DEMO_TRIALS,
    difficulty: Annotated[float, typer.Option(help="The synthetic set's difficulty, 0 (textbook genres) to 1 "
                                                   "(blurred).")] = DEMO_DIFFICULTY,
    segments_per_song: Annotated[int, typer.Option(help="Segments taken from each song (1: the paper's "
                                                        "protocol).")] = DEMO_SEGMENTS,
    models: Models = join(RUN.models),
    cache: CacheDir = None,
    model_repo: ModelRepo = None,
    config_file: ConfigFile = None,
    overwrite: Overwrite = False,
    resume: Annotated[bool, typer.Option(help="With --overwrite: continue an unfinished demo of the same "
                                              "configuration instead of starting afresh (what `make demo` does).")
                      ] = False,
    options: dict | None = None,
):
    """Run the main job: synthetic songs (or yours) → stems → mels → four models → Table 1, figures, report."""
    config = command_config(ctx, config_file, config_of(options, models=models, trials=trials))
    if config.trials < 50:
        console.print(f"note: {config.trials} trials (the paper ran 50; pass --trials 50 for the full protocol)")
    with train_bars() as progress:
        runs = run_demo(out_dir, config, data=data, cache=Cache(cache or default_cache_dir()), separator=separator,
                        compare_separators=compare_separators, model_repo=model_repo, overwrite=overwrite,
                        resume=resume, difficulty=difficulty, segments_per_song=segments_per_song,
                        say=lambda text: console.print(text, highlight=False, markup=False),
                        train_progress=progress, extra={"command": command_line(ctx)})
    for name in runs:
        out.print(f"\n[bold]separator: {name}[/bold]")
        if compare_separators:
            out.print((out_dir / name / "table.md").read_text(), highlight=False, soft_wrap=True)
    if compare_separators:
        out.print((out_dir / COMPARISON).read_text(), highlight=False, soft_wrap=True)
        out.print(f"Folder: {out_dir} (one run folder per separator, comparison.md)", highlight=False)
    else:
        show_run(out_dir)


@with_options(RECIPE)
def pairs(
    features: Annotated[Path, typer.Argument(help="Feature file (.npz).")],
    pair: Annotated[list[str], typer.Option(help="Two class names 'a,b'; repeat for more pairs.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write.")] = Path("runs/pairs"),
    models: Models = "full",
    trials: Annotated[int, typer.Option(help="Trials per pair.")] = 20,
    overwrite: Overwrite = False,
    options: dict | None = None,
):
    """Run the paper's introductory experiment: binary tasks on class pairs (a similar pair should be harder)."""
    config = config_of(options, models=models, trials=trials)
    loaded = load_run_features(features, config, None)
    chosen = [parse_names(p) for p in pair]
    with train_bars() as progress:
        run_pairs(loaded, chosen, config, out_dir, overwrite=overwrite, train_progress=progress,
                  say=lambda text: console.print(text, highlight=False, markup=False))
    out.print((out_dir / PAIRS).read_text(), highlight=False, soft_wrap=True)
    out.print(f"Folder: {out_dir} (one run folder per pair, pairs.md)", highlight=False)


def register(app: typer.Typer) -> None:
    """Adds ``demo`` and ``pairs`` to ``app``."""
    app.command("demo")(fail_cleanly(demo))
    app.command("pairs")(fail_cleanly(pairs))
