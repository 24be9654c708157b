"""Trials over several processes (hosts) on JAX's multi-controller runtime (``jax.distributed``).

Every process runs the same command. Trial ``t`` goes to process ``t mod N``, which trains it on its own
local devices with the same program a single process would use; the histories are then gathered to every
process (``multihost_utils.process_allgather``), so process 0 can write the run folder. Trials share nothing,
so no other collective is needed and each trial's numbers are those of a one-process run. On CPU the
collectives go through gloo.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from ..errors import ConfigError

#: Environment variables of launchers JAX can configure itself from (SLURM, Open MPI, Cloud TPU).
_LAUNCHERS = {"SLURM_NTASKS": "SLURM", "OMPI_COMM_WORLD_SIZE": "Open MPI", "TPU_WORKER_HOSTNAMES": "Cloud TPU"}


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> str | None:
    """Joins the multi-controller runtime, before any JAX computation; returns how, or None for one process.

    With ``coordinator`` (``HOST:PORT``), ``num_processes`` and ``process_id`` given, as they say; with none given,
    JAX's own detection when a launcher that runs several tasks is present (SLURM, Open MPI, Cloud TPU), else
    a single process.

    Raises:
      ConfigError: values that cannot name one of the processes, or too few of them for JAX to fill in the rest.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if coordinator is not None or num_processes is not None or process_id is not None:
        _check_flags(coordinator, num_processes, process_id)
        try:
            jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                       process_id=process_id)
        except (ValueError, RuntimeError) as error:  # what JAX could not fill in, or could not reach
            raise ConfigError(f"cannot join several processes: {error} (give --coordinator, --num-processes and "
                              "--process-id together)") from None
        return f"process {process_id} of {num_processes} (coordinator {coordinator})"
    for variable, launcher in _LAUNCHERS.items():
        value = os.environ.get(variable, "")
        if value and (not value.isdigit() or int(value) > 1):
            jax.distributed.initialize()
            return f"process {jax.process_index()} of {jax.process_count()} ({launcher})"
    return None


def _check_flags(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Checks the flags that are given (a launcher JAX knows may supply the others)."""
    if coordinator is not None:
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    if num_processes is not None and num_processes < 1:
        raise ConfigError(f"--num-processes must be >= 1, got {num_processes}")
    if process_id is not None and process_id < 0:
        raise ConfigError(f"--process-id must be >= 0, got {process_id}")
    if num_processes is not None and process_id is not None and not process_id < num_processes:
        raise ConfigError(f"--process-id must be 0 to {num_processes - 1} (--num-processes {num_processes}), "
                          f"got {process_id}")


def is_writer() -> bool:
    """Whether this process writes files (process 0, or the only one)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier ``name`` (nothing to wait for in a single process): the
    writer's file work before it is done for all after it."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def my_trials(n_trials: int) -> np.ndarray:
    """The positions ``0..n_trials-1`` this process trains: ``t`` with ``t mod N`` equal to its index."""
    return np.arange(jax.process_index(), n_trials, jax.process_count())


def gather(tree, n_trials: int):
    """Every process's share of a pytree of arrays with a leading axis over :func:`my_trials` (a history, trained
    variables) reassembled in trial order on every process: ``(n_trials, ...)`` arrays."""
    from jax.experimental import multihost_utils

    count = jax.process_count()
    per_process = -(-n_trials // count)

    def padded(leaf):
        leaf = np.asarray(leaf)
        extra = per_process - leaf.shape[0]
        return np.concatenate([leaf, np.repeat(leaf[-1:], extra, axis=0)]) if extra else leaf

    stacked = multihost_utils.process_allgather(jax.tree.map(padded, tree), tiled=False)

    def reorder(leaf):
        leaf = np.asarray(leaf)  # (processes, per_process, ...): trial t sits at [t mod N, t // N]
        return np.stack([leaf[t % count, t // count] for t in range(n_trials)])

    return jax.tree.map(reorder, stacked)
