"""The trial engine: all trials of one model, features on the device once, one compiled trainer.

The per-trial trainer (:mod:`jaxsep.training.trainer`) is a pure function of ``(trial, data)``; the engine
lowers the trial axis in one of the ways of :data:`LOWERINGS`, which give the same numbers (to float rounding;
tested):

* ``"vmap"``: ``jax.vmap`` over trials, one program for a whole chunk; convolutions with per-trial weights
  become grouped convolutions, except their weight gradients, computed as batched contractions of shifted
  inputs (:func:`jaxsep.nn.conv.conv2d_shifted_weight_grad`). Sharded over a 1-d ``jax.sharding`` mesh when
  there are several devices; the chunk comes from the compiled program's own memory estimate.
* ``"map"``: ``lax.map`` over trials inside one program (trials one after another on each device).
* ``"sequential"``: one compiled single-trial program (epochs and batches as ``lax.scan``), dispatched once
  per trial, asynchronously.
* ``"stepped"``: the same trial driven from Python a few unrolled training steps per jitted call
  (:class:`jaxsep.training.stepped.SteppedTrial`), dispatched asynchronously.

The two per-trial lowerings run ``concurrent_trials`` trials at once on their device, each from its own host
thread (:func:`default_concurrent_trials`: two on CPU, where one trial leaves the cores idle between and inside
its small operations; one elsewhere). Each trial's program is the same, so its numbers do not change.

``"auto"`` picks from measurements (benchmarks/RESULTS.md: "Lowerings, and before / after" on CPU, "4 models
× 50 trials" on an H200): on CPU ``"sequential"`` with fully unrolled loops when a trial has at most
:data:`UNROLLED_STEPS_MAX` training steps (XLA:CPU runs convolution gradients far slower inside a ``while``
loop, jax issue #12868, and an unrolled program's compile time and memory grow with its steps), else
``"stepped"``; elsewhere ``"sequential"`` with rolled loops (as fast as ``"vmap"`` on the H200, in a fraction
of the memory).

Two lowering options, each meaning one thing: ``unroll`` is the ``lax.scan`` unrolling of the scanned
lowerings (an int, or ``True`` for full); ``steps_per_call`` is how many training steps the ``"stepped"``
driver unrolls into one jitted call.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Sequence

import jax
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..config import TrainConfig
from ..errors import ConfigError
from ..nn.models import build_network, get_spec
from ..options import Batching, Head, LoweringName, Strategy, choose
from .stepped import SteppedTrial
from .trainer import (
    STEPS_PER_CALL,
    History,
    Hyperparameters,
    Trial,
    TrialData,
    TrialOutput,
    make_train_trial,
    trial_data,
)
from .xla_options import compiler_options


@dataclass(frozen=True)
class Lowering:
    """How the engine lowers the trial axis of one model's trials.

    Attributes:
      name: the ``--strategy`` value.
      per_trial: the program trains one trial and is dispatched once per trial, on one device (on CPU a few
        at once: :func:`default_concurrent_trials`); else one program runs a whole chunk of trials.
      batching: how a chunk program runs its trials: all at once (memory grows with the chunk) or one after
        another (``lax.map``); ``None`` for per-trial programs.
      stepped: driven from Python a few unrolled steps per call instead of one scanned program.
    """

    name: LoweringName
    per_trial: bool
    batching: Batching | None
    stepped: bool = False

    @property
    def shifted_weight_grad(self) -> bool:
        """Under ``vmap`` jax batches a per-trial conv weight gradient into a grouped convolution that
        XLA:GPU runs slowly; the shifted-contraction weight gradient batches into plain matrix products."""
        return self.batching == Batching.VMAP


LOWERINGS: dict[LoweringName, Lowering] = {
    lowering.name: lowering
    for lowering in (
        Lowering(LoweringName.VMAP, per_trial=False, batching=Batching.VMAP),
        Lowering(LoweringName.MAP, per_trial=False, batching=Batching.MAP),
        Lowering(LoweringName.SEQUENTIAL, per_trial=True, batching=None),
        Lowering(LoweringName.STEPPED, per_trial=True, batching=None, stepped=True),
    )
}

#: On CPU, ``"auto"`` unrolls a whole trial into one program up to this many training steps (the paper's
#: protocol has 12; benchmarks/RESULTS.md, "Lowerings, and before / after").
UNROLLED_STEPS_MAX = 24
_TRIAL_AXIS = "trials"


def resolve_strategy(strategy: str, backend: str | None = None, steps_per_trial: int | None = None) -> LoweringName:
    """Maps ``"auto"`` to the lowering measured fastest on ``backend`` (default: JAX's default backend).

    On CPU: ``"sequential"`` (the whole trial one fully unrolled program) when a trial has at most
    :data:`UNROLLED_STEPS_MAX` training steps, else ``"stepped"`` (unrolled programs grow in compile time and
    memory with the steps). Elsewhere ``"sequential"`` with rolled loops (see the module docstring).
    """
    strategy = choose(Strategy, strategy, "strategy", message="unknown strategy {value!r}; choose from {choices}")
    if strategy != Strategy.AUTO:
        return LoweringName(strategy)
    if (backend or jax.default_backend()) != "cpu":
        return LoweringName.SEQUENTIAL
    small = steps_per_trial is not None and steps_per_trial <= UNROLLED_STEPS_MAX
    return LoweringName.SEQUENTIAL if small else LoweringName.STEPPED


def default_unroll(backend: str | None = None) -> int | bool:
    """Full unrolling of the epoch/batch scans on CPU (XLA:CPU runs conv gradients far slower inside a
    ``while`` loop, jax issue #12868); rolled loops elsewhere, which compile faster."""
    return True if (backend or jax.default_backend()) == "cpu" else 1


def default_direct_forward(backend: str | None = None) -> bool:
    """Whether the first conv's forward pass (training and evaluation) is written as shifted sums
    (:func:`jaxsep.nn.conv.conv2d_direct`): on CPU, where it trained and evaluated faster at the paper's size
    (benchmarks/RESULTS.md, "A direct first convolution", "Evaluation and one-pass batch
    statistics"); not measured on a GPU yet, so off there."""
    return (backend or jax.default_backend()) == "cpu"


def default_concurrent_trials(backend: str | None = None) -> int:
    """Trials a per-trial lowering runs at once: two on CPU (more trials per second than one at a time on
    2 cores at the paper's size: benchmarks/RESULTS.md, "Two trials at once"), one elsewhere (not measured on
    a GPU)."""
    return 2 if (backend or jax.default_backend()) == "cpu" else 1


def trial_keys(seeds: Sequence[int]) -> np.ndarray:
    """Raw PRNG keys, shape ``(trials, 2)`` uint32, one per trial seed (``jax.random.PRNGKey(seed)``)."""
    return np.stack([np.asarray(jax.random.PRNGKey(int(s))) for s in seeds])


def stack_trials(seeds: Sequence[int], splits: dict[str, np.ndarray], hyper: Hyperparameters) -> Trial:
    """The :class:`~jaxsep.training.trainer.Trial` of every seed, stacked on a leading ``(trials,)`` axis
    (numpy arrays), from :func:`jaxsep.training.splits.make_splits`' ``splits`` and per-trial ``hyper``."""
    return Trial(key=trial_keys(seeds), train=splits["train"], test=splits["test"],
                 validation=splits["validation"], class_weights=splits["class_weights"], hyper=hyper)


def _take(trials: Trial, index) -> Trial:
    """The trial(s) at ``index`` (an int, a slice or an index array) of stacked trials."""
    return jax.tree.map(lambda leaf: leaf[index], trials)


def n_trials_of(trials: Trial) -> int:
    """How many trials a stacked :class:`Trial` holds."""
    return len(trials.key)


@dataclass(frozen=True)
class EngineReport:
    """What one model's trials returned and cost.

    Attributes:
      history: per-trial, per-epoch arrays with a leading ``(trials,)`` axis (see :mod:`jaxsep.training.trainer`).
      variables: every trial's trained variables with a leading ``(trials,)`` axis, when asked for
        (``keep_state``), else None.
      compile_seconds, run_seconds: wall time spent compiling and running (summed over chunk shapes).
      strategy, chunk, devices, concurrent_trials: how the trials were run.
    """

    history: History
    variables: dict | None
    compile_seconds: float
    run_seconds: float
    strategy: LoweringName
    chunk: int
    devices: tuple[str, ...] = ()
    concurrent_trials: int = 1


# typed: ``unroll=True`` (full) and ``unroll=1`` (rolled) are equal as dict keys but different programs.
@functools.lru_cache(maxsize=32, typed=True)
def _program(separable: bool, n_classes: int, config: TrainConfig, lowering: Lowering, devices: tuple,
             unroll, steps_per_call: int, keep_state: bool, segments_per_song: int, direct_forward: bool, head: Head):
    """The jitted all-trials program. Cached, so models of one architecture (``full`` and ``novox``) share
    it and its compilations."""
    options = compiler_options(devices[0].platform)
    network = build_network(separable, n_classes, config, shifted_weight_grad=lowering.shifted_weight_grad,
                            direct_forward=direct_forward, head=head)
    if lowering.stepped:
        return SteppedTrial(network, config, options, steps_per_call, keep_state=keep_state,
                            segments_per_song=segments_per_song)
    trial_fn = make_train_trial(network, config, unroll=unroll, keep_state=keep_state,
                                segments_per_song=segments_per_song)
    if lowering.per_trial:
        return jax.jit(trial_fn, compiler_options=options)

    def local(trials, data):
        if lowering.batching == "vmap":
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
      model_name: a model name (:func:`jaxsep.nn.models.get_spec`).
      n_classes: classes of the data set.
      config: the per-trial protocol.
      strategy: ``"auto"`` or a name from :data:`LOWERINGS`.
      devices: devices to shard the trial axis over (default: all local devices of the default backend).
      unroll: unroll of the epoch/batch scans of the scanned lowerings (default: :func:`default_unroll`).
      steps_per_call: training steps per jitted call of ``"stepped"`` (default :data:`STEPS_PER_CALL`).
      steps_per_trial: training steps of one trial, for ``"auto"`` (see :func:`resolve_strategy`).
      keep_state: return each trial's trained variables too (:attr:`TrialOutput.variables`).
      segments_per_song: rows per song in the trials' index arrays (test metrics score songs).
      direct_forward: the first conv's forward pass as shifted sums (default:
        :func:`default_direct_forward`).
      concurrent_trials: trials a per-trial lowering runs at once (default: :func:`default_concurrent_trials`);
        ignored by the chunk lowerings.
    """

    def __init__(self, model_name, n_classes, config: TrainConfig, *, strategy="auto", devices=None, unroll=None,
                 steps_per_call: int | None = None, steps_per_trial: int | None = None, keep_state: bool = False,
                 segments_per_song: int = 1, direct_forward: bool | None = None,
                 concurrent_trials: int | None = None):
        self.spec = get_spec(model_name)
        devices = tuple(devices) if devices is not None else tuple(jax.local_devices())
        self.strategy = resolve_strategy(strategy, devices[0].platform, steps_per_trial)
        self.lowering = LOWERINGS[self.strategy]
        self.devices = devices[:1] if self.lowering.per_trial else devices
        if self.lowering.stepped:
            unroll = None  # the stepped driver unrolls its calls fully; only steps_per_call shapes it
        elif unroll is None:
            unroll = default_unroll(devices[0].platform)
        steps_per_call = (steps_per_call or STEPS_PER_CALL) if self.lowering.stepped else 0
        if direct_forward is None:
            direct_forward = default_direct_forward(devices[0].platform)
        if concurrent_trials is None:
            concurrent_trials = default_concurrent_trials(devices[0].platform)
        if concurrent_trials < 1:
            raise ConfigError(f"concurrent_trials must be >= 1, got {concurrent_trials}")
        self.concurrent_trials = concurrent_trials if self.lowering.per_trial else 1
        self._key = (self.spec.separable, n_classes, config, self.lowering, self.devices, unroll, steps_per_call,
                     keep_state, segments_per_song, direct_forward, self.spec.head)
        self._program = _program(*self._key)
        self.mesh = _trial_mesh(self.devices)
        self.compile_seconds = 0.0

    @property
    def n_devices(self) -> int:
        return len(self.devices)

    def place_data(self, data: TrialData) -> TrialData:
        """Puts the shared inputs on the devices once (replicated over the mesh)."""
        if self.mesh is None:
            return jax.device_put(data, self.devices[0])
        return jax.device_put(data, NamedSharding(self.mesh, P()))

    def _place_trials(self, trials: Trial) -> Trial:
        if self.mesh is None:
            return jax.device_put(trials, self.devices[0])
        return jax.device_put(trials, NamedSharding(self.mesh, P(_TRIAL_AXIS)))

    def compiled(self, trials: Trial, data: TrialData):
        """The compiled program for these shapes (compiled once per process, timed)."""
        if self.lowering.per_trial:
            trials = _take(trials, 0)
        key = (self._key, type(self._key[5]), _signature(trials), _signature(data))  # [5]: unroll (True vs 1)
        if key not in _EXECUTABLES:
            start = time.perf_counter()
            if self.lowering.stepped:
                self._program.compile(self._place_trials(trials), data)
                _EXECUTABLES[key] = self._program
            else:
                _EXECUTABLES[key] = self._program.lower(self._place_trials(trials), data).compile()
            self.compile_seconds += time.perf_counter() - start
        return _EXECUTABLES[key]

    def program_bytes(self, trials: Trial, data: TrialData) -> float | None:
        """Device memory the compiled program for these shapes needs per device beyond its inputs, by XLA's
        own estimate (outputs and temporaries: the shared data is already placed, and counted as in use by
        :func:`_memory_budget`); None where the backend gives none."""
        try:
            analysis = self.compiled(trials, data).memory_analysis()
            return float(analysis.output_size_in_bytes + analysis.temp_size_in_bytes)
        except (AttributeError, TypeError, NotImplementedError):
            return None

    def run(self, trials: Trial, data: TrialData, on_trial: Callable[[int], None] | None = None) -> TrialOutput:
        """Runs one chunk: ``trials`` with a leading ``(chunk,)`` axis, a multiple of the device count.
        ``on_trial(n)`` is called as trials finish (per trial for single-trial lowerings, else per chunk)."""
        program = self.compiled(trials, data)
        if self.lowering.per_trial:
            return self._run_per_trial(program, trials, data, on_trial)
        out = jax.tree.map(np.asarray, jax.block_until_ready(program(self._place_trials(trials), data)))
        if on_trial is not None:
            on_trial(n_trials_of(trials))
        return out

    def _run_per_trial(self, program, trials: Trial, data: TrialData, on_trial) -> TrialOutput:
        """Runs the trials one by one, or ``concurrent_trials`` at a time, each from its own host thread
        (trials are independent programs on the same device, so the runtime overlaps them)."""
        # Slice the trials on the host: indexing a device array compiles a small program per array shape on
        # first use, which would land inside the timed run.
        host = jax.tree.map(np.asarray, trials)
        n = n_trials_of(host)

        def dispatch(t: int) -> TrialOutput:
            return program(self._place_trials(_take(host, t)), data)

        if self.concurrent_trials == 1:
            # Dispatch every trial before waiting on any: the host never idles the device between trials.
            outs = [dispatch(t) for t in range(n)]
            for done, out in enumerate(outs, 1):
                jax.block_until_ready(out)
                if on_trial is not None:
                    on_trial(done)
        else:
            outs = [None] * n
            pool = ThreadPoolExecutor(max_workers=min(self.concurrent_trials, n))
            try:
                futures = {pool.submit(lambda t: jax.block_until_ready(dispatch(t)), t): t for t in range(n)}
                for done, future in enumerate(as_completed(futures), 1):
                    outs[futures[future]] = future.result()
                    if on_trial is not None:
                        on_trial(done)
            finally:
                # On an error or an interruption (SIGTERM, Ctrl-C) the trials not yet started are dropped; the
                # running ones cannot be stopped and are waited for.
                pool.shutdown(wait=True, cancel_futures=True)
        return jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves]), *outs)


class ChunkShrunkWarning(UserWarning):
    """XLA could not compile a chunk of trials at once; the engine tries half as many (shown as a ``note:`` line
    by the command line, as every jaxsep warning)."""


def _memory_budget(device) -> float:
    """Bytes the engine may use on ``device``: 80 % of the accelerator memory still free (its limit less what is
    in use), or half the host's RAM."""
    stats = None
    try:
        stats = device.memory_stats()
    except (AttributeError, NotImplementedError, RuntimeError):
        pass
    if stats and "bytes_limit" in stats:
        return 0.8 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _pad_trials(trials: Trial, size: int) -> Trial:
    """Repeats the last trial so the leading axis is ``size`` (padding rows are dropped after the run)."""
    n = n_trials_of(trials)
    if n == size:
        return trials
    return _take(trials, np.concatenate([np.arange(n), np.full(size - n, n - 1)]))


def choose_chunk(runner: TrialRunner, trials: Trial, data: TrialData, n_trials: int) -> int:
    """Trials per chunk, always a multiple of the devices and at least one per device.

    All trials unless the lowering batches with ``vmap`` (memory does not grow with trials otherwise). For
    ``"vmap"`` all of them if the compiled program fits the memory budget by XLA's estimate; else fewer, shrunk
    in proportion and recompiled until it fits; and half as many if XLA fails to compile a chunk (a crashing
    autotuner, say), down to one trial per device, where the error is raised. In the common case the one
    compilation is the program that then runs (compilations are cached per shape).
    """
    n_dev = runner.n_devices
    chunk = n_dev * math.ceil(n_trials / n_dev)
    if runner.lowering.batching != "vmap":
        return chunk
    budget = _memory_budget(runner.devices[0])
    while chunk > n_dev:
        per_device = chunk // n_dev
        try:
            used = runner.program_bytes(_pad_trials(_take(trials, slice(0, chunk)), chunk), data)
        except jax.errors.JaxRuntimeError as error:
            warnings.warn(f"XLA could not compile {chunk} trials at once ({str(error)[:200]}); trying "
                          f"{n_dev * max(1, per_device // 2)}", ChunkShrunkWarning)
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
    steps_per_call: int | None = None,
    direct_forward: bool | None = None,
    concurrent_trials: int | None = None,
    hyper: Hyperparameters | None = None,
    keep_state: bool = False,
    segments_per_song: int = 1,
    progress: Callable[[int], None] | None = None,
) -> EngineReport:
    """Trains every trial of one model.

    Args:
      model_name: a model name (:func:`jaxsep.nn.models.get_spec`).
      x: the model's input maps, shape ``(songs, mel, time, channels)``.
      labels: ``(songs,)`` int class indices.
      splits: from :func:`jaxsep.training.splits.make_splits`: ``train``, ``test``, ``validation`` index arrays
        and ``class_weights``, each with a leading ``(trials,)`` axis.
      seeds: ``(trials,)`` per-trial seeds (run seed + trial index).
      config: the per-trial protocol.
      n_classes: number of classes.
      strategy: ``"auto"`` or a name from :data:`LOWERINGS` (same numbers, different lowering).
      trials_per_chunk: trials per compiled call; None picks from the memory estimate.
      devices: devices to shard over (default: all local devices).
      unroll: epoch/batch scan unroll of the scanned lowerings (default: full on CPU, none elsewhere).
      steps_per_call: training steps per jitted call of ``"stepped"`` (default :data:`STEPS_PER_CALL`).
      direct_forward: the first conv's forward pass as shifted sums (default:
        :func:`default_direct_forward`; same numbers to float rounding).
      concurrent_trials: trials a per-trial lowering runs at once (default: :func:`default_concurrent_trials`;
        same numbers).
      hyper: per-trial :class:`~jaxsep.training.trainer.Hyperparameters`, each ``(trials,)``; default: the
        values of ``config`` for every trial (a sweep passes its grid here).
      keep_state: also return every trial's trained variables (:attr:`EngineReport.variables`, for saved models).
      segments_per_song: K when ``splits`` hold K consecutive rows per song (:func:`jaxsep.training.splits.rows_of`);
        test and validation metrics then score songs by the mean of their segments' probabilities.
      progress: called with the number of trials finished after each chunk (or trial).

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
                         steps_per_call=steps_per_call, steps_per_trial=steps_per_trial, keep_state=keep_state,
                         segments_per_song=segments_per_song, direct_forward=direct_forward,
                         concurrent_trials=concurrent_trials)
    data = runner.place_data(trial_data(x, labels))
    hyper = Hyperparameters.from_config(config, n_trials) if hyper is None else hyper
    trials = stack_trials(seeds, splits, hyper)
    if trials_per_chunk is None:
        chunk = choose_chunk(runner, trials, data, n_trials)
    else:
        chunk = runner.n_devices * math.ceil(trials_per_chunk / runner.n_devices)
    pieces, run_seconds = [], 0.0
    for start in range(0, n_trials, chunk):
        part = _take(trials, slice(start, start + chunk))
        n_part = n_trials_of(part)
        padded = _pad_trials(part, chunk)
        runner.compiled(padded, data)
        begin = time.perf_counter()
        report = None if progress is None else (lambda done, start=start: progress(start + min(done, n_part)))
        out = runner.run(padded, data, on_trial=report)
        run_seconds += time.perf_counter() - begin
        pieces.append(jax.tree.map(lambda leaf, n=n_part: leaf[:n], out))
    output = jax.tree.map(lambda *leaves: np.concatenate(leaves), *pieces)
    return EngineReport(
        history=output.history,
        variables=output.variables,
        compile_seconds=runner.compile_seconds,
        run_seconds=run_seconds,
        strategy=runner.strategy,
        chunk=chunk,
        devices=tuple(str(d) for d in runner.devices),
        concurrent_trials=runner.concurrent_trials,
    )
