#!/usr/bin/env bash
# Everything a GPU check needs, in ONE call of under 5 minutes (H100/H200, jax/flax/optax/torch preinstalled,
# no network: this script installs nothing).
#
#   bash benchmarks/gpu.sh             # on the GPU machine; results under $OUT (default ./gpu-results)
#   bash benchmarks/gpu.sh --dry-run   # the same steps on CPU at toy size, to test this script's logic
#
# Steps (each time-boxed; a failing step is recorded and the next one still runs):
#   1. environment: python imports, jax.default_backend() must be 'gpu' (fails loudly and stops otherwise);
#   2. correctness on the GPU: tests/test_engine.py (trial equivalence of the lowerings), test_layers.py
#      (separable conv vs a scipy reference), test_models.py, test_metrics.py, test_benchmarks.py; the
#      8-forced-CPU-devices sharding test is deselected (one GPU); float32 at "highest" precision (no TF32);
#   3. benchmarks/throughput.py at the paper's size (66 x 128 x 458, 6 classes, all four models), batch 16 and 32:
#      the engine with 50 trials per model; the JAX loop and the PyTorch peers with $PEER_TRIALS trials per
#      model, extrapolated to 50 (marked * in the table); default precision (TF32 convolutions in both).
# Writes: $OUT/env.txt, pytest.txt, throughput-b16.{txt,json}, throughput-b32.{txt,json}, summary.txt.
# Knobs (environment): PYTHON (default python3), PEER_TRIALS (5), TRIALS (50), VARIANTS
# (engine,jax-loop,torch-eager,torch-func; add engine-vmap to try the vmapped lowering), BATCHES ("16 32").
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DRY=0
[[ "${1:-}" == "--dry-run" ]] && DRY=1

OUT=${OUT:-$ROOT/gpu-results}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
if [[ -z "${PYTHON:-}" && -x "$ROOT/.venv/bin/python" && $DRY == 1 ]]; then PY=$ROOT/.venv/bin/python; fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1
# jax 0.11 silently falls back to CPU when both are set (engine-pitfalls.md): keep the documented one.
if [[ -n "${XLA_CLIENT_MEM_FRACTION:-}" && -n "${XLA_PYTHON_CLIENT_MEM_FRACTION:-}" ]]; then
  echo "unsetting XLA_CLIENT_MEM_FRACTION (both memory-fraction variables were set)"; unset XLA_CLIENT_MEM_FRACTION
fi
# An empty XLA_FLAGS stops tests/conftest.py from forcing 8 host devices (it only sets a default).
export XLA_FLAGS=""

TRIALS=${TRIALS:-50}
PEER_TRIALS=${PEER_TRIALS:-5}
VARIANTS=${VARIANTS:-engine,jax-loop,torch-eager,torch-func}
BATCHES=${BATCHES:-16 32}
SIZE=(--songs 66 --classes 6 --mels 128 --frames 458 --epochs 6 --models full,novox,stems3,stems3_dw)
TEST_TIMEOUT=150
BENCH_TIMEOUT=170
WORKER_TIMEOUT=120
if [[ $DRY == 1 ]]; then
  export JAX_PLATFORMS=cpu
  WANT=cpu
  TRIALS=3; PEER_TRIALS=2; BATCHES="8 16"
  SIZE=(--songs 24 --classes 3 --mels 16 --frames 24 --epochs 2 --filters 3,4 --models stems3,stems3_dw)
  TEST_TIMEOUT=600; BENCH_TIMEOUT=900; WORKER_TIMEOUT=600
else
  export JAX_PLATFORMS=cuda
  WANT=gpu
fi

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
} > "$OUT/env.txt" 2>&1
status=$?
cat "$OUT/env.txt"
if [[ $status != 0 ]]; then
  note "FAILED: environment check (see env.txt); stopping"
  exit 2
fi
note "environment ok"

# 2. Correctness on the device -----------------------------------------------------------------------------
TESTS=(tests/test_engine.py tests/test_layers.py tests/test_models.py tests/test_metrics.py tests/test_benchmarks.py)
PYTEST_ARGS=(-q -p no:cacheprovider -k "not sharded_over_eight_devices")
[[ $DRY == 1 ]] && PYTEST_ARGS+=(--collect-only)   # dry run: check the selection, not the CPU's speed
if "$PY" -c "import pytest" 2>/dev/null; then
  # The tests check arithmetic (float32 tolerances ~1e-4); TF32 convolutions, the GPU default, round at ~1e-3.
  JAX_DEFAULT_MATMUL_PRECISION=highest timeout "$TEST_TIMEOUT" "$PY" -m pytest "${PYTEST_ARGS[@]}" "${TESTS[@]}" > "$OUT/pytest.txt" 2>&1
  status=$?
  tail -n 15 "$OUT/pytest.txt"
  if [[ $status == 0 ]]; then note "tests passed"; else note "FAILED: tests (exit $status; 124 = timed out)"; FAILED+=(tests); fi
else
  note "FAILED: pytest is not installed here; tests not run"; FAILED+=(tests)
fi

# 3. Throughput at the paper's size ------------------------------------------------------------------------
for batch in $BATCHES; do
  timeout "$BENCH_TIMEOUT" "$PY" benchmarks/throughput.py "${SIZE[@]}" --batch-size "$batch" --trials "$TRIALS" \
    --peer-trials "$PEER_TRIALS" --variants "$VARIANTS" --worker-timeout "$WORKER_TIMEOUT" \
    --json "$OUT/throughput-b$batch.json" > "$OUT/throughput-b$batch.txt" 2> "$OUT/throughput-b$batch.log"
  status=$?
  cat "$OUT/throughput-b$batch.txt"
  if [[ $status == 0 ]] && ! grep -q "ERROR" "$OUT/throughput-b$batch.txt"; then
    note "throughput batch $batch ok"
  else
    note "FAILED: throughput batch $batch (exit $status; 124 = timed out; see throughput-b$batch.log)"
    FAILED+=("throughput-b$batch")
  fi
done

note "done in $((SECONDS - START)) s; failed: ${FAILED[*]:-none}"
[[ ${#FAILED[@]} == 0 ]]
