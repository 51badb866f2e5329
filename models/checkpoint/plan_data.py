"""A memory plan as plain data, without torch: what the plan dialog shows and the load options a user picks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.checkpoint.hardware import Hardware
    from models.checkpoint.size import CheckpointSize


GIB = 2**30


@dataclass(frozen=True)
class LoadOptions:
    """What a user chose for the load; `load_kwargs()` goes straight to `load_checkpoint`."""

    dtype: str | None = None
    max_gpu_memory: int | None = None  # bytes of weights to keep on the GPU; the rest is offloaded
    max_cpu_memory: int | None = None  # bytes of weights to keep in CPU RAM; the rest goes to disk
    offload_folder: str | None = None

    def load_kwargs(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class MemoryPlan:
    source: str
    size: CheckpointSize
    dtype: str  # the dtype the weights load in ("as stored" for a quantized build)
    weight_bytes: int
    kv_tokens: int
    kv_cache_bytes: int
    workspace_bytes: int
    headroom_bytes: int
    hardware: Hardware
    verdict: str  # one of _VERDICTS
    options: LoadOptions  # the load options that carry the verdict out
    lines: tuple[str, ...] = field(default=())

    @property
    def needed_bytes(self) -> int:
        return self.weight_bytes + self.kv_cache_bytes + self.workspace_bytes + self.headroom_bytes

    @property
    def can_load(self) -> bool:
        return self.verdict not in ("unsupported", "too-big")

    def text(self) -> str:
        return "\n".join(self.lines)


def gib(count: float) -> str:
    """A byte count for people: GiB with one decimal, MiB below 1 GiB."""
    return f"{count / GIB:.1f} GiB" if abs(count) >= GIB else f"{count / 2**20:.0f} MiB"
