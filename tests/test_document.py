"""Tokens and text of the edited document, typing, locks and diff review, with the tiny checkpoint's tokenizer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.work.document import Document, TokenText, apply_hunks, diff_hunks, lay_into_canvases

CANVAS = 16
TURN, EOS, PAD = 6, 1, 0
WORDS = ["the", " cat", " sat", "\n", " on", " mat", "😀", "’s", " é", "日本", "  ", ".", " fine", "Hello"]
texts = st.lists(st.sampled_from(WORDS), max_size=12).map("".join)
quick = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tok(loaded_small):
    return loaded_small.tokenizer


def encode(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def doc_of(tok, text: str, locks=()) -> Document:
    return Document(lay_into_canvases(encode(tok, text), CANVAS, TURN, PAD), CANVAS, tok, frozenset(locks))


@pytest.mark.parametrize("text", ["Hello world, it is fine.", "an emoji 😀 and it’s", "a\n\nb\n", "  two spaces", ""])
def test_pieces_join_to_the_decoded_text(tok, text):
    ids = encode(tok, text)
    tt = TokenText(tok, ids + [TURN, PAD])
    assert "".join(tt.pieces) == tt.text == tok.decode(ids, skip_special_tokens=False) == text
    assert tt.visible_count == len(ids)
    assert [tt.text[slice(*tt.span_of(i))] for i in range(len(ids))] == list(tt.pieces)


def test_text_stops_at_the_first_end_id_but_the_ids_keep_the_rest(tok):
    ids = encode(tok, "kept") + [EOS] + encode(tok, "hidden") + [PAD]
    doc = Document(ids, CANVAS, tok)
    assert doc.text == "kept"
    assert doc.visible_count == len(encode(tok, "kept"))
    assert list(doc.ids) == ids


def test_special_tokens_are_shown_as_text(tok):
    ids = encode(tok, "<|channel>thought\nhm<channel|>Yes")
    assert TokenText(tok, ids).text == "<|channel>thought\nhm<channel|>Yes"


def test_a_character_of_several_byte_tokens_is_carried_by_its_last_byte(tok):
    ids = encode(tok, "a😀b")
    tt = TokenText(tok, ids)
    assert tt.pieces == ("a", "", "", "", "😀", "b")
    assert [tt.span_of(i) for i in range(6)] == [(0, 1), (1, 1), (1, 1), (1, 1), (1, 2), (2, 3)]
    assert tt.token_at(1) == 4
    assert tt.tokens_for_chars(1, 2) == (1, 5)  # all four bytes of the emoji
    assert tt.tokens_for_chars(0, 3) == (0, 6)
    assert tt.tokens_for_chars(1, 1) == (1, 1)  # the empty span before the emoji's first byte
    assert tt.token_at(3) == 6


def test_stray_bytes_still_join_to_the_decoded_text(tok):
    byte = {b: tok.convert_tokens_to_ids(f"<0x{b:02X}>") for b in (0x80, 0xE2, 0x99)}
    ids = (
        encode(tok, "x") + [byte[0x80]] + encode(tok, "y") + [byte[0xE2], byte[0x80]] + encode(tok, "z") + [byte[0x99]]
    )
    tt = TokenText(tok, ids)
    assert tt.text == tok.decode(ids, skip_special_tokens=False)
    assert len(tt.offsets) == len(ids) + 1


@quick
@given(text=texts)
def test_token_at_and_tokens_for_chars_round_trip(tok, text):
    ids = encode(tok, text)
    tt = TokenText(tok, ids)
    assert tt.text == tok.decode(ids, skip_special_tokens=False) == text
    for c in range(len(text)):
        i = tt.token_at(c)
        start, end = tt.span_of(i)
        assert start <= c < end
    for i in range(tt.visible_count):
        start, end = tt.span_of(i)
        if start < end:
            first, last = tt.tokens_for_chars(start, end)
            assert last == i + 1 and all(tt.span_of(j) == (start, start) for j in range(first, i))
    for a in range(len(text) + 1):
        for b in range(a, min(a + 4, len(text)) + 1):
            first, last = tt.tokens_for_chars(a, b)
            if a < b:
                assert tt.offsets[first] <= a < tt.offsets[first + 1] or tt.offsets[first] == tt.offsets[first + 1]
                assert tt.offsets[last - 1] < b <= tt.offsets[last]
            else:  # the boundary at or before a, before any bytes of the character there
                assert first == last and tt.offsets[first] <= a
                assert not any(tt.offsets[first] < o <= a for o in tt.offsets)
                assert first == 0 or tt.offsets[first - 1] < tt.offsets[first]


def test_typed_text_is_locked_and_later_locks_shift(tok):
    doc = doc_of(tok, "Hello world, it is fine.")
    fine = doc.text.index(" fine")
    lock = doc.token_text.token_at(fine)
    doc = doc.with_locks_toggled((lock, lock + 1))
    start = doc.text.index("world")
    typed = doc.with_typed_text(start, start + len("world"), "there, my friend")
    assert typed.text == "Hello there, my friend, it is fine."
    assert len(typed.ids) % CANVAS == 0
    assert list(typed.ids[typed.visible_count : typed.visible_count + 1]) == [TURN]
    assert (typed.ids[typed.visible_count + 1 :] == PAD).all()
    locked_text = "".join(typed.token_text.piece(i) for i in sorted(typed.locks))
    assert locked_text == " there, my friend fine"
    assert typed.token_text.token_at(typed.text.index(" fine")) in typed.locks


def test_typing_a_key_at_a_time_tokenizes_the_typed_text_as_a_whole(tok):
    doc = doc_of(tok, "The cat.")
    at = doc.text.index(".")
    for i, key in enumerate(" sat on the mat"):
        doc = doc.with_typed_text(at + i, at + i, key)
    assert doc.text == "The cat sat on the mat."
    typed = [int(doc.ids[i]) for i in sorted(doc.locks)]
    assert typed == encode(tok, " sat on the mat")


def test_deleting_whole_tokens_locks_nothing_and_editing_inside_a_word_locks_it(tok):
    doc = doc_of(tok, "The cat sat.")
    start = doc.text.index(" sat")
    deleted = doc.with_typed_text(start, start + 4, "")
    assert deleted.text == "The cat." and not deleted.locks
    inside = doc.with_typed_text(start + 2, start + 3, "e")
    assert inside.text == "The cat set."
    locked = "".join(inside.token_text.piece(i) for i in sorted(inside.locks))
    assert "e" in locked and locked in " set"  # the retokenized token(s) around the typed letter, no more


def test_typing_next_to_an_emoji_keeps_its_bytes_together(tok):
    doc = doc_of(tok, "a😀b")
    assert doc.with_typed_text(2, 2, "!").text == "a😀!b"
    assert doc.with_typed_text(1, 1, "!").text == "a!😀b"
    replaced = doc.with_typed_text(1, 2, "é")
    assert replaced.text == "aéb"


@quick
@given(text=texts, typed=texts, data=st.data())
def test_typing_anywhere_gives_the_typed_text_locked(tok, text, typed, data):
    doc = doc_of(tok, text)
    a = data.draw(st.integers(0, len(text)), label="a")
    b = data.draw(st.integers(a, len(text)), label="b")
    after = doc.with_typed_text(a, b, typed)
    assert after.text == text[:a] + typed + text[b:]
    locked = np.zeros(len(after.text), dtype=bool)
    for i in after.locks:
        locked[slice(*after.token_text.span_of(i))] = True
    assert locked[a : a + len(typed)].all()


def test_toggling_locks_locks_a_span_then_unlocks_it(tok):
    doc = doc_of(tok, "Hello world, it is fine.")
    locked = doc.with_locks_toggled((2, 5))
    assert locked.locks == {2, 3, 4}
    assert locked.with_locks_toggled((3, 7)).locks == {2, 3, 4, 5, 6}  # partly locked: lock all of it
    assert locked.with_locks_toggled((2, 5)).locks == frozenset()
    assert locked.with_ids(locked.ids[:3]).locks == {2}


def test_with_canvas_replaces_one_canvas(tok):
    doc = doc_of(tok, "one two three four five six seven eight nine ten eleven twelve")
    canvas = np.full(CANVAS, encode(tok, "x")[0])
    changed = doc.with_canvas(1, canvas)
    assert (changed.ids[CANVAS : 2 * CANVAS] == canvas).all()
    assert (changed.ids[:CANVAS] == doc.ids[:CANVAS]).all() and (
        changed.ids[2 * CANVAS :] == doc.ids[2 * CANVAS :]
    ).all()


def expected_merge(old: Document, hunks, accepted) -> str:
    tt, parts, at = old.token_text, [], 0
    for k, hunk in enumerate(hunks):
        start, end = int(tt.offsets[hunk.old_start]), int(tt.offsets[hunk.old_end])
        parts += [tt.text[at:start], hunk.new_text if k in accepted else hunk.old_text]
        at = end
    return "".join(parts) + tt.text[at:]


def test_hunks_by_word_and_partial_acceptance(tok):
    old = doc_of(tok, "The cat sat on the mat.", locks=())
    new = doc_of(tok, "A cat sat on the red mat!")
    hunks = diff_hunks(old, new.ids)
    assert [(h.old_text, h.new_text) for h in hunks] == [("The", "A"), (" mat.", " red mat!")]
    assert apply_hunks(old, new.ids, {0, 1}).text == new.text
    assert apply_hunks(old, new.ids, set()).text == old.text
    assert apply_hunks(old, new.ids, {1}).text == "The cat sat on the red mat!"
    assert apply_hunks(old, new.ids, {0}).text == "A cat sat on the mat."


def test_a_replaced_word_is_one_hunk(tok):
    old = doc_of(tok, "2 4 41 7 9\n1234\n3412", locks=())
    swapped = doc_of(tok, "2 4 14 7 9\n1234\n3412")
    assert [(h.old_text, h.new_text) for h in diff_hunks(old, swapped.ids)] == [(" 41", " 14")]
    row = doc_of(tok, "2 4 41 7 9\n1234\n4312")
    assert [(h.old_text, h.new_text) for h in diff_hunks(old, row.ids)] == [("\n3412", "\n4312")]


def test_locks_follow_their_tokens_through_apply(tok):
    old = doc_of(tok, "The cat sat on the mat.")
    mat = old.token_text.token_at(old.text.index(" mat"))
    old = old.with_locks_toggled((mat, mat + 1))
    new = doc_of(tok, "The big fat cat sat on the mat.").ids
    merged = apply_hunks(old, new, {0})
    (lock,) = merged.locks
    assert lock > mat and merged.token_text.piece(lock) == old.token_text.piece(mat)
    assert merged.text.index(" mat") == merged.token_text.span_of(lock)[0]


def test_entropies_follow_their_tokens_and_the_end_of_the_text_keeps_its_own(tok):
    """An accepted change or a typed word leaves the model's entropies where its tokens still are; the end-of-turn
    and padding were the model's too, and do not turn unknown (drawn as most unsure) because the text moved."""
    old = doc_of(tok, "The cat sat on the mat.")
    n = old.visible_count
    old = dataclasses.replace(old, entropy=np.arange(len(old.ids), dtype=np.float32) / 100)
    new = doc_of(tok, "A cat sat on the mat.")
    merged = apply_hunks(old, new.ids, {0}, np.full(len(new.ids), 9.0, np.float32))
    assert merged.entropy[0] == 9.0 and merged.entropy[merged.visible_count - 1] == old.entropy[n - 1]
    for edited in (merged, old.with_typed_text(len(old.text), len(old.text), " Yes")):
        tail = edited.entropy[edited.visible_count :]
        np.testing.assert_allclose(tail, old.entropy[n : n + len(tail)])
    typed = old.with_typed_text(len(old.text), len(old.text), " Yes")
    assert np.isnan(typed.entropy[n : typed.visible_count]).all()  # the typed word: unknown


