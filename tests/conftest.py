"""Test set-up: 8 forced CPU devices (for the sharding tests) before jax is imported; a numba cache per process."""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# librosa's beat tracker is numba `guvectorize(cache=True)`: two xdist workers compiling it at once into the
# shared on-disk cache can leave mismatched cache files that segfault a worker (numba issue #10128; it crashed
# CI in test_synth). Each test process gets its own numba cache, removed when the process exits. The owner's pid
# goes with it: xdist workers inherit the controller's environment (its conftest runs first), and a cache
# directory set by another process of this run must not be shared. A NUMBA_CACHE_DIR the user set is kept.
_NUMBA_OWNER = "JAXSEP_TEST_NUMBA_CACHE_PID"
_owner = os.environ.get(_NUMBA_OWNER)
if "NUMBA_CACHE_DIR" not in os.environ or (_owner is not None and _owner != str(os.getpid())):
    _numba_cache = tempfile.mkdtemp(prefix=f"jaxsep-test-numba-{os.getpid()}-")
    os.environ["NUMBA_CACHE_DIR"] = _numba_cache
    os.environ[_NUMBA_OWNER] = str(os.getpid())
    atexit.register(shutil.rmtree, _numba_cache, ignore_errors=True)

import pytest  # noqa: E402

#: The read-only shared folder beside the checkout (real audio, separator weights); may be absent.
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent")
    return SHARED
