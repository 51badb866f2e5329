"""Over loopback every sampler gives what the local engine gives, and a bad sampler setting is an error frame after
which the server keeps serving."""

from __future__ import annotations

import pytest

from app.remote.client import RemoteGenerator
from models.engine.generator import Generation, Generator
from models.work.events import StepSnapshot
from models.work.prompts import Prompt
from models.work.settings import SettingsError
from tests.remote_helpers import TOKEN, assert_same_events, running_server

PROMPT = Prompt(user="Sort 5 2 8 1", system="Be brief")
SAMPLERS = {
    "entropy-bound": {},
    "block-refinement": {"sampler": "block-refinement", "temperature": 0.7, "threshold": 0.6,
                         "editing_threshold": 0.4},
    "ddim-corrector": {"sampler": "ddim", "temperature": 0.8, "corrector_steps": 1, "corrector_k": 2,
                       "corrector_selection": "lowest_current_prob"},
}


@pytest.fixture(scope="module")
def remote(loaded_small, tmp_path_factory):
    with running_server(loaded_small) as served, RemoteGenerator(
            served.url, TOKEN, cache_dir=tmp_path_factory.mktemp("cache")) as client:
        yield client


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_streams_the_local_events_and_holds_locks(remote, loaded_small, name):
    settings = loaded_small.defaults.with_values(max_new_tokens=32, max_denoising_steps=5, seed=3, **SAMPLERS[name])
    local = Generator(loaded_small)
    got = list(remote.generate(PROMPT, settings))
    assert_same_events(got, list(local.generate(PROMPT, settings)))
    assert any(s.corrector for s in got if isinstance(s, StepSnapshot)) == (name == "ddim-corrector")

    generation = Generation(PROMPT, got[-1].token_ids, settings)
    again = settings.with_values(seed=4)
    edited = list(remote.rewrite(generation, (2, 28), [5, 20], again))
    assert_same_events(edited, list(local.rewrite(generation, (2, 28), [5, 20], again)))
    assert edited[-1].token_ids[[5, 20]].tolist() == got[-1].token_ids[[5, 20]].tolist()


@pytest.mark.parametrize(("change", "message"), [
    ({"sampler": "euler"}, "sampler must be one of entropy-bound, block-refinement, ddim; got 'euler'"),
    ({"sampler": "block-refinement", "threshold": 1.5}, r"threshold must be in \(0, 1\], got 1.5"),
    ({"sampler": "ddim", "corrector_steps": -2}, "corrector_steps must be between 0 and 1000, got -2"),
])
def test_a_bad_sampler_setting_is_refused_and_the_server_keeps_serving(remote, loaded_small, change, message):
    settings = loaded_small.defaults.with_values(max_new_tokens=16, max_denoising_steps=2, seed=1)
    bad = settings
    for name, value in change.items():
        object.__setattr__(bad := bad.with_values(), name, value)  # a settings object the client never validated
    with pytest.raises(SettingsError, match=message):
        remote.generate(PROMPT, bad)
    assert len(list(remote.generate(PROMPT, settings))[-1].token_ids) == 16


def test_an_openai_client_chooses_the_sampler_in_extra_fields(loaded_small):
    import openai

    prompt = Prompt(user="Sort 3 1 2")
    settings = loaded_small.defaults.with_values(seed=4, max_denoising_steps=4, max_new_tokens=16, sampler="ddim",
                                                 temperature=0.6, corrector_steps=1)
    want = list(Generator(loaded_small).generate(prompt, settings))[-1]
    with running_server(loaded_small) as served, openai.OpenAI(base_url=f"{served.url}/v1", api_key=TOKEN,
                                                               max_retries=0, timeout=60) as client:
        reply = client.chat.completions.create(
            model=loaded_small.name, max_tokens=16, seed=4, temperature=1.3,  # OpenAI's temperature: ignored
            extra_body={"steps": 4, "sampler": "ddim", "sampler_temperature": 0.6, "corrector_steps": 1},
            messages=[{"role": "user", "content": "Sort 3 1 2"}])
        assert reply.choices[0].message.content == want.answer
        with pytest.raises(openai.BadRequestError, match="threshold must be in"):
            client.chat.completions.create(model=loaded_small.name, messages=[{"role": "user", "content": "x"}],
                                           extra_body={"sampler": "block-refinement", "threshold": 0})
