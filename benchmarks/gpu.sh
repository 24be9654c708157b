#!/usr/bin/env bash
# Everything a GPU check needs, in ONE call (H100/H200, jax/flax/optax/torch preinstalled, no network: this
# script installs nothing). Each step is time-boxed; the default limits add up to ~10 minutes, the device
# tool's limit per call (the two calls made on an H200 on 2026-11-27 took 262 s and 349 s).
#
#   bash benchmarks/gpu.sh             # on the GPU machine; results under $OUT (default ./gpu-results)
#   bash benchmarks/gpu.sh --dry-run   # the same steps on CPU at toy size, to test this script's logic
#
# Steps (each time-boxed; a failing step is recorded and the next one still runs):
#   1. environment: python imports, jax.default_backend() must be 'gpu' (fails loudly and stops otherwise);
#   2. where a vmapped step's time goes: benchmarks/step_parts.py --trials 50 (each conv layer three ways,
#      the fused batch-norm block, one whole step vmapped against 50 single-trial steps, and a jax.profiler
#      trace of the vmapped step with its top device ops; and the step with the first conv's forward pass as
#      shifted sums, conv2d_direct, against XLA's convolution);
#   3. benchmarks/throughput.py at the paper's size (66 x 128 x 458, 6 classes, all four models), one run per
#      entry of $RUNS ("BATCH:VARIANT,VARIANT..."): the engine's lowerings with $TRIALS trials per model, the
#      peers with the trials their ":N" gives, extrapolated to $TRIALS (marked * in the table); default
#      precision (TF32 convolutions in JAX and PyTorch alike);
#   4. sweeps at full width: `jaxsep sweep --strategy vmap` of stems3 with 50, 200 and 800 trial-configs
#      (50 trials × 1, 4 and 16 combinations of learning rate, dropout and L2, one program per batch size):
#      wall seconds, compile apart, and trial-configs per second into summary.txt;
#   5. precision: benchmarks/precision.py at the paper's size (stems3, 20 trials, batch 8): f32, tf32 and bf16
#      on the same trials, seconds per trial and the selected-accuracy parity of each with f32 (corrected 95 %
#      interval inside ±0.05, KS and Mann-Whitney p), under the engine's `auto` lowering and under `vmap`;
#   6. correctness on the GPU: tests/test_engine.py (trial equivalence of the lowerings), test_layers.py
#      (separable conv vs a scipy reference; pool, fused block and shifted-weight-gradient conv vs flax),
#      test_models.py, test_metrics.py, test_precision.py,
#      test_benchmarks.py; the 8-forced-CPU-devices sharding test is deselected (one GPU); float32 at
#      "highest" precision (no TF32).
# Writes (8 files at most: the device tool brings back 8): $OUT/summary.txt (environment, step results and the
# sweeps' rates), parts.txt, throughput-<i>-b<batch>-<precision>.json, workers.log (the benchmark workers' stderr),
# precision-<strategy>.json, pytest.txt;
# tables go to stdout.
# Knobs (environment): PYTHON (default python3), TRIALS (50), RUNS (see below), STEPS ("env parts throughput
# sweeps precision tests"), PRECISION_STRATEGIES ("auto vmap"), PRECISION_TIMEOUT (per strategy), SWEEP_TIMEOUT, PARTS_TRIALS (50), PARTS_BATCH (16), PARTS (step_parts.py's --parts), and each step's time limit: PARTS_TIMEOUT, BENCH_TIMEOUT (per run),
# WORKER_TIMEOUT (per variant), TEST_TIMEOUT.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1

