"""The command line: same engine and ids as the contract, sessions with every step, one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.cli.generate import main
from models.session.files import open_session
from models.work.prompts import Prompt

ROOT = Path(__file__).resolve().parent.parent


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_generate_json_matches_model_generate(capsys, loaded_text, text_checkpoint):
    out = run_json(capsys, "generate", "--model", str(text_checkpoint), "--prompt", "Hello there",
                   "--system", "Be brief", "--max-new-tokens", "64", "--steps", "3", "--seed", "7", "--json")
    inputs = loaded_text.processor.apply_chat_template(
        Prompt(user="Hello there", system="Be brief").messages(), add_generation_prompt=True, tokenize=True,
        return_dict=True, return_tensors="pt")
    torch.manual_seed(7)
    expected = loaded_text.model.generate(**inputs, max_new_tokens=64, max_denoising_steps=3)
    assert out["token_ids"] == expected.sequences[0, inputs["input_ids"].shape[1]:].tolist()
    assert len(out["canvases"]) == 2 and all(len(c["steps"]) == 3 for c in out["canvases"])
    step = out["canvases"][0]["steps"][0]
    assert len(step["argmax"]) == len(step["accepted"]) == len(step["entropy"]) == 32
    assert out["seconds"] > 0 and out["tokens_per_forward"] > 0 and isinstance(out["text"], str)


def test_save_then_rewrite_a_span(capsys, tmp_path, text_checkpoint):
    session = tmp_path / "s.ddsession"
    first = run_json(capsys, "generate", "--model", str(text_checkpoint), "--prompt", "Write", "--steps", "2",
                     "--seed", "1", "--save", str(session), "--json")
    saved = open_session(session)  # a session of every step, which replays without loading its model
    run = saved.runs[1]
    assert saved.document.ids.tolist() == first["token_ids"] and saved.model.source == str(text_checkpoint)
    assert run.settings.seed == 1 and run.prompt.user == "Write" and saved.conversation.turns[0].user == "Write"
    assert [[s.argmax.tolist() for s in run.steps(c)] for c in run.canvas_indices] == [
        [step["argmax"] for step in canvas["steps"]] for canvas in first["canvases"]]
    second = run_json(capsys, "rewrite", "--session", str(session), "--span", "4:12", "--lock", "5,6", "--seed", "3",
                      "--save", str(tmp_path / "s2.ddsession"), "--json")
    before, after = first["token_ids"], second["token_ids"]
    assert len(after) == len(before)
    assert after[:4] == before[:4] and after[12:] == before[12:] and after[5:7] == before[5:7]
    assert second["span"] == [4, 12]
    both = open_session(tmp_path / "s2.ddsession")
    assert sorted(both.runs) == [1, 2] and both.runs[2].span == (4, 12) and both.runs[2].seed == 3
    assert both.document.locks == {5, 6}  # the extra locks are a step of the document
    if both.review is not None:  # a change to review in the window, as any proposal
        assert both.runs[2].proposal_ids.tolist() == after


def test_generate_with_an_image(capsys, tmp_path, vision_checkpoint):
    picture = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (220, 10, 10)).save(picture)
    out = run_json(capsys, "generate", "--model", str(vision_checkpoint), "--prompt", "Colour?", "--image",
                   str(picture), "--image", str(picture), "--image-budget", "140", "--steps", "2", "--seed", "0",
                   "--json")
    assert len(out["token_ids"]) == 32


def bad_image(tmp_path: Path) -> Path:
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a picture")
    return path


@pytest.mark.parametrize(("argv", "message"), [
    (["generate", "--model", "{tmp}/missing", "--prompt", "x"], "no checkpoint folder"),
    (["generate", "--model", "{llama}", "--prompt", "x"], "is a llama checkpoint"),
    (["generate", "--model", "{pickled}", "--prompt", "x"], "only pickled weights"),
    (["generate", "--model", "{model}", "--prompt", "x", "--image", "{bad_image}"], "not a readable image"),
    (["generate", "--model", "{model}", "--prompt", "x", "--image", "{tmp}/none.png"], "does not exist"),
    (["generate", "--model", "{model}", "--prompt", "x", "--steps", "0"], "max_denoising_steps"),
    (["generate", "--model", "{model}", "--prompt", "x", "--t-min", "0.9"], "t_max must be greater"),
    (["rewrite", "--session", "{session}", "--span", "30:99"], "outside the session"),
    (["rewrite", "--session", "{session}", "--span", "3-4"], "--span must look like A:B"),
    (["rewrite", "--session", "{tmp}/none.json", "--span", "1:2"], "does not exist"),
    (["rewrite", "--session", "{bad_image}", "--span", "1:2"], "not a Diffusion Desk session"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, text_checkpoint, argv, message):
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "llama"}))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "diffusion_gemma"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04")
    session = tmp_path / "session.ddsession"
    assert main(["generate", "--model", str(text_checkpoint), "--prompt", "x", "--steps", "1", "--seed", "0",
                 "--save", str(session)]) == 0
    capsys.readouterr()
    before = sorted(p.name for p in tmp_path.iterdir())
    names = {"tmp": tmp_path, "llama": llama, "pickled": pickled, "model": text_checkpoint,
             "bad_image": bad_image(tmp_path), "session": session}
    before = sorted(p.name for p in tmp_path.iterdir())
    save = ["--save", str(tmp_path / "out.ddsession")]
    assert main([a.format(**names) for a in argv] + save) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_main_py_runs_the_cli_without_qt(tmp_path, text_checkpoint):
    code = ("import runpy, sys\nsys.argv = ['main.py', 'generate', '--model', sys.argv[1], '--prompt', 'hi', "
            "'--steps', '1', '--seed', '0', '--json']\n"
            "try:\n    runpy.run_path('main.py', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0\n"
            "assert not [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]\n")
    done = subprocess.run([sys.executable, "-c", code, str(text_checkpoint)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["token_ids"]


def test_json_steps_carry_the_top_k_and_the_session_keeps_them(capsys, tmp_path, text_checkpoint):
    session = tmp_path / "k.ddsession"
    out = run_json(capsys, "generate", "--model", str(text_checkpoint), "--prompt", "Write", "--max-new-tokens", "64",
                   "--steps", "2", "--seed", "4", "--top-k", "3", "--save", str(session), "--json")
    steps = [step for canvas in out["canvases"] for step in canvas["steps"]]
    assert len(steps) == 4
    for step in steps:
        ids, probs = np.array(step["top_k"]["ids"]), np.array(step["top_k"]["probs"])
        assert ids.shape == probs.shape == (32, 3) and ids.dtype.kind == "i"
        assert ids[:, 0].tolist() == step["argmax"]  # the draft is each position's first candidate
        assert (np.diff(probs, axis=1) <= 0).all() and ((probs > 0) & (probs < 1)).all()
    run = open_session(session).runs[1]  # the session file keeps every step's candidates, as printed
    assert run.settings.top_k == 3
    saved = [step for canvas in run.canvas_indices for step in run.steps(canvas)]
    for step, printed in zip(saved, steps, strict=True):
        assert step.top_ids.tolist() == printed["top_k"]["ids"]
        assert np.array_equal(step.top_probs, np.array(printed["top_k"]["probs"], dtype=np.float32))  # exact

    off = run_json(capsys, "generate", "--model", str(text_checkpoint), "--prompt", "Write", "--max-new-tokens", "64",
                   "--steps", "2", "--seed", "4", "--top-k", "0", "--json")
    assert off["token_ids"] == out["token_ids"]  # observation only
    assert all("top_k" not in step for canvas in off["canvases"] for step in canvas["steps"])


def test_rewrite_top_k_reports_fixed_positions_as_certain(capsys, tmp_path, text_checkpoint):
    session = tmp_path / "s.ddsession"
    first = run_json(capsys, "generate", "--model", str(text_checkpoint), "--prompt", "Write", "--steps", "2",
                     "--seed", "1", "--top-k", "0", "--save", str(session), "--json")
    out = run_json(capsys, "rewrite", "--session", str(session), "--span", "4:12", "--lock", "5", "--seed", "3",
                   "--top-k", "2", "--json")
    for step in out["canvases"][0]["steps"]:
        ids, probs = np.array(step["top_k"]["ids"]), np.array(step["top_k"]["probs"])
        assert ids.shape == (32, 2)
        fixed = [i for i in range(32) if not 4 <= i < 12 or i == 5]
        assert ids[fixed, 0].tolist() == [first["token_ids"][i] for i in fixed]
        assert (probs[fixed, 0] == 1.0).all() and (probs[fixed, 1] == 0.0).all()
        assert (probs[[4, 6, 7, 8, 9, 10, 11], 0] < 1.0).all()


def test_top_k_out_of_range_is_one_line_and_exit_2(capsys, text_checkpoint):
    assert main(["generate", "--model", str(text_checkpoint), "--prompt", "x", "--top-k", "11"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "top_k must be between 0 and 10, got 11" in captured.err