@quick
@given(old_text=texts, new_text=texts, data=st.data())
def test_apply_all_gives_the_new_text_none_the_old_some_the_mix(tok, old_text, new_text, data):
    old, new = doc_of(tok, old_text), doc_of(tok, new_text)
    hunks = diff_hunks(old, new.ids)
    assert apply_hunks(old, new.ids, set(range(len(hunks)))).text == new_text
    assert apply_hunks(old, new.ids, set()).text == old_text
    some = data.draw(st.sets(st.integers(0, max(len(hunks) - 1, 0))), label="accepted")
    merged = apply_hunks(old, new.ids, some)
    assert merged.text == expected_merge(old, hunks, some)
    assert len(merged.ids) % CANVAS == 0


def test_special_token_strings_in_text_stay_text(tok):
    """Typed or opened text that spells a special token does not become it (an end of turn would cut the text)."""
    doc = Document.from_text("Sort <turn|> 1 2", CANVAS, tok)
    assert doc.text.replace("\u2060", "") == "Sort <turn|> 1 2"
    typed = doc.with_typed_text(0, 0, "<turn|>")
    assert typed.text.replace("\u2060", "") == "<turn|>Sort <turn|> 1 2"
    assert tok.convert_tokens_to_ids("<turn|>") not in typed.ids[: typed.visible_count].tolist()


