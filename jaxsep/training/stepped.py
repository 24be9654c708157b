"""The per-trial trainer driven from Python a few unrolled training steps per jitted call (XLA:CPU's lowering).

It runs the same pure pieces as :func:`jaxsep.training.trainer.make_train_trial` (:class:`TrialParts`), so a
trial's numbers are the same as the scanned trainer's.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..config import TrainConfig
from ..nn.models import GenreCNN
from .trainer import (
    STEPS_PER_CALL,
    History,
    Trial,
    TrialData,
    TrialOutput,
    final_state,
    make_trial_parts,
    scan,
)


class SteppedTrial:
    """The same trial driven from Python, a few training steps per jitted call.

    XLA:CPU runs convolution gradients far slower inside a ``while`` loop than outside (jax issue #12868), and
    unrolling a whole trial instead costs compile time and memory that grow with epochs × steps. Here each
    call runs up to ``steps_per_call`` steps of one epoch unrolled; start, epoch plan and end of epoch are their
    own small programs. Dispatch is asynchronous, so the host queues calls ahead of the device. Measured
    against the other lowerings in benchmarks/RESULTS.md ("Lowerings, and before / after").

    Args:
      model, config: the network and protocol.
      compiler_options: passed to every ``jax.jit`` (:mod:`jaxsep.training.xla_options`).
      steps_per_call: most training steps unrolled into one call (compile time grows with it; an epoch
        with ``n`` steps compiles at most two step programs, for ``steps_per_call`` and ``n`` modulo it).
      keep_state, segments_per_song: as :func:`make_train_trial`'s.
    """

    def __init__(self, model: GenreCNN, config: TrainConfig, compiler_options: dict | None = None,
                 steps_per_call: int = STEPS_PER_CALL, keep_state: bool = False, segments_per_song: int = 1):
        parts = make_trial_parts(model, config, segments_per_song)
        self.epochs = config.epochs
        self.steps_per_call = steps_per_call
        self.keep_state = keep_state
        jit = functools.partial(jax.jit, compiler_options=compiler_options)

        def run_steps(state, scale, data, trial, indices, mask, dropout_keys):
            def step(state, inputs):
                return parts.train_step(state, scale, data, trial, *inputs)

            return scan(step, state, (indices, mask, dropout_keys), unroll=True)

        self._start = jit(parts.start)
        self._plan = jit(parts.plan_epoch)
        self._steps = jit(run_steps, donate_argnums=0)
        self._end = jit(parts.end_epoch)

    def _epoch(self, state, scale, trial: Trial, data: TrialData, epoch_key):
        indices, mask, dropout_keys = self._plan(trial, epoch_key)
        losses, counts = [], []
        for first in range(0, indices.shape[0], self.steps_per_call):
            block = slice(first, first + self.steps_per_call)
            state, (loss, count) = self._steps(state, scale, data, trial, indices[block], mask[block],
                                               dropout_keys[block])
            losses.append(loss)
            counts.append(count)
        losses, counts = jnp.concatenate(losses), jnp.concatenate(counts)
        return state, self._end(state, scale, trial, data, losses, counts)

    @staticmethod
    def _stack(history: list[dict]) -> History:
        return {k: jnp.stack([h[k] for h in history]) for k in history[0]}

    def compile(self, trial: Trial, data: TrialData) -> None:
        """Compiles every piece for these shapes (timed by the caller) by running one trial's first epoch,
        and the stacking of the epochs' metrics on that epoch's, so that running a trial compiles nothing."""
        state, scale, keys = self._start(trial, data)
        _, metrics = self._epoch(state, scale, trial, data, keys[0])
        jax.block_until_ready(self._stack([metrics] * self.epochs))

    def __call__(self, trial: Trial, data: TrialData) -> TrialOutput:
        """Runs one trial; returns the same :class:`TrialOutput` as :func:`make_train_trial` (arrays on device)."""
        state, scale, keys = self._start(trial, data)
        history = []
        for epoch in range(self.epochs):
            state, metrics = self._epoch(state, scale, trial, data, keys[epoch])
            history.append(metrics)
        return TrialOutput(self._stack(history), final_state(state, scale) if self.keep_state else None)
