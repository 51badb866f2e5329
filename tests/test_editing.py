"""Locks and span re-denoising: what must not change never changes, at any step, under any setting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.editing import EditError
from models.events import GenerationResult, StepSnapshot
from models.generator import Generation, Generator
from models.prompts import Prompt

PROMPT = Prompt(user="Count: 1 2 3 4 5 6 7 8 9")


@pytest.fixture(scope="module")
def three_canvases(loaded_small) -> Generation:
    """A finished three-canvas generation (canvas 16) to edit."""
    settings = loaded_small.defaults.with_values(max_new_tokens=48, max_denoising_steps=4, seed=11)
    result = list(Generator(loaded_small).generate(PROMPT, settings))[-1]
    assert len(result.token_ids) == 48
    return Generation(PROMPT, result.token_ids, settings)


def check_run(events: list, before: np.ndarray, keep: np.ndarray, canvas_length: int) -> np.ndarray:
    """Every kept position equals its old id in every snapshot's draft and in the result; returns the new ids.

    The answer keeps its length, unless nothing is kept after the first position the run may change: then the
    model may end it sooner (a re-denoise to the end of the text may write an end-of-turn early)."""
    result = events[-1]
    assert isinstance(result, GenerationResult) and not result.cancelled
    after = result.token_ids
    first_free = int(np.flatnonzero(~keep)[0])
    if keep[first_free:].any():
        assert len(after) == len(before)
    else:
        assert 0 < len(after) <= len(before) and len(after) % canvas_length == 0
        keep = keep[:len(after)]
        before = before[:len(after)]
    assert (after[keep] == before[keep]).all()
    for snap in (e for e in events if isinstance(e, StepSnapshot)):
        window = slice(snap.canvas_index * canvas_length, (snap.canvas_index + 1) * canvas_length)
        canvas_keep = keep[window]
        assert (snap.argmax[canvas_keep] == before[window][canvas_keep]).all()
        assert snap.accepted[canvas_keep].all()
        assert (snap.entropy[canvas_keep] == 0).all()
        assert (snap.editable == ~canvas_keep).all()
    return after


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_locked_and_outside_tokens_never_change(loaded_small, three_canvases, data):
    length = len(three_canvases.token_ids)
    start = data.draw(st.integers(0, length - 1), label="start")
    end = data.draw(st.integers(start + 1, length), label="end")
    locks = data.draw(st.sets(st.integers(0, length - 1), max_size=10), label="locks")
    if all(p in locks for p in range(start, end)):
        locks = set(locks) - {start}
    t_min = data.draw(st.floats(0.05, 1.0), label="t_min")
    chosen = three_canvases.settings.with_values(
        seed=data.draw(st.integers(0, 2**31 - 1), label="seed"),
        max_denoising_steps=data.draw(st.integers(1, 5), label="steps"),
        entropy_bound=data.draw(st.floats(0.001, 50.0), label="entropy_bound"),
        t_min=t_min,
        t_max=t_min + data.draw(st.floats(0.01, 2.0), label="t_gap"),
        stability_threshold=data.draw(st.integers(0, 3), label="stability"),
        confidence_threshold=data.draw(st.floats(0.0001, 5.0), label="confidence"),
    )
    events = list(Generator(loaded_small).rewrite(three_canvases, (start, end), sorted(locks), chosen))
    keep = np.ones(length, dtype=bool)
    keep[start:end] = False
    keep[sorted(locks)] = True
    check_run(events, three_canvases.token_ids, keep, 16)


def test_a_lock_inside_a_span_to_the_end_is_never_cut_off(loaded_small, three_canvases):
    """The example hypothesis found: span 2:48, where the model wrote an end-of-turn in the first canvas. With a
    lock in the third canvas, ending there would drop the locked token: the engine keeps the end out."""
    chosen = three_canvases.settings.with_values(seed=48, max_denoising_steps=1, entropy_bound=1.0, t_min=1.0,
                                                 t_max=2.0, stability_threshold=0, confidence_threshold=1.0)
    generator = Generator(loaded_small)
    unlocked = list(generator.rewrite(three_canvases, (2, 48), [], chosen))[-1]
    assert len(unlocked.token_ids) < 48  # free to end: it did
    events = list(generator.rewrite(three_canvases, (2, 48), [40], chosen))
    keep = np.zeros(48, dtype=bool)
    keep[[0, 1, 40]] = True
    after = check_run(events, three_canvases.token_ids, keep, 16)
    assert after[40] == three_canvases.token_ids[40]


def test_span_across_a_canvas_boundary_in_an_earlier_canvas(loaded_small, three_canvases):
    before = three_canvases.token_ids
    events = list(Generator(loaded_small).rewrite(three_canvases, (10, 22), [12, 20],
                                                  three_canvases.settings.with_values(seed=99)))
    keep = np.ones(48, dtype=bool)
    keep[10:22] = False
    keep[[12, 20]] = True
    after = check_run(events, before, keep, 16)
    assert (after[10:22] != before[10:22]).any(), "the span was not re-denoised at all"
    # Only the two canvases the span touches are denoised; the third is kept without a step.
    assert {e.canvas_index for e in events if isinstance(e, StepSnapshot)} == {0, 1}
    assert events[-1].span == (10, 22)


def test_a_span_followed_by_text_never_ends_the_answer(loaded_small, three_canvases):
    """An end-of-turn inside a span would cut off the text after it, so the engine keeps EOS and pad out of it."""
    generator = Generator(loaded_small)
    end_ids = generator.end_ids()
    for seed in range(5):
        after = list(generator.rewrite(three_canvases, (4, 12), (), three_canvases.settings.with_values(seed=seed)))
        assert not np.isin(after[-1].token_ids[4:12], list(end_ids)).any()


def test_fill_around_changes_only_the_locked_canvases(loaded_small, three_canvases):
    before = three_canvases.token_ids
    locks = [17, 18, 30]
    events = list(Generator(loaded_small).fill_around(three_canvases, locks,
                                                      three_canvases.settings.with_values(seed=4)))
    keep = np.ones(48, dtype=bool)
    keep[16:32] = False
    keep[locks] = True
    after = check_run(events, before, keep, 16)
    assert (after[16:32] != before[16:32]).any()


def test_text_from_anywhere_can_be_edited(loaded_small):
    generator = Generator(loaded_small)
    settings = loaded_small.defaults.with_values(max_denoising_steps=3, seed=1)
    generation = generator.from_text(Prompt(user="Rewrite this"), "the cat sat on the mat. " * 3, settings)
    ids = generation.token_ids
    assert len(ids) % 16 == 0
    text = loaded_small.tokenizer.decode(ids, skip_special_tokens=True)
    assert text.strip() == ("the cat sat on the mat. " * 3).strip()
    events = list(generator.rewrite(generation, (2, 6), (), settings))
    keep = np.ones(len(ids), dtype=bool)
    keep[2:6] = False
    check_run(events, ids, keep, 16)


@pytest.mark.parametrize(("span", "locks", "message"), [
    ((5, 5), (), "not inside"),
    ((-1, 3), (), "not inside"),
    ((40, 49), (), "not inside"),
    ((3, 5), (3, 4), "every token"),
    ((3, 5), (48,), "outside the generated text"),
])
def test_impossible_edits_say_why(loaded_small, three_canvases, span, locks, message):
    with pytest.raises(EditError, match=message):
        list(Generator(loaded_small).rewrite(three_canvases, span, locks))