OUT=${OUT:-$ROOT/gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [[ -z "${PYTHON:-}" && -x "$ROOT/.venv/bin/python" && $DRY == 1 ]]; then PY=$ROOT/.venv/bin/python; fi
if [[ "$PY" == */* && "$PY" != /* ]]; then PY=$ROOT/$PY; fi   # a relative PYTHON: steps run in other folders
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
# jax 0.11 silently falls back to CPU when both are set (engine-pitfalls.md): keep the documented one.
if [[ -n "${XLA_CLIENT_MEM_FRACTION:-}" && -n "${XLA_PYTHON_CLIENT_MEM_FRACTION:-}" ]]; then
  echo "unsetting XLA_CLIENT_MEM_FRACTION (both memory-fraction variables were set)"; unset XLA_CLIENT_MEM_FRACTION
fi
# An empty XLA_FLAGS stops tests/conftest.py from forcing 8 host devices (it only sets a default).
export XLA_FLAGS=""

TRIALS=${TRIALS:-50}
# batch 8 is the default recipe's, 32 the earlier one (and the measurements of 2026-11-27)
# An entry BATCH@PRECISION:VARIANTS runs the JAX variants at that --precision (default tf32, JAX's default);
# bf16's speed is in the precision step (8 files come back: a third run would leave one out).
RUNS=${RUNS:-"8:engine,engine-vmap,jax-loop:10,torch-eager:5,torch-tuned:5 32:engine,engine-vmap,torch-eager:5,torch-tuned:5,torch-func:5"}
STEPS=${STEPS:-"env parts throughput sweeps precision tests"}
SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-150}
SWEEP_TRIALS=50
SWEEP_TOY=(128 458)
PARTS_TRIALS=${PARTS_TRIALS:-50}
PARTS_BATCH=${PARTS_BATCH:-16}
PARTS=${PARTS:-conv,trials-block,trials-step,direct}
SIZE=(--songs 66 --classes 6 --mels 128 --frames 458 --epochs 6 --models full,novox,stems3,stems3_dw)
PARTS_SIZE=(--mels 128 --frames 458 --calls 5 --repeats 3)
TEST_TIMEOUT=${TEST_TIMEOUT:-100}
PRECISION_TIMEOUT=${PRECISION_TIMEOUT:-100}
PRECISION_STRATEGIES=${PRECISION_STRATEGIES:-"auto vmap"}
PRECISION_SIZE=(--songs 66 --classes 6 --mels 128 --frames 458 --trials 20 --batch-size 8)
PARTS_TIMEOUT=${PARTS_TIMEOUT:-90}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-200}
WORKER_TIMEOUT=${WORKER_TIMEOUT:-120}
if [[ $DRY == 1 ]]; then
  export JAX_PLATFORMS=cpu
  WANT=cpu
  TRIALS=3
  RUNS="8:engine,engine-vmap,jax-loop:2,torch-eager:2,torch-tuned:2,torch-func:2 16@bf16:engine,torch-eager:2"
  PARTS_TRIALS=3; PARTS_BATCH=4
  SIZE=(--songs 24 --classes 3 --mels 16 --frames 24 --epochs 2 --filters 3,4 --models stems3,stems3_dw)
  PARTS_SIZE=(--mels 16 --frames 24 --calls 2 --repeats 1)
  TEST_TIMEOUT=600; PARTS_TIMEOUT=300; BENCH_TIMEOUT=900; WORKER_TIMEOUT=600
  SWEEP_TIMEOUT=900; SWEEP_TRIALS=2; SWEEP_TOY=(16 24)
  PRECISION_TIMEOUT=600; PRECISION_STRATEGIES="auto"
  PRECISION_SIZE=(--songs 30 --classes 3 --mels 16 --frames 24 --filters 4,8 --trials 20 --learning-rate 1e-3
                  --strength 1 --margin 0.1)
else
  export JAX_PLATFORMS=cuda
  WANT=gpu
fi
wants() { [[ " $STEPS " == *" $1 "* ]]; }

START=$SECONDS
FAILED=()
note() { echo "[gpu.sh +$((SECONDS - START))s] $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"
note "out=$OUT python=$PY dry_run=$DRY JAX_PLATFORMS=$JAX_PLATFORMS"

# 1. Environment --------------------------------------------------------------------------------------------
{
  date -u
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" - "$WANT" <<'EOF'
import sys
import jax, flax, optax, numpy, scipy
want = sys.argv[1]
print(f"jax {jax.__version__}, flax {flax.__version__}, optax {optax.__version__}, numpy {numpy.__version__}, "
      f"scipy {scipy.__version__}")
backend = jax.default_backend()
print(f"jax.default_backend() = {backend}; devices = {jax.devices()}")
try:
    import torch
    print(f"torch {torch.__version__}, cuda available {torch.cuda.is_available()}, "
          f"device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}")
except ImportError as error:
    print(f"torch missing: {error}")
try:
    import pytest
    print(f"pytest {pytest.__version__}")
except ImportError:
    print("pytest missing")
if backend != want:
    sys.exit(f"FATAL: jax.default_backend() is {backend!r}, expected {want!r} (check jax[cuda] and the "
             "XLA_*_MEM_FRACTION variables)")
EOF
} > "$OUT/env.tmp" 2>&1
status=$?
tee -a "$OUT/summary.txt" < "$OUT/env.tmp"
rm -f "$OUT/env.tmp"
if [[ $status != 0 ]]; then
  note "FAILED: environment check; stopping"
  exit 2
fi
note "environment ok"

# 2. Where a vmapped step's time goes -----------------------------------------------------------------------
if wants parts; then
  (cd benchmarks && timeout "$PARTS_TIMEOUT" "$PY" step_parts.py --trials "$PARTS_TRIALS" --batch "$PARTS_BATCH" \
    "${PARTS_SIZE[@]}" --parts "$PARTS" --trace "$OUT/trace") \
    > "$OUT/parts.txt" 2>&1
  status=$?
  rm -rf "$OUT/trace"   # the printed summary is what comes back; the raw trace is large
  cat "$OUT/parts.txt" | grep -v "^WARNING" | tail -n 60
  if [[ $status == 0 ]]; then note "parts ok"; else note "FAILED: parts (exit $status; 124 = timed out)"; FAILED+=(parts); fi
fi

# 3. Throughput at the paper's size ------------------------------------------------------------------------
if wants throughput; then
  index=0
  for run in $RUNS; do
    index=$((index + 1))
    batch=${run%%:*}
    variants=${run#*:}
    precision=tf32
    if [[ "$batch" == *@* ]]; then precision=${batch#*@}; batch=${batch%@*}; fi
    name="throughput-$index-b$batch-$precision"
    timeout "$BENCH_TIMEOUT" "$PY" benchmarks/throughput.py "${SIZE[@]}" --batch-size "$batch" --trials "$TRIALS" \
      --precision "$precision" \
      --variants "$variants" --worker-timeout "$WORKER_TIMEOUT" \
      --json "$OUT/$name.json" > "$OUT/table.tmp" 2> "$OUT/worker.tmp"
    status=$?
    cat "$OUT/table.tmp"
    grep -E "setup|FAILED|Error|error" "$OUT/worker.tmp" | grep -v "^WARNING" | tail -n 30
    { echo "=== $name"; cat "$OUT/worker.tmp"; } >> "$OUT/workers.log"
    if [[ $status == 0 ]] && ! grep -q "ERROR" "$OUT/table.tmp"; then
      note "$name ok"
    else
      note "FAILED: $name (exit $status; 124 = timed out; see workers.log)"
      FAILED+=("$name")
    fi
    rm -f "$OUT/table.tmp" "$OUT/worker.tmp"
  done
fi

# 4. Sweeps at full width -------------------------------------------------------------------------------------
if wants sweeps; then
  "$PY" - "$OUT/sweep-features.npz" "${SWEEP_TOY[@]}" > /dev/null 2>&1 <<'EOF'
import sys
from jaxsep.features.file import save_features
from jaxsep.features.toy import toy_features
f = toy_features(songs_per_class=(11,) * 6, n_mels=int(sys.argv[2]), frames=int(sys.argv[3]), seed=11, dtype="float16")
save_features(sys.argv[1], mels=f.mels, maps=f.maps, labels=f.labels, classes=f.classes, song_ids=f.song_ids,
              meta=f.meta)
EOF
  : > "$OUT/sweeps.tmp"
  GRIDS=("--learning-rate 1e-4 --dropout 0.5 --l2 1e-4" "--learning-rate 1e-4,3e-5 --dropout 0.5,0.3 --l2 1e-4"
         "--learning-rate 1e-4,3e-5,1e-5,3e-4 --dropout 0.5,0.3 --l2 1e-4,1e-3")
  # dry run: the widest grid only (on CPU each vmapped sweep program takes ~2 min to compile, even at toy size)
  [[ $DRY == 1 ]] && GRIDS=("${GRIDS[2]}")
  for grid in "${GRIDS[@]}"; do
    # shellcheck disable=SC2086  # $grid is a list of options
    timeout "$SWEEP_TIMEOUT" "$PY" cli.py sweep "$OUT/sweep-features.npz" --model stems3 --trials "$SWEEP_TRIALS" \
      --batch-size 8 --strategy vmap $grid --out "$OUT/sweep.json" > /dev/null 2>> "$OUT/workers.log"
    status=$?
    if [[ $status == 0 ]]; then
      "$PY" benchmarks/sweep_rate.py "$OUT/sweep.json" | tee -a "$OUT/sweeps.tmp"
    else
      echo "FAILED: sweep $grid (exit $status; 124 = timed out)" | tee -a "$OUT/sweeps.tmp"; FAILED+=(sweeps)
    fi
  done
  while read -r line; do note "sweep: $line"; done < "$OUT/sweeps.tmp" > /dev/null
  rm -f "$OUT/sweep.json" "$OUT/sweep.md" "$OUT/sweep-features.npz" "$OUT/sweeps.tmp"
  note "sweeps done"
fi

# 5. Precision: speed and accuracy parity with float32 --------------------------------------------------------
if wants precision; then
  for strategy in $PRECISION_STRATEGIES; do
    timeout "$PRECISION_TIMEOUT" "$PY" benchmarks/precision.py "${PRECISION_SIZE[@]}" --strategy "$strategy" \
      --json "$OUT/precision-$strategy.json" 2>> "$OUT/workers.log" | tee "$OUT/precision.tmp"
    status=${PIPESTATUS[0]}
    while read -r line; do note "precision ($strategy): $line"; done < "$OUT/precision.tmp" > /dev/null
    rm -f "$OUT/precision.tmp"
    # exit 1: it ran, and some precision missed parity (the table says which); anything else: it did not run
    if [[ $status == 0 ]]; then note "precision $strategy ok"
    elif [[ $status == 1 ]]; then note "precision $strategy ran; a precision MISSED parity"
    else note "FAILED: precision $strategy (exit $status; 124 = timed out)"; FAILED+=("precision-$strategy"); fi
  done
fi

# 6. Correctness on the device -----------------------------------------------------------------------------
if wants tests; then
  TESTS=(tests/test_engine.py tests/test_layers.py tests/test_models.py tests/test_metrics.py tests/test_sweep.py
         tests/test_precision.py tests/test_benchmarks.py)
  PYTEST_ARGS=(-q -p no:cacheprovider -x -k "not sharded_over_eight_devices")
  [[ $DRY == 1 ]] && PYTEST_ARGS+=(--collect-only)   # dry run: check the selection, not the CPU's speed
  if "$PY" -c "import pytest" 2>/dev/null; then
    # The tests check arithmetic (float32 tolerances ~1e-4); TF32 convolutions, the GPU default, round at ~1e-3.
    JAX_DEFAULT_MATMUL_PRECISION=highest timeout "$TEST_TIMEOUT" "$PY" -m pytest "${PYTEST_ARGS[@]}" "${TESTS[@]}" \
      > "$OUT/pytest.txt" 2>&1
    status=$?
    tail -n 15 "$OUT/pytest.txt"
    if [[ $status == 0 ]]; then note "tests passed"; else note "FAILED: tests (exit $status; 124 = timed out)"; FAILED+=(tests); fi
  else
    note "FAILED: pytest is not installed here; tests not run"; FAILED+=(tests)
  fi
fi

note "done in $((SECONDS - START)) s; failed: ${FAILED[*]:-none}"
[[ ${#FAILED[@]} == 0 ]]
