"""What memory the machine has free where the model would run: the GPU's (torch) and the RAM (psutil)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from models.checkpoint.loading import pick_device


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda", "mps" or "cpu": where the model would run
    ram_available: int
    gpu_name: str | None = None
    gpu_free: int = 0  # summed over the GPUs when there are several
    gpu_total: int = 0
    capability: tuple[int, int] | None = None  # CUDA compute capability (of the first GPU)


def detect_hardware(device: str | None = None) -> Hardware:
    """Free memory where `load_checkpoint(device=device)` would put the model (torch.cuda.mem_get_info on CUDA)."""
    target = pick_device(device)
    ram = available_ram()
    if target.type != "cuda" or not torch.cuda.is_available():
        return Hardware(device=target.type, ram_available=ram)
    indices = [target.index] if target.index is not None else list(range(torch.cuda.device_count()))
    free = total = 0
    for index in indices:
        device_free, device_total = torch.cuda.mem_get_info(index)
        free, total = free + device_free, total + device_total
    name = torch.cuda.get_device_name(indices[0])
    return Hardware(
        device="cuda",
        ram_available=ram,
        gpu_name=name if len(indices) == 1 else f"{len(indices)} x {name}",
        gpu_free=free,
        gpu_total=total,
        capability=tuple(torch.cuda.get_device_capability(indices[0])),
    )


def available_ram() -> int:
    """Bytes of RAM available without swapping (psutil, installed with accelerate; else /proc/meminfo)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0
