"""The OpenAI-compatible routes, driven by the `openai` package as a real client."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from models.engine.generator import Generator
from models.inputs.images import load_image_bytes
from models.work.prompts import Prompt, Turn
from tests.remote_helpers import TOKEN, running_server


@pytest.fixture(scope="module")
def served(loaded_text):
    with running_server(loaded_text) as served:
        yield served


@pytest.fixture
def client(served):
    with openai.OpenAI(base_url=f"{served.url}/v1", api_key=TOKEN, max_retries=0, timeout=60) as client:
        yield client


def local_result(loaded, prompt: Prompt, **settings):
    settings = loaded.defaults.with_values(**settings)
    return list(Generator(loaded).generate(prompt, settings, image_budget=None))[-1]


def test_models_lists_the_served_model(client, loaded_text):
    assert [m.id for m in client.models.list()] == [loaded_text.name]


def test_a_completion_is_the_local_engines_answer(client, loaded_text):
    want = local_result(
        loaded_text, Prompt(user="Sort 3 1 2", system="Be brief"), seed=4, max_denoising_steps=3, max_new_tokens=64
    )
    assert want.answer  # a real answer to compare, not an empty one
    reply = client.chat.completions.create(
        model=loaded_text.name,
        max_tokens=64,
        seed=4,
        extra_body={"steps": 3},
        messages=[{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Sort 3 1 2"}],
    )
    assert reply.choices[0].message.content == want.answer
    assert reply.choices[0].finish_reason in ("stop", "length") and reply.object == "chat.completion"
    assert reply.usage.prompt_tokens == len(want.prompt_ids)


def test_a_stream_sends_the_text_as_canvases_commit(client, loaded_small):
    """Canvas 16, 64 tokens: four canvases, so the answer arrives in pieces that join up to the whole."""
    with running_server(loaded_small) as served:
        with openai.OpenAI(base_url=f"{served.url}/v1", api_key=TOKEN, max_retries=0) as small_client:
            chunks = list(
                small_client.chat.completions.create(
                    model=loaded_small.name,
                    max_tokens=64,
                    seed=11,
                    stream=True,
                    extra_body={"steps": 2},
                    messages=[{"role": "user", "content": "Write"}],
                )
            )
    want = local_result(loaded_small, Prompt(user="Write"), seed=11, max_denoising_steps=2, max_new_tokens=64)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert "".join(pieces) == want.answer and len(pieces) >= 2
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_history_and_an_image_arrive_as_the_engine_expects(loaded_vision):
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (220, 20, 20)).save(picture, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()
    image = load_image_bytes(picture.getvalue(), "x")
    prompt = Prompt(user="And this?", images=(image,), history=(Turn("Hi", "Hello"),))
    want = local_result(loaded_vision, prompt, seed=2, max_denoising_steps=2, max_new_tokens=32)
    with running_server(loaded_vision) as served:
        with openai.OpenAI(base_url=f"{served.url}/v1", api_key=TOKEN, max_retries=0) as client:
            reply = client.chat.completions.create(
                model=loaded_vision.name,
                max_tokens=32,
                seed=2,
                extra_body={"steps": 2},
                messages=[
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": url}},
                            {"type": "text", "text": "And this?"},
                        ],
                    },
                ],
            )
    assert reply.choices[0].message.content == want.answer
    assert reply.usage.prompt_tokens == len(want.prompt_ids)


def test_bad_requests_and_a_wrong_key_are_refused(client, served, loaded_text):
    with pytest.raises(openai.BadRequestError, match="ending with a user message"):
        client.chat.completions.create(model=loaded_text.name, messages=[{"role": "assistant", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="does not fetch URLs"):
        client.chat.completions.create(
            model=loaded_text.name,
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}
            ],
        )
    with pytest.raises(openai.BadRequestError, match="max_denoising_steps must be between"):
        client.chat.completions.create(
            model=loaded_text.name, messages=[{"role": "user", "content": "x"}], extra_body={"steps": 0}
        )
    with pytest.raises(openai.NotFoundError, match="is not served here"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    with openai.OpenAI(base_url=f"{served.url}/v1", api_key="wrong-" + TOKEN, max_retries=0) as stranger:
        with pytest.raises(openai.AuthenticationError, match="wrong token"):
            stranger.models.list()
