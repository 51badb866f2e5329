"""Locks and span re-denoising: what must not change never changes, at any step, under any setting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.engine.edit_plans import EditError, fill_plans, span_plans
from models.engine.generator import Generation, Generator
from models.work.events import GenerationResult, StepSnapshot
from models.work.prompts import Prompt

PROMPT = Prompt(user="Count: 1 2 3 4 5 6 7 8 9")


@pytest.fixture(scope="module")
def three_canvases(loaded_small) -> Generation:
    """A finished three-canvas generation (canvas 16) to edit."""
    settings = loaded_small.defaults.with_values(max_new_tokens=48, max_denoising_steps=4, seed=11)
    result = list(Generator(loaded_small).generate(PROMPT, settings))[-1]
    assert len(result.token_ids) == 48
    return Generation(PROMPT, result.token_ids, settings)


def check_run(events: list, before: np.ndarray, keep: np.ndarray, canvas_length: int,
              end_ids: set[int] | frozenset[int] = frozenset()) -> np.ndarray:
    """Every kept position equals its old id in every snapshot's draft and in the result; returns the new ids.

    The answer may end sooner (whole canvases shorter) only after the canvas of the last kept token that is not an
    end-of-turn or pad: text after the first free position may end where the model ends it, kept text never."""
    result = events[-1]
    assert isinstance(result, GenerationResult) and not result.cancelled
    after = result.token_ids
    kept_text = np.flatnonzero(keep & np.isin(before, list(end_ids), invert=True))
    must_reach = (int(kept_text[-1]) // canvas_length + 1) * canvas_length if len(kept_text) else canvas_length
    assert must_reach <= len(after) <= len(before) and len(after) % canvas_length == 0
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


def first_end(ids: np.ndarray, end_ids: set[int]) -> int:
    """Index of the first end-of-turn or pad in `ids`, or len(ids) when the answer does not end."""
    ends = np.flatnonzero(np.isin(ids, list(end_ids)))
    return int(ends[0]) if len(ends) else len(ids)


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
    check_run(events, three_canvases.token_ids, keep, 16, Generator(loaded_small).end_ids())


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


#: A hot, one-step sampler under which this random model sometimes writes an end-of-turn: where it may, it can.
FREE_TO_END = dict(max_denoising_steps=1, entropy_bound=1.0, t_min=1.0, t_max=2.0, stability_threshold=0,
                   confidence_threshold=1.0)


@pytest.mark.parametrize(("span", "locks"), [
    ((2, 48), [3]),  # a lock early in the text
    ((2, 48), [40]),  # a lock in a later canvas
    ((2, 48), [5, 20, 35]),  # several locks in several canvases
    ((2, 48), [5, 20]),
    ((20, 48), []),  # a span running to the end, nothing kept after it
], ids=["early-lock", "lock-in-a-later-canvas", "locks-in-three-canvases", "locks-in-two-canvases", "span-to-end"])
def test_the_answer_ends_only_after_the_last_kept_token(loaded_small, three_canvases, span, locks):
    """Before the last kept token an end-of-turn would cut it off, so it is kept out there; after it the model is
    free to end the answer, in any canvas, and over 20 seeds it does at least once."""
    generator = Generator(loaded_small)
    end_ids = generator.end_ids()
    before = three_canvases.token_ids
    keep = np.ones(48, dtype=bool)
    keep[span[0]:span[1]] = False
    keep[locks] = True
    last_kept = max([span[0] - 1, *locks])
    ends = []
    for seed in range(40, 60):
        events = list(generator.rewrite(three_canvases, span, locks,
                                        three_canvases.settings.with_values(seed=seed, **FREE_TO_END)))
        after = check_run(events, before, keep, 16, end_ids)
        ends.append(first_end(after, end_ids))
    assert all(end > last_kept for end in ends), ends
    assert any(end < 48 for end in ends), f"the answer never ended after position {last_kept}: {ends}"


def test_fill_around_an_early_lock_may_end_the_answer(loaded_small):
    """Fill around one lock in a one-canvas answer: the answer may end after the lock, never before it."""
    generator = Generator(loaded_small)
    end_ids = generator.end_ids()
    settings = loaded_small.defaults.with_values(max_new_tokens=16)
    generation = generator.from_text(PROMPT, "one two three four five six", settings)
    before = generation.token_ids
    ends = []
    for seed in range(40, 60):
        events = list(generator.fill_around(generation, [2], settings.with_values(seed=seed, **FREE_TO_END)))
        keep = np.zeros(len(before), dtype=bool)
        keep[2] = True
        after = check_run(events, before, keep, 16, end_ids)
        ends.append(first_end(after, end_ids))
    assert all(end > 2 for end in ends), ends
    assert any(end < 16 for end in ends), ends


def test_end_bans_cover_exactly_the_free_positions_before_the_last_kept_token():
    """The plan itself: bans where kept text follows, none after it, and may_end only from that canvas on."""
    ids = np.array([5] * 14 + [1] + [0] * 17)  # text, an end-of-turn at 14, padding; canvas 8
    plans = fill_plans(ids, 8, [3, 12], end_ids={0, 1})
    banned = np.concatenate([p.end_banned.numpy() for p in plans])
    expected = np.zeros(32, dtype=bool)
    expected[[0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]] = True  # free and before the lock at 12; not 13-15 after it
    assert (banned == expected).all()
    assert [p.may_end for p in plans] == [False, True, True, True]
    span = span_plans(ids, 8, (2, 14), locks=[6], end_ids={0, 1})  # the span ends at the old end-of-turn
    banned = np.concatenate([p.end_banned.numpy() for p in span])
    assert banned[:6].tolist() == [False, False, True, True, True, True] and not banned[6:].any()
    text_after = span_plans(ids, 8, (2, 10), end_ids={0, 1})  # kept text after the span: banned all through
    assert np.concatenate([p.end_banned.numpy() for p in text_after])[2:10].all()
    assert [p.may_end for p in text_after] == [False, True, True, True]


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
