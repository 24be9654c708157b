"""One trial of the paper's protocol as a pure function ``train_trial(trial, data) -> metrics``.

Written for ONE trial; :mod:`jaxsep.engine` vmaps (or maps) it over trials. Epochs and batches are
``lax.scan`` s, so a trial is one XLA program with no Python loop over steps.

Shapes (``S`` songs, ``E`` epochs, ``C`` channels):

* ``data``: ``x (S, mel, time, C)`` float16/float32 log-mel maps, ``y (S,)`` int32 labels,
  ``song_stats (S, 2, C)`` float32 per-song mean and mean square of each map (for standardization).
* ``trial``: ``key`` (a PRNG key), ``train (n_train,)``, ``test (n_test,)``, ``validation (n_val,)``
  int32 song indices, ``class_weights (n_classes,)`` float32.
* returns ``train_loss``, ``test_loss``, ``test_accuracy``, ``test_f1`` each ``(E,)``,
  ``test_predictions (E, n_test)`` int32, and the ``validation_*`` counterparts when ``n_val > 0``.
"""

from __future__ import annotations

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
    steps = -(-n // batch_size)
    padded = jnp.zeros(steps * batch_size, indices.dtype).at[:n].set(indices)
    mask = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
    return padded.reshape(steps, batch_size), mask.reshape(steps, batch_size)


def make_train_trial(model: GenreCNN, config: TrainConfig, *, unroll: int | bool = 1) -> TrialFn:
    """Builds the pure per-trial trainer.

    Args:
      model: the network (its ``n_classes`` sets the metrics' class count).
      config: the protocol.
      unroll: ``unroll`` of the epoch and batch scans (a lowering choice; it never changes the numbers
        beyond float rounding). ``True`` unrolls them fully: XLA:CPU runs convolution gradients ~10x slower
        inside a ``while`` loop than outside (jax issue #12868; measured in ``benchmarks/engine.py``).

    Returns:
      ``train_trial(trial, data) -> dict`` as described in the module docstring.
    """
    n_classes = model.n_classes
    optimizer = optax.adam(config.learning_rate)
    batch_size = config.batch_size

    def penalty(params):
        return kernel_penalty(params, config.l1, config.l2)

    def train_trial(trial: dict, data: dict) -> dict:
        x_all, y_all = data["x"], data["y"]
        train, test, validation = trial["train"], trial["test"], trial["validation"]
        class_weights = trial["class_weights"]
        # The trial's one key split: init, then one key per epoch (shuffle and dropout come from it).
        init_key, epochs_key = jax.random.split(trial["key"])
        epoch_keys = jax.random.split(epochs_key, config.epochs)

        if config.standardize:
            mean, std = _standardizer(data["song_stats"], train)
        else:
            mean, std = jnp.zeros(x_all.shape[-1]), jnp.ones(x_all.shape[-1])

        def batch(indices):
            return (x_all[indices].astype(jnp.float32) - mean) / std, y_all[indices]

        variables = model.init({"params": init_key}, jnp.zeros((1, *x_all.shape[1:]), jnp.float32), train=False)
        params, batch_stats = variables["params"], variables["batch_stats"]
        opt_state = optimizer.init(params)

        def train_step(carry, step):
            params, batch_stats, opt_state = carry
            indices, mask, dropout_key = step
            x, y = batch(indices)

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

        def evaluate(params, batch_stats, indices):
            """Unweighted mean cross-entropy + penalty (Keras' evaluate), accuracy, macro-F1, predictions."""
            padded, mask = _pad_to_batches(indices, batch_size)

            def eval_batch(_, step):
                idx, m = step
                x, y = batch(idx)
                logits = model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
                cross_entropy = optax.softmax_cross_entropy_with_integer_labels(logits, y)
                return None, (jnp.sum(cross_entropy * m), jnp.argmax(logits, axis=-1).astype(jnp.int32))

            _, (losses, predictions) = lax.scan(eval_batch, None, (padded, mask))
            n = indices.shape[0]
            predictions = predictions.reshape(-1)[:n]
            labels = y_all[indices]
            loss = jnp.sum(losses) / n + penalty(params)
            return loss, accuracy(labels, predictions), macro_f1(labels, predictions, n_classes), predictions

        def epoch(carry, epoch_key):
            shuffle_key, dropout_key = jax.random.split(epoch_key)
            order = train[jax.random.permutation(shuffle_key, train.shape[0])]
            indices, mask = _pad_to_batches(order, batch_size)
            dropout_keys = jax.random.split(dropout_key, indices.shape[0])
            carry, (losses, counts) = lax.scan(train_step, carry, (indices, mask, dropout_keys), unroll=unroll)
            params, batch_stats, _ = carry
            out = {"train_loss": jnp.sum(losses * counts) / jnp.sum(counts)}
            parts = [("test", test)] + ([("validation", validation)] if validation.shape[0] else [])
            for name, indices_part in parts:
                loss, acc, f1, predictions = evaluate(params, batch_stats, indices_part)
                out |= {f"{name}_loss": loss, f"{name}_accuracy": acc, f"{name}_f1": f1}
                if name == "test":
                    out["test_predictions"] = predictions
            return carry, out

        _, history = lax.scan(epoch, (params, batch_stats, opt_state), epoch_keys, unroll=unroll)
        return history

    return train_trial
