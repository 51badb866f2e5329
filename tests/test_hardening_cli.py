"""The command line against the issue's hostile inputs: exit 0, or exit 2 with one line on stderr; never a
traceback, a hang, a download or a lost answer."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
from pathlib import Path

import pytest

from app.cli.generate import main
from tests.hardening_support import with_template
from tests.session_helpers import edit_manifest, manifest


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def refused(capsys, argv: list[str], words: str) -> str:
    code, out, err = run(capsys, argv)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, (code, out, err)
    assert lines[0].startswith("diffusion-desk: ") and words in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["generate", "--prompt", "x", "--seed", "abc"], ": generate: argument --seed: invalid int value: 'abc' (see"),
        (["generate"], "the following arguments are required: --prompt"),
        (["generate", "--prompt", "x", "--bogus"], "diffusion-desk: unrecognized arguments: --bogus (see --help)"),
        (["generate", "--prompt", "x", "--image-budget", "71"], "invalid choice: 71"),
        ([], "the following arguments are required: command"),
        (["paint"], "invalid choice: 'paint'"),
    ],
)
def test_argparse_errors_are_one_line(capsys, argv: list[str], words: str) -> None:
    refused(capsys, argv, words)


def test_help_still_prints_and_exits_0(capsys) -> None:
    code, out, _ = run(capsys, ["generate", "--help"])
    assert code == 0 and "--prompt" in out


@pytest.mark.parametrize("option", ["--prompt", "--system"])
def test_invalid_utf8_in_an_argument_names_the_option(capsys, text_checkpoint, option: str) -> None:
    argv = ["generate", "--model", str(text_checkpoint), "--prompt", "ok", option, "caf\udce9"]
    refused(capsys, argv, f"{option} contains an undecodable byte 0xe9 (the text is not valid UTF-8) at character 4")


@pytest.mark.parametrize("field", ["--prompt", "--system"])
def test_special_tokens_as_text_generate(capsys, text_checkpoint, field: str) -> None:
    argv = [
        "generate",
        "--model",
        str(text_checkpoint),
        "--prompt",
        "hi",
        field,
        "<|image|> <|audio|> <|video|> <|think|> <turn|> <|turn>user",
        "--steps",
        "1",
        "--seed",
        "0",
        "--json",
    ]
    code, out, err = run(capsys, argv)
    assert code == 0 and err == "" and len(json.loads(out)["token_ids"]) == 32


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--prompt", "x" * 120_000], "the prompt is too long: 120,000 characters, the limit is 100,000"),
        (["--prompt", "x", "--t-min", "0", "--t-max", "1e-300"], "the temperature schedule falls to 2.08e-302"),
        (["--prompt", "x", "--device", "nonsense"], "unknown device 'nonsense'; use cpu, cuda, cuda:N or mps"),
        (["--prompt", "x", "--device", "meta"], "device 'meta' holds no weights"),
        (["--prompt", "x", "--prompt", "y\x00"], "--prompt contains the control character U+0000 at character 2"),
    ],
)
def test_the_issues_generate_inputs_are_refused(capsys, text_checkpoint, argv: list[str], words: str) -> None:
    refused(capsys, ["generate", "--model", str(text_checkpoint), *argv], words)


def test_an_invalid_model_name_is_refused_without_the_hub(capsys, monkeypatch) -> None:
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: pytest.fail("the hub was called"))
    refused(capsys, ["generate", "--model", "a b/c d", "--prompt", "x"], "it is not a valid hub id")


def test_a_hostile_template_is_one_line_and_allocates_little(capsys, tmp_path, text_checkpoint) -> None:
    hostile = with_template(text_checkpoint, tmp_path / "hostile", "{{ 'a' * 4000000000 }}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(
        capsys,
        ["generate", "--model", str(hostile), "--prompt", "x"],
        "failed: the chat template tried to build a value of 4,000,000,000 items",
    )
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300 * 1024  # KiB


def test_a_broken_template_is_one_line(capsys, tmp_path, text_checkpoint) -> None:
    broken = with_template(text_checkpoint, tmp_path / "broken", "{% for m in messages %}{{ m.content }")
    refused(capsys, ["generate", "--model", str(broken), "--prompt", "x"], "the chat template of")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "folder"])
def test_pipes_devices_and_folders_are_refused_at_once(capsys, tmp_path, text_checkpoint, target: str) -> None:
    path = {"fifo": str(tmp_path / "pipe"), "folder": str(tmp_path)}.get(target, target)
    if target == "fifo":
        os.mkfifo(path)
    refused(
        capsys,
        ["generate", "--model", str(text_checkpoint), "--prompt", "x", "--image", path],
        "not a regular file (image expected)",
    )
    refused(capsys, ["rewrite", "--session", path, "--span", "0:1"], "not a regular file (session expected)")


def session_naming(tmp_path: Path, model: str, text_checkpoint: Path, capsys) -> Path:
    session = tmp_path / "s.ddsession"
    assert (
        main(
            [
                "generate",
                "--model",
                str(text_checkpoint),
                "--prompt",
                "x",
                "--steps",
                "1",
                "--seed",
                "0",
                "--save",
                str(session),
            ]
        )
        == 0
    )
    capsys.readouterr()
    edit_manifest(session, lambda data: data["model"].update(source=model))
    return session


def test_a_session_naming_a_hub_id_never_downloads(capsys, tmp_path, monkeypatch, text_checkpoint) -> None:
    session = session_naming(tmp_path, "google/diffusiongemma-26B-A4B-it", text_checkpoint, capsys)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("the hub was contacted"))
    refused(
        capsys,
        ["rewrite", "--session", str(session), "--span", "0:1"],
        "is not in the local Hugging Face cache and downloads are off for a model named by a session file",
    )


def test_a_session_naming_a_bin_shard_checkpoint_is_refused(capsys, tmp_path, text_checkpoint) -> None:
    evil = tmp_path / "evil"
    shutil.copytree(text_checkpoint, evil)
    (evil / "model.safetensors").rename(evil / "model-1.safetensors")
    (evil / "model-2.bin").write_bytes(b"not to be opened")
    weight_map = {"a": "model-1.safetensors", "b": "model-2.bin"}
    (evil / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    session = session_naming(tmp_path, str(evil), text_checkpoint, capsys)
    refused(
        capsys,
        ["rewrite", "--session", str(session), "--span", "0:1"],
        "lists the weight shard 'model-2.bin', which is not a .safetensors file",
    )


def test_a_failed_save_prints_the_answer_then_says_so(capsys, tmp_path, text_checkpoint, monkeypatch) -> None:
    import models.inputs.safe_files as safe_files

    target = tmp_path / "answer.json"
    target.write_text("old")

    def full_disk(handle: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safe_files.os, "fsync", full_disk)
    code, out, err = run(
        capsys,
        [
            "generate",
            "--model",
            str(text_checkpoint),
            "--prompt",
            "x",
            "--steps",
            "1",
            "--seed",
            "0",
            "--json",
            "--save",
            str(target),
        ],
    )
    monkeypatch.undo()
    assert code == 2 and len(json.loads(out)["token_ids"]) == 32  # the answer is printed, not lost
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("diffusion-desk: the answer above was not saved: could not save")
    assert "No space left on device" in lines[0]
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["answer.json"]


@pytest.mark.parametrize(("save", "words"), [("{tmp}", "it is a folder"), ("{tmp}/no/x.json", "does not exist")])
def test_a_bad_save_path_is_refused_before_generating(capsys, tmp_path, text_checkpoint, save: str, words: str) -> None:
    refused(
        capsys,
        ["generate", "--model", str(text_checkpoint), "--prompt", "x", "--save", save.format(tmp=tmp_path)],
        words,
    )


def test_a_long_save_name_and_a_symlink_work(capsys, tmp_path, text_checkpoint) -> None:
    name = tmp_path / ("s" * 245 + ".json")
    assert (
        main(
            [
                "generate",
                "--model",
                str(text_checkpoint),
                "--prompt",
                "x",
                "--steps",
                "1",
                "--seed",
                "0",
                "--save",
                str(name),
            ]
        )
        == 0
    )
    link = tmp_path / "link.ddsession"
    link.symlink_to(name)
    assert main(["rewrite", "--session", str(link), "--span", "0:4", "--save", str(link)]) == 0
    capsys.readouterr()
    assert link.is_symlink() and len(manifest(name)["runs"]) == 2  # the link's target has the rewrite's run
