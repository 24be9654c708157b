"""jaxsep: source-separated spectrogram stacks for genre classification, with a vectorized JAX trial engine.

The data path, one subpackage per stage:

    audio/       decode and check audio, find labelled songs in the layouts people hold, cut segments
    separation/  stems from a song: htdemucs, a no-weights DSP separator, or the true stems; SDR; export
    features/    per-stem log-mel maps, cached per song, in one feature file
    nn/          the paper's four Flax models and their hand-written layers
    training/    splits, the per-trial trainer, the vectorized trial engine, the experiment
    results/     statistics over trials, Table 1, Figure 1, the run folder
    synth/       the built-in synthetic EDM set with true stems
    cli/         the ``jaxsep`` command line

The top-level names below are the public API of the back half (feature file → results). The audio front end
and the synthetic set are imported on use, so ``import jaxsep`` stays light (no torch).
"""

from .config import RunConfig, TrainConfig
from .constants import MAPS, STEMS
from .errors import (
    AudioError,
    ConfigError,
    FeatureFileError,
    JaxsepError,
    RunFolderError,
)
from .features.file import FeatureSet, load_features, save_features
from .nn.models import MODELS, create_model, parameter_table
from .results.run_folder import load_results, write_run
from .results.statistics import compare, summarize
from .results.tables import table_rows
from .training.engine import run_trials
from .training.experiment import run_experiment

__all__ = [
    "AudioError", "ConfigError", "FeatureFileError", "FeatureSet", "JaxsepError", "MAPS", "MODELS", "RunConfig",
    "RunFolderError", "STEMS", "TrainConfig", "compare", "create_model", "load_features", "load_results",
    "parameter_table", "run_experiment", "run_trials", "save_features", "summarize", "table_rows", "write_run",
]
