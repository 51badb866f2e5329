"""Prompts (system, thinking, images first, history without thoughts) and session files (JSON, atomic)."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
from PIL import Image

from models.generator import Generation
from models.prompts import Prompt, split_reply
from models.sessions import SessionError, load_session, save_session
from models.settings import SamplerSettings


def render(loaded, prompt: Prompt) -> str:
    return loaded.processor.apply_chat_template(prompt.messages(), add_generation_prompt=True, tokenize=False)


def test_thinking_mode_puts_the_think_token_in_the_system_turn(loaded_text):
    text = render(loaded_text, Prompt(user="Why?", system="Be brief.", think=True))
    assert text.index("<|turn>system") < text.index("<|think|>") < text.index("Be brief.") < text.index("Why?")
    assert "<|think|>" not in render(loaded_text, Prompt(user="Why?", system="Be brief."))


def test_images_come_before_the_text(loaded_vision):
    image = Image.new("RGB", (32, 32), (1, 2, 3))
    text = render(loaded_vision, Prompt(user="What is it?", images=(image, image)))
    assert text.index("<|image|>") < text.rindex("<|image|>") < text.index("What is it?")


def test_history_keeps_answers_never_thoughts(loaded_vision):
    image = Image.new("RGB", (32, 32), (9, 9, 9))
    first = Prompt(user="Look at this", system="Sys", images=(image,))
    follow = first.followed_by("It is grey.", "And now?")
    messages = follow.messages()
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"][0]["type"] == "image"  # earlier turns keep their images
    assert messages[2]["content"] == [{"type": "text", "text": "It is grey."}]
    text = render(loaded_vision, follow)
    assert "It is grey." in text and "<|image|>" in text and text.index("Look at this") < text.index("And now?")


def test_the_thought_channel_is_split_from_the_answer(loaded_text):
    tokenizer = loaded_text.tokenizer
    ids = tokenizer("<|channel>thought\nadd them up<channel|>The sum is 12", add_special_tokens=False)["input_ids"]
    ids += [tokenizer.convert_tokens_to_ids("<turn|>"), tokenizer.pad_token_id, tokenizer.pad_token_id]
    whole, thought, answer = split_reply(ids, tokenizer)
    assert thought == "add them up" and answer == "The sum is 12"
    assert "<|channel>" in whole and "<turn|>" not in whole
    assert split_reply(tokenizer("plain", add_special_tokens=False)["input_ids"], tokenizer)[1:] == ("", "plain")


def generation() -> Generation:
    image = Image.new("RGB", (20, 10), (250, 0, 0))
    prompt = Prompt(user="u", system="s", think=True, images=(image,)).followed_by("a", "next")
    return Generation(prompt, np.arange(32, dtype=np.int64), SamplerSettings(seed=4, entropy_bound=0.2))


def test_session_round_trip(tmp_path):
    path = tmp_path / "s.json"
    save_session(path, generation(), "google/diffusiongemma-26B-A4B-it")
    loaded, model = load_session(path)
    assert model == "google/diffusiongemma-26B-A4B-it"
    assert loaded.token_ids.tolist() == list(range(32)) and loaded.settings == generation().settings
    assert loaded.prompt.think and loaded.prompt.history[0].answer == "a"
    assert loaded.prompt.history[0].images[0].getpixel((1, 1)) == (250, 0, 0)
    assert json.loads(path.read_text())["format"] == "diffusion-desk-session"


def test_a_full_disk_leaves_the_old_session_whole(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    save_session(path, generation(), "m")
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SessionError, match="No space left"):
        save_session(path, generation().with_ids(np.zeros(32, dtype=np.int64)), "m")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no temporary file left behind


@pytest.mark.parametrize("content", [
    b"", b"\x80\x04\x95 pickle", b'{"format": "other"}', b'{"format": "diffusion-desk-session"}',
])
def test_damaged_sessions_are_refused(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SessionError):
        load_session(path)
