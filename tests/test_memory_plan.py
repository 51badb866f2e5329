"""The memory plan: sizes from headers alone, the KV cache by hand, and what fits on the GPUs people have."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from models.checkpoint.load_errors import LoadError
from models.checkpoint.memory_plan import Hardware, plan_json, plan_memory
from models.checkpoint.plan_data import GIB
from models.checkpoint.quantization import unsupported_reason
from models.checkpoint.size import attention_layers, checkpoint_size, kv_cache_bytes

H, LAYERS, VOCAB, EXPERTS, MOE, DENSE = 2816, 30, 262144, 128, 704, 2112
TEXT_26B = {
    "vocab_size": VOCAB,
    "hidden_size": H,
    "intermediate_size": DENSE,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "num_global_key_value_heads": 2,
    "head_dim": 256,
    "global_head_dim": 512,
    "num_experts": EXPERTS,
    "top_k_experts": 8,
    "moe_intermediate_size": MOE,
    "sliding_window": 1024,
    "use_bidirectional_attention": "vision",
}
DTYPE_NAMES = {torch.bfloat16: "BF16", torch.float32: "F32", torch.float16: "F16"}

H100 = Hardware(
    "cuda", ram_available=200 * GIB, gpu_name="H100", gpu_free=79 * GIB, gpu_total=80 * GIB, capability=(9, 0)
)
RTX_4090 = Hardware(
    "cuda", ram_available=64 * GIB, gpu_name="RTX 4090", gpu_free=23 * GIB, gpu_total=24 * GIB, capability=(8, 9)
)
RTX_5090 = Hardware(
    "cuda", ram_available=64 * GIB, gpu_name="RTX 5090", gpu_free=31 * GIB, gpu_total=32 * GIB, capability=(12, 0)
)


def write_headers(folder: Path, config: dict, tensors: dict[str, tuple[str, list[int]]], shards: int = 1) -> Path:
    """A checkpoint of config.json and safetensors files holding only their headers: no weights at all."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    sizes = {"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1, "I64": 8}
    names = list(tensors)
    per_shard = math.ceil(len(names) / shards)
    weight_map = {}
    for index in range(shards):
        file = f"model-{index + 1:05d}-of-{shards:05d}.safetensors" if shards > 1 else "model.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name in names[index * per_shard : (index + 1) * per_shard]:
            dtype, shape = tensors[name]
            end = offset + math.prod(shape) * sizes[dtype]
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, end]}
            weight_map[name], offset = file, end
        raw = json.dumps(header).encode()
        (folder / file).write_bytes(len(raw).to_bytes(8, "little") + raw)
    if shards > 1:
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


@pytest.fixture(scope="module")
def real_tensors():
    """The 26B-A4B's tensors (names, shapes) as transformers builds the model, on the meta device (no memory)."""
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    config = DiffusionGemmaConfig(text_config=TEXT_26B, vision_config={"model_type": "gemma4_vision"})
    with torch.device("meta"):
        model = DiffusionGemmaForBlockDiffusion(config)
    state = model.state_dict()
    # What save_pretrained writes: each tied weight once, plus persistent buffers.
    kept = dict(model.named_parameters()) | {k: b for k, b in model.named_buffers() if k in state}
    config_dict = config.to_dict()
    return config_dict, {name: ("BF16", list(t.shape)) for name, t in kept.items()}


@pytest.fixture(scope="module")
def synthetic_26b(tmp_path_factory, real_tensors):
    config, tensors = real_tensors
    return write_headers(tmp_path_factory.mktemp("ckpt") / "dg-26b", config, tensors, shards=11)


def hand_counted_text_parameters() -> int:
    """DiffusionGemma 26B-A4B's text side, counted by hand (the encoder and decoder share every text weight)."""
    sliding_attention = H * 16 * 256 + 2 * H * 8 * 256 + 16 * 256 * H + 2 * 256  # q, k and v, o, q/k norms
    full_attention = H * 16 * 512 + H * 2 * 512 + 16 * 512 * H + 2 * 512  # k doubles as v: no v_proj
    dense_mlp = 3 * H * DENSE
    router = EXPERTS * H + H + EXPERTS
    experts = EXPERTS * (2 * MOE * H + H * MOE)  # fused gate/up and down projections
    norms = 7 * H
    per_layer = dense_mlp + router + experts + norms
    layers = 25 * (per_layer + sliding_attention) + 5 * (per_layer + full_attention)
    embedding, final_norm = VOCAB * H, H  # tied with lm_head and the decoder
    self_conditioning = 3 * H * DENSE + H
    layer_scalars = 2 * LAYERS  # one buffer per layer, in the encoder and the decoder
    return layers + embedding + final_norm + self_conditioning + layer_scalars


