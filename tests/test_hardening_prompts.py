"""Prompt text at the edge: valid Unicode, no control characters, bounded length, special tokens kept as text,
and chat templates that fail (or try to allocate gigabytes) reported in one message."""

from __future__ import annotations

import copy
import dataclasses
import resource

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment
from PIL import Image

from models.checkpoint.template_guard import GuardedSandbox
from models.engine.generator import Generator
from models.inputs.validation import (
    ESCAPE_MARK,
    InputError,
    Limits,
    check_prompt_texts,
    check_prompt_tokens,
    check_text,
    escape_special_tokens,
    special_token_pattern,
)
from models.testing.tiny_checkpoint import CHAT_TEMPLATE
from models.work.prompts import Prompt, Turn

SPECIALS = [
    "<|image|>",
    "<|audio|>",
    "<|video|>",
    "<|think|>",
    "<turn|>",
    "<|turn>",
    "<bos>",
    "<eos>",
    "<pad>",
    "<|channel>",
    "<channel|>",
    "<image|>",
    "<|image>",
    '<|"|>',
]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\x00b", "the control character U\\+0000 at character 2; no control characters are allowed but tab"),
        ("\x1b[31mred", "the control character U\\+001B at character 1"),
        ("ok\x7f", "the control character U\\+007F at character 3"),
        ("a\udcffb", "an undecodable byte 0xff .*not valid UTF-8.* at character 2"),
        ("\ud800", "an unpaired surrogate U\\+D800"),
    ],
)
def test_bad_text_is_refused_with_where_and_what(text: str, message: str) -> None:
    with pytest.raises(InputError, match=f"^--prompt contains {message}"):
        check_text(text, "--prompt")


@pytest.mark.parametrize("text", ["tab\tnew\nline\r\n", "emoji 🙂 and 中文", "\u2028\u200b\u2060", ""])
def test_ordinary_text_passes(text: str) -> None:
    assert check_text(text, "x") == text


def test_an_earlier_answer_may_hold_the_control_bytes_the_model_wrote() -> None:
    """A follow-up sends the model's own answer back: a byte token it wrote (U+0008 here) is no reason to refuse the
    next turn, as it was in the window (found by the follow-up test). Typed text is still checked, and every text
    must be valid Unicode."""
    check_prompt_texts(Prompt(user="And?", history=(Turn(user="Hi", answer="a\x08b\x12"),)))
    with pytest.raises(InputError, match="turn 1's prompt contains the control character U\\+0008"):
        check_prompt_texts(Prompt(user="And?", history=(Turn(user="a\x08", answer="b"),)))
    with pytest.raises(InputError, match="turn 1's answer contains an unpaired surrogate"):
        check_prompt_texts(Prompt(user="And?", history=(Turn(user="Hi", answer="\ud800"),)))


def test_limits_come_from_the_environment_and_bad_values_are_named() -> None:
    assert Limits.from_env({}) == Limits()
    assert Limits.from_env({"DIFFUSION_DESK_MAX_PROMPT_TOKENS": "2_000"}).max_prompt_tokens == 2000
    with pytest.raises(InputError, match="DIFFUSION_DESK_MAX_PROMPT_CHARS must be a whole number, got 'lots'"):
        Limits.from_env({"DIFFUSION_DESK_MAX_PROMPT_CHARS": "lots"})


def test_escaping_breaks_every_special_token_and_only_inserts_the_mark() -> None:
    pattern = special_token_pattern(SPECIALS)
    text = "say <|image|> then <<|turn>>user\n<turn|><|think|>" + "".join(SPECIALS)
    escaped = escape_special_tokens(text, pattern)
    assert pattern.search(escaped) is None
    assert escaped.replace(ESCAPE_MARK, "") == text
    assert escape_special_tokens("plain text", pattern) == "plain text"


def special_count(loaded, inputs) -> int:
    special = set(loaded.tokenizer.all_special_ids)
    return sum(int(i) in special for i in inputs["input_ids"][0].tolist())


@pytest.mark.parametrize("think", [False, True])
def test_special_tokens_typed_as_text_stay_text(loaded_text, think: bool) -> None:
    generator = Generator(loaded_text)
    typed = "look: " + " ".join(SPECIALS)
    prompt = Prompt(user=typed, system=typed, think=think).followed_by(typed, typed)
    plain = Prompt(user="x", system="x", think=think).followed_by("x", "x")
    inputs = generator.prompt_inputs(prompt)
    assert special_count(loaded_text, inputs) == special_count(loaded_text, generator.prompt_inputs(plain))
    decoded = loaded_text.tokenizer.decode(inputs["input_ids"][0]).replace(ESCAPE_MARK, "")
    assert decoded.count(typed) == 4  # every text the user gave reaches the model as the characters typed
    think_id = loaded_text.tokenizer.convert_tokens_to_ids("<|think|>")
    assert inputs["input_ids"][0].tolist().count(think_id) == int(think)  # the real switch still works


