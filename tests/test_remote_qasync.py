"""The window's client runs on Qt's own event loop through qasync: no thread per socket, and Qt keeps running."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer

from app.remote.async_client import AsyncRemoteGenerator
from app.remote.errors import RemoteError
from models.engine.generator import Generator
from models.work.prompts import Prompt
from tests.remote_helpers import TOKEN, assert_same_events, running_server


def test_a_run_streams_on_the_qt_event_loop(qt_loop, loaded_text, tmp_path):
    prompt = Prompt(user="Sort 4 3 9")
    settings = loaded_text.defaults.with_values(seed=6, max_denoising_steps=6, max_new_tokens=64)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    async def scenario(url: str):
        client = await AsyncRemoteGenerator.connect(url, TOKEN, cache_dir=tmp_path)
        try:
            model = await client.remote_model()  # tokenizer files fetched off the loop, on qasync's executor
            timer.start()
            started = time.perf_counter()
            events = [event async for event in await client.generate(prompt, settings)]
            ended = time.perf_counter()
            timer.stop()
            info = await client.model_info()
        finally:
            timer.stop()
            await client.close()
        return model, events, (started, ended), info, await client.closed

    with running_server(loaded_text) as served:
        model, events, (started, ended), info, closed = qt_loop.run_until_complete(scenario(served.url))
    assert_same_events(events, list(Generator(loaded_text).generate(prompt, settings)))
    assert sum(started <= t <= ended for t in ticks) >= 3  # Qt's timers fired while the steps streamed in
    assert model.tokenizer.decode([7, 8]) == loaded_text.tokenizer.decode([7, 8])
    assert info.status_text().startswith("remote: 127.0.0.1:") and "cpu" in info.status_text()
    assert isinstance(closed, RemoteError) and "closed" in str(closed)


def test_a_dropped_connection_is_noticed_while_idle(qt_loop, loaded_text):
    with running_server(loaded_text) as served:
        client = qt_loop.run_until_complete(AsyncRemoteGenerator.connect(served.url, TOKEN))
    # The server is gone: the window hears of it without having sent anything.
    reason = qt_loop.run_until_complete(client.closed)
    with pytest.raises(RemoteError, match="connection to the server was"):
        qt_loop.run_until_complete(client.model_info())
    qt_loop.run_until_complete(client.close())
    assert reason.code == "connection"
