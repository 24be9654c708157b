"""jaxsep: source-separated spectrogram stacks for genre classification, with a vectorized JAX trial engine.

The data path, one subpackage per stage:

    audio/       decode and check audio, find labelled songs in the layouts people hold, cut segments
    separation/  stems from a song: htdemucs, a no-weights DSP separator, or the true stems; SDR; export
    features/    per-stem log-mel maps, cached per song, in one feature file
    nn/          the paper's four Flax models, any model named by its maps, three heads, the hand-written layers
    training/    splits, the per-trial trainer, the vectorized trial engine, the experiment
    results/     statistics over trials, Table 1, Figure 1, the run folder
    synth/       the built-in synthetic EDM set with true stems
    workflows/   what a command runs end to end: resumable run folders, the ablation, the data-size curve, rerun
                 and compare, the demo, predictions
    cli/         the ``jaxsep`` command line

The top-level names below are the public API of the back half (feature file → results). They are loaded on
first use (PEP 562), so ``import jaxsep`` and its light modules (``jaxsep.config``, ``jaxsep.constants``,
``jaxsep.options``) import neither JAX nor torch.
"""

from __future__ import annotations

import importlib

#: Public name → the module that defines it.
_EXPORTS = {
    "RunConfig": "config", "TrainConfig": "config",
    "MAPS": "constants", "STEMS": "constants",
    "AudioError": "errors", "ConfigError": "errors", "FeatureFileError": "errors", "JaxsepError": "errors",
    "RunFolderError": "errors",
    "FeatureSet": "features.file", "load_features": "features.file", "save_features": "features.file",
    "MODELS": "nn.models", "create_model": "nn.models", "parameter_table": "nn.models",
    "load_results": "results.run_folder", "write_run": "results.run_folder",
    "compare": "results.statistics", "summarize": "results.statistics",
    "table_rows": "results.tables",
    "run_trials": "training.engine",
    "run_experiment": "training.experiment",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jaxsep' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
