"""Engine with full per-step observation vs its reference, interleaved in one process on one checkpoint.

    .venv/bin/python scripts/benchmark_engine.py [--rounds 4] [--steps 12] [--top-k 5] [--vocab 8192]
    .venv/bin/python scripts/benchmark_engine.py --vocab 262144 --hidden 128 --layers 2 --steps 2 --rounds 3
    .venv/bin/python scripts/benchmark_engine.py --sampler ddim --corrector-steps 1 --vocab 262144 --hidden 64 ...

The reference is bare `model.generate` for entropy bound (the default), with `DiffusionGemmaPipeline` and diffusers'
EntropyBoundScheduler timed beside it (its ids differ from generate's by design, see models/engine/samplers.py); for
`--sampler block-refinement` or `ddim` it is `DiffusionGemmaPipeline` with that scheduler, and the ids must match.

Builds a DiffusionGemma checkpoint with random weights (by default ~50M parameters, a denoising step takes a few
hundred ms on a laptop CPU; at the real vocabulary with a tiny hidden size the vocabulary-sized softmax, entropy and
sampling dominate a step), loads it with the app's loader, then alternates the reference, the engine with every
snapshot but no candidates (top-k 0) and the engine with `--top-k` candidates, with the same seed and prompt, checks
they produce the same ids, and prints the median times and speed ratios (reference time / engine time; 1.0 = as fast):
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
from diffusers import BlockRefinementScheduler, DiffusionGemmaPipeline, DiscreteDDIMScheduler, EntropyBoundScheduler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.checkpoint.loading import load_checkpoint  # noqa: E402
from models.engine.generator import Generator  # noqa: E402
from models.testing.tiny_checkpoint import build_checkpoint  # noqa: E402
from models.work.events import GenerationResult, StepSnapshot  # noqa: E402
from models.work.prompts import Prompt  # noqa: E402
from models.work.settings import SAMPLERS, SamplerSettings  # noqa: E402

BARE = "bare generate"
PIPELINE = "pipeline"


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
    parser.add_argument("--sampler", choices=SAMPLERS, default=SAMPLERS[0])
    parser.add_argument("--temperature", type=float, default=0.0, help="block refinement and DDIM (0: greedy)")
    parser.add_argument("--corrector-steps", type=int, default=0, help="DDIM corrector sweeps")
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
    settings = loaded.defaults.with_values(max_new_tokens=256, max_denoising_steps=args.steps, seed=args.seed,
                                           sampler=args.sampler, temperature=args.temperature,
                                           corrector_steps=args.corrector_steps)
    # The pipeline ends an answer only at the tokenizer's EOS: give generate and the engine that one end id too.
    model.generation_config.eos_token_id = [loaded.tokenizer.eos_token_id]
    pipe = DiffusionGemmaPipeline(model=model, scheduler=_scheduler(settings), processor=loaded.processor)
    pipe.set_progress_bar_config(disable=True)
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

    def pipeline() -> list[int]:
        torch.manual_seed(args.seed)
        ids = pipe(messages=prompt.messages(), gen_length=256, num_inference_steps=args.steps,
                   temperature=args.temperature, output_type="seq").sequences[0].clone()
        ends = (ids == pipe.eos_token_id).nonzero()
        if len(ends):  # generate and the engine pad after the end; the pipeline leaves the canvas as drawn
            ids[int(ends[0]) + 1:] = model.generation_config.pad_token_id
        return ids.tolist()

    reference = BARE if args.sampler == SAMPLERS[0] else PIPELINE
    variants: dict[str, Callable[[], list[int]]] = {reference: bare if reference == BARE else pipeline,
                                                    "engine + observation": engine(0)}
    if reference == BARE:
        variants[PIPELINE] = pipeline  # timed only: its ids are not generate's (see models/engine/samplers.py)
    if args.top_k:
        variants[f"engine + obs. + top-{args.top_k}"] = engine(args.top_k)
    print(f"checkpoint: {params / 1e6:.1f}M parameters (hidden {args.hidden}, {args.layers} layers), canvas 256, "
          f"vocab {args.vocab}, {args.steps} steps, {torch.get_num_threads()} torch threads, sampler {args.sampler}"
          f" (temperature {args.temperature}, corrector steps {args.corrector_steps}), device {model.device}")
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
        assert all(these == ids[reference] for name, these in ids.items() if name != PIPELINE or
                   reference == PIPELINE), f"the engine diverged from {reference}"
    for name, values in times.items():
        per_step = 1000 * statistics.median(values) / args.steps
        print(f"{name:24s} median {statistics.median(values):6.2f} s  ({per_step:5.0f} ms/step)  "
              f"CPU {statistics.median(cpu[name]):6.2f} s  runs: {', '.join(f'{v:.2f}' for v in values)}")
    for base in dict.fromkeys((reference, PIPELINE)):
        for name in (n for n in variants if n.startswith("engine")):
            ratio = statistics.median(times[base]) / statistics.median(times[name])
            cpu_ratio = statistics.median(cpu[base]) / statistics.median(cpu[name])
            print(f"{name} speed / {base} speed = {ratio:.3f}  (CPU time: {cpu_ratio:.3f})")
    print("(target >= 0.95; same ids in every round)")
    if args.top_k:
        # The candidates' own cost, apart from run-to-run noise: the topk the engine adds to each step.
        probs = torch.softmax(torch.randn(256, args.vocab), dim=-1)
        topk = statistics.median(_seconds(lambda: torch.topk(probs, args.top_k, dim=-1)) for _ in range(7))
        step = statistics.median(times["engine + observation"]) / args.steps
        print(f"torch.topk(k={args.top_k}) over (256 x {args.vocab}): {1000 * topk:.1f} ms a step, "
              f"{100 * topk / step:.1f}% of an engine step")


def _scheduler(settings: SamplerSettings) -> object:
    """The scheduler diffusers would build for these settings, as a user of the pipeline builds it."""
    if settings.sampler == "block-refinement":
        return BlockRefinementScheduler(threshold=settings.threshold,
                                        editing_threshold=settings.editing_threshold or None)
    if settings.sampler == "ddim":
        return DiscreteDDIMScheduler(corrector_steps=settings.corrector_steps, corrector_k=settings.corrector_k,
                                     corrector_selection=settings.corrector_selection,
                                     corrector_selection_tau=settings.corrector_selection_tau)
    return EntropyBoundScheduler(entropy_bound=settings.entropy_bound, t_max=settings.t_max, t_min=settings.t_min)


def _seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
