"""One trial of the paper's protocol as a pure function ``train_trial(trial, data) -> metrics``.

Written for ONE trial; :mod:`jaxsep.engine` vmaps (or maps) it over trials. The trial is built from pure
pieces (:class:`TrialParts`: start, plan an epoch, train step, end of epoch) with two drivers that run the same
arithmetic: :func:`make_train_trial` (epochs and batches as ``lax.scan``, one XLA program) and
:class:`SteppedTrial` (one jitted step at a time from Python, faster on XLA:CPU).

Shapes (``S`` songs, ``E`` epochs, ``C`` channels):

* ``data``: ``x (S, mel, time, C)`` float16/float32 log-mel maps, ``y (S,)`` int32 labels,
  ``song_stats (S, 2, C)`` float32 per-song mean and mean square of each map (for standardization).
* ``trial``: ``key`` (a PRNG key), ``train (n_train,)``, ``test (n_test,)``, ``validation (n_val,)``
  int32 song indices, ``class_weights (n_classes,)`` float32.
* returns ``train_loss``, ``test_loss``, ``test_accuracy``, ``test_f1`` each ``(E,)``,
  ``test_predictions (E, n_test)`` int32, and the ``validation_*`` counterparts when ``n_val > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax import lax

from .config import TrainConfig
from .metrics import accuracy, macro_f1
from .models import GenreCNN, kernel_penalty

TrialFn = Callable[[dict, dict], dict]


def song_statistics(x) -> jax.Array:
    """Per-song mean and mean square of each map, shape ``(S, 2, C)`` float32, from ``x (S, mel, time, C)``.

    Computed once per data set so a trial's standardization needs only its training songs' rows.
    """
    x = jnp.asarray(x, jnp.float32)
    return jnp.stack([x.mean(axis=(1, 2)), jnp.square(x).mean(axis=(1, 2))], axis=1)


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


@dataclass(frozen=True)
class TrialParts:
    """The pieces of one trial, each a pure function, so that the scanned trainer
    (:func:`make_train_trial`) and the stepped driver (:func:`run_trial_stepped`) run the same arithmetic.

    ``carry`` is ``(params, batch_stats, opt_state)``; ``scale`` is the ``(mean, std)`` of each input map.
    """

    start: Callable  # (trial, data) -> carry, scale, epoch_keys (E,)
    plan_epoch: Callable  # (trial, epoch_key) -> indices (steps, B), mask (steps, B), dropout_keys (steps,)
    train_step: Callable  # (carry, scale, data, class_weights, indices (B,), mask (B,), key) -> carry, (loss, n)
    end_epoch: Callable  # (carry, scale, trial, data, losses (steps,), counts (steps,)) -> metrics dict


def make_trial_parts(model: GenreCNN, config: TrainConfig) -> TrialParts:
    """Builds the per-trial pieces for ``model`` under ``config`` (see :class:`TrialParts`)."""
    n_classes = model.n_classes
    optimizer = optax.adam(config.learning_rate)
    batch_size = config.batch_size

    def penalty(params):
        return kernel_penalty(params, config.l1, config.l2)

    def batch(data, scale, indices):
        mean, std = scale
        return (data["x"][indices].astype(jnp.float32) - mean) / std, data["y"][indices]

    def start(trial, data):
        x_all = data["x"]
        # The trial's one key split: init, then one key per epoch (shuffle and dropout come from it).
        init_key, epochs_key = jax.random.split(trial["key"])
        if config.standardize:
            scale = _standardizer(data["song_stats"], trial["train"])
        else:
            scale = (jnp.zeros(x_all.shape[-1]), jnp.ones(x_all.shape[-1]))
        variables = model.init({"params": init_key}, jnp.zeros((1, *x_all.shape[1:]), jnp.float32), train=False)
        params = variables["params"]
        carry = (params, variables["batch_stats"], optimizer.init(params))
        return carry, scale, jax.random.split(epochs_key, config.epochs)

    def plan_epoch(trial, epoch_key):
        shuffle_key, dropout_key = jax.random.split(epoch_key)
        train = trial["train"]
        order = train[jax.random.permutation(shuffle_key, train.shape[0])]
        indices, mask = _pad_to_batches(order, batch_size)
        return indices, mask, jax.random.split(dropout_key, indices.shape[0])

    def train_step(carry, scale, data, class_weights, indices, mask, dropout_key):
        params, batch_stats, opt_state = carry
        x, y = batch(data, scale, indices)

        def loss_fn(params):
            logits, updates = model.apply(
                {"params": params, "batch_stats": batch_stats},
                x,
                train=True,
                mask=mask,
                rngs={"dropout": dropout_key},
                mutable=["batch_stats"],
            )
            cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            # Keras class_weight: weighted per-sample loss averaged over the real rows of the batch.
            data_loss = jnp.sum(cross_entropy * class_weights[y] * mask) / jnp.sum(mask)
            loss = data_loss + penalty(params)
            return loss, (updates["batch_stats"], loss)

        grads, (batch_stats, loss) = jax.grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, batch_stats, opt_state), (loss, jnp.sum(mask))

    def evaluate(params, batch_stats, scale, data, indices):
        """Unweighted mean cross-entropy + penalty (Keras' evaluate), accuracy, macro-F1, predictions."""
        padded, mask = _pad_to_batches(indices, batch_size)

        def eval_batch(_, step):
            idx, m = step
            x, y = batch(data, scale, idx)
            logits = model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
            cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, y)
            return None, (jnp.sum(cross_entropy * m), jnp.argmax(logits, axis=-1).astype(jnp.int32))

        _, (losses, predictions) = lax.scan(eval_batch, None, (padded, mask))
        n = indices.shape[0]
        predictions = predictions.reshape(-1)[:n]
        labels = data["y"][indices]
        loss = jnp.sum(losses) / n + penalty(params)
        return loss, accuracy(labels, predictions), macro_f1(labels, predictions, n_classes), predictions

    def end_epoch(carry, scale, trial, data, losses, counts):
        params, batch_stats, _ = carry
        out = {"train_loss": jnp.sum(losses * counts) / jnp.sum(counts)}
        parts = [("test", trial["test"])]
        if trial["validation"].shape[0]:
            parts.append(("validation", trial["validation"]))
        for name, indices in parts:
            loss, acc, f1, predictions = evaluate(params, batch_stats, scale, data, indices)
            out |= {f"{name}_loss": loss, f"{name}_accuracy": acc, f"{name}_f1": f1}
            if name == "test":
                out["test_predictions"] = predictions
        return out

    return TrialParts(start=start, plan_epoch=plan_epoch, train_step=train_step, end_epoch=end_epoch)


