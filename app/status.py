"""Numbers for the status bar."""

from __future__ import annotations

import os
from typing import Any


def memory_in_use(device: Any = None) -> str:
    """GPU memory allocated by torch on CUDA; this process's resident memory otherwise."""
    if device is not None and getattr(device, "type", "") == "cuda":
        import torch

        return f"GPU {torch.cuda.memory_allocated(device) / 2**30:.1f} GiB"
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return f"RAM {pages * os.sysconf('SC_PAGE_SIZE') / 2**30:.2f} GiB"
    except (OSError, ValueError, IndexError):
        return ""
