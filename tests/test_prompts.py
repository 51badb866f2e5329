"""Prompts: system, thinking, images first, history without thoughts, the thought channel split off."""

from __future__ import annotations

from PIL import Image

from models.work.prompts import Prompt, split_reply


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
