"""What a checkpoint weighs, from config.json and the safetensors headers alone (a few KB; no weight is read).

A safetensors file starts with an 8-byte little-endian length and a JSON header naming every tensor's dtype, shape
and byte range; `model.safetensors.index.json` lists the shards of a sharded checkpoint. The KV cache is computed
from the text config: only the encoder writes it (the decoder reads it), K and V for every layer, sliding-window
layers holding at most their window and full-attention layers with their own head size and KV heads.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.checkpoint.load_errors import LoadError
from models.checkpoint.quantization import Quantization, quantization_of

_MAX_HEADER = 100 * 2**20  # a real header is KBs to a few MB; anything larger is not a safetensors file
# Tensors a quantized build stores beside its weights (compressed-tensors, fp8, ModelOpt): not parameters.
_QUANT_METADATA = (
    "weight_scale",
    "weight_scale_2",
    "input_scale",
    "global_scale",
    "scale_inv",
    "zero_point",
    "_amax",
    "weight_shape",
)


@dataclass(frozen=True)
class CheckpointSize:
    parameters: int  # exact for unquantized builds; packed 4-bit weights counted two per byte
    stored_bytes: int  # every tensor's bytes as stored (weights, scales, buffers)
    bytes_by_dtype: dict[str, int]  # stored bytes per safetensors dtype ("BF16", "F8_E4M3", ...)
    shards: int
    quantization: Quantization | None

    @property
    def stored_dtype(self) -> str:
        """The dtype that holds most of the bytes (e.g. "BF16", "F8_E4M3")."""
        return max(self.bytes_by_dtype, key=self.bytes_by_dtype.__getitem__) if self.bytes_by_dtype else "?"


@dataclass(frozen=True)
class AttentionLayer:
    kv_heads: int
    head_dim: int
    window: int | None  # tokens a sliding-window layer keeps; None for full attention


def read_header(file: Path) -> dict[str, Any]:
    """The JSON header of one safetensors file (tensor name -> dtype, shape, data_offsets)."""
    try:
        with open(file, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= _MAX_HEADER:
                raise ValueError(f"header length {size}")
            header = json.loads(handle.read(size))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise LoadError(f"{file.name} is not a readable safetensors file ({error})") from error
    if not isinstance(header, dict):
        raise LoadError(f"{file.name} is not a readable safetensors file (its header is not a table)")
    return header


def weight_files(path: Path) -> list[Path]:
    """The safetensors shards of a checkpoint folder: those its index lists, else every *.safetensors file."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise LoadError(f"{index.name} is not a readable shard index ({error})") from error
        missing = [name for name in names if not (path / name).is_file()]
        if missing:
            raise LoadError(
                f"{path.name} lacks {len(missing)} of its {len(names)} weight shards ({missing[0]}, ...); "
                "the download is incomplete"
            )
        return [path / name for name in names]
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise LoadError(f"{path.name} has no model weights (*.safetensors)")
    return files


def checkpoint_size(path: Path, config: dict[str, Any]) -> CheckpointSize:
    """Parameters and bytes of the checkpoint at `path`, read from its safetensors headers."""
    quantization = quantization_of(config)
    four_bit = quantization is not None and quantization.kind == "nvfp4"
    files = weight_files(path)
    parameters = stored = 0
    by_dtype: dict[str, int] = {}
    for file in files:
        for name, info in read_header(file).items():
            if name == "__metadata__":
                continue
            try:
                start, end = info["data_offsets"]
                dtype, count = str(info["dtype"]), math.prod(info["shape"])
            except (KeyError, TypeError, ValueError) as error:
                raise LoadError(f"{file.name}: tensor {name} has a malformed header entry ({error})") from error
            size = int(end) - int(start)
            stored += size
            by_dtype[dtype] = by_dtype.get(dtype, 0) + size
            if quantization is not None and name.endswith(_QUANT_METADATA):
                continue  # scales and zero points of quantized weights are not parameters
            if four_bit and dtype in ("U8", "I8"):
                count = 2 * size  # two 4-bit values per byte
            elif four_bit and name.endswith("weight_packed") and dtype == "I32":
                count = 8 * count
            parameters += count
    return CheckpointSize(parameters, stored, by_dtype, len(files), quantization)


def attention_layers(config: dict[str, Any]) -> list[AttentionLayer]:
    """Every text layer's KV heads, head size and window, as transformers builds them from this config."""
    text = config.get("text_config") or config
    count = int(text["num_hidden_layers"])
    layer_types = text.get("layer_types") or [
        "sliding_attention" if (i + 1) % 6 else "full_attention" for i in range(count)
    ]
    layer_types = list(layer_types)
    layer_types[-1] = "full_attention"  # transformers forces the last layer to full attention
    kv_heads, head_dim = int(text["num_key_value_heads"]), int(text.get("head_dim") or 256)
    window = int(text.get("sliding_window") or 0)
    if text.get("use_bidirectional_attention") == "all":
        window = window // 2 + 1  # as DiffusionGemmaTextConfig halves it
    # A saved config carries per-layer overrides; a hand-written one may name the full layers' sizes instead.
    overrides = text.get("per_layer_config")
    if overrides is None:
        full: dict[str, Any] = {"head_dim": text.get("global_head_dim", 512)}
        if text.get("num_global_key_value_heads") is not None:
            full["num_key_value_heads"] = text["num_global_key_value_heads"]
        overrides = {str(i): full for i, kind in enumerate(layer_types) if kind == "full_attention"}
    overrides = {int(key): value for key, value in overrides.items()}  # saved keys are zero-padded ("05")
    layers = []
    for i, kind in enumerate(layer_types):
        own = overrides.get(i) or {}
        layers.append(
            AttentionLayer(
                kv_heads=int(own.get("num_key_value_heads", kv_heads)),
                head_dim=int(own.get("head_dim", head_dim)),
                window=window if kind == "sliding_attention" and window else None,
            )
        )
    return layers


def kv_cache_bytes(config: dict[str, Any], tokens: int, dtype_bytes: int) -> int:
    """Bytes of K and V the encoder caches for `tokens` tokens (a sliding layer keeps at most its window)."""
    return sum(
        2 * layer.kv_heads * layer.head_dim * min(tokens, layer.window or tokens) * dtype_bytes
        for layer in attention_layers(config)
    )


def step_workspace_bytes(config: dict[str, Any]) -> int:
    """Working memory of one denoising step, estimated as four (canvas x vocabulary) float32 arrays.

    The logits, their temperature-scaled copy, the probabilities the sampler draws from and the self-conditioning
    softmax each span the whole vocabulary at every canvas position; the layers' own activations are far smaller.
    """
    text = config.get("text_config") or config
    return 4 * int(config.get("canvas_length") or 256) * int(text["vocab_size"]) * 4
