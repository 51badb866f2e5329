"""The command line runs every sampler, records it in sessions, and refuses a bad sampler setting in one line."""

from __future__ import annotations

import json

import pytest

from app.cli.generate import main
from models.session.files import open_session


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_ddim_with_a_corrector_runs_and_is_saved_with_its_settings(capsys, tmp_path, loaded_small,
                                                                  small_canvas_checkpoint):
    from models.engine.generator import Generator
    from models.work.prompts import Prompt

    session = tmp_path / "ddim.ddsession"
    out = run_json(capsys, "generate", "--model", str(small_canvas_checkpoint), "--prompt", "Write", "--steps", "5",
                   "--max-new-tokens", "16", "--seed", "4", "--sampler", "ddim", "--temperature", "0.6",
                   "--corrector-steps", "1", "--corrector-k", "2", "--corrector-selection", "random",
                   "--corrector-tau", "0.5", "--save", str(session), "--json")
    settings = loaded_small.defaults.with_values(sampler="ddim", temperature=0.6, corrector_steps=1, corrector_k=2,
                                                 corrector_selection="random", corrector_selection_tau=0.5,
                                                 max_denoising_steps=5, max_new_tokens=16, seed=4)
    expected = list(Generator(loaded_small).generate(Prompt(user="Write"), settings))[-1]
    assert out["token_ids"] == expected.token_ids.tolist()
    assert [step.get("corrector", False) for step in out["canvases"][0]["steps"]] == [False, True, False, True, False]
    assert open_session(session).runs[1].settings == settings

    # A rewrite of that session runs its sampler unless told otherwise, and may switch it.
    again = run_json(capsys, "rewrite", "--session", str(session), "--span", "2:10", "--seed", "1", "--json",
                     "--save", str(tmp_path / "again.ddsession"))
    assert any(step.get("corrector") for step in again["canvases"][0]["steps"])
    switched = run_json(capsys, "rewrite", "--session", str(session), "--span", "2:10", "--seed", "1", "--json",
                        "--sampler", "block-refinement", "--threshold", "0.5", "--save",
                        str(tmp_path / "switched.ddsession"))
    assert not any(step.get("corrector") for step in switched["canvases"][0]["steps"])
    run = open_session(tmp_path / "switched.ddsession").runs[2]
    assert run.settings.sampler == "block-refinement" and run.settings.threshold == 0.5


@pytest.mark.parametrize(("argv", "message"), [
    (["--sampler", "euler"], "argument --sampler: invalid choice: 'euler'"),
    (["--sampler", "ddim", "--corrector-steps", "-1"], "corrector_steps must be between 0 and 1000, got -1"),
    (["--sampler", "block-refinement", "--threshold", "0"], "threshold must be in (0, 1], got 0.0"),
    (["--sampler", "block-refinement", "--threshold", "1.01"], "threshold must be in (0, 1], got 1.01"),
    (["--corrector-steps", "2"], "--corrector-steps applies to ddim only, and the sampler is entropy-bound"),
    (["--sampler", "ddim", "--entropy-bound", "0.2"], "--entropy-bound applies to entropy-bound only"),
    (["--sampler", "ddim", "--threshold", "0.5"], "--threshold applies to block-refinement only"),
    (["--sampler", "ddim", "--corrector-selection", "best"], "argument --corrector-selection: invalid choice"),
    (["--sampler", "ddim", "--corrector-tau", "0"], "corrector_selection_tau must be in (0, 1000], got 0.0"),
])
def test_a_bad_sampler_setting_is_one_line_and_exit_2_before_the_model_loads(capsys, argv, message):
    # The model named does not exist: the refusal must come before anything tries to load it.
    assert main(["generate", "--model", "/nonexistent/model", "--prompt", "x", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("diffusion-desk: ")
