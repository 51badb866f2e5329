"""Quantized builds (FP8, NVFP4): recognised from a checkpoint's quantization_config, checked against the hardware.

Nothing here reads weights or imports torch: the checks take the config dict and what is known of the device, so a
build the hardware cannot run is refused with one clear message before any weight is loaded.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

#: Compute capability that FP8 matrix kernels need (Ada: RTX 40xx, L4, L40; Hopper: H100, H200).
FP8_CAPABILITY = (8, 9)
#: Compute capability of NVFP4's block-scaled tensor cores (Blackwell: B200, RTX 50xx).
NVFP4_CAPABILITY = (10, 0)

BF16_BUILD = "google/diffusiongemma-26B-A4B-it"


@dataclass(frozen=True)
class KnownBuild:
    """A published build of DiffusionGemma 26B-A4B."""

    hub_id: str
    kind: str  # "bf16", "fp8" or "nvfp4"
    stored_bytes: int  # weights and scales, summed from the safetensors headers (the NVFP4 one: an estimate)
    needs: str  # the hardware it runs on, in words


#: The 26B-A4B builds on the hub (June 2026) that transformers loads. Sizes were read from the safetensors headers
#: of the bf16 (51.65 GB), FP8 (27.20 GB) and nvidia's NVFP4 build (18.82 GB, ModelOpt format, which transformers
#: does not load); RedHatAI's NVFP4 build is compressed-tensors, with the same 4-bit weights and is taken as that size.
KNOWN_26B_BUILDS: tuple[KnownBuild, ...] = (
    KnownBuild(BF16_BUILD, "bf16", 51_647_600_000, "any GPU with the memory, or offload to CPU RAM"),
    KnownBuild(
        "RedHatAI/diffusiongemma-26B-A4B-it-FP8-dynamic",
        "fp8",
        27_197_700_000,
        "a CUDA GPU of compute capability 8.9 or later (RTX 40xx, L4/L40, H100/H200)",
    ),
    KnownBuild(
        "RedHatAI/diffusiongemma-26B-A4B-it-NVFP4",
        "nvfp4",
        18_818_100_000,
        "a Blackwell GPU (compute capability 10.0 or later: B200, RTX 50xx)",
    ),
)


@dataclass(frozen=True)
class Quantization:
    kind: str  # "fp8", "nvfp4" or "other"
    method: str  # the config's quant_method (compressed-tensors, fp8, modelopt, ...)

    @property
    def label(self) -> str:
        name = {"fp8": "FP8", "nvfp4": "NVFP4"}.get(self.kind, "quantized")
        return f"{name} ({self.method})"


def quantization_of(config: dict[str, Any]) -> Quantization | None:
    """The build's quantization, from `quantization_config` (top level or in text_config); None if unquantized."""
    quant = config.get("quantization_config") or (config.get("text_config") or {}).get("quantization_config")
    if not isinstance(quant, dict) or not quant:
        return None
    method = str(quant.get("quant_method") or "unknown")
    words = " ".join(str(quant.get(key, "")) for key in ("quant_algo", "format", "quant_method")).lower()
    if "fp4" in words:
        return Quantization("nvfp4", method)
    if "fp8" in words or "float8" in words:
        return Quantization("fp8", method)
    # compressed-tensors describes its scheme per group of layers: look at the weights' bits and type.
    for group in (quant.get("config_groups") or {}).values():
        weights = (group or {}).get("weights") or {}
        if weights.get("type") == "float" and weights.get("num_bits") == 4:
            return Quantization("nvfp4", method)
        if weights.get("type") == "float" and weights.get("num_bits") == 8:
            return Quantization("fp8", method)
    return Quantization("other", method)


def is_26b_a4b(config: dict[str, Any]) -> bool:
    """True for DiffusionGemma 26B-A4B's dimensions, whatever the build."""
    text = config.get("text_config") or {}
    return (text.get("hidden_size"), text.get("num_hidden_layers"), text.get("num_experts")) == (2816, 30, 128)


def unsupported_reason(
    config: dict[str, Any], device_type: str, capability: tuple[int, int] | None = None
) -> str | None:
    """Why this machine cannot run this build (one message naming what to use instead), or None if it can.

    `device_type` is "cuda", "mps" or "cpu"; `capability` is the CUDA compute capability of the GPU it would use.
    """
    quant = quantization_of(config)
    if quant is None:
        return None
    instead = _instead(config)
    if quant.method == "modelopt":
        # transformers 5.23 has no loader for NVIDIA ModelOpt's format (its quantizers: compressed-tensors, fp8, ...).
        return (
            f"this {quant.label} build is in NVIDIA ModelOpt's format, which transformers cannot load; "
            f"use a compressed-tensors build (e.g. RedHatAI/diffusiongemma-26B-A4B-it-NVFP4) or {instead}"
        )
    if quant.kind == "nvfp4":
        if device_type != "cuda":
            return (
                f"the NVFP4 build runs only on a Blackwell GPU (compute capability 10.0+), not on {device_type}; "
                f"use {instead}"
            )
        if capability is not None and capability < NVFP4_CAPABILITY:
            return (
                f"the NVFP4 build needs a Blackwell GPU (compute capability 10.0+); this GPU is "
                f"{capability[0]}.{capability[1]}. Use the FP8 build on compute capability 8.9+ or {instead}"
            )
    if quant.kind == "fp8" and device_type != "cuda":
        return (
            f"the FP8 build needs a CUDA GPU (compute capability 8.9+ for its fast kernels), not {device_type}; "
            f"use {instead}"
        )
    if quant.method == "compressed-tensors" and importlib.util.find_spec("compressed_tensors") is None:
        return (
            f"this {quant.label} build needs the compressed-tensors package: "
            "`.venv/bin/pip install 'compressed-tensors>=0.15'`, then load it again"
        )
    return None


def fp8_note(config: dict[str, Any], capability: tuple[int, int] | None) -> str | None:
    """A warning for an FP8 build on a GPU without FP8 kernels: it loads, but dequantized (bf16 memory, no speed-up)."""
    quant = quantization_of(config)
    if quant is None or quant.kind != "fp8" or capability is None or capability >= FP8_CAPABILITY:
        return None
    return (
        f"this GPU (compute capability {capability[0]}.{capability[1]}) has no FP8 kernels: the FP8 build would "
        "run dequantized to bf16, with bf16's memory and speed"
    )


def _instead(config: dict[str, Any]) -> str:
    if is_26b_a4b(config):
        return f"the bf16 build ({BF16_BUILD}) with offload to CPU RAM"
    return "the unquantized (bf16) build of this model"
