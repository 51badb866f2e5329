"""Top-k candidates per step: the sampler's own distribution, computed on the device, and no change to the ids."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from models.engine.generator import Generation, Generator
from models.engine.sampling_loop import GenerationRun
from models.session.files import open_session, save_workspace, session_from_bytes
from models.work.events import GenerationResult, StepSnapshot
from models.work.prompts import Prompt
from models.work.settings import SamplerSettings, SettingsError
from models.work.vocabulary import model_ref
from tests.session_helpers import edit_manifest, workspace_with_run

PROMPT = Prompt(user="Sort these numbers: 7 3 9 1", system="You are terse.")
# Every key a SamplerSettings dict had before top_k existed (what session formats 1 and 2 saved until then).
OLD_SETTINGS = {"max_new_tokens": 64, "max_denoising_steps": 6, "entropy_bound": 0.1, "t_min": 0.4, "t_max": 0.8,
                "stability_threshold": 1, "confidence_threshold": 0.005, "seed": 3, "compile": False}


class LogitsStreamer:
    """Takes what `generate` hands a streamer with `_takes_logits`: each step's temperature-scaled logits."""

    _takes_logits = True

    def __init__(self) -> None:
        self.steps: list[torch.Tensor] = []

    def put(self, value: torch.Tensor) -> None:  # the prompt, then each committed canvas
        pass

    def put_draft(self, logits: torch.Tensor) -> None:
        self.steps.append(logits.clone())

    def end(self) -> None:
        pass


def generate_logits(loaded, seed: int, max_new_tokens: int, steps: int) -> tuple[list[int], list[torch.Tensor]]:
    inputs = Generator(loaded).prompt_inputs(PROMPT)
    streamer = LogitsStreamer()
    torch.manual_seed(seed)
    out = loaded.model.generate(**inputs, max_new_tokens=max_new_tokens, max_denoising_steps=steps,
                                streamer=streamer)
    return out.sequences[0, inputs["input_ids"].shape[1]:].tolist(), streamer.steps


def engine_run(loaded, **changes) -> tuple[list[StepSnapshot], GenerationResult]:
    events = list(Generator(loaded).generate(PROMPT, loaded.defaults.with_values(**changes)))
    return [e for e in events if isinstance(e, StepSnapshot)], events[-1]


@pytest.mark.parametrize(("fixture", "max_new_tokens", "steps", "seed", "k"), [
    ("loaded_small", 48, 4, 0, 5),  # three canvases of 16
    ("loaded_text", 64, 3, 1, 10),  # two canvases of 32
    ("loaded_text", 32, 5, 2, 1),
])
def test_candidates_are_the_softmax_of_the_logits_generate_samples_from(request, fixture, max_new_tokens, steps,
                                                                         seed, k):
    loaded = request.getfixturevalue(fixture)
    ids, logits = generate_logits(loaded, seed, max_new_tokens, steps)
    snapshots, result = engine_run(loaded, max_new_tokens=max_new_tokens, max_denoising_steps=steps, seed=seed,
                                   top_k=k)
    assert result.token_ids.tolist() == ids
    assert len(snapshots) == len(logits) == steps * max_new_tokens // loaded.canvas_length  # no early stop
    for snap, scaled in zip(snapshots, logits, strict=True):
        scaled = scaled[0]  # (canvas, vocab): batch 1
        # The probabilities of the distribution generate draws from, as the adaptive stop's entropy computes them
        # (`Categorical(logits=processed logits)`, whose probabilities the engine reuses rather than paying for a
        # second vocabulary-sized softmax): the engine's candidates must be these very numbers.
        drawn_from = torch.distributions.Categorical(logits=scaled).probs
        expected = torch.topk(drawn_from, k, dim=-1)
        assert np.array_equal(snap.top_ids, expected.indices.numpy())
        assert np.array_equal(snap.top_probs, expected.values.numpy())
        # And they are the softmax: against float64 from the same logits, float32 rounds the shifted logits, the
        # exponentials and the sum by a few ulps (eps 1.2e-7; measured here: at most 3.6e-7 relative, scaled logits
        # below 2.3). 1e-5 leaves room for larger logits (the error grows as |logit| x eps) and still fails logits
        # off by one part in 10^4 (9e-5 seen); a temperature one step off (0.4 / steps) is off by percents.
        exact = torch.softmax(scaled.double(), dim=-1)
        np.testing.assert_allclose(snap.top_probs, np.take_along_axis(exact.numpy(), snap.top_ids, axis=1),
                                   rtol=1e-5, atol=1e-9)
        kth = exact.gather(1, torch.from_numpy(snap.top_ids[:, -1:]))
        rest = exact.scatter(1, torch.from_numpy(snap.top_ids), -1.0)
        assert (rest.max(dim=1, keepdim=True).values <= kth).all()  # nothing left out beats the k-th
        assert np.array_equal(snap.top_ids[:, 0], snap.argmax)  # the draft is the first candidate


