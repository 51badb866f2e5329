"""A memory plan before loading: what the checkpoint needs, what the machine has free, and what fits.

    plan = plan_memory("google/diffusiongemma-26B-A4B-it")   # or a folder; never downloads weights
    print(plan.text())
    loaded = load_checkpoint(source, **plan.options.load_kwargs())

The plan reads config.json and the safetensors headers (models/checkpoint/size.py), takes free GPU memory and RAM
from models/checkpoint/hardware.py, and says which of these fits: the GPU as is, the GPU with some layers offloaded to
CPU RAM (and disk), or a quantized build. Offload itself is accelerate's (models/checkpoint/placement.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from models.checkpoint.hardware import Hardware, detect_hardware
from models.checkpoint.load_errors import LoadError
from models.checkpoint.loading import DEMO_MODEL, check_checkpoint
from models.checkpoint.plan_data import GIB, LoadOptions, MemoryPlan, gib
from models.checkpoint.quantization import KNOWN_26B_BUILDS, fp8_note, is_26b_a4b, unsupported_reason
from models.checkpoint.size import CheckpointSize, checkpoint_size, kv_cache_bytes, step_workspace_bytes

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
DEFAULT_PROMPT_TOKENS = 2048
RAM_RESERVE = 2 * GIB  # left for the app, Python and the OS when layers are offloaded to RAM
MIN_GPU_SHARE = 1 * GIB  # below this, offloading to the GPU is not worth it
DEFAULT_OFFLOAD_FOLDER = Path.home() / ".cache" / "diffusion-desk" / "offload"
# Size of a quantized build relative to bf16, from the 26B-A4B builds' headers (27.20 / 51.65 and 18.82 / 51.65).
_QUANTIZED_RATIO = {"fp8": 0.527, "nvfp4": 0.364}
_VERDICTS = ("gpu", "cpu", "offload", "offload-disk", "unsupported", "too-big")


def resolve_cached(source: str | os.PathLike | None) -> Path:
    """The checkpoint folder: a local folder, or a hub id's snapshot already in the HF cache (never downloads)."""
    if source is None or str(source) == "":
        return DEMO_MODEL
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    text = str(source)
    if path.exists() or text.count("/") != 1 or text.startswith((".", "/", "~")):
        raise LoadError(f"no checkpoint folder at {text}, and it is not a hub id (like google/diffusiongemma-...)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(text, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError) as error:
        raise LoadError(
            f"{text} is not in the local Hugging Face cache; the plan reads only local files "
            "(download the checkpoint first, or give its folder)"
        ) from error


def plan_memory(
    source: str | os.PathLike | None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
    hardware: Hardware | None = None,
    offload_folder: str | None = None,
) -> MemoryPlan:
    """The plan for loading `source` on this machine (or on `hardware`, as tests and the GPU check give it)."""
    path = resolve_cached(source)
    config = check_checkpoint(path)
    size = checkpoint_size(path, config)
    hardware = hardware or detect_hardware(device)
    return build_plan(str(source or "demo model"), config, size, hardware, dtype, prompt_tokens, offload_folder)


def build_plan(
    source: str,
    config: dict[str, Any],
    size: CheckpointSize,
    hw: Hardware,
    dtype: str | None = None,
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
    offload_folder: str | None = None,
) -> MemoryPlan:
    """The plan from what is already known: the config, the checkpoint's size and the hardware."""
    dtype = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(dtype, dtype)  # pick_dtype's names too
    if dtype is not None and dtype not in DTYPE_BYTES:
        raise LoadError(f"unknown dtype {dtype!r}; use one of bf16, fp16, fp32")
    quantized = size.quantization is not None
    on_gpu = hw.device == "cuda"
    tokens = prompt_tokens + int(config.get("canvas_length") or 256)
    workspace = step_workspace_bytes(config)
    headroom = max(GIB // 2, hw.gpu_total // 20) if on_gpu else RAM_RESERVE
    have = hw.gpu_free if on_gpu else hw.ram_available

    def weights_at(name: str) -> int:
        return size.stored_bytes if quantized else size.parameters * DTYPE_BYTES[name]

    def overhead_at(name: str) -> int:
        return kv_cache_bytes(config, tokens, 2 if quantized else DTYPE_BYTES[name]) + workspace + headroom

    chosen = dtype or ("bf16" if on_gpu else "fp32")
    # On a CPU, half the memory (or disk) is worth bf16's slower arithmetic when fp32 does not fit.
    switched = dtype is None and not on_gpu and not quantized and weights_at("fp32") + overhead_at("fp32") > have
    chosen = "bf16" if switched else chosen
    weights, overhead = weights_at(chosen), overhead_at(chosen)
    where = (
        f"the GPU ({hw.gpu_name}: {gib(hw.gpu_free)} free of {gib(hw.gpu_total)})"
        if on_gpu
        else f"{hw.device.upper()} RAM ({gib(hw.ram_available)} available)"
    )
    kv = overhead - workspace - headroom
    lines = [
        _describe(source, size),
        _sizes_line(size),
        _kv_line(kv, prompt_tokens, tokens - prompt_tokens, workspace),
        f"Loading {'as stored' if quantized else 'in ' + chosen} needs about {gib(weights + overhead)} (weights, "
        f"cache, working memory and {gib(headroom)} headroom); {where}.",
    ]
    if switched:
        lines.append("fp32 does not fit, so bf16: half the memory, slower per step on most CPUs.")
    plan = dict(
        source=source,
        size=size,
        dtype="as stored" if quantized else chosen,
        weight_bytes=weights,
        kv_tokens=tokens,
        kv_cache_bytes=kv,
        workspace_bytes=workspace,
        headroom_bytes=headroom,
        hardware=hw,
    )

    refusal = unsupported_reason(config, hw.device, hw.capability)
    if refusal:
        lines.append(f"Cannot load: {refusal}.")
        return MemoryPlan(**plan, verdict="unsupported", options=LoadOptions(), lines=tuple(lines))
    note = fp8_note(config, hw.capability)
    if note:
        lines.append(f"Note: {note}.")
    if weights + overhead <= have:
        lines.append("Fits on the GPU as is." if on_gpu else f"Fits in RAM; it runs on the {hw.device.upper()}.")
        options = LoadOptions(dtype=None if quantized else chosen)
        return MemoryPlan(**plan, verdict="gpu" if on_gpu else "cpu", options=options, lines=tuple(lines))
    if quantized:
        lines.append("Does not fit, and quantized builds are not offloaded (transformers does not offload them).")
        verdict, options = "too-big", LoadOptions()
    else:
        folder = offload_folder or str(DEFAULT_OFFLOAD_FOLDER)
        offload = _offload_on_gpu if on_gpu else _offload_on_cpu
        verdict, options, line = offload(hw, chosen, weights, overhead, folder)
        lines.append(line)
    lines.extend(_smaller_builds(config, size, hw))
    return MemoryPlan(**plan, verdict=verdict, options=options, lines=tuple(lines))


def _offload_on_gpu(hw: Hardware, dtype: str, weights: int, overhead: int, folder: str) -> tuple[str, LoadOptions, str]:
    """Keep what fits on the GPU; accelerate puts the other layers in CPU RAM, and what RAM cannot hold on disk."""
    share = hw.gpu_free - overhead
    ram = max(0, hw.ram_available - RAM_RESERVE)
    if share < MIN_GPU_SHARE:
        return (
            "too-big",
            LoadOptions(),
            (
                f"Too big: after the cache and working memory the GPU has room for {gib(max(share, 0))} of weights, "
                "too little to offload around."
            ),
        )
    # Offloaded layers cross PCIe on every forward pass; ~25 GB/s is what a PCIe 4.0 x16 link sustains.
    why = (
        "each denoising step (up to 48 per canvas) copies the offloaded layers to the GPU again: at least "
        f"{(weights - share) / 25e9:.1f} s a step over PCIe 4.0"
    )
    if weights - share <= ram:
        line = f"Offload: {gib(share)} of weights on the GPU, {gib(weights - share)} of layers in CPU RAM; {why}."
        return "offload", LoadOptions(dtype=dtype, max_gpu_memory=share), line
    line = (
        f"Offload: {gib(share)} on the GPU, {gib(ram)} in CPU RAM and {gib(weights - share - ram)} of layers on "
        f"disk ({folder}); {why}, and more for the part read from disk."
    )
    return (
        "offload-disk",
        LoadOptions(dtype=dtype, max_gpu_memory=share, max_cpu_memory=ram, offload_folder=folder),
        line,
    )


def _offload_on_cpu(hw: Hardware, dtype: str, weights: int, overhead: int, folder: str) -> tuple[str, LoadOptions, str]:
    """Keep what fits in RAM; accelerate puts the other layers on disk."""
    ram = max(0, hw.ram_available - overhead)
    line = (
        f"Offload: {gib(ram)} of weights in RAM and {gib(weights - ram)} of layers on disk ({folder}); each "
        "denoising step reads them from disk again, so a canvas takes minutes."
    )
    return "offload-disk", LoadOptions(dtype=dtype, max_cpu_memory=ram, offload_folder=folder), line


def _smaller_builds(config: dict[str, Any], size: CheckpointSize, hw: Hardware) -> list[str]:
    """Quantized builds that would be smaller, and whether this machine runs them and has room for them."""
    room = hw.gpu_free if hw.device == "cuda" else 0
    lines = []
    if is_26b_a4b(config):
        for build in KNOWN_26B_BUILDS:
            if build.kind == "bf16" or build.stored_bytes >= size.stored_bytes:
                continue
            runs = unsupported_reason({"quantization_config": {"quant_algo": build.kind}}, hw.device, hw.capability)
            verdict = "cannot run here" if runs else ("would fit" if build.stored_bytes * 1.1 < room else "too big too")
            lines.append(
                f"Or the {build.kind.upper()} build {build.hub_id}: {gib(build.stored_bytes)} of weights, "
                f"for {build.needs}; {verdict}."
            )
    elif size.quantization is None:
        bf16 = size.parameters * 2
        for kind, ratio in _QUANTIZED_RATIO.items():
            lines.append(
                f"Or an {kind.upper()} build of this model, if one exists: about {gib(bf16 * ratio)} of "
                f"weights (as DiffusionGemma 26B-A4B's {kind.upper()} build is to its bf16 one)."
            )
    return lines


def _describe(source: str, size: CheckpointSize) -> str:
    names = {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}
    build = size.quantization.label if size.quantization else names.get(size.stored_dtype, size.stored_dtype)
    about = "about " if size.quantization else ""
    return (
        f"{source}: {about}{_count(size.parameters)} parameters, {build} build, {size.shards} "
        f"shard{'s' * (size.shards != 1)}, {gib(size.stored_bytes)} stored."
    )


def _count(parameters: int) -> str:
    return f"{parameters / 1e9:.2f}B" if parameters >= 1e9 else f"{parameters / 1e6:.1f}M"


def _sizes_line(size: CheckpointSize) -> str:
    if size.quantization:
        return f"Weights as stored: {gib(size.stored_bytes)} (a quantized build loads as it is stored)."
    return "Weights in " + ", ".join(f"{name}: {gib(size.parameters * n)}" for name, n in DTYPE_BYTES.items()) + "."


def _kv_line(kv: int, prompt_tokens: int, canvas: int, workspace: int) -> str:
    return (
        f"KV cache for a {prompt_tokens:,}-token prompt plus one {canvas}-token canvas: {gib(kv)}; working memory "
        f"of a denoising step: about {gib(workspace)}."
    )


def plan_json(plan: MemoryPlan) -> str:
    """The plan as one JSON object (for `--plan --json` and the GPU check's report)."""
    return json.dumps(
        {
            "source": plan.source,
            "verdict": plan.verdict,
            "parameters": plan.size.parameters,
            "stored_bytes": plan.size.stored_bytes,
            "dtype": plan.dtype,
            "weight_bytes": plan.weight_bytes,
            "kv_tokens": plan.kv_tokens,
            "kv_cache_bytes": plan.kv_cache_bytes,
            "workspace_bytes": plan.workspace_bytes,
            "needed_bytes": plan.needed_bytes,
            "device": plan.hardware.device,
            "gpu_free": plan.hardware.gpu_free,
            "ram_available": plan.hardware.ram_available,
            "options": plan.options.load_kwargs(),
            "lines": list(plan.lines),
        }
    )
