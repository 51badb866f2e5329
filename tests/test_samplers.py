"""Every sampler is diffusers' own scheduler: exact to DiffusionGemmaPipeline (block refinement, DDIM) or to
transformers' `generate` (entropy bound), and locks, spans, images and the adaptive stop hold under each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import BlockRefinementScheduler, DiffusionGemmaPipeline, DiscreteDDIMScheduler, EntropyBoundScheduler

from models.engine.generator import Generation, Generator
from models.engine.samplers import step_budget
from models.work.events import GenerationResult, StepSnapshot
from models.work.prompts import Prompt
from models.work.settings import SamplerSettings, SettingsError
from tests.test_editing import check_run, first_end

PROMPT = Prompt(user="Sort these numbers: 7 3 9 1", system="You are terse.")

#: (id, engine settings, the same scheduler as diffusers builds it, the pipeline's temperature argument)
CASES = [
    ("block-refinement", {}, BlockRefinementScheduler, {}, 0.0),
    ("block-refinement-hot-editing", {"temperature": 0.7, "threshold": 0.5, "editing_threshold": 0.3},
     BlockRefinementScheduler, {"threshold": 0.5, "editing_threshold": 0.3}, 0.7),
    ("ddim", {}, DiscreteDDIMScheduler, {}, 0.0),
    ("ddim-hot", {"temperature": 0.9}, DiscreteDDIMScheduler, {}, 0.9),
    ("ddim-corrector", {"temperature": 0.9, "corrector_steps": 1}, DiscreteDDIMScheduler, {"corrector_steps": 1},
     0.9),
    ("ddim-corrector-random", {"temperature": 0.9, "corrector_steps": 2, "corrector_k": 3,
                               "corrector_selection": "random", "corrector_selection_tau": 0.5},
     DiscreteDDIMScheduler, {"corrector_steps": 2, "corrector_k": 3, "corrector_selection": "random",
                             "corrector_selection_tau": 0.5}, 0.9),
]
SAMPLER_OF = {"block-refinement": "block-refinement", "block-refinement-hot-editing": "block-refinement"}


def sampler_settings(loaded, case_id: str, extra: dict, **changes) -> SamplerSettings:
    sampler = SAMPLER_OF.get(case_id, "ddim")
    return loaded.defaults.with_values(sampler=sampler, **extra, **changes)


@pytest.fixture
def ends_at_eos_only(loaded_small, monkeypatch):
    """The pipeline ends an answer only at the tokenizer's EOS; generate's config also ends it at end of turn.
    For a like-for-like comparison the engine is given the pipeline's one end id."""
    eos = loaded_small.tokenizer.eos_token_id
    monkeypatch.setattr(loaded_small.model.generation_config, "eos_token_id", [eos])
    return eos


def pipeline_ids(loaded, scheduler, seed: int, max_new_tokens: int, steps: int, temperature: float,
                 prompt: Prompt = PROMPT, eos: int | None = None, **call) -> list[int]:
    """The contract: `DiffusionGemmaPipeline` with that scheduler, a global seed, ids out; what follows the first
    EOS is padded as generate (and the engine) pad it, since the pipeline leaves those canvas tokens as drawn."""
    pipe = DiffusionGemmaPipeline(model=loaded.model, scheduler=scheduler, processor=loaded.processor)
    pipe.set_progress_bar_config(disable=True)
    torch.manual_seed(seed)
    ids = pipe(messages=prompt.messages(), gen_length=max_new_tokens, num_inference_steps=steps,
               temperature=temperature, output_type="seq", eos_token_id=eos, **call).sequences[0].clone()
    eos = pipe.eos_token_id if eos is None else eos
    ends = (ids == eos).nonzero()
    if len(ends):
        ids[int(ends[0]) + 1:] = loaded.model.generation_config.pad_token_id
    return ids.tolist()


def engine(loaded, settings: SamplerSettings, prompt: Prompt = PROMPT) -> list:
    return list(Generator(loaded).generate(prompt, settings))


@pytest.mark.parametrize(("case_id", "extra", "scheduler", "config", "temperature"), CASES,
                         ids=[case[0] for case in CASES])
