"""The command line and `serve` against the issue's inputs (issue 21, causes 4, 7, 8, 9), as real processes
(`python main.py ...`): one line on stderr and exit 2, never a traceback or a hang (each run has a deadline, so a
hang fails the test). All of these are refused before the engine is imported, so each process takes a second."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.generate import main
from tests.remote_helpers import TOKEN, running_server

ROOT = Path(__file__).resolve().parent.parent
HUGE = str(10**400)
DEADLINE_S = 120  # a process that waits on a FIFO never ends: the deadline turns the hang into a failure


@pytest.fixture(scope="module")
def served(loaded_text):
    with running_server(loaded_text) as served:
        yield served


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-remote")
    token = root / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    fifo = root / "fifo"
    os.mkfifo(fifo)
    plain = root / "plain-file"
    plain.write_text("x")
    return {"token": str(token), "fifo": str(fifo), "plain": str(plain), "root": root}


def refused(argv: list[str], words: str) -> None:
    done = subprocess.run([sys.executable, "main.py", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE_S, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    assert lines[0].startswith("diffusion-desk") and words in lines[0], lines[0]


NUMBER_OPTIONS = [("--max-new-tokens", "max_new_tokens"), ("--steps", "max_denoising_steps"), ("--top-k", "top_k"),
                  ("--seed", "seed")]


@pytest.mark.parametrize(("option", "setting"), NUMBER_OPTIONS)
def test_numbers_of_any_size_are_one_line_locally(text_checkpoint, option, setting):
    """Refused before the model loads: each option on its own range."""
    refused(["generate", "--model", str(text_checkpoint), "--prompt", "x", option, HUGE],
            f"{setting} must be {'a whole number from 0' if setting == 'seed' else 'between'}")


@pytest.mark.parametrize(("option", "setting"), NUMBER_OPTIONS)
def test_numbers_of_any_size_are_one_line_with_a_server(served, files, option, setting):
    refused(["generate", "--server", served.url, "--token-file", files["token"], "--prompt", "x", option, HUGE],
            f"{setting} must be")


def test_a_number_in_range_that_does_not_fit_the_models_defaults_is_one_line(capsys, text_checkpoint):
    """How settings combine (t_max above t_min) is checked once the model's defaults are known."""
    assert main(["generate", "--model", str(text_checkpoint), "--prompt", "x", "--t-max", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "t_max must be greater than t_min" in err, err


def test_serve_refuses_a_fifo_as_its_token_file(files):
    refused(["serve", "--port", "0", "--token-file", files["fifo"]], "is a named pipe (FIFO), not a regular file")


def test_generate_refuses_a_fifo_as_the_servers_token_file(served, files):
    refused(["generate", "--server", served.url, "--token-file", files["fifo"], "--prompt", "x"],
            "is a named pipe (FIFO), not a regular file")


@pytest.mark.parametrize("option", ["--certfile", "--keyfile"])
def test_serve_refuses_a_fifo_as_a_certificate(files, option):
    other = {"--certfile": "--keyfile", "--keyfile": "--certfile"}[option]
    refused(["serve", "--port", "0", "--token-file", files["token"], option, files["fifo"], other, files["plain"]],
            f"{option}: {files['fifo']} is a named pipe")


def test_generate_refuses_a_fifo_as_the_ca_file(served, files):
    https = served.url.replace("http://", "https://")
    refused(["generate", "--server", https, "--token-file", files["token"], "--ca-file", files["fifo"], "--prompt",
             "x"], f"--ca-file: {files['fifo']} is a named pipe")


def test_serve_says_when_the_token_files_folder_cannot_be_made(files):
    """/etc/hostname/token in the issue: a parent that is a file."""
    refused(["serve", "--port", "0", "--token-file", f"{files['plain']}/token"],
            "cannot make the folder for the token file")


@pytest.mark.parametrize("url", ["http://[::1", "http://[nonsense]:80", "ftp://host"])
def test_a_malformed_server_address_is_one_line(files, url):
    refused(["generate", "--server", url, "--token-file", files["token"], "--prompt", "x"],
            "is not a server address")
