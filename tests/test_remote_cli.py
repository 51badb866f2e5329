"""`generate --server` and `rewrite --server` print what the local command line prints."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from app.cli.generate import main
from models.session.reading import open_session
from tests.remote_helpers import TOKEN, running_server

TIMINGS = ("seconds", "tokens_per_second", "parallel_tokens_per_second")


@pytest.fixture(scope="module")
def served(loaded_vision):
    with running_server(loaded_vision) as served:
        yield served


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return str(path)


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    for key in TIMINGS:
        out.pop(key)
    return out


def test_generate_and_rewrite_print_the_local_json(capsys, served, token_file, vision_checkpoint, tmp_path):
    picture = tmp_path / "red.png"
    Image.new("RGB", (40, 30), (220, 10, 10)).save(picture)
    common = [
        "--prompt",
        "Colour?",
        "--image",
        str(picture),
        "--image-budget",
        "70",
        "--steps",
        "2",
        "--seed",
        "5",
        "--max-new-tokens",
        "64",
        "--json",
    ]
    remote = run_json(
        capsys,
        "generate",
        "--server",
        served.url,
        "--token-file",
        token_file,
        *common,
        "--save",
        str(tmp_path / "remote.session"),
    )
    local = run_json(
        capsys, "generate", "--model", str(vision_checkpoint), *common, "--save", str(tmp_path / "local.session")
    )
    assert remote == local and len(remote["canvases"]) == 2
    generated = remote["token_ids"]
    saved = open_session(tmp_path / "remote.session")  # a session of the remote run, as of a local one
    assert saved.document.ids.tolist() == generated and saved.model.source == str(vision_checkpoint)

    edit = ["--session", str(tmp_path / "local.session"), "--span", "3:20", "--lock", "4,5", "--seed", "8", "--json"]
    remote = run_json(capsys, "rewrite", "--server", served.url, "--token-file", token_file, *edit)
    local = run_json(capsys, "rewrite", *edit)
    assert remote == local and remote["span"] == [3, 20]
    assert remote["token_ids"][4:6] == generated[4:6] and remote["token_ids"][:3] == generated[:3]


def test_server_errors_are_one_line_with_exit_status_2(capsys, served, token_file, tmp_path):
    cases = [
        (["--server", served.url], "--server needs --token-file"),
        (["--server", served.url, "--token-file", token_file, "--model", "x"], "--model cannot be used with --server"),
        (["--token-file", token_file], "--token-file is for --server"),
        (["--server", served.url, "--token-file", str(tmp_path / "none")], "no token file at"),
        (["--server", "http://127.0.0.1:1", "--token-file", token_file], "cannot connect to http://127.0.0.1:1"),
        (["--server", served.url, "--token-file", token_file, "--steps", "0"], "max_denoising_steps must be"),
    ]
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token-at-all-0123456789")
    cases.append((["--server", served.url, "--token-file", str(wrong)], "HTTP 401): wrong token"))
    for options, message in cases:
        assert main(["generate", "--prompt", "hi", *options]) == 2, options
        err = capsys.readouterr().err
        assert err.startswith("diffusion-desk: ") and err.count("\n") == 1 and message in err, (options, err)