def test_ids_match_the_pipeline_token_for_token(loaded_small, ends_at_eos_only, case_id, extra, scheduler, config,
                                                temperature):
    for seed in (0, 1):
        expected = pipeline_ids(loaded_small, scheduler(**config), seed, 32, 5, temperature)
        result = engine(loaded_small, sampler_settings(loaded_small, case_id, extra, max_new_tokens=32,
                                                       max_denoising_steps=5, seed=seed))[-1]
        assert result.token_ids.tolist() == expected
        assert all(steps == 5 for steps in result.canvas_steps)  # corrector sweeps are counted in the budget


@pytest.mark.parametrize(("case_id", "extra", "scheduler", "config", "temperature"), [CASES[1], CASES[4]],
                         ids=[CASES[1][0], CASES[4][0]])
def test_parity_holds_through_an_early_end(loaded_small, monkeypatch, case_id, extra, scheduler, config,
                                           temperature):
    """A token the run writes mid-canvas is made the end id on both sides: the answer ends in the first canvas,
    and the ids up to it (then pad) are the pipeline's."""
    settings = sampler_settings(loaded_small, case_id, extra, max_new_tokens=48, max_denoising_steps=5, seed=4)
    end = int(engine(loaded_small, settings)[-1].token_ids[8])
    monkeypatch.setattr(loaded_small.model.generation_config, "eos_token_id", [end])
    expected = pipeline_ids(loaded_small, scheduler(**config), 4, 48, 5, temperature, eos=end)
    result = engine(loaded_small, settings)[-1]
    assert result.token_ids.tolist() == expected
    assert len(expected) == 16 and expected.index(end) <= 8


@pytest.mark.parametrize(("case_id", "extra", "scheduler", "config", "temperature"), [CASES[0], CASES[4]],
                         ids=[CASES[0][0], CASES[4][0]])
def test_parity_holds_when_the_adaptive_stop_fires(loaded_small, ends_at_eos_only, case_id, extra, scheduler,
                                                   config, temperature):
    """Sharpened logits make the stable-and-confident stop end canvases early, in the pipeline and the engine (these
    samplers judge the model's own logits, not temperature-scaled ones, so the threshold is raised on both sides)."""
    model = loaded_small.model
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    try:
        stops = 0
        for seed in range(3):
            expected = pipeline_ids(loaded_small, scheduler(**config), seed, 32, 12, temperature,
                                    confidence_threshold=2.0)
            result = engine(loaded_small, sampler_settings(loaded_small, case_id, extra, max_new_tokens=32,
                                                           max_denoising_steps=12, seed=seed,
                                                           confidence_threshold=2.0))[-1]
            assert result.token_ids.tolist() == expected
            stops += sum(result.adaptive_stops)
        assert stops > 0, "the adaptive stop never fired"
    finally:
        with torch.no_grad():
            model.lm_head.weight.div_(40.0)


class GenerateTemperature(EntropyBoundScheduler):
    """EntropyBoundScheduler with transformers' float32 temperature schedule instead of its own float64 one."""

    def __init__(self) -> None:
        super().__init__(t_min=1.0, t_max=1.0)  # its own scaling is then `/ 1.0`, exact

    def step(self, model_output, timestep, sample, **kwargs):
        n = self.num_inference_steps
        temperature = 0.4 + (0.8 - 0.4) * (torch.tensor(n - int(timestep), dtype=torch.int32) / n)
        return super().step(model_output / temperature, timestep, sample, **kwargs)


def last_step_argmax(steps: int):
    """A callback_on_step_end that ends each canvas on the draft (argmax), as generate does."""
    def callback(pipe, global_step, step, tensors):
        return {"canvas": tensors["logits"].argmax(dim=-1)} if step == steps - 1 else {}
    return callback


