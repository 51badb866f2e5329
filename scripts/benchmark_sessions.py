"""Session files at the real canvas size: bytes per run, and the time to save and open a session of many runs.

    .venv/bin/python scripts/benchmark_sessions.py [--runs 20] [--canvases 4] [--steps 48] [--top-k 5]

One real run (a random-weights checkpoint at canvas 256, every step, no adaptive stop) is recorded, then kept
`--runs` times in one workspace, as a user who tries many seeds would. A random model's drafts change at every step,
so its steps compress worse than a trained model's: the sizes are an upper bound.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from models.checkpoint.loading import load_checkpoint
from models.engine.generator import Generator
from models.session.reading import session_from_bytes
from models.session.writing import session_bytes
from models.testing.tiny_checkpoint import build_checkpoint
from models.work.vocabulary import model_ref
from models.work.workspace import Draft, Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--canvases", type=int, default=4)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--top-k", type=int, default=5,
                        help="candidates recorded per position (0: none; the window records 5 unless told otherwise)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = build_checkpoint(Path(folder) / "ckpt", vision=False, canvas_length=256, vocab_size=args.vocab,
                                hidden_size=64, num_layers=2)
        loaded = load_checkpoint(path)
    settings = loaded.defaults.with_values(max_new_tokens=256 * args.canvases, max_denoising_steps=args.steps,
                                           seed=1, top_k=args.top_k)
    ws = Workspace(model_ref(loaded), loaded.tokenizer, settings)
    ws.set_draft(Draft(user="Write a long story"))
    started = time.perf_counter()
    first = ws.start_generation(settings)
    ws.add_events(first.id, Generator(loaded).generate(first.prompt, settings))
    ws.finish_run(first.id)
    print(f"recorded one run: {first.step_count()} steps over {len(first.canvas_indices)} canvases of 256 "
          f"in {time.perf_counter() - started:.1f} s")

    one = len(session_bytes(ws))
    for _ in range(args.runs - 1):  # the same steps again, as further runs of the turn
        run = copy.copy(first)
        run.id = ws._next_run
        ws._next_run += 1
        ws.runs[run.id] = run
    started = time.perf_counter()
    data = session_bytes(ws)
    saved = time.perf_counter() - started
    started = time.perf_counter()
    opened = session_from_bytes(data, "benchmark")
    opening = time.perf_counter() - started
    assert len(opened.runs) == args.runs
    print(f"session with 1 run:        {one / 2**20:6.2f} MiB")
    each = len(data) / args.runs / 2**20
    print(f"session with {args.runs} runs:      {len(data) / 2**20:6.2f} MiB  ({each:.2f} MiB a run)")
    print(f"save {args.runs} runs:  {saved:.2f} s   open {args.runs} runs:  {opening:.2f} s")


if __name__ == "__main__":
    main()
