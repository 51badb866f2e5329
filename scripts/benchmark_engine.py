"""Engine with full per-step observation vs bare `model.generate`, interleaved in one process on one checkpoint.

    .venv/bin/python scripts/benchmark_engine.py [--rounds 4] [--steps 12] [--top-k 5] [--vocab 8192]
    .venv/bin/python scripts/benchmark_engine.py --vocab 262144 --hidden 128 --layers 2 --steps 2 --rounds 3

Builds a DiffusionGemma checkpoint with random weights (by default ~50M parameters, a denoising step takes a few
hundred ms on a laptop CPU; at the real vocabulary with a tiny hidden size the vocabulary-sized softmax, entropy and
sampling dominate a step), loads it with the app's loader, then alternates bare `generate`, the engine with every
snapshot but no candidates (top-k 0) and the engine with `--top-k` candidates, with the same seed and prompt, checks
they produce the same ids, and prints the median times and speed ratios (bare time / engine time; 1.0 = as fast):
wall time, and the process's CPU time (user + system), which a machine shared with other work disturbs far less.
There, also set OMP_WAIT_POLICY=PASSIVE: torch's threads then sleep instead of spinning while they wait for each
other (on this project's busy 2-core machine a vocab-8192 step took 3-6 s spinning, 0.6-0.9 s passive).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.events import GenerationResult, StepSnapshot  # noqa: E402
from models.generator import Generator  # noqa: E402
from models.loading import load_checkpoint  # noqa: E402
from models.prompts import Prompt  # noqa: E402
from models.tiny_checkpoint import build_checkpoint  # noqa: E402

BARE = "bare generate"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12,
                        help="denoising steps per canvas (random weights never stop early)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top-k", type=int, default=5, help="candidates per position in the third variant (0: skip)")
    parser.add_argument("--vocab", type=int, default=8192, help="vocabulary size (the real model's: 262144)")
    parser.add_argument("--hidden", type=int, default=512, help="hidden size")
    parser.add_argument("--layers", type=int, default=6, help="decoder layers")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = build_checkpoint(Path(folder) / "bench", hidden_size=args.hidden, num_layers=args.layers,
                                vocab_size=args.vocab, canvas_length=256, heads=8, intermediate_size=4 * args.hidden,
                                moe_intermediate_size=args.hidden, vision=False)
        loaded = load_checkpoint(path)
    model = loaded.model
    params = sum(p.numel() for p in model.parameters())
    prompt = Prompt(user="Explain how a text diffusion model writes a paragraph.", system="Be clear.")
    generator = Generator(loaded)
    settings = loaded.defaults.with_values(max_new_tokens=256, max_denoising_steps=args.steps, seed=args.seed)
    inputs = loaded.processor.apply_chat_template(prompt.messages(), add_generation_prompt=True, tokenize=True,
                                                  return_dict=True, return_tensors="pt")

    def bare() -> list[int]:
        torch.manual_seed(args.seed)
        out = model.generate(**inputs, max_new_tokens=256, max_denoising_steps=args.steps)
        return out.sequences[0, inputs["input_ids"].shape[1]:].tolist()

    def engine(k: int) -> Callable[[], list[int]]:
        run_settings = settings.with_values(top_k=k)

        def run() -> list[int]:
            steps = 0
            for event in generator.generate(prompt, run_settings):  # every snapshot is produced and consumed
                if isinstance(event, StepSnapshot):
                    steps += 1
                    assert (event.top_ids is None) if k == 0 else event.top_ids.shape == (256, k)
            assert steps == args.steps and isinstance(event, GenerationResult)
            return event.token_ids.tolist()

        return run

    variants: dict[str, Callable[[], list[int]]] = {BARE: bare, "engine + observation": engine(0)}
    if args.top_k:
        variants[f"engine + obs. + top-{args.top_k}"] = engine(args.top_k)
    print(f"checkpoint: {params / 1e6:.1f}M parameters (hidden {args.hidden}, {args.layers} layers), canvas 256, "
          f"vocab {args.vocab}, {args.steps} steps, {torch.get_num_threads()} torch threads")
    for run in variants.values():
        run()  # warm-up: first-call costs are not what we measure
    times: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for round_index in range(args.rounds):
        order = list(variants.items())
        if round_index % 2:
            order.reverse()  # alternate which goes first, so drift in machine load hits all alike
        ids = {}
        for name, run in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            ids[name] = run()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
        assert all(these == ids[BARE] for these in ids.values()), "the engine diverged from generate"
    for name, values in times.items():
        per_step = 1000 * statistics.median(values) / args.steps
        print(f"{name:24s} median {statistics.median(values):6.2f} s  ({per_step:5.0f} ms/step)  "
              f"CPU {statistics.median(cpu[name]):6.2f} s  runs: {', '.join(f'{v:.2f}' for v in values)}")
    for name in list(variants)[1:]:
        ratio = statistics.median(times[BARE]) / statistics.median(times[name])
        cpu_ratio = statistics.median(cpu[BARE]) / statistics.median(cpu[name])
        print(f"{name} speed / bare speed = {ratio:.3f}  (CPU time: {cpu_ratio:.3f})")
    print("(target >= 0.95; same ids in every round)")
    if args.top_k:
        # The candidates' own cost, apart from run-to-run noise: the topk the engine adds to each step.
        probs = torch.softmax(torch.randn(256, args.vocab), dim=-1)
        topk = statistics.median(_seconds(lambda: torch.topk(probs, args.top_k, dim=-1)) for _ in range(7))
        step = statistics.median(times["engine + observation"]) / args.steps
        print(f"torch.topk(k={args.top_k}) over (256 x {args.vocab}): {1000 * topk:.1f} ms a step, "
              f"{100 * topk / step:.1f}% of an engine step")


def _seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