def test_text_the_model_wrote_in_keeps_the_entropy_it_was_written_with(tok):
    """A rewrite's answer goes in as typed text; its tokens take the entropies of the run that wrote them."""
    text = "Hello the cat sat.\n fine"
    base = doc_of(tok, text)
    base = dataclasses.replace(base, entropy=np.linspace(0.1, 0.9, len(base.ids)).astype(np.float32))
    base = base.with_typed_text(len(text) - 5, len(text), " typed")  # the user's own text: unknown entropy
    a, b = text.index(" cat"), text.index(" sat")
    written_ids = encode(tok, " mat on the mat") + [TURN]
    written_entropy = np.array([0.5 + i / 100 for i in range(len(written_ids))], dtype=np.float32)
    put_in = base.with_typed_text(a, b, " mat on the mat", lock=False)
    assert put_in.text.startswith("Hello the mat on the mat sat.")
    after = put_in.with_written_entropy(base, written_ids, written_entropy)
    start = len(encode(tok, "Hello the"))
    new = slice(start, start + len(written_ids) - 1)
    assert after.ids[new].tolist() == written_ids[:-1]
    assert np.allclose(after.entropy[new], written_entropy[:-1])  # as written, token by token
    assert np.array_equal(after.entropy[:start], base.entropy[:start])
    typed = after.token_text.tokens_for_chars(len(after.text) - 6, len(after.text))
    assert np.isnan(after.entropy[slice(*typed)]).all()  # the user's typing stays unknown
