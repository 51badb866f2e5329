"""Session files: every run, step, lock, turn and branch round-trips; anything damaged is one SessionError."""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from models.engine.generator import Generation, Generator
from models.session.files import (
    NeedsItsModel,
    SessionError,
    open_session,
    save_workspace,
    session_bytes,
    session_from_bytes,
)
from models.work.document import TokenText
from models.work.prompts import split_reply
from models.work.runs import RunKind
from models.work.vocabulary import RecordedTokenizer, model_ref
from models.work.workspace import Draft, Workspace
from tests.session_helpers import edit_manifest, workspace_with_run


def run_edit(ws: Workspace, loaded, kind: RunKind, span, seed: int, instruction: str = ""):
    settings = ws.settings.with_values(seed=seed, max_denoising_steps=2)
    run = ws.start_edit(kind, settings, span, instruction)
    generator, doc = Generator(loaded), ws.document
    generation = Generation(run.prompt, doc.ids, settings, doc.locks)
    if kind is RunKind.REWRITE:
        events = generator.generate(run.prompt, settings)
    elif kind is RunKind.FILL:
        events = generator.fill_around(generation, doc.locks, settings)
    else:
        events = generator.rewrite(generation, span, doc.locks, settings)
    ws.add_events(run.id, events)
    ws.finish_run(run.id)
    return run


@pytest.fixture(scope="module")
def rich(loaded_small):
    """A workspace with a follow-up, a branch, locks, typing, accepted, rejected and pending edits, and images."""
    picture = Image.new("RGB", (24, 16), (10, 200, 30))
    ws = workspace_with_run(loaded_small, "First question", seed=1, images=(picture,))
    ws.change_document(ws.document.with_locks_toggled((1, 3)), "Lock tokens")
    ws.change_document(ws.document.with_typed_text(0, 0, "Hi "), "Typing", typing=True)
    for seed in (2, 3):  # one to accept (if it changes anything) and one to reject
        run = run_edit(ws, loaded_small, RunKind.REDENOISE, (3, 12), seed)
        if ws.review is not None:
            ws.accept([0]) if seed == 2 else ws.reject()
    ws.set_draft(Draft("Second question", follow_up=True))
    second = ws.start_generation(ws.settings.with_values(seed=4, max_denoising_steps=2))
    ws.add_events(second.id, Generator(loaded_small).generate(second.prompt, second.settings))
    ws.finish_run(second.id)
    ws.rerun_turn(0)
    ws.set_draft(Draft("First question, again", images=(picture,), image_names=("green.png",), branch_of=0))
    branch = ws.start_generation(ws.settings.with_values(seed=5, max_denoising_steps=2))
    ws.add_events(branch.id, Generator(loaded_small).generate(branch.prompt, branch.settings))
    ws.finish_run(branch.id)
    run = run_edit(ws, loaded_small, RunKind.REDENOISE, (0, 10), 6)
    ws.set_draft(Draft("What is left in the boxes", system="Be brief", think=True, image_budget=140))
    assert ws.review is None or ws.runs[ws.review] is run
    return ws


def same_steps(a, b) -> None:
    assert a.canvas_indices == b.canvas_indices
    for canvas in a.canvas_indices:
        assert len(a.steps(canvas)) == len(b.steps(canvas))
        for x, y in zip(a.steps(canvas), b.steps(canvas), strict=True):
            for name in ("argmax", "accepted", "entropy", "locked", "editable"):
                np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
            assert (x.canvas_index, x.step_index, x.mean_entropy, x.num_accepted, x.temperature, x.elapsed) == (
                y.canvas_index, y.step_index, y.mean_entropy, y.num_accepted, y.temperature, y.elapsed)
        ca, cb = a.record.canvases[canvas].committed, b.record.canvases[canvas].committed
        assert (ca is None) == (cb is None)
        if ca is not None:
            np.testing.assert_array_equal(ca.token_ids, cb.token_ids)
            assert (ca.steps, ca.adaptive_stop) == (cb.steps, cb.adaptive_stop)


