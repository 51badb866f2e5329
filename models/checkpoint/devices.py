"""Devices here: a user's device name checked against what torch can reach, and the memory in use on one."""

from __future__ import annotations

import os
import re
from typing import Any

from models.inputs.validation import InputError

_DEVICE = re.compile(r"(cpu|mps|cuda(?::(\d{1,3}))?)")


def check_device(name: str | None) -> str | None:
    """`name` if it is cpu, mps, cuda or cuda:N and that device exists here; None stays None (pick the best)."""
    if name is None or name == "":
        return None
    text = str(name).strip().lower()
    match = _DEVICE.fullmatch(text)
    if match is None:
        if text == "meta":
            raise InputError("device 'meta' holds no weights (it is for shape tracing); use cpu, cuda or mps")
        raise InputError(f"unknown device {name!r}; use cpu, cuda, cuda:N or mps")
    import torch

    kind, index = match.group(1).split(":")[0], match.group(2)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"device {text!r}: CUDA is not available here (no NVIDIA GPU, or a CPU-only torch); use --device cpu"
            )
        count = torch.cuda.device_count()
        if index is not None and int(index) >= count:
            raise InputError(
                f"device {text!r} does not exist; this machine has {count} CUDA device(s) (cuda:0 to cuda:{count - 1})"
            )
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InputError("device 'mps': Apple's Metal backend is not available here; use --device cpu")
    return text


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
