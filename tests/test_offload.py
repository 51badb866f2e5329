"""Offload through accelerate (memory caps, an offload folder) keeps the engine exact; unrunnable builds are refused."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from models.checkpoint.load_errors import LoadError
from models.checkpoint.loading import load_checkpoint
from models.checkpoint.placement import check_runnable, offloaded
from models.testing.parity import locks_hold, parity
from models.work.prompts import Prompt

PROMPT = Prompt(user="Sort these numbers: 7 3 9 1", system="You are terse.")
LAYER_1_ON_DISK = {"model.encoder.language_model.layers.1": "disk", "model.decoder.layers.1": "disk"}  # shared weights


def test_layers_offloaded_to_disk_give_the_ids_generate_gives(text_checkpoint, tmp_path):
    # 1.4 MB of RAM holds this 1.6 MB checkpoint's embeddings (tied), vision tower and layer 0; layer 1 goes to disk.
    loaded = load_checkpoint(text_checkpoint, max_cpu_memory=1_400_000, offload_folder=tmp_path / "offload")
    assert offloaded(loaded.model) == LAYER_1_ON_DISK
    assert loaded.model.hf_device_map["model.decoder.layers.0"] == "cpu" and loaded.device.type == "cpu"
    settings = loaded.defaults.with_values(max_new_tokens=32, max_denoising_steps=4)
    assert parity(loaded, PROMPT, settings, seeds=[0, 1]) == {"runs": 2, "identical": 2, "mismatches": [], "tokens": 32}
    held = locks_hold(loaded, PROMPT, settings.with_values(seed=3), span=(4, 28), locks=[5, 6, 20])
    assert held["locked_changed_at_any_step"] == 0 and held["kept_positions_changed"] == 0
    assert held["span_positions_changed"] > 0


def test_an_offloaded_vision_model_matches_generate_on_an_image(vision_checkpoint, tmp_path):
    loaded = load_checkpoint(vision_checkpoint, max_cpu_memory="2MB", offload_folder=tmp_path / "offload")
    assert offloaded(loaded.model) == LAYER_1_ON_DISK
    prompt = Prompt(user="What colour is this?", images=(Image.new("RGB", (64, 48), (200, 30, 30)),))
    settings = loaded.defaults.with_values(max_new_tokens=32, max_denoising_steps=3)
    assert parity(loaded, prompt, settings, seeds=[0])["identical"] == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_cpu_memory": 1000, "offload_folder": "OFFLOAD"}, "leaves 0.0 MiB on RAM, too little for the embeddings"),
        ({"max_cpu_memory": 1_000_000}, "fits under no memory cap; raise --max-cpu-memory or give an --offload-folder"),
        ({"max_gpu_memory": "4GiB"}, "GPU memory cap needs a CUDA GPU"),
        ({"max_cpu_memory": "lots"}, "must be a size such as 20GiB"),
        ({"max_cpu_memory": 0}, "must be more than 0 bytes"),
    ],
)
def test_impossible_placements_give_one_message(text_checkpoint, tmp_path, options, message):
    options = {k: (tmp_path / "off" if v == "OFFLOAD" else v) for k, v in options.items()}
    with pytest.raises(LoadError, match=message):
        load_checkpoint(text_checkpoint, device="cpu", **options)


def with_quantization(source, target, quantization: dict):
    folder = shutil.copytree(source, target)
    config = json.loads((folder / "config.json").read_text())
    config["quantization_config"] = quantization
    (folder / "config.json").write_text(json.dumps(config))
    return folder


FP8 = {
    "quant_method": "compressed-tensors",
    "format": "float-quantized",
    "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float"}, "targets": ["Linear"]}},
}
NVFP4 = {
    "quant_method": "compressed-tensors",
    "format": "nvfp4-pack-quantized",
    "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "float", "group_size": 16}}},
}


def test_an_fp8_build_on_a_cpu_is_refused_before_anything_loads(text_checkpoint, tmp_path, monkeypatch):
    folder = with_quantization(text_checkpoint, tmp_path / "fp8", FP8)
    monkeypatch.setattr(
        "models.checkpoint.processing.load_processor", lambda *a, **k: pytest.fail("the processor was loaded")
    )
    monkeypatch.setattr(
        "transformers.DiffusionGemmaForBlockDiffusion.from_pretrained",
        lambda *a, **k: pytest.fail("weights were loaded"),
    )
    with pytest.raises(LoadError, match=r"^the FP8 build needs a CUDA GPU .*, not cpu; use the unquantized"):
        load_checkpoint(folder, device="cpu")


def test_an_nvfp4_build_needs_blackwell(text_checkpoint, tmp_path, monkeypatch):
    config = json.loads((with_quantization(text_checkpoint, tmp_path / "nvfp4", NVFP4) / "config.json").read_text())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    with pytest.raises(LoadError, match=r"needs a Blackwell GPU .*; this GPU is 9.0\. Use the FP8 build"):
        check_runnable(config, torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (10, 0))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # as where compressed-tensors is missing
    with pytest.raises(LoadError, match="needs the compressed-tensors package"):
        check_runnable(config, torch.device("cuda"))
