"""The engine is exact (token for token with `model.generate`) and observable without copying logits."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from models.engine.generator import Generator
from models.engine.sampling_loop import GenerationRun
from models.work.events import CanvasCommitted, GenerationResult, StepSnapshot
from models.work.prompts import Prompt
from models.work.settings import SamplerSettings, SettingsError


def reference_ids(loaded, prompt: Prompt, seed: int, max_new_tokens: int, steps: int, **extra) -> torch.Tensor:
    """The contract: the processor's chat template, a global seed, then the stock `generate`."""
    inputs = loaded.processor.apply_chat_template(prompt.messages(), add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt")
    torch.manual_seed(seed)
    out = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, max_denoising_steps=steps, **extra)
    return out.sequences[0, inputs["input_ids"].shape[1]:]


def run_engine(loaded, prompt: Prompt, settings: SamplerSettings, cancel=None) -> list:
    return list(Generator(loaded).generate(prompt, settings, cancel))


def settings_for(loaded, **changes) -> SamplerSettings:
    return loaded.defaults.with_values(**changes)


PROMPT = Prompt(user="Sort these numbers: 7 3 9 1", system="You are terse.")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("fixture", "max_new_tokens", "steps"), [
    ("loaded_small", 48, 5),  # three canvases of 16
    ("loaded_text", 64, 4),  # two canvases of 32
    ("loaded_text", 20, 6),  # a budget that is not a whole canvas
])
def test_ids_match_generate_token_for_token(request, fixture, max_new_tokens, steps, seed):
    loaded = request.getfixturevalue(fixture)
    expected = reference_ids(loaded, PROMPT, seed, max_new_tokens, steps)
    events = run_engine(loaded, PROMPT, settings_for(loaded, max_new_tokens=max_new_tokens,
                                                     max_denoising_steps=steps, seed=seed))
    result = events[-1]
    assert isinstance(result, GenerationResult)
    assert result.token_ids.tolist() == expected.tolist()
    assert len(result.canvas_steps) == len(expected) // loaded.canvas_length


def test_parity_holds_through_eos_padding(loaded_small):
    """Count a token each run writes mid-canvas as EOS, so canvases end early and get padded, on both sides."""
    model = loaded_small.model
    settings = settings_for(loaded_small, max_new_tokens=48, max_denoising_steps=4)
    seeds = range(4)
    # EOS only changes what happens after a canvas is drawn, so these runs draw the same tokens as those below.
    middle = {int(run_engine(loaded_small, PROMPT, settings.with_values(seed=s))[-1].token_ids[8]) for s in seeds}
    original = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = list(original) + sorted(middle)
    pad = model.generation_config.pad_token_id
    try:
        for seed in seeds:
            expected = reference_ids(loaded_small, PROMPT, seed, 48, 4)
            result = run_engine(loaded_small, PROMPT, settings.with_values(seed=seed))[-1]
            assert result.token_ids.tolist() == expected.tolist()
            assert len(expected) == 16 and (expected[9:] == pad).all()  # ended in the first canvas, then padded
    finally:
        model.generation_config.eos_token_id = original


def test_parity_holds_when_the_adaptive_stop_fires(loaded_small):
    """Sharpen the logits so the stable-and-confident stop ends canvases early."""
    model = loaded_small.model
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    try:
        stops = 0
        for seed in range(3):
            expected = reference_ids(loaded_small, PROMPT, seed, 32, 12)
            result = run_engine(loaded_small, PROMPT, settings_for(loaded_small, max_new_tokens=32,
                                                                   max_denoising_steps=12, seed=seed))[-1]
            assert result.token_ids.tolist() == expected.tolist()
            stops += sum(result.adaptive_stops)
            stopped = [steps for steps, stop in zip(result.canvas_steps, result.adaptive_stops, strict=True) if stop]
            assert all(steps < 12 for steps in stopped)
        assert stops > 0, "the adaptive stop never fired"
    finally:
        with torch.no_grad():
            model.lm_head.weight.div_(40.0)


def test_threshold_zero_turns_the_adaptive_stop_off_and_stays_exact(loaded_small):
    """Sharpened logits stop canvases early at the default threshold; at 0 every canvas takes all its steps, exactly
    as generate does with no confidence criterion."""
    model = loaded_small.model
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    try:
        seed = next(seed for seed in range(6) if any(run_engine(loaded_small, PROMPT, settings_for(
            loaded_small, max_new_tokens=32, max_denoising_steps=12, seed=seed))[-1].adaptive_stops))
        settings = settings_for(loaded_small, max_new_tokens=32, max_denoising_steps=12, seed=seed)
        result = run_engine(loaded_small, PROMPT, settings.with_values(confidence_threshold=0))[-1]
        assert all(steps == 12 for steps in result.canvas_steps) and not any(result.adaptive_stops)
        expected = reference_ids(loaded_small, PROMPT, seed, 32, 12, confidence_threshold=None)
        assert result.token_ids.tolist() == expected.tolist()
    finally:
        with torch.no_grad():
            model.lm_head.weight.div_(40.0)


