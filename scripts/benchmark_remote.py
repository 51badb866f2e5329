"""Remote engine over loopback vs the local engine, interleaved in one run on one checkpoint.

    .venv/bin/python scripts/benchmark_remote.py [--rounds 5] [--steps 16] [--vocab 8192]

Builds a checkpoint with canvas 256, a real-sized vocabulary slice and a tiny hidden size (so a step is as short as
it gets and the remote overhead shows as much as it can), starts `main.py serve` on it on 127.0.0.1 (its own
process, as on a GPU machine), and alternates two runs with the same seed and prompt: the local engine on a worker
thread of this process (as the window runs it), and the sync client streaming every step of the same run from the
server. Each round checks both give the same ids; the script prints the median times and the speed ratio (local
time / remote time; 1.0 = as fast). Server, client and engine share this machine's cores here, which is harder on
the remote run than a real deployment, where the client is on another machine.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.remote.client import RemoteGenerator  # noqa: E402
from app.remote.protocol import encode_event  # noqa: E402
from models.checkpoint.loading import load_checkpoint  # noqa: E402
from models.engine.cpu_threads import start_cpu_thread_pool  # noqa: E402
from models.engine.generator import Generator  # noqa: E402
from models.testing.tiny_checkpoint import build_checkpoint  # noqa: E402
from models.work.events import StepSnapshot  # noqa: E402
from models.work.prompts import Prompt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--steps", type=int, default=16, help="denoising steps per canvas (random weights never stop early)"
    )
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    folder = tempfile.TemporaryDirectory()
    path = build_checkpoint(
        Path(folder.name) / "bench",
        hidden_size=64,
        num_layers=2,
        vocab_size=args.vocab,
        canvas_length=256,
        vision=False,
    )
    start_cpu_thread_pool()  # as the server does on its main thread: the local engine runs on a worker thread too
    loaded = load_checkpoint(path)
    params = sum(p.numel() for p in loaded.model.parameters())
    prompt = Prompt(user="Explain how a text diffusion model writes a paragraph.", system="Be clear.")
    settings = loaded.defaults.with_values(max_new_tokens=256, max_denoising_steps=args.steps, seed=args.seed)
    local_generator = Generator(loaded)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-engine")
    token_file = Path(folder.name) / "token"
    server = subprocess.Popen(
        [sys.executable, "main.py", "serve", "--model", str(path), "--port", "0", "--token-file", str(token_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    snapshots: list[StepSnapshot] = []

    def consume(events) -> list[int]:
        steps = 0
        for event in events:  # every snapshot is produced, (sent, decoded,) and consumed
            if isinstance(event, StepSnapshot):
                steps += 1
                snapshots[:] = [event]
        assert steps == args.steps
        return event.token_ids.tolist()

    def local() -> list[int]:
        return worker.submit(lambda: consume(local_generator.generate(prompt, settings))).result()

    def over_loopback() -> list[int]:
        return consume(remote.generate(prompt, settings))

    try:
        server.stdout.readline()  # the token file's path
        url = re.search(r"at (http://\S+)$", server.stdout.readline().strip())[1]
        remote = RemoteGenerator(url, token_file=token_file)
        print(
            f"checkpoint: {params / 1e6:.2f}M parameters, hidden 64, canvas 256, vocab {args.vocab}, "
            f"{args.steps} steps, {torch.get_num_threads()} torch threads"
        )
        local(), over_loopback()  # warm-up: first-call costs are not what we measure
        times: dict[str, list[float]] = {"local engine": [], "remote, loopback": []}
        for round_index in range(args.rounds):
            order = [("local engine", local), ("remote, loopback", over_loopback)]
            if round_index % 2:
                order.reverse()  # alternate which goes first, so drift in machine load hits both alike
            ids = {}
            for name, run in order:
                start = time.perf_counter()
                ids[name] = run()
                times[name].append(time.perf_counter() - start)
            assert ids["local engine"] == ids["remote, loopback"], "the remote run diverged from the local one"
        remote.close()
    finally:
        server.terminate()
        server.wait()
        worker.shutdown()
        folder.cleanup()
    for name, values in times.items():
        per_step = 1000 * statistics.median(values) / args.steps
        print(
            f"{name:18s} median {statistics.median(values):6.3f} s  ({per_step:6.1f} ms/step)  "
            f"runs: {', '.join(f'{v:.3f}' for v in values)}"
        )
    local_median, remote_median = (statistics.median(v) for v in times.values())
    print(
        f"one step's frame: {len(encode_event(1, snapshots[0]))} bytes; remote overhead "
        f"{1000 * (remote_median - local_median) / args.steps:+.2f} ms/step"
    )
    print(f"remote speed / local speed = {local_median / remote_median:.3f}  (target >= 0.9; same ids every round)")


if __name__ == "__main__":
    main()
