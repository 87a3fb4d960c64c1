"""What the benchmark scripts share: one line naming the machine a measurement comes from."""
from __future__ import annotations

import datetime
import platform

import torch


def machine() -> str:
    """'machine: <CPU model> | threads N | torch X | date' (the CPU model from /proc/cpuinfo where there is one)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"machine: {cpu} | threads {torch.get_num_threads()} | torch {torch.__version__} | {datetime.date.today()}"
