"""One trial of the paper's protocol as a pure function ``train_trial(trial, data) -> history``.

Written for ONE trial; :mod:`jaxsep.training.engine` vmaps (or maps) it over trials. The trial is built from
small pure functions (:func:`start_trial`, :func:`plan_epoch`, :func:`train_step`, :func:`end_epoch`, bound
to the network and protocol as :class:`TrialParts`) with two drivers that run the
same arithmetic: :func:`make_train_trial` (epochs and batches as ``lax.scan``, one XLA program) and
:class:`jaxsep.training.stepped.SteppedTrial` (a few unrolled steps per jitted call from Python, for XLA:CPU).

Shapes (``S`` songs, ``E`` epochs, ``C`` channels):

* ``data`` (:class:`TrialData`): ``x (S, mel, time, C)`` float16/float32 log-mel maps, ``y (S,)`` int32 labels,
  ``song_stats (S, 2, C)`` float32 per-song mean and mean square of each map (for standardization).
* ``trial`` (:class:`Trial`): ``key`` (a PRNG key), ``train (n_train,)``, ``test (n_test,)``,
  ``validation (n_val,)`` int32 song indices, ``class_weights (n_classes,)`` float32, and its scalar
  :class:`Hyperparameters` (so a sweep vmaps them together with the trials).
* the history (:attr:`TrialOutput.history`): a dict of ``train_loss`` (mean over the epoch's clips), ``first_step_loss`` (the loss of the
  epoch's first step, before its update: at epoch 0 the loss at initialization), ``test_loss``,
  ``test_accuracy``, ``test_f1`` each ``(E,)``, ``test_predictions (E, n_test)`` int32 and
  ``test_probabilities (E, n_test, n_classes)`` float32, and the ``validation_*`` counterparts when
  ``n_val > 0``.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from ..config import TrainConfig
from ..nn.models import GenreCNN, init_variables, kernel_penalty
from .metrics import accuracy, macro_f1


class Hyperparameters(NamedTuple):
    """The scalar hyperparameters of a trial, as float32 values that may differ between trials.

    Attributes:
      learning_rate: Adam's step size.
      l1, l2: penalty weights on every kernel.
      dropout: rate before the dense layer, in ``[0, 1)``.
    """

    learning_rate: jax.Array
    l1: jax.Array
    l2: jax.Array
    dropout: jax.Array

    @classmethod
    def from_config(cls, config: TrainConfig, trials: int | None = None) -> "Hyperparameters":
        """``config``'s values as float32 numpy scalars, or arrays of ``(trials,)`` equal values."""
        shape = () if trials is None else (trials,)
        return cls(*(np.full(shape, getattr(config, name), np.float32) for name in cls._fields))


class Trial(NamedTuple):
    """One trial's own inputs; the engine stacks them with a leading ``(trials,)`` axis on every field.

    Attributes:
      key: the trial's PRNG key (``jax.random.PRNGKey(seed)``), shape ``(2,)`` uint32.
      train, test, validation: int32 song indices, shapes ``(n_train,)``, ``(n_test,)``, ``(n_val,)``
        (``validation`` is empty unless the epoch is chosen on a validation part).
      class_weights: Keras ``balanced`` weights of the trial's training split, ``(n_classes,)`` float32.
      hyper: the trial's :class:`Hyperparameters` (the run's config for every trial, except in a sweep).
    """

    key: jax.Array
    train: jax.Array
    test: jax.Array
    validation: jax.Array
    class_weights: jax.Array
    hyper: Hyperparameters


class TrialData(NamedTuple):
    """The inputs every trial shares, placed on the device once.

    Attributes:
      x: log-mel maps, ``(S, mel, time, C)`` float16 or float32.
      y: labels, ``(S,)`` int32.
      song_stats: per-song mean and mean square of each map, ``(S, 2, C)`` float32 (:func:`song_statistics`).
    """

    x: jax.Array
    y: jax.Array
    song_stats: jax.Array


class TrainState(NamedTuple):
    """What a training step carries: the network's parameters and batch-norm statistics, and Adam's state."""

    params: dict
    batch_stats: dict
    opt_state: optax.OptState


History = dict  # {metric name: array with a leading (epochs,) axis}; see the module docstring
TrialFn = Callable[[Trial, TrialData], "TrialOutput"]


