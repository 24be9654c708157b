"""Training: the paper's protocol over many random splits, every trial of a model in one compiled program.

    splits.make_splits           stratified 80/20 (and validation) splits, one per trial seed; class weights;
                                 artist-grouped splits; a data-size curve's nested training subsets
    groups.artist_groups         songs that share an artist, as groups a split keeps on one side
    metrics                      accuracy, macro-F1, confusion counts of one trial (jnp, masked)
    trainer.make_train_trial     one trial as a pure function ``(trial, data) -> TrialOutput`` (epochs as scans)
    stepped.SteppedTrial         the same trial driven a few unrolled steps per call (XLA:CPU)
    engine.run_trials            all trials of one model: vmap / map / sequential / stepped, sharded, chunked
    xla_options                  per-program XLA compiler options chosen by measurement
    experiment.run_experiment    every model over the same splits → the results dict of a run
    outcomes.trial_entry         one trial's record in results.json, for a CNN and a reference row alike
    classical.run_references     the logistic-regression reference rows (one per map set) over the same splits
    sweep.run_sweep              hyperparameter combinations × trials, vmapped together
    distributed                  several processes (jax.distributed): who trains which trial, gathering
"""

from .engine import LOWERINGS, EngineReport, run_trials
from .experiment import run_experiment
from .splits import make_splits
from .trainer import TrainState, Trial, TrialData, make_train_trial

__all__ = ["LOWERINGS", "EngineReport", "Trial", "TrialData", "TrainState", "make_splits", "make_train_trial",
           "run_experiment", "run_trials"]
