"""The machine a benchmark ran on, named the same way in every benchmark's output."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """CPU model and core count, e.g. ``"AMD EPYC 7B13 (2 cores)"``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