def test_26b_parameters_and_bytes_match_the_hand_count(synthetic_26b, real_tensors):
    _, tensors = real_tensors
    vision = sum(
        math.prod(shape) for name, (_, shape) in tensors.items() if ".vision_tower." in name or ".embed_vision." in name
    )
    plan = plan_memory(synthetic_26b, hardware=H100)
    assert hand_counted_text_parameters() == 25_250_986_812
    assert plan.size.parameters == hand_counted_text_parameters() + vision
    assert plan.size.shards == 11 and plan.size.stored_bytes == 2 * plan.size.parameters
    assert plan.dtype == "bf16" and plan.weight_bytes == 2 * plan.size.parameters
    assert "fp32: 94.7 GiB" in plan.lines[1]  # 25.42B parameters x 4 bytes


def test_26b_kv_cache_matches_the_hand_count(synthetic_26b):
    config = json.loads((synthetic_26b / "config.json").read_text())
    # 2,048 prompt tokens + one 256-token canvas = 2,304 tokens, bf16.
    sliding = 25 * 2 * 8 * 256 * 1024 * 2  # 25 sliding layers keep their 1,024-token window: 8 KV heads of 256
    full = 5 * 2 * 2 * 512 * 2304 * 2  # 5 full-attention layers keep every token: 2 KV heads of 512
    assert kv_cache_bytes(config, 2304, 2) == sliding + full == 256_901_120
    plan = plan_memory(synthetic_26b, hardware=H100)
    assert plan.kv_tokens == 2304 and plan.kv_cache_bytes == 256_901_120
    assert plan.workspace_bytes == 4 * 256 * VOCAB * 4  # four canvas x vocabulary float32 arrays: 1 GiB


def test_per_layer_sizes_agree_with_transformers(synthetic_26b, text_checkpoint):
    from transformers import DiffusionGemmaConfig

    hand_written = {"model_type": "diffusion_gemma", "text_config": dict(TEXT_26B)}  # global_head_dim, no overrides
    for config in (
        json.loads((synthetic_26b / "config.json").read_text()),
        json.loads((text_checkpoint / "config.json").read_text()),
        hand_written,
    ):
        text = DiffusionGemmaConfig.from_dict(config).text_config
        ours = attention_layers(config)
        theirs = [
            (text.per_layer_config[i].num_key_value_heads, text.per_layer_config[i].head_dim)
            for i in range(text.num_hidden_layers)
        ]
        assert [(layer.kv_heads, layer.head_dim) for layer in ours] == theirs
        windows = {layer.window for layer, kind in zip(ours, text.layer_types, strict=True) if kind != "full_attention"}
        assert windows <= {text.sliding_window}


def test_tiny_checkpoint_counts_what_safetensors_holds(text_checkpoint, loaded_text):
    from safetensors import safe_open

    with safe_open(text_checkpoint / "model.safetensors", "pt") as handle:
        expected = sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())
    plan = plan_memory(text_checkpoint, hardware=Hardware("cpu", ram_available=16 * GIB))
    assert plan.size.parameters == expected
    assert plan.size.parameters == sum(p.numel() for p in loaded_text.model.parameters()) + 2 * 2  # + layer scalars
    assert plan.verdict == "cpu" and plan.options.load_kwargs() == {"dtype": "fp32"}
    assert json.loads(plan_json(plan))["verdict"] == "cpu"


def test_an_h100_holds_the_bf16_build(synthetic_26b):
    plan = plan_memory(synthetic_26b, hardware=H100)
    assert plan.verdict == "gpu" and plan.can_load
    assert plan.lines[-1] == "Fits on the GPU as is."


def test_a_24gb_card_offloads_layers_to_ram_and_names_the_quantized_builds(synthetic_26b):
    plan = plan_memory(synthetic_26b, hardware=RTX_4090)
    assert plan.verdict == "offload"
    share = 23 * GIB - plan.kv_cache_bytes - plan.workspace_bytes - int(24 * GIB / 20)
    assert plan.options.max_gpu_memory == share and plan.options.offload_folder is None
    text = plan.text()
    assert "RedHatAI/diffusiongemma-26B-A4B-it-FP8-dynamic: 25.3 GiB" in text and "too big too" in text
    assert "RedHatAI/diffusiongemma-26B-A4B-it-NVFP4" in text and "cannot run here" in text


def test_a_blackwell_card_is_told_the_nvfp4_build_fits(synthetic_26b):
    plan = plan_memory(synthetic_26b, hardware=RTX_5090)
    nvfp4 = next(line for line in plan.lines if "NVFP4" in line)
    assert plan.verdict == "offload" and nvfp4.endswith("would fit.")


