"""The command line's memory plan (--plan) and offload options (--max-gpu-memory, --max-cpu-memory, ...)."""

from __future__ import annotations

import json

import pytest

from app.cli.generate import main


def no_load(*args, **kwargs):
    pytest.fail("--plan loaded the model")


def test_plan_prints_and_exits_without_loading(capsys, monkeypatch, text_checkpoint):
    monkeypatch.setattr("models.checkpoint.loading.load_checkpoint", no_load)
    assert main(["generate", "--model", str(text_checkpoint), "--prompt", "Hello", "--plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{text_checkpoint}: 0.4M parameters, fp32 build, 1 shard")
    assert lines[-1] == "Fits in RAM; it runs on the CPU."
    assert (
        main(["generate", "--model", str(text_checkpoint), "--prompt", "Hello", "--plan", "--json", "--dtype", "bf16"])
        == 0
    )
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "cpu" and plan["dtype"] == "bf16" and plan["weight_bytes"] == 2 * plan["parameters"]


def test_rewrite_plans_for_the_sessions_model(capsys, monkeypatch, tmp_path, text_checkpoint):
    session = tmp_path / "s.json"
    assert (
        main(
            [
                "generate",
                "--model",
                str(text_checkpoint),
                "--prompt",
                "Hi",
                "--steps",
                "1",
                "--seed",
                "1",
                "--save",
                str(session),
            ]
        )
        == 0
    )
    capsys.readouterr()
    monkeypatch.setattr("models.checkpoint.loading.load_checkpoint", no_load)
    assert main(["rewrite", "--session", str(session), "--span", "2:6", "--plan"]) == 0
    assert capsys.readouterr().out.startswith(f"{text_checkpoint}: 0.4M parameters")


def test_offloaded_layers_give_the_same_ids(capsys, tmp_path, text_checkpoint):
    common = [
        "generate",
        "--model",
        str(text_checkpoint),
        "--prompt",
        "Sort 3 1 2",
        "--steps",
        "3",
        "--seed",
        "5",
        "--json",
    ]
    assert main(common) == 0
    plain = json.loads(capsys.readouterr().out)["token_ids"]
    assert main([*common, "--max-cpu-memory", "1.4MB", "--offload-folder", str(tmp_path / "offload")]) == 0
    assert json.loads(capsys.readouterr().out)["token_ids"] == plain


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--max-cpu-memory", "lots"], "--max-cpu-memory must be a size such as 20GiB or 500MB, got 'lots'"),
        (["--max-gpu-memory", "4GiB", "--device", "cpu"], "a GPU memory cap needs a CUDA GPU; this load runs on cpu"),
        (["--plan", "--dtype", "fp8"], "unknown dtype 'fp8'"),
    ],
)
def test_bad_offload_options_give_one_line(capsys, text_checkpoint, options, message):
    assert main(["generate", "--model", str(text_checkpoint), "--prompt", "x", *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