def song_statistics(x) -> jax.Array:
    """Per-song mean and mean square of each map, shape ``(S, 2, C)`` float32, from ``x (S, mel, time, C)``.

    Computed once per data set so a trial's standardization needs only its training songs' rows.
    """
    x = jnp.asarray(x, jnp.float32)
    return jnp.stack([x.mean(axis=(1, 2)), jnp.square(x).mean(axis=(1, 2))], axis=1)


def trial_data(x, labels) -> TrialData:
    """The shared inputs of every trial from maps ``x (S, mel, time, C)`` and ``labels (S,)``."""
    x = jnp.asarray(x)
    return TrialData(x=x, y=jnp.asarray(labels, jnp.int32), song_stats=song_statistics(x))


def _standardizer(song_stats: jax.Array, train: jax.Array):
    """Mean and std ``(C,)`` of each map over the training songs (equal frames per song)."""
    stats = song_stats[train].mean(axis=0)
    mean, mean_square = stats[0], stats[1]
    std = jnp.sqrt(jnp.maximum(mean_square - jnp.square(mean), 1e-12))
    return mean, std


def _pad_to_batches(indices: jax.Array, batch_size: int):
    """Pads ``indices (n,)`` to ``(steps, batch_size)`` with index 0 and returns a ``(steps, batch_size)``
    mask that is 1 on real rows."""
    n = indices.shape[0]
    # Never pad beyond the rows there are: a split smaller than a batch runs as one smaller batch.
    batch_size = min(batch_size, n)
    steps = -(-n // batch_size)
    padded = jnp.zeros(steps * batch_size, indices.dtype).at[:n].set(indices)
    mask = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
    return padded.reshape(steps, batch_size), mask.reshape(steps, batch_size)


def scan(f, carry, xs, *, unroll: int | bool = 1):
    """``lax.scan`` over the leading axis of ``xs``, except that ``unroll=True`` unrolls in Python: jax emits
    a fully "unrolled" ``lax.scan`` of length 1 as a ``while`` loop, where XLA:CPU runs convolution
    gradients far slower (jax issue #12868; benchmarks/RESULTS.md, "Lowerings, and before / after")."""
    if unroll is not True:
        return lax.scan(f, carry, xs, unroll=unroll)
    outputs = []
    for index in range(jax.tree.leaves(xs)[0].shape[0]):
        carry, output = f(carry, jax.tree.map(lambda leaf: leaf[index], xs))
        outputs.append(output)
    return carry, jax.tree.map(lambda *leaves: jnp.stack(leaves), *outputs)


#: The history entries with a per-song axis (``(E, n_test)``, ``(E, n_test, n_classes)``); the others are one
#: number per epoch.
PER_SONG = ("test_predictions", "test_probabilities")
#: Training steps per jitted call of :class:`~jaxsep.training.stepped.SteppedTrial` by default (an epoch of
#: ``n`` steps compiles at most two step programs: for this many steps and for ``n`` modulo it).
STEPS_PER_CALL = 8
#: Adam's moments; the step (−learning rate times them) is taken per trial, whose rate may be traced.
_ADAM = optax.scale_by_adam()


class TrialOutput(NamedTuple):
    """What a trained trial returns.

    Attributes:
      history: ``{metric: array}`` with a leading ``(epochs,)`` axis (see the module docstring); a leading
        ``(trials,)`` axis too where the engine stacked trials.
      variables: the trained variables after the last epoch (:func:`final_state`), or None unless asked for.
    """

    history: History
    variables: dict | None = None


def standardized_batch(data: TrialData, scale, indices):
    """The rows ``indices (B,)`` of ``data`` as float32 maps standardized with ``scale = (mean, std)`` ``(C,)``,
    and their labels ``(B,)``."""
    mean, std = scale
    return (data.x[indices].astype(jnp.float32) - mean) / std, data.y[indices]


def start_trial(model: GenreCNN, config: TrainConfig, trial: Trial, data: TrialData):
    """A trial's first :class:`TrainState`, its input standardization ``(mean, std)`` and one key per epoch."""
    channels = data.x.shape[-1]
    # The trial's one key split: init, then one key per epoch (shuffle and dropout come from it).
    init_key, epochs_key = jax.random.split(trial.key)
    if config.standardize:
        scale = _standardizer(data.song_stats, trial.train)
    else:
        scale = (jnp.zeros(channels), jnp.ones(channels))
    variables = init_variables(model, init_key, data.x.shape[1:])
    params = variables["params"]
    state = TrainState(params, variables["batch_stats"], _ADAM.init(params))
    return state, scale, jax.random.split(epochs_key, config.epochs)


def plan_epoch(batch_size: int, trial: Trial, epoch_key):
    """An epoch's shuffled training rows in batches ``(steps, B)``, their mask ``(steps, B)`` and one dropout key
    per step."""
    shuffle_key, dropout_key = jax.random.split(epoch_key)
    order = trial.train[jax.random.permutation(shuffle_key, trial.train.shape[0])]
    indices, mask = _pad_to_batches(order, batch_size)
    return indices, mask, jax.random.split(dropout_key, indices.shape[0])


def train_step(model: GenreCNN, state: TrainState, scale, data: TrialData, trial: Trial, indices, mask,
               dropout_key):
    """One Adam step on the rows ``indices (B,)`` (``mask (B,)``: 1 for real rows); returns the new state and
    ``(loss, real rows)``: the class-weighted cross-entropy (Keras' ``class_weight``) plus the penalty."""
    x, y = standardized_batch(data, scale, indices)
    hyper = trial.hyper

    def loss_fn(params):
        logits, updates = model.apply(
            {"params": params, "batch_stats": state.batch_stats},
            x,
            train=True,
            mask=mask,
            dropout_rate=hyper.dropout,
            rngs={"dropout": dropout_key},
            mutable=["batch_stats"],
        )
        cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        # Keras class_weight: weighted per-sample loss averaged over the real rows of the batch.
        data_loss = jnp.sum(cross_entropy * trial.class_weights[y] * mask) / jnp.sum(mask)
        loss = data_loss + kernel_penalty(params, hyper.l1, hyper.l2)
        return loss, (updates["batch_stats"], loss)

    grads, (batch_stats, loss) = jax.grad(loss_fn, has_aux=True)(state.params)
    moments, opt_state = _ADAM.update(grads, state.opt_state, state.params)
    params = jax.tree.map(lambda p, m: p - hyper.learning_rate * m, state.params, moments)
    return TrainState(params, batch_stats, opt_state), (loss, jnp.sum(mask))


def predict_rows(model: GenreCNN, batch_size: int, state: TrainState, scale, data: TrialData, indices):
    """Inference on the rows ``indices (n,)`` in batches: the summed cross-entropy, predicted classes ``(n,)`` and
    class probabilities ``(n, n_classes)``."""
    padded, mask = _pad_to_batches(indices, batch_size)
    variables = {"params": state.params, "batch_stats": state.batch_stats}

    def eval_batch(_, step):
        idx, m = step
        x, y = standardized_batch(data, scale, idx)
        logits = model.apply(variables, x, train=False)
        cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        predictions = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        return None, (jnp.sum(cross_entropy * m), predictions, jax.nn.softmax(logits))

    _, (losses, predictions, probabilities) = lax.scan(eval_batch, None, (padded, mask))
    n = indices.shape[0]
    return jnp.sum(losses), predictions.reshape(-1)[:n], probabilities.reshape(-1, model.n_classes)[:n]


def evaluate(model: GenreCNN, batch_size: int, segments_per_song: int, state: TrainState, scale, data: TrialData,
             hyper: Hyperparameters, indices):
    """Unweighted mean cross-entropy + penalty (Keras' ``evaluate``), accuracy, macro-F1, predictions and class
    probabilities of the rows ``indices``; with ``segments_per_song`` K > 1 (K consecutive rows per song) the
    metrics score songs by the mean of their segments' probabilities (the loss stays per segment)."""
    total, predictions, probabilities = predict_rows(model, batch_size, state, scale, data, indices)
    labels = data.y[indices]
    loss = total / indices.shape[0] + kernel_penalty(state.params, hyper.l1, hyper.l2)
    if segments_per_song > 1:
        probabilities = probabilities.reshape(-1, segments_per_song, model.n_classes).mean(axis=1)
        predictions = jnp.argmax(probabilities, axis=-1).astype(jnp.int32)
        labels = labels.reshape(-1, segments_per_song)[:, 0]
    f1 = macro_f1(labels, predictions, model.n_classes)
    return loss, accuracy(labels, predictions), f1, predictions, probabilities


def end_epoch(model: GenreCNN, batch_size: int, segments_per_song: int, state: TrainState, scale, trial: Trial,
              data: TrialData, losses, counts) -> dict:
    """An epoch's metrics from its step ``losses (steps,)`` and real-row ``counts (steps,)``: the training loss,
    the first step's, and the test (and validation) scores."""
    out = {"train_loss": jnp.sum(losses * counts) / jnp.sum(counts), "first_step_loss": losses[0]}
    parts = [("test", trial.test)]
    if trial.validation.shape[0]:
        parts.append(("validation", trial.validation))
    for name, indices in parts:
        loss, acc, f1, predictions, probabilities = evaluate(model, batch_size, segments_per_song, state, scale,
                                                             data, trial.hyper, indices)
        out |= {f"{name}_loss": loss, f"{name}_accuracy": acc, f"{name}_f1": f1}
        if name == "test":
            out |= {"test_predictions": predictions, "test_probabilities": probabilities}
    return out


class TrialParts(NamedTuple):
    """The pieces of one trial, each a pure function with the network and protocol bound, so that the scanned
    trainer (:func:`make_train_trial`) and the stepped driver (:class:`~jaxsep.training.stepped.SteppedTrial`) run
    the same arithmetic.

    ``state`` is a :class:`TrainState`; ``scale`` is the ``(mean, std)`` of each input map.
    """

    start: Callable  # (trial, data) -> state, scale, epoch_keys (E,)
    plan_epoch: Callable  # (trial, epoch_key) -> indices (steps, B), mask (steps, B), dropout_keys (steps,)
    train_step: Callable  # (state, scale, data, trial, indices (B,), mask (B,), key) -> state, (loss, n)
    end_epoch: Callable  # (state, scale, trial, data, losses (steps,), counts (steps,)) -> metrics dict


def make_trial_parts(model: GenreCNN, config: TrainConfig, segments_per_song: int = 1) -> TrialParts:
    """The per-trial pieces for ``model`` under ``config`` (see :class:`TrialParts`).

    With ``segments_per_song`` K > 1 the trial's index arrays hold K consecutive rows per song; training uses
    every row, and the test and validation metrics score songs (:func:`evaluate`).
    """
    return TrialParts(
        start=functools.partial(start_trial, model, config),
        plan_epoch=functools.partial(plan_epoch, config.batch_size),
        train_step=functools.partial(train_step, model),
        end_epoch=functools.partial(end_epoch, model, config.batch_size, segments_per_song),
    )


def final_state(state: TrainState, scale) -> dict:
    """What a trained trial keeps to classify new songs: ``params``, ``batch_stats`` and the input
    standardization ``mean``, ``std`` ``(C,)`` of its training songs."""
    mean, std = scale
    return {"params": state.params, "batch_stats": state.batch_stats, "mean": mean, "std": std}


def make_train_trial(model: GenreCNN, config: TrainConfig, *, unroll: int | bool = 1,
                     keep_state: bool = False, segments_per_song: int = 1) -> TrialFn:
    """Builds the pure per-trial trainer: :class:`TrialParts` with epochs and batches as ``lax.scan`` s.

    Args:
      model: the network (its ``n_classes`` sets the metrics' class count).
      config: the protocol.
      unroll: ``unroll`` of the epoch and batch scans (a lowering choice; it never changes the numbers
        beyond float rounding). ``True`` unrolls them fully.
      keep_state: also return the trained variables after the last epoch (:attr:`TrialOutput.variables`).
      segments_per_song: see :func:`make_trial_parts`.

    Returns:
      ``train_trial(trial, data) -> TrialOutput``, its history as described in the module docstring.
    """
    parts = make_trial_parts(model, config, segments_per_song)

    def train_trial(trial: Trial, data: TrialData) -> TrialOutput:
        state, scale, epoch_keys = parts.start(trial, data)

        def step(state, inputs):
            return parts.train_step(state, scale, data, trial, *inputs)

        def epoch(state, epoch_key):
            plan = parts.plan_epoch(trial, epoch_key)
            state, (losses, counts) = scan(step, state, plan, unroll=unroll)
            return state, parts.end_epoch(state, scale, trial, data, losses, counts)

        state, history = scan(epoch, state, epoch_keys, unroll=unroll)
        return TrialOutput(history, final_state(state, scale) if keep_state else None)

    return train_trial