def test_little_ram_sends_the_rest_to_disk(synthetic_26b, tmp_path):
    small = Hardware(
        "cuda", ram_available=16 * GIB, gpu_name="RTX 4090", gpu_free=23 * GIB, gpu_total=24 * GIB, capability=(8, 9)
    )
    plan = plan_memory(synthetic_26b, hardware=small, offload_folder=str(tmp_path))
    assert plan.verdict == "offload-disk"
    assert plan.options.max_cpu_memory == 14 * GIB and plan.options.offload_folder == str(tmp_path)
    cpu = plan_memory(synthetic_26b, hardware=Hardware("cpu", ram_available=24 * GIB))
    assert cpu.verdict == "offload-disk" and cpu.dtype == "bf16" and cpu.options.max_gpu_memory is None
    assert cpu.options.max_cpu_memory == 24 * GIB - cpu.kv_cache_bytes - cpu.workspace_bytes - 2 * GIB


def test_fp32_that_does_not_fit_in_ram_falls_back_to_bf16(synthetic_26b):
    plan = plan_memory(synthetic_26b, hardware=Hardware("cpu", ram_available=60 * GIB))
    assert plan.verdict == "cpu" and plan.dtype == "bf16" and plan.options.dtype == "bf16"
    assert "fp32 does not fit, so bf16: half the memory, slower per step on most CPUs." in plan.lines
    assert plan_memory(synthetic_26b, hardware=Hardware("cpu", ram_available=60 * GIB), dtype="fp32").verdict == (
        "offload-disk"
    )  # a dtype the user asked for is kept


def fp8_build(folder: Path, real_tensors) -> Path:
    config, tensors = real_tensors
    config = dict(
        config,
        quantization_config={
            "quant_method": "compressed-tensors",
            "format": "float-quantized",
            "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float"}, "targets": ["Linear"]}},
        },
    )
    quantized = {}
    for name, (dtype, shape) in tensors.items():
        if name.endswith(("proj.weight", "experts.gate_up_proj", "experts.down_proj")):
            quantized[name] = ("F8_E4M3", shape)
            scale = name + "_scale" if name.endswith("weight") else name + "_scale_inv"  # per output channel
            quantized[scale] = ("BF16", shape[:-1] + [1])
        else:
            quantized[name] = (dtype, shape)
    return write_headers(folder, config, quantized, shards=1)


def test_an_fp8_build_is_sized_as_stored_and_refused_on_a_cpu(tmp_path, real_tensors):
    folder = fp8_build(tmp_path / "fp8", real_tensors)
    size = checkpoint_size(folder, json.loads((folder / "config.json").read_text()))
    assert size.quantization.kind == "fp8" and size.stored_dtype == "F8_E4M3"
    plan = plan_memory(folder, hardware=Hardware("cpu", ram_available=64 * GIB))
    assert plan.verdict == "unsupported" and not plan.can_load
    assert "FP8 build needs a CUDA GPU" in plan.lines[-1] and "google/diffusiongemma-26B-A4B-it" in plan.lines[-1]
    on_h100 = plan_memory(folder, hardware=H100)
    assert on_h100.dtype == "as stored" and on_h100.weight_bytes == size.stored_bytes
    # Scales are not parameters: the FP8 build counts as many as the bf16 one.
    _, tensors = real_tensors
    assert size.parameters == sum(math.prod(shape) for _, shape in tensors.values())


def test_nvfp4_needs_blackwell_and_modelopt_is_named():
    nvfp4 = {"quantization_config": {"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}}
    assert "Blackwell" in unsupported_reason(nvfp4, "cuda", (9, 0))
    assert "Blackwell" in unsupported_reason(nvfp4, "cpu")
    modelopt = {"quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4"}}
    assert "ModelOpt" in unsupported_reason(modelopt, "cuda", (10, 0))
    assert unsupported_reason({}, "cpu") is None


def test_a_hub_id_in_the_cache_is_planned_offline(tmp_path, monkeypatch, text_checkpoint):
    cache = tmp_path / "hub"
    repo = cache / "models--google--tiny-diffusiongemma"
    revision = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(text_checkpoint, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    plan = plan_memory("google/tiny-diffusiongemma", hardware=Hardware("cpu", ram_available=8 * GIB))
    assert plan.source == "google/tiny-diffusiongemma" and plan.verdict == "cpu"
    with pytest.raises(LoadError, match="not in the local Hugging Face cache"):
        plan_memory("google/diffusiongemma-26B-A4B-it", hardware=H100)


def test_bad_checkpoints_give_one_message(tmp_path, synthetic_26b):
    broken = shutil.copytree(synthetic_26b, tmp_path / "broken")
    (broken / "model-00003-of-00011.safetensors").unlink()
    with pytest.raises(LoadError, match="weight shard"):  # the loader's check or the plan's own
        plan_memory(broken, hardware=H100)
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    shutil.copy(synthetic_26b / "config.json", garbled)
    (garbled / "model.safetensors").write_bytes(b"\xff" * 16)  # a header length of 2**64 - 1
    with pytest.raises(LoadError, match="model.safetensors is not a readable safetensors file"):
        plan_memory(garbled, hardware=H100)
