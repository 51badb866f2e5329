"""Over loopback the remote engine gives what the local engine gives: same events, same ids, for the same seed."""

from __future__ import annotations

import asyncio
import gc
import threading

import numpy as np
import pytest
from PIL import Image

from app.remote import files
from app.remote.async_client import AsyncRemoteGenerator
from app.remote.client import RemoteGenerator
from models.engine.edit_plans import EditError
from models.engine.generator import Generation, Generator
from models.inputs.images import load_image_bytes
from models.work.events import CanvasCommitted, GenerationResult, StepSnapshot
from models.work.prompts import Prompt
from models.work.settings import SettingsError
from tests.remote_helpers import TOKEN, assert_same_events, running_server

PROMPT = Prompt(user="Sort 5 2 8 1", system="Be brief")


def settings_for(loaded, **values):
    return loaded.defaults.with_values(**{"max_denoising_steps": 3, "max_new_tokens": 64, **values})


@pytest.fixture(scope="module")
def text_server(loaded_text):
    with running_server(loaded_text) as served:
        yield served


@pytest.fixture
def remote(text_server, tmp_path):
    with RemoteGenerator(text_server.url, TOKEN, cache_dir=tmp_path / "cache") as client:
        yield client


@pytest.mark.parametrize("seed", [0, 7, 12345])
def test_generate_streams_every_event_of_the_local_engine(remote, loaded_text, seed):
    settings = settings_for(loaded_text, seed=seed)
    got = list(remote.generate(PROMPT, settings))
    want = list(Generator(loaded_text).generate(PROMPT, settings))
    assert_same_events(got, want)
    assert sum(isinstance(e, StepSnapshot) for e in got) == 6 and isinstance(got[-1], GenerationResult)
    k = settings.top_k
    assert k > 0 and got[0].top_ids.shape == (32, k) and got[0].top_probs.dtype == np.float32  # candidates too


def test_an_image_prompt_gives_the_local_ids(loaded_vision, tmp_path):
    image = Image.new("RGB", (48, 40), (30, 120, 220))
    image.paste((250, 250, 20), (10, 8, 30, 30))
    picture = tmp_path / "p.png"
    image.save(picture)
    prompt = Prompt(user="What colour?", images=(load_image_bytes(picture.read_bytes(), "p.png"),))
    settings = settings_for(loaded_vision, seed=4, max_new_tokens=32)
    with running_server(loaded_vision) as served, RemoteGenerator(served.url, TOKEN) as client:
        got = list(client.generate(prompt, settings, image_budget=140))
    want = list(Generator(loaded_vision).generate(prompt, settings, image_budget=140))
    assert len(want[-1].prompt_ids) > 60  # the image's soft tokens are in the prompt
    assert_same_events(got, want)


def test_span_rewrite_and_fill_around_with_locks_give_the_local_ids(remote, loaded_text):
    settings = settings_for(loaded_text, seed=1)
    first = list(Generator(loaded_text).generate(PROMPT, settings))[-1]
    generation = Generation(PROMPT, first.token_ids, settings)
    again = settings.with_values(seed=2, max_denoising_steps=4)
    local = Generator(loaded_text)

    got = list(remote.rewrite(generation, (4, 20), [5, 6, 30], again))
    assert_same_events(got, list(local.rewrite(generation, (4, 20), [5, 6, 30], again)))
    ids = got[-1].token_ids
    assert got[-1].span == (4, 20) and np.array_equal(ids[5:7], first.token_ids[5:7])
    assert np.array_equal(ids[:4], first.token_ids[:4]) and np.array_equal(ids[20:], first.token_ids[20:])
    assert all(s.locked[5] and s.locked[6] for s in got if isinstance(s, StepSnapshot) and s.canvas_index == 0)

    got = list(remote.fill_around(generation, [3, 40], again))
    assert_same_events(got, list(local.fill_around(generation, [3, 40], again)))
    assert got[-1].token_ids[3] == first.token_ids[3] and got[-1].token_ids[40] == first.token_ids[40]


def test_from_text_lays_the_text_into_canvases_as_locally(remote, loaded_text):
    settings = settings_for(loaded_text)
    got = remote.from_text(PROMPT, "A line of text,\nand another.", settings)
    want = Generator(loaded_text).from_text(PROMPT, "A line of text,\nand another.", settings)
    assert np.array_equal(got.token_ids, want.token_ids) and got.settings == want.settings
    assert got.prompt == PROMPT


def test_bad_requests_raise_the_engines_own_errors(remote, loaded_text):
    settings = settings_for(loaded_text, seed=1)
    generation = Generation(PROMPT, list(Generator(loaded_text).generate(PROMPT, settings))[-1].token_ids, settings)
    with pytest.raises(EditError, match="every token in 2:4 is locked"):
        remote.rewrite(generation, (2, 4), [2, 3])  # raised at the call, as locally
    bad = settings.with_values(t_min=0.5, t_max=0.6)
    object.__setattr__(bad, "t_max", 0.1)  # a settings object the client never validated
    with pytest.raises(SettingsError, match="t_max must be greater than t_min"):
        remote.generate(PROMPT, bad)
    assert isinstance(list(remote.generate(PROMPT, settings))[-1], GenerationResult)  # and the connection serves


