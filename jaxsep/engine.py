"""The trial engine: all trials of one model, features on the device once, one compiled trainer.

The per-trial trainer (:mod:`jaxsep.trainer`) is a pure function of ``(trial, data)``; the engine lowers the
trial axis in one of four ways, which give the same numbers (to float rounding; tested):

* ``"vmap"``: ``jax.vmap`` over trials, one program for a whole chunk; convolutions with per-trial weights
  become grouped convolutions, except their weight gradients, computed as batched contractions of shifted
  inputs (:func:`jaxsep.layers.conv2d_shifted_weight_grad`). Sharded over a 1-d ``jax.sharding`` mesh when
  there are several devices.
* ``"map"``: ``lax.map`` over trials inside one program (trials one after another on each device).
* ``"sequential"``: one compiled single-trial program (epochs and batches as ``lax.scan``), dispatched once
  per trial, asynchronously.
* ``"stepped"``: the same trial driven from Python a few unrolled training steps per jitted call
  (:class:`jaxsep.trainer.SteppedTrial`), dispatched asynchronously.

``"auto"`` picks from measurements (``benchmarks/engine.py``, ``benchmarks/RESULTS.md``). On CPU,
``"sequential"`` with fully unrolled loops when a trial has at most :data:`UNROLLED_STEPS_MAX` training steps
(the paper's protocol: 12), else ``"stepped"``: XLA:CPU runs convolution gradients ~16x slower inside a
``while`` loop (jax issue #12868), and an unrolled program's compile time and memory grow with its steps. At
the paper's size (2-core CPU): unrolled 5.7 s per trial, stepped 6.8 s, one step per call 8.3 s; ``vmap``
over trials is slower than one trial at a time (grouped convolutions). Elsewhere ``"sequential"`` with rolled
loops: on an H200 (``benchmarks/gpu.sh``, 4 models × 50 trials at the paper's size) it trained in 5.5-5.7 s at
batch 16 and 5.0 s at batch 32 in 0.8–1.4 GB, against 5.8 s and 6.0 s in 19–42 GB for ``"vmap"`` (with the
shifted-contraction weight gradient that ``"vmap"`` uses; 20.4 s at batch 16 without it). The trial axis is
split into chunks when all trials do not fit in memory (``"vmap"`` estimates it from the compiled program).
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .compiler import compiler_options
from .config import TrainConfig
from .errors import ConfigError
from .models import build_network, get_spec
from .trainer import SteppedTrial, make_train_trial, song_statistics

STRATEGIES = ("auto", "stepped", "sequential", "vmap", "map")
#: On CPU, ``"auto"`` unrolls a whole trial into one program up to this many training steps (the paper's
#: protocol has 12: 5.7 s per trial against 6.8 s stepped, compile 13 s against 6 s; benchmarks/RESULTS.md).
UNROLLED_STEPS_MAX = 24
#: Training steps per jitted call of the ``"stepped"`` driver unless ``unroll`` says otherwise (the paper's
#: epoch has 2; a larger data set's epoch runs in calls of 8 steps, so compile time stays bounded).
STEPS_PER_CALL = 8
_TRIAL_AXIS = "trials"


def resolve_strategy(strategy: str, backend: str | None = None, steps_per_trial: int | None = None) -> str:
    """Maps ``"auto"`` to the lowering measured fastest on ``backend`` (default: JAX's default backend).

    On CPU: ``"sequential"`` (the whole trial one fully unrolled program) when a trial has at most
    :data:`UNROLLED_STEPS_MAX` training steps, else ``"stepped"`` (unrolled programs grow in compile time and
    memory with the steps). Elsewhere ``"sequential"`` with rolled loops (measured on an H200: as fast as
    ``"vmap"`` or faster, in a twentieth of the memory; see the module docstring).
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
    if strategy != "auto":
        return strategy
    if (backend or jax.default_backend()) != "cpu":
        return "sequential"
    small = steps_per_trial is not None and steps_per_trial <= UNROLLED_STEPS_MAX
    return "sequential" if small else "stepped"


def default_unroll(backend: str | None = None) -> int | bool:
    """Full unrolling of the epoch/batch scans on CPU for the scanned lowerings (XLA:CPU ran conv gradients
    ~16x slower inside a ``while`` loop, jax issue #12868); rolled loops elsewhere, which compile faster."""
    return True if (backend or jax.default_backend()) == "cpu" else 1


def trial_keys(seeds: Sequence[int]) -> np.ndarray:
    """Raw PRNG keys, shape ``(trials, 2)`` uint32, one per trial seed (``jax.random.PRNGKey(seed)``)."""
    return np.stack([np.asarray(jax.random.PRNGKey(int(s))) for s in seeds])


def device_data(x: np.ndarray, labels: np.ndarray) -> dict:
    """The shared, device-resident inputs of every trial: ``x (S, mel, time, C)``, ``y (S,)`` and
    ``song_stats (S, 2, C)``."""
    x = jnp.asarray(x)
    return {"x": x, "y": jnp.asarray(labels, jnp.int32), "song_stats": song_statistics(x)}


@dataclass
class EngineReport:
    """What one model's trials returned and cost.

    Attributes:
      history: per-trial, per-epoch arrays with a leading ``(trials,)`` axis (see :mod:`jaxsep.trainer`).
      compile_seconds, run_seconds: wall time spent compiling and running (summed over chunk shapes).
      strategy, chunk, devices: how the trials were run.
    """

    history: dict[str, np.ndarray]
    compile_seconds: float
    run_seconds: float
    strategy: str
    chunk: int
    devices: list[str] = field(default_factory=list)


# typed: ``unroll=True`` (full) and ``unroll=1`` (rolled) are equal as dict keys but different programs.
@functools.lru_cache(maxsize=32, typed=True)
def _program(separable: bool, n_classes: int, config: TrainConfig, strategy: str, devices: tuple, unroll):
    """The jitted all-trials program. Cached, so models of one architecture (``full`` and ``novox``) share
    it and its compilations."""
    options = compiler_options(devices[0].platform)
    if strategy == "stepped":
        # For this driver ``unroll`` is the training steps unrolled into one call; True: a whole epoch.
        steps_per_call = 1 << 30 if unroll is True else int(unroll)
        return SteppedTrial(build_network(separable, n_classes, config), config, options, steps_per_call)
    # Under vmap, jax batches a per-trial conv weight gradient into a grouped conv that XLA:GPU runs slowly;
    # the shifted-contraction weight gradient batches into plain batched matrix products (layers.py).
    network = build_network(separable, n_classes, config, shifted_weight_grad=strategy == "vmap")
    trial_fn = make_train_trial(network, config, unroll=unroll)
    if strategy == "sequential":
        return jax.jit(trial_fn, compiler_options=options)

    def local(trials, data):
        if strategy == "vmap":
            return jax.vmap(trial_fn, in_axes=(0, None))(trials, data)
        return lax.map(lambda trial: trial_fn(trial, data), trials)

    mesh = _trial_mesh(devices)
    if mesh is not None:
        # Trials are independent: no collectives, so the replication (vma) check has nothing to guard.
        local = jax.shard_map(
            local, mesh=mesh, in_specs=(P(_TRIAL_AXIS), P()), out_specs=P(_TRIAL_AXIS), check_vma=False
        )
    return jax.jit(local, compiler_options=options)


def _trial_mesh(devices: tuple) -> Mesh | None:
    """The 1-d mesh the trial axis is sharded over; None for a single device."""
    return Mesh(np.array(devices), (_TRIAL_AXIS,)) if len(devices) > 1 else None


_EXECUTABLES: dict[tuple, object] = {}


def _signature(tree) -> tuple:
    return tuple((path, v.shape, str(v.dtype)) for path, v in jax.tree_util.tree_leaves_with_path(tree))


class TrialRunner:
    """Compiles and runs one model's trials.

    Args:
      model_name: a name from :data:`jaxsep.models.MODELS`.
      n_classes: classes of the data set.
      config: the per-trial protocol.
      strategy: "auto", "stepped", "sequential", "vmap" or "map".
      devices: devices to shard the trial axis over (default: all local devices of the default backend).
      unroll: unroll of the epoch/batch scans (default: :func:`default_unroll`); for ``"stepped"``, the
        training steps per call (default :data:`STEPS_PER_CALL`).
      steps_per_trial: training steps of one trial, for ``"auto"`` (see :func:`resolve_strategy`).
    """

    def __init__(self, model_name, n_classes, config: TrainConfig, *, strategy="auto", devices=None, unroll=None,
                 steps_per_trial: int | None = None):
        self.spec = get_spec(model_name)
        devices = tuple(devices) if devices is not None else tuple(jax.local_devices())
        self.strategy = resolve_strategy(strategy, devices[0].platform, steps_per_trial)
        # Single-trial programs run on one device (XLA:CPU already uses every core for one program).
        self.devices = devices[:1] if self.strategy in ("sequential", "stepped") else devices
        if unroll is None:
            unroll = STEPS_PER_CALL if self.strategy == "stepped" else default_unroll(devices[0].platform)
        self._key = (self.spec.separable, n_classes, config, self.strategy, self.devices, unroll)
        self._program = _program(*self._key)
        self.mesh = _trial_mesh(self.devices)
        self.compile_seconds = 0.0

    @property
    def n_devices(self) -> int:
        return len(self.devices)

    def place_data(self, data: dict) -> dict:
        """Puts the shared inputs on the devices once (replicated over the mesh)."""
        if self.mesh is None:
            return jax.device_put(data, self.devices[0])
        return jax.device_put(data, NamedSharding(self.mesh, P()))

    def _place_trials(self, trials: dict) -> dict:
        if self.mesh is None:
            return jax.device_put(trials, self.devices[0])
        return jax.device_put(trials, NamedSharding(self.mesh, P(_TRIAL_AXIS)))

    def compiled(self, trials: dict, data: dict):
        """The compiled program for these shapes (compiled once per process, timed)."""
        if self.strategy in ("sequential", "stepped"):
            trials = {k: v[0] for k, v in trials.items()}
        key = (self._key, type(self._key[-1]), _signature(trials), _signature(data))
        if key not in _EXECUTABLES:
            start = time.perf_counter()
            if self.strategy == "stepped":
                self._program.compile(self._place_trials(trials), data)
                _EXECUTABLES[key] = self._program
            else:
                _EXECUTABLES[key] = self._program.lower(self._place_trials(trials), data).compile()
            self.compile_seconds += time.perf_counter() - start
        return _EXECUTABLES[key]

    def program_bytes(self, trials: dict, data: dict) -> float | None:
        """Device memory the compiled program for these shapes needs per device beyond its inputs, by XLA's
        own estimate (outputs and temporaries: the shared data is already placed, and counted as in use by
        :func:`_memory_budget`); None where the backend gives none."""
        try:
            analysis = self.compiled(trials, data).memory_analysis()
            return float(analysis.output_size_in_bytes + analysis.temp_size_in_bytes)
        except (AttributeError, TypeError, NotImplementedError):
            return None

    def run(self, trials: dict, data: dict, on_trial: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
        """Runs one chunk: ``trials`` arrays with leading ``(chunk,)`` axis, a multiple of the device count.
        ``on_trial(n)`` is called as trials finish (per trial for single-trial lowerings, else per chunk)."""
        program = self.compiled(trials, data)
        if self.strategy in ("sequential", "stepped"):
            # Slice the trials on the host: indexing a device array compiles a small program per array shape
            # on first use, which would land inside the timed run (a likely cause of the 0.35-0.54 s by which
            # the first model in a process trailed the per-trial loop on an H200; benchmarks/RESULTS.md).
            # Then dispatch every trial before waiting on any: the host never idles the device between trials.
            host = {k: np.asarray(v) for k, v in trials.items()}
            outs = [program(self._place_trials({k: v[t] for k, v in host.items()}), data)
                    for t in range(len(host["key"]))]
            for done, out in enumerate(outs, 1):
                jax.block_until_ready(out)
                if on_trial is not None:
                    on_trial(done)
            return {k: np.stack([np.asarray(o[k]) for o in outs]) for k in outs[0]}
        out = jax.tree.map(np.asarray, jax.block_until_ready(program(self._place_trials(trials), data)))
        if on_trial is not None:
            on_trial(len(trials["key"]))
        return out


def _memory_budget(device) -> float:
    """Bytes the engine may use on ``device``: 80 % of the accelerator's limit, or half the host's RAM."""
    stats = None
    try:
        stats = device.memory_stats()
    except (AttributeError, NotImplementedError, RuntimeError):
        pass
    if stats and "bytes_limit" in stats:
        return 0.8 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _pad_trials(trials: dict, size: int) -> dict:
    """Repeats the last trial so the leading axis is ``size`` (padding rows are dropped after the run)."""
    n = len(trials["key"])
    if n == size:
        return trials
    index = np.concatenate([np.arange(n), np.full(size - n, n - 1)])
    return {k: v[index] for k, v in trials.items()}


def choose_chunk(runner: TrialRunner, trials: dict, data: dict, n_trials: int) -> int:
    """Trials per chunk, always a multiple of the devices and at least one per device.

    All trials for the single-trial lowerings and ``"map"`` (memory does not grow with trials). For ``"vmap"``
    all of them if the compiled program fits the memory budget by XLA's estimate; else fewer, shrunk in
    proportion and recompiled until it fits; and half as many if XLA fails to compile a chunk (a crashing
    autotuner, say), down to one trial per device, where the error is raised. In the common case the one
    compilation is the program that then runs (compilations are cached per shape).
    """
    n_dev = runner.n_devices
    chunk = n_dev * math.ceil(n_trials / n_dev)
    if runner.strategy != "vmap":
        return chunk
    budget = _memory_budget(runner.devices[0])
    while chunk > n_dev:
        per_device = chunk // n_dev
        try:
            used = runner.program_bytes(_pad_trials({k: v[:chunk] for k, v in trials.items()}, chunk), data)
        except jax.errors.JaxRuntimeError as error:
            warnings.warn(f"XLA could not compile {chunk} trials at once ({str(error)[:200]}); trying "
                          f"{n_dev * max(1, per_device // 2)}")
            chunk = n_dev * max(1, per_device // 2)
            continue
        if used is None or used <= budget:
            break
        chunk = n_dev * max(1, min(per_device - 1, int(per_device * budget / used)))
    return chunk


def run_trials(
    model_name: str,
    x: np.ndarray,
    labels: np.ndarray,
    splits: dict[str, np.ndarray],
    seeds: Sequence[int],
    config: TrainConfig,
    *,
    n_classes: int,
    strategy: str = "auto",
    trials_per_chunk: int | None = None,
    devices=None,
    unroll: int | bool | None = None,
    progress: Callable[[int], None] | None = None,
) -> EngineReport:
    """Trains every trial of one model.

    Args:
      model_name: a name from :data:`jaxsep.models.MODELS`.
      x: the model's input maps, shape ``(songs, mel, time, channels)``.
      labels: ``(songs,)`` int class indices.
      splits: from :func:`jaxsep.splits.make_splits`: ``train``, ``test``, ``validation`` index arrays and
        ``class_weights``, each with a leading ``(trials,)`` axis.
      seeds: ``(trials,)`` per-trial seeds (run seed + trial index).
      config: the per-trial protocol.
      n_classes: number of classes.
      strategy: "auto", "stepped", "sequential", "vmap" or "map" (same numbers, different lowering).
      trials_per_chunk: trials per compiled call; None picks from the memory estimate.
      devices: devices to shard over (default: all local devices).
      unroll: epoch/batch scan unroll of the scanned lowerings (default: full on CPU, none elsewhere); for
        ``"stepped"``, the training steps unrolled into one call (default :data:`STEPS_PER_CALL`; True: a
        whole epoch).
      progress: called with the number of trials finished after each chunk.

    Returns:
      an :class:`EngineReport` whose history arrays have a leading ``(trials,)`` axis.
    """
    n_trials = len(seeds)
    if n_trials < 1:
        raise ConfigError(f"trials must be >= 1, got {n_trials}")
    devices = list(devices) if devices is not None else jax.local_devices()
    # More devices than trials (or than a chunk) would only run padding.
    devices = devices[: max(1, min(len(devices), n_trials, trials_per_chunk or n_trials))]
    steps_per_trial = config.epochs * math.ceil(splits["train"].shape[1] / config.batch_size)
    runner = TrialRunner(model_name, n_classes, config, strategy=strategy, devices=devices, unroll=unroll,
                         steps_per_trial=steps_per_trial)
    data = runner.place_data(device_data(x, labels))
    trials = {
        "key": trial_keys(seeds),
        "train": splits["train"],
        "test": splits["test"],
        "validation": splits["validation"],
        "class_weights": splits["class_weights"],
    }
    if trials_per_chunk is None:
        chunk = choose_chunk(runner, trials, data, n_trials)
    else:
        chunk = runner.n_devices * math.ceil(trials_per_chunk / runner.n_devices)
    pieces, run_seconds = [], 0.0
    for start in range(0, n_trials, chunk):
        part = {k: v[start : start + chunk] for k, v in trials.items()}
        n_part = len(part["key"])
        padded = _pad_trials(part, chunk)
        runner.compiled(padded, data)
        begin = time.perf_counter()
        report = None if progress is None else (lambda done, start=start: progress(start + min(done, n_part)))
        out = runner.run(padded, data, on_trial=report)
        run_seconds += time.perf_counter() - begin
        pieces.append({k: v[:n_part] for k, v in out.items()})
    history = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    return EngineReport(
        history=history,
        compile_seconds=runner.compile_seconds,
        run_seconds=run_seconds,
        strategy=runner.strategy,
        chunk=chunk,
        devices=[str(d) for d in runner.devices],
    )
