"""Engine with full per-step observation vs bare `model.generate`, interleaved in one process on one checkpoint.

    .venv/bin/python scripts/benchmark_engine.py [--rounds 4] [--steps 12]

Builds a ~40M-parameter DiffusionGemma checkpoint (random weights; a denoising step takes a few hundred ms on a
laptop CPU), loads it with the app's loader, then alternates the two runs with the same seed and prompt, checks they
produce the same ids, and prints the median times and the speed ratio (bare time / engine time; 1.0 = as fast).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.generator import Generator  # noqa: E402
from models.loading import load_checkpoint  # noqa: E402
from models.prompts import Prompt  # noqa: E402
from models.tiny_checkpoint import build_checkpoint  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12,
                        help="denoising steps per canvas (random weights never stop early)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = build_checkpoint(Path(folder) / "bench", hidden_size=512, num_layers=6, vocab_size=8192,
                                canvas_length=256, heads=8, intermediate_size=2048, moe_intermediate_size=512,
                                vision=False)
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

    def engine() -> list[int]:
        steps = 0
        for event in generator.generate(prompt, settings):  # every snapshot is produced and consumed
            steps += hasattr(event, "entropy")
        assert steps == args.steps
        return event.token_ids.tolist()

    print(f"checkpoint: {params / 1e6:.1f}M parameters, canvas 256, vocab 8192, {args.steps} steps, "
          f"{torch.get_num_threads()} torch threads")
    bare(), engine()  # warm-up: first-call costs are not what we measure
    times: dict[str, list[float]] = {"bare generate": [], "engine + observation": []}
    for round_index in range(args.rounds):
        order = [("bare generate", bare), ("engine + observation", engine)]
        if round_index % 2:
            order.reverse()  # alternate which goes first, so drift in machine load hits both alike
        ids = {}
        for name, run in order:
            start = time.perf_counter()
            ids[name] = run()
            times[name].append(time.perf_counter() - start)
        assert ids["bare generate"] == ids["engine + observation"], "the engine diverged from generate"
    for name, values in times.items():
        per_step = 1000 * statistics.median(values) / args.steps
        print(f"{name:22s} median {statistics.median(values):6.2f} s  ({per_step:5.0f} ms/step)  "
              f"runs: {', '.join(f'{v:.2f}' for v in values)}")
    ratio = statistics.median(times["bare generate"]) / statistics.median(times["engine + observation"])
    print(f"engine speed / bare speed = {ratio:.3f}  (target >= 0.97; same ids in every round)")


if __name__ == "__main__":
    main()