def test_parity_with_an_image_prompt(loaded_vision):
    from PIL import Image

    image = Image.new("RGB", (64, 48), (200, 30, 30))
    prompt = Prompt(user="What colour is this?", images=(image,))
    for seed in (0, 1):
        expected = reference_ids(loaded_vision, prompt, seed, 32, 3)
        result = run_engine(loaded_vision, prompt, settings_for(loaded_vision, max_new_tokens=32,
                                                                max_denoising_steps=3, seed=seed))[-1]
        assert result.token_ids.tolist() == expected.tolist()


def test_snapshots_describe_every_step(loaded_small):
    settings = settings_for(loaded_small, max_new_tokens=32, max_denoising_steps=5, seed=3)
    events = run_engine(loaded_small, PROMPT, settings)
    snapshots = [e for e in events if isinstance(e, StepSnapshot)]
    commits = [e for e in events if isinstance(e, CanvasCommitted)]
    result = events[-1]
    assert [c.canvas_index for c in commits] == list(range(len(result.canvas_steps)))
    for canvas, steps in enumerate(result.canvas_steps):
        mine = [s for s in snapshots if s.canvas_index == canvas]
        assert [s.step_index for s in mine] == list(range(steps))
        for snap in mine:
            assert snap.argmax.shape == snap.entropy.shape == snap.accepted.shape == (16,)
            assert snap.num_accepted == int(snap.accepted.sum()) >= 1
            assert np.isfinite(snap.entropy).all() and (snap.entropy >= 0).all()
            assert snap.mean_entropy == pytest.approx(float(snap.entropy.mean()), rel=1e-5)
        # The committed canvas is the last step's draft (this model writes no EOS here, so nothing is padded).
        assert commits[canvas].token_ids.tolist() == mine[-1].argmax.tolist()
        assert 0.4 <= mine[-1].temperature < mine[0].temperature <= 0.8
    assert [e for e in events if isinstance(e, GenerationResult)] == [result]
    assert result.tokens_per_forward == pytest.approx(32 / sum(result.canvas_steps))


def test_no_canvas_by_vocabulary_tensor_reaches_the_host(loaded_text, host_transfers):
    """Per-step observation moves only canvas-length arrays to the host, never logits."""
    moved = host_transfers
    settings = settings_for(loaded_text, max_new_tokens=32, max_denoising_steps=4, seed=0)
    inputs = Generator(loaded_text).prompt_inputs(PROMPT)
    list(GenerationRun(loaded_text.model, inputs, settings))
    vocab = loaded_text.model.config.text_config.vocab_size
    assert moved, "nothing crossed to the host"
    assert max(moved) < vocab, f"a tensor of {max(moved)} elements crossed to the host"


def test_cancel_stops_at_the_next_step(loaded_text):
    cancel = threading.Event()
    settings = settings_for(loaded_text, max_new_tokens=96, max_denoising_steps=10, seed=0)
    seen = 0
    result = None
    for event in Generator(loaded_text).generate(PROMPT, settings, cancel):
        if isinstance(event, StepSnapshot):
            seen += 1
            if seen == 3:
                cancel.set()
        if isinstance(event, GenerationResult):
            result = event
    assert seen == 3
    assert result is not None and result.cancelled
    assert len(result.token_ids) == 0  # no canvas was committed before the stop


@pytest.mark.parametrize(("change", "name"), [
    ({"max_denoising_steps": 0}, "max_denoising_steps"),
    ({"entropy_bound": -1.0}, "entropy_bound"),
    ({"t_min": 0.9}, "t_max must be greater than t_min"),
    ({"max_new_tokens": 2.5}, "max_new_tokens"),
    ({"confidence_threshold": float("nan")}, "confidence_threshold"),
])
def test_invalid_settings_are_named(change, name):
    with pytest.raises(SettingsError, match=name):
        SamplerSettings().with_values(**change)


def test_defaults_come_from_the_generation_config(loaded_text):
    defaults = loaded_text.defaults
    assert (defaults.max_denoising_steps, defaults.entropy_bound, defaults.t_min, defaults.t_max) == (48, 0.1, 0.4, 0.8)
    assert defaults.confidence_threshold == 0.005 and defaults.stability_threshold == 1
