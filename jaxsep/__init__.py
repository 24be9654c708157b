"""jaxsep: source-separated spectrogram stacks for genre classification, with a vectorized JAX trial engine.

The public surface: feature files, the models, the trial engine and experiment, statistics and reports.
The audio front end (:mod:`jaxsep.featurize`, :mod:`jaxsep.separation`) and the synthetic data set
(:mod:`jaxsep.synth`) are imported on use, so ``import jaxsep`` stays light (no torch).
"""

from .config import RunConfig, TrainConfig
from .constants import MAPS, STEMS
from .engine import run_trials
from .errors import AudioError, ConfigError, FeatureFileError, JaxsepError, RunFolderError
from .experiment import run_experiment
from .featurefile import FeatureSet, load_features, save_features
from .models import MODELS, create_model, parameter_table
from .report import table_rows
from .runfolder import load_results, write_run
from .stats import compare, summarize

__all__ = [
    "AudioError", "ConfigError", "FeatureFileError", "FeatureSet", "JaxsepError", "MAPS", "MODELS", "RunConfig",
    "RunFolderError", "STEMS", "TrainConfig", "compare", "create_model", "load_features", "load_results",
    "parameter_table", "run_experiment", "run_trials", "save_features", "summarize", "table_rows", "write_run",
]