def test_every_run_step_lock_turn_and_branch_round_trips(tmp_path, rich, loaded_small):
    path = tmp_path / "rich.ddsession"
    save_workspace(path, rich)
    back = open_session(path, model_ref(loaded_small), loaded_small.tokenizer)
    assert back.model == rich.model and back.settings == rich.settings and back.draft.user == rich.draft.user
    assert (back.draft.system, back.draft.think, back.draft.image_budget) == ("Be brief", True, 140)
    assert back.review == rich.review and back.position == rich.position and not back.is_modified()
    assert sorted(back.runs) == sorted(rich.runs)
    for run_id, run in rich.runs.items():
        other = back.runs[run_id]
        for name in ("kind", "turn", "settings", "canvas_length", "span", "locks", "instruction", "rewrite_chars",
                     "fate", "accepted_hunks", "error", "started"):
            assert getattr(other, name) == getattr(run, name), name
        assert other.prompt.user == run.prompt.user and other.prompt.history == run.prompt.history or \
            [t.user for t in other.prompt.history] == [t.user for t in run.prompt.history]
        for name in ("base_ids", "proposal_ids", "proposal_entropy"):
            np.testing.assert_array_equal(getattr(other, name), getattr(run, name))
        same_steps(run, other)
        np.testing.assert_array_equal(other.result.token_ids, run.result.token_ids)
        np.testing.assert_array_equal(other.result.prompt_ids, run.result.prompt_ids)
        assert other.result.canvas_steps == run.result.canvas_steps and other.result.answer == run.result.answer
    turns = rich.conversation.turns
    assert back.conversation.current == rich.conversation.current
    assert back.conversation.active_path() == rich.conversation.active_path()
    for turn_id, node in turns.items():
        other = back.conversation.turns[turn_id]
        assert (other.parent, other.user, other.system, other.think, other.active_child) == (
            node.parent, node.user, node.system, node.think, node.active_child)
        assert [i.tobytes() for i in other.images] == [i.tobytes() for i in node.images]  # PNG: lossless
        assert other.document.same_as(node.document)
    assert back.conversation.siblings(0) == [0, 2]  # the branch is still a branch


def test_a_session_replays_without_its_model(rich, loaded_text):
    data = session_bytes(rich)
    for model, tokenizer in ((None, None), (model_ref(loaded_text), loaded_text.tokenizer)):  # none, or another
        back = session_from_bytes(data, "s", model, tokenizer)
        assert isinstance(back.tokenizer, RecordedTokenizer)
        for node_id, node in rich.conversation.turns.items():
            doc, replayed = node.document, back.conversation.turns[node_id].document
            assert replayed.text == doc.text and TokenText(replayed.tokenizer, doc.ids).pieces == doc.token_text.pieces
            assert split_reply(replayed.ids, replayed.tokenizer) == split_reply(doc.ids, doc.tokenizer)
        with pytest.raises(Exception, match="load it first"):
            back.document.with_typed_text(0, 0, "x")  # editing needs the model itself
    bound = session_from_bytes(data, "s", model_ref(loaded_text), loaded_text.tokenizer)
    assert not bound.adopt_model(model_ref(loaded_text), loaded_text.tokenizer)  # another canvas: not its model


def version_1(loaded, model: str = "") -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(picture, format="PNG")
    ids = list(range(20, 36))
    return json.dumps({"format": "diffusion-desk-session", "version": 1, "model": model,
                       "prompt": {"system": "s", "user": "u", "think": False,
                                  "images": [base64.b64encode(picture.getvalue()).decode()],
                                  "history": [{"user": "before", "answer": "an answer", "images": []}]},
                       "settings": loaded.defaults.to_dict(), "token_ids": ids, "locks": [2, 3]}).encode()


def test_version_1_files_still_open_on_their_model(loaded_small, small_canvas_checkpoint):
    data = version_1(loaded_small, str(small_canvas_checkpoint))
    ws = session_from_bytes(data, "old.json", model_ref(loaded_small), loaded_small.tokenizer)
    assert ws.document.ids.tolist() == list(range(20, 36)) and ws.document.locks == {2, 3}
    assert [ws.conversation.turns[t].user for t in ws.conversation.active_path()] == ["before", "u"]
    assert ws.conversation.prompt_for(ws.conversation.current).history[0].answer == "an answer"
    with pytest.raises(NeedsItsModel, match=str(small_canvas_checkpoint)):
        session_from_bytes(data, "old.json")


@pytest.mark.parametrize(("change", "words"), [
    (lambda d: d.update(version=999), "newer Diffusion Desk (session format 999)"),
    (lambda d: d.update(format="other"), "not a Diffusion Desk session"),
    (lambda d: d["conversation"]["turns"][0].update(think="no"), "think must be true or false"),
    (lambda d: d["model"].update(vocab_size=5), "outside the model's vocabulary"),
    (lambda d: d["conversation"]["turns"][0]["document"].update(locks=[10_000]), "locks must hold"),
    (lambda d: d["runs"][0].update(canvas_length=7), "made with canvas 7"),
    (lambda d: d["conversation"]["turns"][0].update(parent=0), "circular parent"),
    (lambda d: d["settings"].update(t_max=float("inf")), "t_max"),
    (lambda d: d["runs"][0]["canvases"][0]["arrays"].update(argmax="runs/1/canvas-0/entropy.npy"), "wrong type"),
    (lambda d: d["runs"][0]["canvases"][0].update(steps=99), "shape"),
])
def test_a_file_that_does_not_fit_is_refused_with_its_reason(tmp_path, rich, change, words):
    path = tmp_path / "s.ddsession"
    save_workspace(path, rich)
    edit_manifest(path, change)
    with pytest.raises(SessionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        open_session(path)


def test_a_full_disk_leaves_the_old_session_whole(tmp_path, monkeypatch, rich, loaded_small):
    path = tmp_path / "s.ddsession"
    save_workspace(path, rich)
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SessionError, match="No space left"):
        save_workspace(path, workspace_with_run(loaded_small, seed=9))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.ddsession"]  # no temporary file left behind