def test_entropy_bound_is_generate_and_the_pipeline_differs_from_it_as_diagnosed(loaded_small, ends_at_eos_only):
    """Entropy bound keeps transformers' generate as its reference. The pipeline with EntropyBoundScheduler differs
    from generate, and these are the whole difference: (1) it ends a canvas that took all its steps on the last
    sample (non-accepted positions hold random renoised tokens) where generate ends on the last argmax; (2) its
    temperature is computed in float64, one float32 ulp off generate's at some steps; (3) it ends only at the
    tokenizer's EOS and never pads after it. Undo those three and the ids are generate's."""
    from tests.test_engine import reference_ids

    steps = 4
    differed = 0
    for seed in range(3):
        expected = reference_ids(loaded_small, PROMPT, seed, 48, steps).tolist()
        result = engine(loaded_small, loaded_small.defaults.with_values(max_new_tokens=48, max_denoising_steps=steps,
                                                                        seed=seed))[-1]
        assert result.token_ids.tolist() == expected
        plain = pipeline_ids(loaded_small, EntropyBoundScheduler(), seed, 48, steps, 0.0)
        differed += plain != expected
        undone = pipeline_ids(loaded_small, GenerateTemperature(), seed, 48, steps, 0.0,
                              callback_on_step_end=last_step_argmax(steps),
                              callback_on_step_end_tensor_inputs=["canvas", "logits"])
        assert undone == expected
    assert differed == 3


def test_with_an_image_the_pipeline_differs_only_by_its_causal_image_prefill(loaded_vision, monkeypatch):
    """The pipeline encodes the prompt with a 2D attention mask, under which image tokens attend causally; generate
    (and the engine, under every sampler) gives them bidirectional attention. With generate's encoder masks the
    pipeline's ids are the engine's."""
    from PIL import Image

    model = loaded_vision.model
    monkeypatch.setattr(model.generation_config, "eos_token_id", [loaded_vision.tokenizer.eos_token_id])
    prompt = Prompt(user="What colour is this?", images=(Image.new("RGB", (64, 48), (200, 30, 30)),))
    settings = loaded_vision.defaults.with_values(sampler="ddim", temperature=0.8, max_new_tokens=32,
                                                  max_denoising_steps=3)
    results = [engine(loaded_vision, settings.with_values(seed=seed), prompt)[-1].token_ids.tolist()
               for seed in (0, 1)]
    plain = [pipeline_ids(loaded_vision, DiscreteDDIMScheduler(), seed, 32, 3, 0.8, prompt) for seed in (0, 1)]
    assert plain != results

    encoder = model.model.encoder
    causal_prefill = encoder.forward

    def prefill_as_generate(input_ids=None, attention_mask=None, past_key_values=None, position_ids=None, **kwargs):
        if attention_mask is not None and attention_mask.dim() == 2 and past_key_values.get_seq_length() == 0:
            _, attention_mask = model._prepare_encoder_inputs(
                input_ids=input_ids, attention_mask=attention_mask.bool(), encoder_position_ids=position_ids.int(),
                past_key_values=past_key_values, is_prefill=True, canvas_length=model.config.canvas_length,
                batch_size=1, **kwargs)
        return causal_prefill(input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                              position_ids=position_ids, **kwargs)

    monkeypatch.setattr(encoder, "forward", prefill_as_generate)
    assert [pipeline_ids(loaded_vision, DiscreteDDIMScheduler(), seed, 32, 3, 0.8, prompt)
            for seed in (0, 1)] == results


@pytest.mark.parametrize("sampler", ["entropy-bound", "block-refinement", "ddim"])
def test_every_sampler_reads_the_image(loaded_vision, sampler):
    from PIL import Image

    settings = loaded_vision.defaults.with_values(sampler=sampler, temperature=0.8, max_new_tokens=32,
                                                  max_denoising_steps=3, seed=5)
    answers = [engine(loaded_vision, settings, Prompt(user="What colour is this?",
                                                      images=(Image.new("RGB", (64, 48), colour),)))[-1]
               for colour in ((200, 30, 30), (30, 30, 200))]
    assert all(len(a.token_ids) == 32 for a in answers)
    assert answers[0].token_ids.tolist() != answers[1].token_ids.tolist()


