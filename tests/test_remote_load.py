"""`main.py serve` as its own process: the token file it makes, and its memory under 4 clients x 50 requests."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.remote.client import RemoteGenerator
from models.work.events import GenerationResult
from models.work.prompts import Prompt

ROOT = Path(__file__).resolve().parent.parent


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        return int(re.search(r"VmRSS:\s+(\d+) kB", status.read())[1]) * 1024


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_serve_makes_a_private_token_and_holds_its_memory_under_load(text_checkpoint, tmp_path):
    token_file = tmp_path / "secret" / "token"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    server = subprocess.Popen(
        [
            sys.executable,
            "main.py",
            "serve",
            "--model",
            str(text_checkpoint),
            "--port",
            "0",
            "--token-file",
            str(token_file),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = server.stdout.readline()
        assert first.strip() == f"token file: {token_file} (a new token was written, mode 0600)"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        url = re.search(r"at (http://127\.0\.0\.1:\d+)$", server.stdout.readline().strip())[1]
        clients = [RemoteGenerator(url, token_file=token_file) for _ in range(4)]
        settings = clients[0].info.defaults.with_values(max_denoising_steps=2)

        def request(number: int) -> None:
            client = clients[number % len(clients)]
            events = list(client.generate(Prompt(user=f"Request {number}"), settings.with_values(seed=number)))
            assert isinstance(events[-1], GenerationResult) and not events[-1].cancelled

        for number in range(8):  # warm up: allocator pools, tokenizer caches, the first forward passes
            request(number)
        before = rss_bytes(server.pid)
        for number in range(50):
            request(100 + number)
        after = rss_bytes(server.pid)
        for client in clients:
            client.close()
        assert after <= before * 1.05, f"server memory grew from {before / 2**20:.1f} to {after / 2**20:.1f} MiB"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        errors = server.stderr.read()
        server.stdout.close()
        server.stderr.close()
    assert server.returncode == 0 and not errors, errors  # Ctrl+C stops it cleanly