def make_train_trial(model: GenreCNN, config: TrainConfig, *, unroll: int | bool = 1) -> TrialFn:
    """Builds the pure per-trial trainer: :class:`TrialParts` with epochs and batches as ``lax.scan`` s.

    Args:
      model: the network (its ``n_classes`` sets the metrics' class count).
      config: the protocol.
      unroll: ``unroll`` of the epoch and batch scans (a lowering choice; it never changes the numbers
        beyond float rounding). ``True`` unrolls them fully.

    Returns:
      ``train_trial(trial, data) -> dict`` as described in the module docstring.
    """
    parts = make_trial_parts(model, config)

    def train_trial(trial: dict, data: dict) -> dict:
        carry, scale, epoch_keys = parts.start(trial, data)

        def step(carry, inputs):
            return parts.train_step(carry, scale, data, trial["class_weights"], *inputs)

        def epoch(carry, epoch_key):
            plan = parts.plan_epoch(trial, epoch_key)
            carry, (losses, counts) = lax.scan(step, carry, plan, unroll=unroll)
            return carry, parts.end_epoch(carry, scale, trial, data, losses, counts)

        _, history = lax.scan(epoch, carry, epoch_keys, unroll=unroll)
        return history

    return train_trial


class SteppedTrial:
    """The same trial driven from Python one jitted step at a time.

    XLA:CPU runs convolution gradients ~10x slower inside a ``while`` loop than outside (jax issue #12868;
    ``benchmarks/engine.py``), and unrolling the loops instead costs compile time and memory that grow with
    epochs × steps. Four small compiled programs (start, plan, step, end of epoch) avoid both; dispatch is
    asynchronous, so the host queues steps ahead of the device.
    """

    def __init__(self, model: GenreCNN, config: TrainConfig):
        parts = make_trial_parts(model, config)
        self.epochs = config.epochs
        self._start = jax.jit(parts.start)
        self._plan = jax.jit(parts.plan_epoch)
        self._step = jax.jit(parts.train_step, donate_argnums=0)
        self._end = jax.jit(parts.end_epoch)

    def compile(self, trial: dict, data: dict) -> None:
        """Compiles every piece for these shapes (timed by the caller) by running one trial's first steps."""
        carry, scale, keys = self._start(trial, data)
        indices, mask, dropout_keys = self._plan(trial, keys[0])
        carry, (loss, count) = self._step(carry, scale, data, trial["class_weights"], indices[0], mask[0],
                                          dropout_keys[0])
        jax.block_until_ready(self._end(carry, scale, trial, data, loss[None], count[None]))

    def __call__(self, trial: dict, data: dict) -> dict:
        """Runs one trial; returns the same history dict as :func:`make_train_trial` (arrays on device)."""
        carry, scale, keys = self._start(trial, data)
        history = []
        for epoch in range(self.epochs):
            indices, mask, dropout_keys = self._plan(trial, keys[epoch])
            losses, counts = [], []
            for step in range(indices.shape[0]):
                carry, (loss, count) = self._step(carry, scale, data, trial["class_weights"], indices[step],
                                                  mask[step], dropout_keys[step])
                losses.append(loss)
                counts.append(count)
            history.append(self._end(carry, scale, trial, data, jnp.stack(losses), jnp.stack(counts)))
        return {k: jnp.stack([h[k] for h in history]) for k in history[0]}
