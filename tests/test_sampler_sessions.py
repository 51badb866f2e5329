"""Sessions record each run's sampler and its settings, corrector sweeps included; older sessions open as entropy
bound."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from models.engine.generator import Generator
from models.session.files import open_session, save_workspace
from models.work.settings import SamplerSettings
from models.work.vocabulary import model_ref
from models.work.workspace import Draft, Workspace
from tests.session_helpers import edit_manifest, workspace_with_run

DDIM = {"sampler": "ddim", "temperature": 0.7, "corrector_steps": 1, "corrector_k": 2,
        "corrector_selection": "lowest_maxprob", "corrector_selection_tau": 0.5}


def two_runs(loaded) -> Workspace:
    """One turn generated with DDIM and its corrector, then regenerated with block refinement."""
    first = loaded.defaults.with_values(seed=2, max_denoising_steps=5, **DDIM)
    ws = Workspace(model_ref(loaded), loaded.tokenizer, first)
    ws.set_draft(Draft("Write"))
    for settings in (first, loaded.defaults.with_values(seed=3, max_denoising_steps=4, sampler="block-refinement",
                                                        threshold=0.8, editing_threshold=0.5)):
        run = ws.start_generation(settings)
        ws.add_events(run.id, Generator(loaded).generate(run.prompt, settings))
        ws.finish_run(run.id)
    ws.settings = first
    return ws


def test_each_run_keeps_its_sampler_settings_and_corrector_sweeps(tmp_path, loaded_small):
    ws = two_runs(loaded_small)
    path = tmp_path / "samplers.ddsession"
    save_workspace(path, ws)
    opened = open_session(path)
    assert opened.settings == ws.settings and opened.settings.sampler == "ddim"
    for run_id, run in ws.runs.items():
        again = opened.runs[run_id]
        assert again.settings == run.settings
        for canvas in run.canvas_indices:
            mine, theirs = run.steps(canvas), again.steps(canvas)
            assert [s.corrector for s in theirs] == [s.corrector for s in mine]
            assert all(np.array_equal(a.argmax, b.argmax) for a, b in zip(mine, theirs, strict=True))
    ddim_run, refinement_run = (opened.runs[i] for i in sorted(opened.runs))
    assert ddim_run.settings.corrector_selection == "lowest_maxprob"
    assert [s.corrector for s in ddim_run.steps(0)] == [False, True, False, True, False]  # 5 = 3 + 2 sweeps
    assert refinement_run.settings.sampler == "block-refinement" and refinement_run.settings.editing_threshold == 0.5
    assert not any(s.corrector for s in refinement_run.steps(0))


def test_a_session_from_before_samplers_opens_as_entropy_bound(tmp_path, loaded_small):
    """Files saved before the choice: no sampler keys in any settings, and four per-step numbers, not five."""
    path = tmp_path / "old.ddsession"
    save_workspace(path, workspace_with_run(loaded_small))
    new_keys = set(SamplerSettings().to_dict()) - {"max_new_tokens", "max_denoising_steps", "entropy_bound", "t_min",
                                                   "t_max", "stability_threshold", "confidence_threshold", "top_k",
                                                   "seed", "compile"}

    def strip(data: dict) -> None:
        for settings in [data["settings"], *(run["settings"] for run in data["runs"])]:
            for key in new_keys:
                del settings[key]

    edit_manifest(path, strip)
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    for name in [n for n in entries if n.endswith("/scalars.npy")]:
        scalars = np.load(io.BytesIO(entries[name]))
        assert scalars.shape[1] == 5
        out = io.BytesIO()
        np.save(out, scalars[:, :4])
        entries[name] = out.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    opened = open_session(path)
    assert opened.settings.sampler == "entropy-bound" and opened.runs[1].settings.sampler == "entropy-bound"
    assert opened.runs[1].steps(0) and not any(s.corrector for s in opened.runs[1].steps(0))


def test_a_corrector_flag_other_than_0_or_1_is_refused(tmp_path, loaded_small):
    from models.session.files import SessionError

    path = tmp_path / "bad.ddsession"
    save_workspace(path, workspace_with_run(loaded_small))
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    name = next(n for n in entries if n.endswith("/scalars.npy"))
    scalars = np.load(io.BytesIO(entries[name]))
    scalars[0, 4] = 0.5
    out = io.BytesIO()
    np.save(out, scalars)
    entries[name] = out.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for entry, content in entries.items():
            archive.writestr(entry, content)
    with pytest.raises(SessionError, match="corrector flags must be 0 or 1"):
        open_session(path)
