"""What the benchmark scripts share: one line naming the machine a measurement comes from."""
from __future__ import annotations

import datetime

import torch


def machine() -> str:
    """'machine: <CPU model> | threads N | torch X | date' (the CPU model from /proc/cpuinfo where there is one)."""
    from transformer_book.train import cpu_name
    return f"machine: {cpu_name()} | threads {torch.get_num_threads()} | torch {torch.__version__} | {datetime.date.today()}"