def test_an_image_placeholder_typed_beside_a_real_image(loaded_vision) -> None:
    generator = Generator(loaded_vision)
    image = Image.new("RGB", (64, 64), (200, 0, 0))
    typed = generator.prompt_inputs(Prompt(user="what is <|image|>?", images=(image,)), image_budget=70)
    plain = generator.prompt_inputs(Prompt(user="what is it?", images=(image,)), image_budget=70)
    image_id = loaded_vision.processor.image_token_id
    assert (typed["input_ids"] == image_id).sum() == (plain["input_ids"] == image_id).sum() == 64
    assert typed["pixel_values"].shape == plain["pixel_values"].shape


def test_prompt_length_is_capped_in_characters_and_tokens(loaded_text) -> None:
    generator = Generator(loaded_text)
    with pytest.raises(InputError, match="the prompt is too long: 120,000 characters, the limit is 100,000"):
        generator.prompt_inputs(Prompt(user="x" * 120_000))
    with pytest.raises(InputError, match=r"too long: \d+ tokens, the limit is 50 \(set DIFFUSION_DESK_MAX_PROMPT"):
        generator.prompt_inputs(Prompt(user="word " * 60), limits=Limits(max_prompt_tokens=50))
    assert generator.prompt_inputs(Prompt(user="word " * 10), limits=Limits(max_prompt_tokens=50))


def test_the_model_context_bounds_the_prompt() -> None:
    check_prompt_tokens(992, 1024, 32, Limits())
    with pytest.raises(InputError, match="too long for tiny: 993 tokens plus a 32-token canvas, but its context is"):
        check_prompt_tokens(993, 1024, 32, Limits(), "tiny")


def with_template(loaded, template: str):
    processor = copy.copy(loaded.processor)
    processor.chat_template = template
    return Generator(dataclasses.replace(loaded, processor=processor))


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'a' * 4000000000 }}", "tried to build a value of 4,000,000,000 items"),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
            "{{ ns.s }}",
            "tried to build a value of 4,194,304 items",
        ),
        ("{{ 'x'|center(4000000000) }}", "from the number 4,000,000,000"),
        ("{{ '{:>4000000000}'.format('x') }}", "format width of a million or more"),
        ("{{ messages|tojson(indent=4000000000) }}", "from the number 4,000,000,000"),
        ("{% for i in range(100000) %}{{ 'a' * 999999 }}{% endfor %}", "more than 32,000,000 characters"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "has no attribute|undefined|unsafe"),
        ("{% if %}", "Expected an expression"),
        ("{{ raise_exception('this template is broken') }}", "this template is broken"),
        ("{{ 1 + 'a' }}", "unsupported operand"),
    ],
)
def test_a_hostile_or_broken_template_is_one_message_and_allocates_little(
    loaded_text, template: str, message: str
) -> None:
    generator = with_template(loaded_text, template)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux: the peak so far
    with pytest.raises(InputError, match=f"^the chat template of .* failed: .*({message})"):
        generator.prompt_inputs(Prompt(user="hi"))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300 * 1024  # < 300 MiB more at peak


def test_a_template_writing_image_placeholders_itself_is_refused(loaded_text) -> None:
    generator = with_template(loaded_text, "<|image|>{{ messages[0].content[0].text }}")
    with pytest.raises(InputError, match="the prompt that the chat template of .* made was refused"):
        generator.prompt_inputs(Prompt(user="hi"))


@pytest.mark.parametrize("think", [False, True])
def test_the_guard_renders_real_templates_exactly_as_the_stock_sandbox(think: bool) -> None:
    prompt = Prompt(user="Sort 5 2 8 " * 50, system="Be brief", think=think).followed_by("2 5 8", "again")
    messages = prompt.messages()
    stock = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(CHAT_TEMPLATE)
    guarded = GuardedSandbox(trim_blocks=True, lstrip_blocks=True).from_string(CHAT_TEMPLATE)
    expected = stock.render(messages=messages, add_generation_prompt=True)
    assert guarded.render(messages=messages, add_generation_prompt=True) == expected
    assert "Sort 5 2 8" in expected
