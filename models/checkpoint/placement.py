"""Where the weights go: one device as before, or accelerate's device map with memory caps and an offload folder.

Offload is accelerate's own (`device_map="auto"`, `max_memory`, `offload_folder`): layers that do not fit under the
GPU cap stay in CPU RAM, and those that do not fit under the RAM cap go to disk; accelerate's hooks bring each one
to the GPU for its forward pass. Nothing here is custom offload code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from models.checkpoint.load_errors import LoadError
from models.checkpoint.quantization import unsupported_reason

Size = int | str  # bytes, or text such as "20GiB" or "500MB"


def parse_size(value: Size, name: str = "memory cap") -> int:
    """Bytes from an int or a size such as "20GiB", "20GB" or "512MiB"; one clear message otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        from accelerate.utils import convert_file_size_to_int

        try:
            size = convert_file_size_to_int(str(value).strip().replace(" ", ""))
        except (ValueError, TypeError, AttributeError) as error:
            raise LoadError(f"{name} must be a size such as 20GiB or 500MB, got {value!r}") from error
    if size <= 0:
        raise LoadError(f"{name} must be more than 0 bytes, got {value!r}")
    return size


def check_runnable(config: dict[str, Any], target: torch.device) -> None:
    """Refuse a build this device cannot run (NVFP4 off Blackwell, FP8 on a CPU) before any weight is read."""
    capability = None
    if target.type == "cuda" and torch.cuda.is_available():
        capability = tuple(torch.cuda.get_device_capability(target))
    reason = unsupported_reason(config, target.type, capability)
    if reason:
        raise LoadError(reason)


def placement_kwargs(
    target: torch.device,
    path: Path,
    dtype: torch.dtype,
    *,
    device_map: str | dict[str, Any] | None = None,
    max_gpu_memory: Size | None = None,
    max_cpu_memory: Size | None = None,
    offload_folder: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """`from_pretrained` arguments for a capped, offloaded load; {} when none of the options is given.

    With memory caps and no `device_map` of the user's own, the map is `layer_device_map`'s; a `device_map` given
    ("auto", "balanced", or a dict) goes to accelerate as it is, with the caps as `max_memory`.
    """
    if device_map is None and max_gpu_memory is None and max_cpu_memory is None and offload_folder is None:
        return {}
    if target.type == "mps":
        raise LoadError("offload (memory caps, an offload folder) works on CUDA GPUs and the CPU, not on MPS")
    if max_gpu_memory is not None and target.type != "cuda":
        raise LoadError(f"a GPU memory cap needs a CUDA GPU; this load runs on {target.type}")
    main: int | str = "cpu"
    caps: dict[int | str, int] = {}
    if target.type == "cuda":
        main = target.index if target.index is not None else torch.cuda.current_device()
        caps[main] = (
            parse_size(max_gpu_memory, "--max-gpu-memory")
            if max_gpu_memory is not None
            else torch.cuda.mem_get_info(main)[0]
        )
    if max_cpu_memory is not None:
        caps["cpu"] = parse_size(max_cpu_memory, "--max-cpu-memory")
    else:
        import psutil  # installed with accelerate

        caps["cpu"] = int(psutil.virtual_memory().available)
    folder = None
    if offload_folder is not None:
        folder = Path(offload_folder).expanduser()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LoadError(f"cannot use {folder} as the offload folder: {error.strerror or error}") from error
    kwargs: dict[str, Any] = {"offload_folder": str(folder)} if folder else {}
    if device_map is not None:
        return {**kwargs, "device_map": device_map, "max_memory": caps}
    return {**kwargs, "device_map": layer_device_map(path, dtype, main, caps, disk=folder is not None)}


def layer_device_map(
    path: Path, dtype: torch.dtype, main: int | str, caps: dict[int | str, int], disk: bool
) -> dict[str, int | str]:
    """Everything but the decoder layers on the main device; the layers in order on it, then in RAM, then on disk.

    The encoder and decoder share every layer's weights, so layer i of both goes to one place; the embeddings
    (tied with the LM head) and the vision tower stay on the device that runs the model. (accelerate's own
    "auto" map can fail on these ties: an IndexError in transformers' get_module_size_with_ties.)
    """
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    with torch.device("meta"):  # shapes only: no memory, no weights read
        model = DiffusionGemmaForBlockDiffusion(DiffusionGemmaConfig.from_pretrained(path))
    width = torch.finfo(dtype).bits // 8

    def size(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters()) * width

    encoder, decoder = model.model.encoder, model.model.decoder
    shared = {f"model.encoder.{name}": child for name, child in encoder.named_children() if name != "language_model"}
    shared |= {
        f"model.encoder.language_model.{name}": child
        for name, child in encoder.language_model.named_children()
        if name != "layers"
    }
    shared |= {f"model.decoder.{name}": child for name, child in decoder.named_children() if name != "layers"}
    shared["lm_head"] = model.lm_head
    places = [main] + (["cpu"] if main != "cpu" else []) + (["disk"] if disk else [])
    room = {place: caps.get(place, 0) for place in places}
    room["disk"] = sum(size(layer) for layer in decoder.layers)
    fixed = sum(p.numel() for p in {id(p): p for m in shared.values() for p in m.parameters()}.values()) * width
    if fixed > room[main]:
        where = "the GPU" if main != "cpu" else "RAM"
        raise LoadError(
            f"the memory cap leaves {room[main] / 2**20:.1f} MiB on {where}, too little for the "
            f"embeddings and vision tower ({fixed / 2**20:.1f} MiB), which stay where the model runs"
        )
    room[main] -= fixed
    device_map: dict[str, int | str] = {name: main for name in shared}
    current = 0  # layers fill one place after another, in order, so a forward pass leaves the GPU only once
    for index, layer in enumerate(decoder.layers):
        need = size(layer)
        while current < len(places) and room[places[current]] < need:
            current += 1
        if current == len(places):
            raise LoadError(
                f"layer {index} ({need / 2**20:.1f} MiB) fits under no memory cap; raise "
                "--max-cpu-memory or give an --offload-folder so layers can go to disk"
            )
        place = places[current]
        room[place] -= need
        device_map[f"model.encoder.language_model.layers.{index}"] = place
        device_map[f"model.decoder.layers.{index}"] = place
    return device_map


def execution_device(model: Any) -> torch.device:
    """The device inputs go to; an offloaded model whose embeddings ended up on disk cannot take inputs."""
    device = model.device
    if device.type == "meta":
        raise LoadError(
            "the memory caps left no room on the GPU or in RAM for even the embeddings, so every layer "
            "went to disk; raise --max-gpu-memory (or --max-cpu-memory on a CPU)"
        )
    return device


def offloaded(model: Any) -> dict[str, str]:
    """Module -> "cpu" or "disk" for the parts of a model kept off the device it runs on (empty if none)."""
    device_map = getattr(model, "hf_device_map", None) or {}
    home = model.device.type
    return {
        name: str(where) for name, where in device_map.items() if str(where) in ("cpu", "disk") and str(where) != home
    }
