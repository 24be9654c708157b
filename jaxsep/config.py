"""Frozen configuration of a trial: one documented default per field, the paper's protocol where it says.

The paper gives epochs (6), the 80/20 split, dropout (0.5), batch norm, L1+L2 penalties, Adam-style training
and class weights; it does not give filter counts, kernel size, penalty weights or learning rate. Our
defaults for those are chosen for 66 songs (see README, "Models").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from .constants import ROPE
from .errors import ConfigError
from .options import GroupBy, Precision, SelectOn, Strategy, choose

#: Trials a run trains between two saves of its unfinished state (:mod:`jaxsep.workflows.runs`): what a killed run loses
#: at most, per model.
TRIALS_PER_UNIT = 10


@dataclass(frozen=True)
class TrainConfig:
    """How one trial trains and is scored.

    Attributes:
      epochs: passes over the training split (paper: 6).
      batch_size: clips per step; the last, smaller batch of an epoch is padded and masked. Not in the paper; 8
        (7 steps per epoch for 53 training songs), chosen with ``learning_rate`` by the sweeps in
        benchmarks/RESULTS.md ("The recipe"): with Keras' defaults (32, 1e-3) one Adam step moves each of the
        dense layer's ~117k × classes weights by ~1e-3, the logits by tens, and the loss blows up.
      learning_rate: Adam step size (not in the paper; 1e-4, see ``batch_size``).
      filters: output channels of the two conv blocks (not in the paper; 16/32 for 66 songs).
      kernel_size: side of the square conv window (not in the paper; 3).
      l1, l2: penalty weights on every conv and dense kernel (not in the paper; 1e-4 each).
      dropout: rate before the dense layer (paper: 0.5).
      bn_momentum: batch-norm running-average momentum. 0.9 rather than Keras' 0.99: a trial takes only
        ~12 steps, and with 0.99 the running statistics used at test time would still be ~89 % their init.
      bn_epsilon: batch-norm epsilon (Keras' 1e-3).
      test_fraction: share of each class held out for testing (paper: 0.2).
      select_on: a :class:`~jaxsep.options.SelectOn`: ``test`` picks the reported epoch by minimum test loss (the
        paper's protocol, which flatters every model); ``validation`` picks it on a validation part carved from
        the training split.
      validation_fraction: share of the training split held out when ``select_on == "validation"``.
      standardize: standardize each input map with mean/std over the trial's training songs, so the
        conv outputs start near the batch-norm running statistics' init.
      precision: a :class:`~jaxsep.options.Precision`. ``tf32`` (JAX's default) computes exactly as float32 on a
        CPU; ``bf16`` roughly halves the activations' memory traffic on a GPU and is checked against float32 by
        ``benchmarks/precision.py`` (same distribution of selected accuracy over trials).
    """

    epochs: int = 6
    batch_size: int = 8
    learning_rate: float = 1e-4
    filters: tuple[int, int] = (16, 32)
    kernel_size: int = 3
    l1: float = 1e-4
    l2: float = 1e-4
    dropout: float = 0.5
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-3
    test_fraction: float = 0.2
    select_on: SelectOn = SelectOn.TEST
    validation_fraction: float = 0.2
    standardize: bool = True
    precision: Precision = Precision.TF32

    def __post_init__(self):
        # Strings are accepted (the CLI, results.json) and kept as members of their table.
        object.__setattr__(self, "select_on", choose(SelectOn, self.select_on, "select_on"))
        object.__setattr__(self, "precision", choose(Precision, self.precision, "precision"))
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.learning_rate < math.inf:
            raise ConfigError(f"learning_rate must be a finite number > 0, got {self.learning_rate}")
        if len(self.filters) != 2 or min(self.filters) < 1:
            raise ConfigError(f"filters must be two positive counts, got {self.filters}")
        if self.kernel_size < 1:
            raise ConfigError(f"kernel_size must be >= 1, got {self.kernel_size}")
        if not (0 <= self.l1 < math.inf and 0 <= self.l2 < math.inf):
            raise ConfigError(f"l1 and l2 must be finite numbers >= 0, got {self.l1}, {self.l2}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must be in (0, 1), got {self.validation_fraction}")

    @property
    def uses_validation(self) -> bool:
        return self.select_on == SelectOn.VALIDATION

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class RunConfig:
    """Which models, how many trials, and how the engine runs them.

    Attributes:
      models: model names (:func:`jaxsep.nn.models.get_spec`: the paper's four, or maps joined by ``+``).
      trials: independent train/test splits (paper: 50).
      seed: trial ``t`` uses seed ``seed + t`` for its split, init, shuffling and dropout.
      train: the per-trial protocol.
      trials_per_chunk: trials compiled and run together; ``None`` picks from a memory estimate.
      concurrent_trials: trials a per-trial lowering runs at once; ``None`` picks by backend
        (:func:`jaxsep.training.engine.default_concurrent_trials`); results never depend on it.
      strategy: a :class:`~jaxsep.options.Strategy` (see :mod:`jaxsep.training.engine`); results never depend on
        it.
      baseline: the model p-values are computed against (paper: ``novox``); any model of the run.
      reference: also score the classical reference classifier (:mod:`jaxsep.training.classical`) on the
        same splits, as rows of the table.
      reference_maps: the map sets the reference reads, one row each (``"mix"``, ``"bass+drums+other"``...).
      rope: half-width of the region of practical equivalence of the Bayesian comparison (a metric
        difference smaller than this counts as no difference).
      group_by: keep every song of a group (a :class:`~jaxsep.options.GroupBy`: its artists) on one side of each
        split; ``None`` splits songs.
      train_songs_per_class: train on at most this many songs of each class: a random subsample of the trial's
        training songs, nested (a trial's smaller sizes are subsets of its larger ones); ``None``: all of them.
        For the data-size curve (:mod:`jaxsep.workflows.curve`), with ``curve_songs_per_class``.
      curve_songs_per_class: the largest size of a data-size curve: each class keeps this many songs (at most
        all but one) for training and tests on the rest, so every size of the curve has the same test songs.
    """

    models: tuple[str, ...] = ("full", "novox", "stems3", "stems3_dw")
    trials: int = 50
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    trials_per_chunk: int | None = None
    concurrent_trials: int | None = None
    strategy: Strategy = Strategy.AUTO
    baseline: str = "novox"
    reference: bool = True
    reference_maps: tuple[str, ...] = ("mix",)
    rope: float = ROPE
    group_by: GroupBy | None = None
    train_songs_per_class: int | None = None
    curve_songs_per_class: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "strategy", choose(Strategy, self.strategy, "strategy",
                                                    message="unknown strategy {value!r}; choose from {choices}"))
        if self.trials < 1:
            raise ConfigError(f"trials must be >= 1, got {self.trials}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        if self.trials_per_chunk is not None and self.trials_per_chunk < 1:
            raise ConfigError(f"trials_per_chunk must be >= 1, got {self.trials_per_chunk}")
        if self.concurrent_trials is not None and self.concurrent_trials < 1:
            raise ConfigError(f"concurrent_trials must be >= 1, got {self.concurrent_trials}")
        if not self.models:
            raise ConfigError("no models chosen")
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models listed twice: {list(self.models)}")
        if not 0 <= self.rope < 1:
            raise ConfigError(f"rope must be in [0, 1), got {self.rope}")
        if self.group_by is not None:
            object.__setattr__(self, "group_by", choose(GroupBy, self.group_by, "group_by"))
        if self.reference and not self.reference_maps:
            raise ConfigError("reference rows need at least one map set (reference_maps)")
        if len(set(self.reference_maps)) != len(self.reference_maps):
            raise ConfigError(f"reference map sets listed twice: {list(self.reference_maps)}")
        self._check_curve()

    def _check_curve(self) -> None:
        sizes = (self.train_songs_per_class, self.curve_songs_per_class)
        if sizes == (None, None):
            return
        if None in sizes or min(sizes) < 1:
            raise ConfigError(f"train_songs_per_class and curve_songs_per_class go together, each >= 1; got {sizes}")
        if self.train_songs_per_class > self.curve_songs_per_class:
            raise ConfigError(f"train_songs_per_class {self.train_songs_per_class} is above the curve's largest size "
                              f"{self.curve_songs_per_class}")
        if self.group_by is not None:
            raise ConfigError("a data-size curve does not split by groups yet: drop group_by")

    @property
    def subsampled(self) -> bool:
        """Whether trials train on a subsample of their training songs (a size of a data-size curve)."""
        return self.train_songs_per_class is not None