def test_ids_and_steps_are_the_same_with_top_k_on_or_off(loaded_small):
    base = dict(max_new_tokens=48, max_denoising_steps=4, seed=5)
    reference, _ = generate_logits(loaded_small, 5, 48, 4)
    off_steps, off = engine_run(loaded_small, top_k=0, **base)
    assert off.token_ids.tolist() == reference
    assert all(s.top_ids is None and s.top_probs is None for s in off_steps)
    for k in (1, 5, 10):
        on_steps, on = engine_run(loaded_small, top_k=k, **base)
        assert on.token_ids.tolist() == reference, f"top_k={k} changed the ids"
        assert len(on_steps) == len(off_steps)
        for a, b in zip(on_steps, off_steps, strict=True):
            assert np.array_equal(a.argmax, b.argmax) and np.array_equal(a.accepted, b.accepted)
            assert np.array_equal(a.entropy, b.entropy) and a.mean_entropy == b.mean_entropy
            assert a.top_ids.shape == a.top_probs.shape == (16, k)
            assert a.top_ids.dtype == np.int64 and a.top_probs.dtype == np.float32
            assert (np.diff(a.top_probs, axis=1) <= 0).all()  # best first
            assert (a.top_probs >= 0).all() and (a.top_probs.sum(axis=1) <= 1 + 1e-6).all()


def test_locked_and_fixed_positions_report_their_token_with_probability_one(loaded_text):
    settings = loaded_text.defaults.with_values(max_new_tokens=64, max_denoising_steps=3, seed=0, top_k=4)
    generator = Generator(loaded_text)
    first = list(generator.generate(PROMPT, settings))[-1]
    before = first.token_ids
    span, locks = (4, 40), {6, 7, 33}
    events = list(generator.rewrite(Generation(PROMPT, before, settings), span, locks, settings.with_values(seed=9)))
    after = events[-1].token_ids
    kept = [i for i in range(len(before)) if not span[0] <= i < span[1] or i in locks]
    assert after[kept].tolist() == before[kept].tolist()
    steps = [e for e in events if isinstance(e, StepSnapshot)]
    assert steps
    for snap in steps:
        offset = snap.canvas_index * 32
        fixed = ~snap.editable
        assert snap.locked.sum() == sum(offset <= i < offset + 32 for i in locks)
        assert (snap.locked <= fixed).all()
        assert np.array_equal(snap.top_ids[fixed, 0], before[offset:offset + 32][fixed])  # the lock, never moved
        assert (snap.top_probs[fixed, 0] == 1.0).all() and (snap.top_probs[fixed, 1:] == 0.0).all()
        free = snap.editable
        assert free.any() and (snap.top_probs[free, 0] < 1.0).all()  # a random model is never that sure


def test_one_small_transfer_per_step_with_ten_candidates(loaded_text, host_transfers):
    """Per step, one host transfer of (3 + 2k) x canvas + 2 numbers: never logits, nothing else."""
    moved = host_transfers
    settings = loaded_text.defaults.with_values(max_new_tokens=64, max_denoising_steps=3, seed=0, top_k=10)
    inputs = Generator(loaded_text).prompt_inputs(PROMPT)
    events = list(GenerationRun(loaded_text.model, inputs, settings))
    steps = sum(isinstance(e, StepSnapshot) for e in events)
    assert steps == 6
    assert moved.count(32 * (3 + 2 * 10) + 2) == steps
    assert max(moved) < loaded_text.model.config.text_config.vocab_size


@pytest.mark.parametrize("value", [-1, 11, 2.5, None])
def test_top_k_outside_0_to_10_is_refused_by_name(value):
    with pytest.raises(SettingsError, match="top_k"):
        SamplerSettings().with_values(top_k=value)


def test_settings_saved_before_top_k_existed_still_load():
    settings = SamplerSettings.from_dict(dict(OLD_SETTINGS))
    assert settings.top_k == 5 and settings.seed == 3 and settings.max_denoising_steps == 6
    assert SamplerSettings.from_dict(settings.to_dict()) == settings  # and top_k is kept from now on


def test_sessions_saved_before_top_k_existed_still_open(tmp_path, loaded_small, small_canvas_checkpoint):
    # Format 2: every settings dict in the manifest without top_k, as files saved before it were.
    path = tmp_path / "old.ddsession"
    save_workspace(path, workspace_with_run(loaded_small))

    def strip(data: dict) -> None:
        for settings in [data["settings"], *(run["settings"] for run in data["runs"])]:
            del settings["top_k"]

    edit_manifest(path, strip)
    opened = open_session(path)
    assert opened.settings.top_k == 5 and opened.runs[1].settings.top_k == 5
    assert opened.runs[1].steps(0)[0].top_ids.shape == (16, 5)  # that run's candidates were recorded (default k)

    # Format 1: a plain JSON file of its model.
    picture = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(picture, format="PNG")
    old = {"format": "diffusion-desk-session", "version": 1, "model": str(small_canvas_checkpoint),
           "prompt": {"system": "", "user": "u", "think": False,
                      "images": [base64.b64encode(picture.getvalue()).decode()], "history": []},
           "settings": OLD_SETTINGS, "token_ids": list(range(20, 36)), "locks": [2]}
    ws = session_from_bytes(json.dumps(old).encode(), "old.json", model_ref(loaded_small), loaded_small.tokenizer)
    assert ws.settings.top_k == 5 and ws.settings.seed == 3