def test_the_tokenizer_is_fetched_once_and_matches_the_servers(text_server, loaded_text, tmp_path, monkeypatch):
    fetched = []
    download = files._download
    monkeypatch.setattr(files, "_download", lambda url, *args: fetched.append(url) or download(url, *args))
    for _ in range(2):
        with RemoteGenerator(text_server.url, TOKEN, cache_dir=tmp_path) as client:
            model = client.remote_model()
    assert len(fetched) == len(text_server.host.files) >= 3 and not any("safetensors" in u for u in fetched)
    text = "Sort 5 2 8 1, then say <|image|> twice."
    assert model.tokenizer(text)["input_ids"] == loaded_text.tokenizer(text)["input_ids"]
    messages = PROMPT.messages()
    kwargs = {"add_generation_prompt": True, "tokenize": True, "return_dict": True}
    assert (
        model.processor.apply_chat_template(messages, **kwargs)["input_ids"]
        == loaded_text.processor.apply_chat_template(messages, **kwargs)["input_ids"]
    )
    assert model.canvas_length == 32 and model.vocab_size == 1024 and model.defaults == loaded_text.defaults


def test_a_cancel_token_stops_the_run_on_the_server(remote, text_server, loaded_text):
    """What a cancel guarantees, however fast the machine: the run ends cancelled on the server (how many steps it
    ran before the cancel arrived depends on the machine and the socket's buffers, so it is not asserted), and the
    server is free for the next run, which is whole."""
    before = text_server.host.runs_cancelled
    cancel = threading.Event()
    events = []
    for event in remote.generate(
        PROMPT, settings_for(loaded_text, seed=3, max_denoising_steps=40, max_new_tokens=256), cancel
    ):
        events.append(event)
        if len(events) == 2:
            cancel.set()
    assert isinstance(events[-1], GenerationResult) and events[-1].cancelled
    assert text_server.host.runs_cancelled == before + 1
    settings = settings_for(loaded_text, seed=4)
    assert_same_events(list(remote.generate(PROMPT, settings)), list(Generator(loaded_text).generate(PROMPT, settings)))
    assert not text_server.host.busy


def test_async_client_gives_the_local_events(text_server, loaded_text, tmp_path):
    settings = settings_for(loaded_text, seed=5)
    local = Generator(loaded_text)
    want = list(local.generate(PROMPT, settings))
    generation = Generation(PROMPT, want[-1].token_ids, settings)

    async def scenario():
        client = await AsyncRemoteGenerator.connect(text_server.url, TOKEN, cache_dir=tmp_path)
        try:
            got = [event async for event in await client.generate(PROMPT, settings)]
            rewritten = [event async for event in await client.rewrite(generation, (1, 9), [2], settings)]
            model = await client.remote_model()
            with pytest.raises(EditError):
                await client.rewrite(generation, (2, 3), [2])
            return got, rewritten, model
        finally:
            await client.close()

    got, rewritten, model = asyncio.run(scenario())
    assert_same_events(got, want)
    assert_same_events(rewritten, list(local.rewrite(generation, (1, 9), [2], settings)))
    assert model.tokenizer.decode([5, 6]) == loaded_text.tokenizer.decode([5, 6])


def test_a_second_client_waits_its_turn_and_never_interleaves(text_server, loaded_text, monkeypatch):
    """One generation at a time per server: a second client's run is queued until the first has finished.

    The order is checked where the steps are computed, on the server: what two connections deliver to one client
    may arrive in either order once the first run's last step is on its way and the second has begun.
    """
    long = settings_for(loaded_text, seed=8, max_denoising_steps=12)
    short = settings_for(loaded_text, seed=9)
    computed: list[int] = []
    engine = text_server.host.generator

    class Recording:
        def __getattr__(self, name):
            return getattr(engine, name)

        def generate(self, prompt, settings, *args, **kwargs):
            for event in engine.generate(prompt, settings, *args, **kwargs):
                computed.append(settings.seed)
                yield event

    monkeypatch.setattr(text_server.host, "generator", Recording())
    arrivals: list[tuple[str, object]] = []

    async def consume(name, run):
        async for event in run:
            arrivals.append((name, event))

    async def scenario():
        first = await AsyncRemoteGenerator.connect(text_server.url, TOKEN)
        second = await AsyncRemoteGenerator.connect(text_server.url, TOKEN)
        try:
            run_a = await first.generate(PROMPT, long)
            run_b = await second.generate(PROMPT, short)
            await asyncio.sleep(0.05)
            queued = run_b.queued_position
            await asyncio.gather(consume("a", run_a), consume("b", run_b))
            return queued
        finally:
            await first.close()
            await second.close()

    queued = asyncio.run(scenario())
    assert queued == 1
    assert computed == [8] * computed.count(8) + [9] * computed.count(9)  # all of a, then all of b
    assert computed.count(8) == sum(name == "a" for name, _ in arrivals) > 0
    local = Generator(loaded_text)
    assert_same_events([e for n, e in arrivals if n == "a"], list(local.generate(PROMPT, long)))
    assert_same_events([e for n, e in arrivals if n == "b"], list(local.generate(PROMPT, short)))


def test_model_info_in_the_middle_of_a_run_leaves_the_run_alone(remote, loaded_text):
    settings = settings_for(loaded_text, seed=4, max_denoising_steps=12)  # 24 steps: still going after one
    run = remote.generate(PROMPT, settings)
    first = next(run)
    assert remote.model_info().busy  # the answer came while the run's own events kept arriving
    assert_same_events([first, *run], list(Generator(loaded_text).generate(PROMPT, settings)))


def test_each_event_type_arrives(remote, loaded_text):
    events = list(remote.generate(PROMPT, settings_for(loaded_text, seed=2)))
    kinds = {type(e) for e in events}
    assert kinds == {StepSnapshot, CanvasCommitted, GenerationResult}


def test_the_server_takes_its_model_out_of_every_collection(text_server):
    """A full collection on the server walks neither the model nor the libraries (models/checkpoint/heap.py), so no
    run's stream stops for one."""
    visible = {id(obj) for generation in range(3) for obj in gc.get_objects(generation)}
    model = text_server.host.loaded.model
    assert not any(id(module) in visible for module in model.modules())
    assert len(visible) * 20 < gc.get_freeze_count()