def test_corrector_sweeps_are_steps_of_their_own_within_the_budget(loaded_small):
    settings = loaded_small.defaults.with_values(sampler="ddim", temperature=0.9, corrector_steps=2,
                                                 max_new_tokens=32, max_denoising_steps=10, seed=0, top_k=3)
    events = engine(loaded_small, settings)
    predictor, corrected = step_budget(10, 2)
    assert (predictor, corrected) == (4, 3)  # 4 predictor steps + 3 x 2 sweeps = 10 forwards
    expected = [False, True, True] * corrected + [False] * (predictor - corrected)
    for canvas in (0, 1):
        snaps = [e for e in events if isinstance(e, StepSnapshot) and e.canvas_index == canvas]
        assert [s.corrector for s in snaps] == expected
        assert [s.step_index for s in snaps] == list(range(10))
        assert all(s.top_ids is not None and s.top_ids.shape == (16, 3) for s in snaps)
    assert events[-1].canvas_steps == (10, 10)
    assert events[-1].tokens_per_forward == pytest.approx(32 / 20)


@pytest.mark.parametrize(("sampler", "extra"), [
    ("block-refinement", {}),
    ("block-refinement", {"temperature": 1.5, "threshold": 1.0, "editing_threshold": 0.01}),
    ("ddim", {"temperature": 1.5}),
    ("ddim", {"temperature": 1.5, "corrector_steps": 1, "corrector_k": 16, "corrector_selection": "random"}),
], ids=["block-refinement", "block-refinement-editing", "ddim", "ddim-corrector-every-position"])
def test_locks_and_text_outside_a_span_hold_under_every_sampler(loaded_small, sampler, extra):
    """Block refinement leaves uncommitted positions as noise and DDIM renoises any position, a corrector sweep of
    16 of 16 positions resamples locks too: the engine holds them at every step, sweep and in the result."""
    generator = Generator(loaded_small)
    base = engine(loaded_small, loaded_small.defaults.with_values(max_new_tokens=48, max_denoising_steps=4,
                                                                  seed=11))[-1]
    settings = loaded_small.defaults.with_values(sampler=sampler, max_denoising_steps=3, seed=3, **extra)
    generation = Generation(PROMPT, base.token_ids, settings)
    keep = np.ones(48, dtype=bool)
    keep[2:44] = False
    keep[[5, 20, 35]] = True
    events = list(generator.rewrite(generation, (2, 44), [5, 20, 35], settings))
    check_run(events, base.token_ids, keep, 16, generator.end_ids())
    events = list(generator.fill_around(generation, [3, 30], settings))
    keep = np.zeros(48, dtype=bool)
    keep[[3, 30]] = True
    check_run(events, base.token_ids, keep, 16, generator.end_ids())


@pytest.mark.parametrize(("sampler", "extra"), [
    ("entropy-bound", {"t_min": 1.0, "t_max": 2.0, "entropy_bound": 1.0}),
    ("block-refinement", {"temperature": 1.0}),
    ("ddim", {"temperature": 1.0, "corrector_steps": 1}),
])
def test_the_answer_ends_only_after_the_last_kept_token_under_every_sampler(loaded_small, sampler, extra):
    """A model made to like ending its turn: before the last kept token the end is kept out under every sampler,
    after it the answer ends where the model ends it."""
    generator = Generator(loaded_small)
    end_ids = generator.end_ids()
    base = engine(loaded_small, loaded_small.defaults.with_values(max_new_tokens=48, max_denoising_steps=4,
                                                                  seed=11))[-1]
    settings = loaded_small.defaults.with_values(sampler=sampler, max_denoising_steps=2, stability_threshold=0,
                                                 confidence_threshold=0, **extra)
    generation = Generation(PROMPT, base.token_ids, settings)
    weight = loaded_small.model.lm_head.weight
    ends = sorted(end_ids)
    with torch.no_grad():
        saved = weight[ends].clone()
        weight[ends] *= 30.0
    try:
        keep = np.ones(48, dtype=bool)
        keep[2:48] = False
        keep[20] = True
        found = []
        for seed in range(6):
            events = list(generator.rewrite(generation, (2, 48), [20], settings.with_values(seed=seed)))
            found.append(first_end(check_run(events, base.token_ids, keep, 16, end_ids), end_ids))
    finally:
        with torch.no_grad():
            weight[ends] = saved
    assert all(end > 20 for end in found), found
    assert any(end < 48 for end in found), f"the answer never ended after the lock: {found}"


