"""Tiny DiffusionGemma checkpoints, the processor that loads them, and the shipped demo checkpoint."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from models.checkpoint.processing import (  # noqa: E402
    IMAGE_TOKEN_BUDGETS,
    budget_kwargs,
    image_token_count,
    load_processor,
)
from models.testing import tiny_checkpoint as tc  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tc.build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", seed=0)


@pytest.fixture(scope="module")
def model(checkpoint):
    from transformers import DiffusionGemmaForBlockDiffusion

    return DiffusionGemmaForBlockDiffusion.from_pretrained(checkpoint, use_safetensors=True).eval()


@pytest.fixture(scope="module")
def processor(checkpoint):
    return load_processor(checkpoint)


def _picture(width=320, height=240):
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((20, 20, 220), (width // 4, height // 4, width // 2, height // 2))
    return image


def _image_messages(image, text="What colour is the square?"):
    return [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": text}]}]


# --- checkpoint layout and loading ------------------------------------------------------------------------------

def test_checkpoint_has_the_hf_layout(checkpoint):
    names = {p.name for p in checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json", "chat_template.jinja", "processor_config.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["model_type"] == "diffusion_gemma"
    assert (config["image_token_id"], config["boi_token_id"], config["eoi_token_id"]) == (
        tc.IMAGE_TOKEN_ID, tc.BOI_TOKEN_ID, tc.EOI_TOKEN_ID)
    assert config["text_config"]["layer_types"][-1] == "full_attention"
    assert config["vision_config"]["model_type"] == "gemma4_vision"
    processor_config = json.loads((checkpoint / "processor_config.json").read_text())
    assert processor_config["processor_class"] == "Gemma4Processor"
    assert processor_config["image_processor"]["max_soft_tokens"] == 70


def test_model_loads_offline_from_safetensors(checkpoint, model):
    from transformers import DiffusionGemmaForBlockDiffusion

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    _, info = DiffusionGemmaForBlockDiffusion.from_pretrained(checkpoint, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    saved = load_file(checkpoint / "model.safetensors")
    state = model.state_dict()
    name = next(k for k in saved if k.endswith("embed_tokens.weight"))
    assert torch.equal(saved[name], state[name])
    assert model.config.canvas_length == 32
    assert model.config.text_config.vocab_size == 1024


def test_generation_config_carries_sampler_defaults_and_special_ids(checkpoint, model):
    saved = json.loads((checkpoint / "generation_config.json").read_text())
    assert saved["sampler_config"] == {"_cls_name": "EntropyBoundSamplerConfig", "entropy_bound": 0.1}
    for key in ("max_denoising_steps", "t_min", "t_max", "stability_threshold", "confidence_threshold"):
        assert saved[key] is not None, key
    gc = model.generation_config
    assert type(gc).__name__ == "DiffusionGemmaGenerationConfig"
    assert gc.sampler_config.entropy_bound == 0.1
    assert (gc.max_denoising_steps, gc.t_min, gc.t_max) == (48, 0.4, 0.8)
    assert (gc.stability_threshold, gc.confidence_threshold) == (1, 0.005)
    assert gc.pad_token_id == tc.PAD_ID == 0
    assert tc.END_OF_TURN_ID in gc.eos_token_id and tc.EOS_ID in gc.eos_token_id


def test_generation_defaults_can_be_overridden(tmp_path):
    path = tc.build_checkpoint(tmp_path / "custom", vision=False, vocab_size=512,
                               generation_defaults={"max_denoising_steps": 12, "entropy_bound": 0.3})
    saved = json.loads((path / "generation_config.json").read_text())
    assert saved["max_denoising_steps"] == 12 and saved["sampler_config"]["entropy_bound"] == 0.3
    with pytest.raises(ValueError):
        tc.build_checkpoint(tmp_path / "bad", generation_defaults={"top_p": 0.9})


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path):
    a = tc.build_checkpoint(tmp_path / "a", vision=False, seed=7)
    b = tc.build_checkpoint(tmp_path / "b", vision=False, seed=7)
    c = tc.build_checkpoint(tmp_path / "c", vision=False, seed=8)
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "config.json",
                 "generation_config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    wa, wc = load_file(a / "model.safetensors"), load_file(c / "model.safetensors")
    assert wa.keys() == wc.keys()
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert (a / "tokenizer.json").read_bytes() == (c / "tokenizer.json").read_bytes()


def test_build_does_not_touch_the_global_rng(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tc.build_checkpoint(tmp_path / "rng", vision=False, vocab_size=512)
    assert torch.equal(torch.rand(3), expected)


# --- tokenizer ------------------------------------------------------------------------------------------------

def test_tokenizer_special_tokens_and_ids(processor):
    tok = processor.tokenizer
    assert len(tok) == 1024
    assert (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    for name, text in tc.CONTROL_TOKENS.items():
        assert getattr(tok, name) == text
        ids = tok.encode(text, add_special_tokens=False)
        assert ids == [tc.SPECIAL_TOKEN_IDS[text]], text
    assert tok.image_token_id == tc.IMAGE_TOKEN_ID
    assert tok.convert_tokens_to_ids("<turn|>") == tc.END_OF_TURN_ID


def test_digits_are_single_tokens_whatever_precedes_them(processor):
    tok = processor.tokenizer
    digit_ids = {d: tok.convert_tokens_to_ids(d) for d in "0123456789"}
    for text in ("7", " 7", "x7", "17 apples", "(7)", "Count: 7", "\n7", "70 140 280"):
        pieces = tok.convert_ids_to_tokens(tok.encode(text, add_special_tokens=False))
        digits_in_text = [c for c in text if c.isdigit()]
        digit_pieces = [p for p in pieces if any(c.isdigit() for c in p)]
        assert digit_pieces == digits_in_text, (text, pieces)
    assert len(set(digit_ids.values())) == 10


def test_tokenizer_round_trips_any_text(processor):
    tok = processor.tokenizer
    text = "Héllo wörld! Ünïcode ✓ 😀 and tabs\tand\nnewlines, 3.14159."
    assert tok.decode(tok.encode(text, add_special_tokens=False)) == text


# --- processor ------------------------------------------------------------------------------------------------

def test_chat_template_renders_system_thinking_and_turns(processor):
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Sort 3, 1, 2."}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                         enable_thinking=True)
    assert text == ("<bos><|turn>system\n<|think|>\nYou are a helpful assistant.<turn|>\n"
                    "<|turn>user\nSort 3, 1, 2.<turn|>\n<|turn>model\n")
    plain = processor.apply_chat_template(messages[1:], add_generation_prompt=True, tokenize=False)
    assert plain == "<bos><|turn>user\nSort 3, 1, 2.<turn|>\n<|turn>model\n"
    ids = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                        enable_thinking=True)["input_ids"]
    ids = ids[0] if isinstance(ids[0], list) else ids
    assert ids[:3] == [tc.BOS_ID, tc.SPECIAL_TOKEN_IDS["<|turn>"], ids[2]]
    assert ids.count(tc.BOS_ID) == 1
    assert tc.SPECIAL_TOKEN_IDS["<|think|>"] in ids


def test_history_keeps_only_final_answers(processor):
    messages = [{"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "<|channel>thought\nplanning here<channel|>Hello there."},
                {"role": "user", "content": "Bye"}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "planning" not in text
    assert "<|turn>model\nHello there.<turn|>\n<|turn>user\nBye<turn|>\n<|turn>model\n" in text


@pytest.mark.parametrize("budget", [70, 140])
def test_image_prompt_expands_to_budgeted_soft_tokens(processor, budget):
    image = _picture()
    out = processor.apply_chat_template(_image_messages(image), add_generation_prompt=True, tokenize=True,
                                        return_dict=True, return_tensors="pt",
                                        processor_kwargs=budget_kwargs(budget))
    assert {"input_ids", "attention_mask", "pixel_values", "image_position_ids", "mm_token_type_ids"} <= set(out)
    ids = out["input_ids"][0]
    n_soft = int((ids == tc.IMAGE_TOKEN_ID).sum())
    assert n_soft == image_token_count(processor, image, budget)
    assert n_soft <= budget
    assert int((ids == tc.BOI_TOKEN_ID).sum()) == 1 and int((ids == tc.EOI_TOKEN_ID).sum()) == 1
    assert torch.equal(out["mm_token_type_ids"][0] == 1, ids == tc.IMAGE_TOKEN_ID)
    assert out["pixel_values"].shape == (1, budget * 9, 16 * 16 * 3)
    assert out["image_position_ids"].shape == (1, budget * 9, 2)
    assert int((out["image_position_ids"][0, :, 0] >= 0).sum()) == n_soft * 9


def test_budgets_give_different_counts(processor):
    image = _picture()
    counts = [image_token_count(processor, image, b) for b in IMAGE_TOKEN_BUDGETS]
    assert counts == sorted(counts) and len(set(counts)) == len(counts)
    assert counts[:2] == [63, 130]
    assert image_token_count(processor, (240, 320), 70) == 63
    assert image_token_count(processor, image) == 63  # the checkpoint's default budget, 70
    with pytest.raises(ValueError):
        image_token_count(processor, image, 100)


def test_decode_and_batch_decode(processor):
    ids = processor.tokenizer.encode("Hello there.", add_special_tokens=False)
    assert processor.decode(ids) == "Hello there."
    assert processor.batch_decode([ids, ids]) == ["Hello there.", "Hello there."]


def test_fallback_processor_is_the_stock_gemma4_code_path(processor):
    from transformers.models.gemma4.processing_gemma4 import Gemma4Processor

    assert isinstance(processor, Gemma4Processor)
    assert type(processor).get_attributes() in (["image_processor", "tokenizer"],
                                                ["feature_extractor", "image_processor", "tokenizer",
                                                 "video_processor"])
    with pytest.raises(ValueError):  # a placeholder with no image is refused, as by the stock processor
        processor(text="<|image|> what is this?")


# --- generation -----------------------------------------------------------------------------------------------

def test_generate_with_an_image_on_the_tiny_model(processor, model):
    inputs = processor.apply_chat_template(_image_messages(_picture(96, 64)), add_generation_prompt=True,
                                           tokenize=True, return_dict=True, return_tensors="pt")
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=32, max_denoising_steps=4)
    prompt_len = inputs["input_ids"].shape[1]
    assert out.sequences.shape == (1, prompt_len + 32)
    assert torch.equal(out.sequences[:, :prompt_len], inputs["input_ids"])
    new = out.sequences[0, prompt_len:]
    assert int(new.min()) >= 0 and int(new.max()) < 1024
    assert isinstance(processor.decode(new, skip_special_tokens=True), str)


def test_generate_text_only(processor, model):
    inputs = processor.apply_chat_template([{"role": "user", "content": "Count to 3."}],
                                           add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=32, max_denoising_steps=2)
    assert out.sequences.shape[1] == inputs["input_ids"].shape[1] + 32


# --- demo checkpoint ------------------------------------------------------------------------------------------

def test_demo_checkpoint_is_shipped_small_and_loadable():
    from transformers import DiffusionGemmaForBlockDiffusion

    path = tc.demo_checkpoint_path()
    assert (path / "config.json").is_file(), "run python -m models.training.train"
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert size <= 15_000_000  # the trained demo model's budget: at most 15 MB
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "diffusion_gemma" and config["canvas_length"] == 64
    model = DiffusionGemmaForBlockDiffusion.from_pretrained(path)
    assert model.generation_config.sampler_config is not None
    processor = load_processor(path)
    assert len(processor.tokenizer) == config["text_config"]["vocab_size"]
    assert processor.tokenizer.convert_tokens_to_ids("<turn|>") == tc.END_OF_TURN_ID


def test_falls_back_when_the_stock_processor_cannot_be_built(checkpoint, monkeypatch):
    import models.checkpoint.processing as processing

    # As on a machine with torchvision whose stock Gemma4Processor still fails to build: the fallback is used.
    monkeypatch.setattr(processing, "is_torchvision_available", lambda: True)

    def broken(*args, **kwargs):
        raise ImportError("Gemma4VideoProcessor requires the Torchvision library")

    monkeypatch.setattr(processing.AutoProcessor, "from_pretrained", broken)
    processor = processing.load_processor(checkpoint)
    assert isinstance(processor, processing.ImageTextProcessor)
    assert processor.image_processor.max_soft_tokens == 70