# ----- mangled files: never anything but a workspace or one SessionError ----------------------------------------

def _json_paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:4]):
            yield from _json_paths(item, path + (index,))


#: `st.builds(dict)`, not `st.just({})`: one shared dict, drawn twice, could be put inside itself.
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(-5, 5), max_size=3), st.builds(dict),
                 st.just("images/x.png"), st.just("runs/1/canvas-0/entropy.npy"))


def mangle_manifest(data: bytes, draw) -> bytes:
    archive = zipfile.ZipFile(io.BytesIO(data))
    entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    manifest = json.loads(entries["session.json"])
    paths = [p for p in _json_paths(manifest) if p]
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths))
        parent = manifest
        try:
            for key in where[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = draw(JUNK)
        except (KeyError, IndexError, TypeError):
            continue
    entries["session.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as new:
        for name, content in entries.items():
            new.writestr(name, content)
    return out.getvalue()


def mangle_bytes(data: bytes, draw) -> bytes:
    raw = bytearray(data)
    how = draw(st.sampled_from(["flip", "truncate", "array"]))
    if how == "truncate":
        return bytes(raw[: draw(st.integers(0, len(raw) - 1))])
    if how == "array":  # an array entry replaced by another array of the wrong dtype or shape
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
        name = draw(st.sampled_from(sorted(n for n in entries if n.endswith(".npy"))))
        array = draw(st.sampled_from([np.zeros(3), np.full((2, 2), -1, np.int64), np.array([np.inf], np.float32),
                                      np.array(["text"]), np.full(16, 2**40, np.int64)]))
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array)
        entries[name] = buffer.getvalue()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as new:
            for entry, content in entries.items():
                new.writestr(entry, content)
        return out.getvalue()
    for _ in range(draw(st.integers(1, 8))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)


@pytest.fixture(scope="module")
def small_session(loaded_small):
    return session_bytes(workspace_with_run(loaded_small, seed=3))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_mangled_sessions_open_whole_or_are_refused(small_session, loaded_small, data):
    mangled = (mangle_manifest if data.draw(st.booleans()) else mangle_bytes)(small_session, data.draw)
    try:
        ws = session_from_bytes(mangled, "mangled.ddsession", model_ref(loaded_small), loaded_small.tokenizer)
    except SessionError as error:
        assert str(error).startswith("mangled.ddsession") and "\n" not in str(error).strip()
        return
    assert isinstance(ws, Workspace)
    session_bytes(ws)  # what opened can be saved again


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_recorded_tokens_decode_as_the_tokenizer_does(loaded_small, data):
    from models.work.vocabulary import record_tokens

    tokenizer = loaded_small.tokenizer
    byte_ids = [i for i in range(len(tokenizer)) if (tokenizer.convert_ids_to_tokens(i) or "").startswith("<0x")]
    specials = sorted(tokenizer.all_special_ids)
    pool = st.one_of(st.integers(0, len(tokenizer) - 1), st.sampled_from(byte_ids), st.sampled_from(specials))
    ids = data.draw(st.lists(pool, max_size=24))
    recorded = RecordedTokenizer(record_tokens(tokenizer, ids))
    for skip in (False, True):
        assert recorded.decode(ids, skip_special_tokens=skip) == tokenizer.decode(ids, skip_special_tokens=skip)


def test_file_dialogs_suggest_a_name_from_the_first_prompt_and_an_existing_folder(tmp_path):
    from PySide6.QtCore import QSettings

    from app.controllers.file_places import remember_folder, start_folder, suggested_stem

    ws = Workspace()
    assert suggested_stem(ws, "session") == "session"
    ws.conversation.add(None, "Sort 4 9 2 7 5? <turn|> and/or more words than fit in forty characters")
    assert suggested_stem(ws, "session") == "Sort 4 9 2 7 5 turn and or more words"
    ws.mark_saved(str(tmp_path / "mine.ddsession"))
    assert suggested_stem(ws, "session") == "mine"
    store = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert Path(start_folder(store)).is_dir()  # Documents where there is one, else home
    remember_folder(store, str(tmp_path / "sub" / "file.txt"))
    assert start_folder(store) != str(tmp_path / "sub")  # a folder that is not there is not offered
    remember_folder(store, str(tmp_path / "mine.ddsession"))
    assert start_folder(store) == str(tmp_path.resolve())