@pytest.mark.parametrize("sampler", ["block-refinement", "ddim"])
def test_ids_are_the_same_with_top_k_on_or_off(loaded_small, sampler):
    settings = loaded_small.defaults.with_values(sampler=sampler, temperature=0.8, corrector_steps=1,
                                                 max_new_tokens=32, max_denoising_steps=5, seed=2)
    on, off = engine(loaded_small, settings.with_values(top_k=10)), engine(loaded_small, settings.with_values(top_k=0))
    assert on[-1].token_ids.tolist() == off[-1].token_ids.tolist()
    steps_on = [e for e in on if isinstance(e, StepSnapshot)]
    assert all(np.array_equal(s.top_ids[:, 0], s.argmax) for s in steps_on)


def test_a_cancelled_run_stops_inside_the_corrector_sweeps(loaded_small):
    import threading

    cancel = threading.Event()
    settings = loaded_small.defaults.with_values(sampler="ddim", corrector_steps=3, max_denoising_steps=12, seed=0)
    seen = []
    result = None
    for event in Generator(loaded_small).generate(PROMPT, settings, cancel):
        if isinstance(event, StepSnapshot):
            seen.append(event.corrector)
            if len(seen) == 2:  # a predictor step, then its first sweep
                cancel.set()
        elif isinstance(event, GenerationResult):
            result = event
    assert seen == [False, True] and result is not None and result.cancelled


@pytest.mark.parametrize(("change", "message"), [
    ({"sampler": "euler"}, "sampler must be one of entropy-bound, block-refinement, ddim; got 'euler'"),
    ({"threshold": 0.0}, "threshold must be in (0, 1], got 0.0"),
    ({"threshold": 1.5}, "threshold must be in (0, 1], got 1.5"),
    ({"editing_threshold": -0.1}, "editing_threshold must be between 0 and 1, got -0.1"),
    ({"corrector_steps": -1}, "corrector_steps must be between 0 and 1000, got -1"),
    ({"corrector_k": 0}, "corrector_k must be between 1 and 100000, got 0"),
    ({"corrector_selection": "best"}, "corrector_selection must be one of lowest_log_margin, lowest_maxprob, "
                                      "lowest_current_prob, random; got 'best'"),
    ({"corrector_selection_tau": 0.0}, "corrector_selection_tau must be in (0, 1000], got 0.0"),
    ({"temperature": -1.0}, "temperature must be between 0 and 100, got -1.0"),
    ({"temperature": 1e-9}, "temperature must be 0 (always the likeliest token) or at least 0.001, got 1e-09"),
    ({"corrector_steps": 1.5}, "corrector_steps must be a whole number from 0 to 1000"),
])
def test_every_refused_setting_is_one_line_naming_it_and_its_range(change, message):
    with pytest.raises(SettingsError) as error:
        SamplerSettings().with_values(**change)
    assert str(error.value) == message and "\n" not in str(error.value)


def test_settings_saved_before_the_sampler_choice_open_as_entropy_bound():
    old = {"max_new_tokens": 64, "max_denoising_steps": 6, "entropy_bound": 0.1, "t_min": 0.4, "t_max": 0.8,
           "stability_threshold": 1, "confidence_threshold": 0.005, "top_k": 5, "seed": 3, "compile": False}
    assert SamplerSettings.from_dict(old).sampler == "entropy-bound"


@pytest.mark.parametrize("vocab", [1024, 65536])
def test_candidates_are_torch_topk_in_blocks_or_not(vocab):
    from models.engine.step_view import top_candidates

    torch.manual_seed(0)
    probs = torch.softmax(torch.randn(8, vocab) * 4, dim=-1)
    probs[3] = 0.0  # a one-hot row, as at a fixed position: its other candidates are ties at 0
    probs[3, 77] = 1.0
    for k in (1, 5, 10):
        expected, got = torch.topk(probs, k, dim=-1), top_candidates(probs, k)
        assert torch.equal(got.values, expected.values)
        rows = [r for r in range(8) if r != 3]
        assert torch.equal(got.indices[rows], expected.indices[rows])
        assert int(got.indices[3, 0]) == 77
        assert torch.equal(probs.gather(1, got.indices), got.values)  # tied ids, if any, still hold their values
