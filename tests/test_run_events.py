"""A run carries everything its stream needs: `run_events` asks any engine exactly what the run records."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from models.engine.edit_plans import EditError
from models.engine.engines import AsyncEngine, Engine, LocalEngine, check_edit, run_events
from models.work.prompts import Prompt
from models.work.runs import Run, RunKind
from models.work.settings import SamplerSettings


class Recorder:
    """An engine that says which call a run became, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def generate(self, prompt, settings, cancel=None, image_budget=None):
        self.calls.append(("generate", prompt, settings, cancel, image_budget))
        return iter(())

    def rewrite(self, generation, span, locks=(), settings=None, cancel=None):
        self.calls.append(("rewrite", generation, span, frozenset(locks), settings, cancel))
        return iter(())

    def fill_around(self, generation, locks, settings=None, cancel=None):
        self.calls.append(("fill_around", generation, frozenset(locks), settings, cancel))
        return iter(())


def a_run(kind: RunKind, **fields) -> Run:
    return Run(1, kind, 0, Prompt(user="Why?"), SamplerSettings(seed=3), 16, **fields)


def test_each_kind_of_run_becomes_its_engine_call_with_what_the_run_carries():
    base, cancel = np.arange(32), object()
    engine = Recorder()
    run_events(engine, a_run(RunKind.GENERATE, image_budget=280), cancel)
    run_events(engine, a_run(RunKind.REWRITE, span=(2, 5), base_ids=base, instruction="Shorter"), cancel)
    run_events(engine, a_run(RunKind.REDENOISE, span=(2, 20), locks=frozenset({4}), base_ids=base), cancel)
    run_events(engine, a_run(RunKind.FILL, span=(0, 16), locks=frozenset({4, 9}), base_ids=base), cancel)
    generate, rewrite_turn, redenoise, fill = engine.calls
    assert generate == ("generate", Prompt(user="Why?"), SamplerSettings(seed=3), cancel, 280)
    assert rewrite_turn == ("generate", Prompt(user="Why?"), SamplerSettings(seed=3), cancel, None)
    assert redenoise[0] == "rewrite" and redenoise[2:] == ((2, 20), frozenset({4}), SamplerSettings(seed=3), cancel)
    assert fill[0] == "fill_around" and fill[2:] == (frozenset({4, 9}), SamplerSettings(seed=3), cancel)
    for (_, generation, *_rest), locks in ((redenoise, {4}), (fill, {4, 9})):
        # the document the edit started from, with its locks, under the run's prompt
        np.testing.assert_array_equal(generation.token_ids, base)
        assert generation.prompt == Prompt(user="Why?") and generation.locks == frozenset(locks)


def test_an_impossible_edit_is_refused_before_it_becomes_a_run():
    ids = np.arange(32)
    with pytest.raises(EditError, match="every token"):
        check_edit(RunKind.REDENOISE, ids, 16, (2, 4), {2, 3}, set())
    with pytest.raises(EditError, match="at least one locked"):
        check_edit(RunKind.FILL, ids, 16, (0, 16), set(), set())
    check_edit(RunKind.REDENOISE, ids, 16, (2, 4), {2}, set())  # something left to re-denoise
    check_edit(RunKind.REWRITE, ids, 16, (2, 4), {2, 3}, set())  # a chat turn: nothing to plan


def test_the_engines_share_one_interface(loaded_text):
    from app.remote.async_client import AsyncRemoteGenerator
    from app.remote.client import RemoteGenerator
    from models.engine.generator import Generator

    local = Generator(loaded_text)
    assert isinstance(local, LocalEngine)
    assert not isinstance(Recorder(), LocalEngine)  # it cannot plan an edit: a server checks its own
    for engine, protocol in ((Generator, Engine), (RemoteGenerator, Engine), (AsyncRemoteGenerator, AsyncEngine)):
        for name in ("generate", "rewrite", "fill_around"):
            ours = list(inspect.signature(getattr(protocol, name)).parameters)
            theirs = list(inspect.signature(getattr(engine, name)).parameters)
            assert theirs == ours, (engine.__name__, name)
