"""GPU check: engine parity, speed and the window's event loop on this machine, as one JSON report and a table.

    .venv/bin/python scripts/gpu_check.py [--out build/gpu_check.json]     # a CUDA machine: under 10 minutes
    .venv/bin/python scripts/gpu_check.py --device cpu                     # small checkpoints: checks the script

Sections, each under a time cap (one that fails or would overrun is reported, never fatal):
  parity   engine ids against `model.generate` (bf16 on CUDA): several seeds, an image prompt, locks under a rewrite
  speed    engine with full observation against bare `generate`, as a ratio and in tokens/s, on random weights with
           the real vocabulary (262,144) and canvas (256); peak GPU memory against the memory plan's estimate
  window   the main window, offscreen, fed by a real generation at this machine's step rate: worst event-loop gap
  26b      the same speed comparison at DiffusionGemma 26B-A4B's own dimensions, where the memory plan says it fits
  compile  the speed comparison with compile (static cache + torch.compile); the first run's compile time apart
  26b-compile  the 26B-A4B's dimensions with compile, with whatever time is left
The window, 26b and compile sections run in child processes, so a time cap can stop them and memory is given back.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from models.checkpoint.loading import LoadedModel, load_checkpoint  # noqa: E402
from models.testing.parity import compare_speed, locks_hold, parity  # noqa: E402
from models.testing.tiny_checkpoint import build_checkpoint  # noqa: E402
from models.work.prompts import Prompt  # noqa: E402

TEXT = Prompt(user="Explain how a text diffusion model writes a paragraph.", system="Be clear.")
# DiffusionGemma 26B-A4B's text dimensions (its vision tower is left small: the speed runs have no images).
DIMS_26B = {
    "vocab_size": 262144,
    "hidden_size": 2816,
    "intermediate_size": 2112,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "num_global_key_value_heads": 2,
    "head_dim": 256,
    "global_head_dim": 512,
    "num_experts": 128,
    "top_k_experts": 8,
    "moe_intermediate_size": 704,
    "sliding_window": 1024,
}
# What each device runs: checkpoints, steps, seeds and the most seconds each section may take.
PROFILES: dict[str, dict[str, Any]] = {
    "cuda": {
        "parity_checkpoint": {"vision": True, "canvas_length": 32, "seed": 2},
        "speed_checkpoint": {
            "vocab_size": 262144,
            "canvas_length": 256,
            "hidden_size": 256,
            "num_layers": 2,
            "vision": False,
        },
        "parity_seeds": range(5),
        "parity_tokens": 64,
        "parity_steps": 8,
        "speed_steps": 48,
        "speed_rounds": 3,
        "steps_26b": 16,
        "caps": {"parity": 60, "speed": 90, "window": 90, "26b": 150, "compile": 150, "26b-compile": 240},
    },
    "cpu": {
        "parity_checkpoint": {"vision": True, "canvas_length": 32, "seed": 2},
        "speed_checkpoint": {"vocab_size": 1024, "canvas_length": 32, "vision": False},
        "parity_seeds": range(2),
        "parity_tokens": 32,
        "parity_steps": 3,
        "speed_steps": 3,
        "speed_rounds": 1,
        "steps_26b": 2,
        "caps": {"parity": 60, "speed": 60, "window": 60, "26b": 0, "compile": 0, "26b-compile": 0},
    },
}
SECTIONS = ("parity", "speed", "window", "26b", "compile", "26b-compile")
CHILD_SECTIONS = ("window", "26b", "compile", "26b-compile")


# ----------------------------------------------------------------------------------------------------------------
# Set-up: the machine, the checkpoints, the time budget


def machine() -> dict[str, Any]:
    import transformers

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        info |= {
            "gpu": torch.cuda.get_device_name(),
            "capability": ".".join(map(str, torch.cuda.get_device_capability())),
            "gpu_memory_gib": round(total / 2**30, 1),
            "gpu_free_gib": round(free / 2**30, 1),
            "cuda": torch.version.cuda,
        }
    return info


def checkpoints(workdir: Path, profile: dict[str, Any]) -> dict[str, Path]:
    """The random-weights checkpoints, built once per work folder (the vocabulary-262144 tokenizer takes seconds)."""
    paths = {}
    for name in ("parity_checkpoint", "speed_checkpoint"):
        path = workdir / name
        if not (path / "config.json").is_file():
            build_checkpoint(path, **profile[name])
        paths[name] = path
    return paths


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def settings_for(loaded: LoadedModel, steps: int, tokens: int, **changes: Any):
    # No adaptive stop: random weights never meet it anyway, and every run then takes the same number of steps.
    return loaded.defaults.with_values(
        max_new_tokens=tokens, max_denoising_steps=steps, confidence_threshold=1e-9, seed=0, **changes
    )


def peak_memory(run):  # noqa: ANN001, ANN201 - wraps a section body
    """Run `run()`; add the peak GPU memory it allocated (CUDA only)."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    result = run()
    if torch.cuda.is_available():
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


# ----------------------------------------------------------------------------------------------------------------
# Section 1: parity (in this process)


def section_parity(args: argparse.Namespace, paths: dict[str, Path], profile: dict[str, Any], budget: Budget):
    from PIL import Image

    loaded = load_checkpoint(paths["parity_checkpoint"], device=args.device, dtype=args.dtype)
    settings = settings_for(loaded, profile["parity_steps"], profile["parity_tokens"])
    image = Prompt(user="What colour is this?", images=(Image.new("RGB", (64, 48), (200, 30, 30)),))
    tokens = profile["parity_tokens"]  # on CUDA two canvases, so the span crosses from one into the next
    return {
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "text": parity(loaded, TEXT, settings, profile["parity_seeds"]),
        "image": parity(loaded, image, settings, range(2)),
        "locks": locks_hold(loaded, TEXT, settings.with_values(seed=7), span=(4, tokens - 4), locks=[5, 6, tokens - 8]),
    }


# ----------------------------------------------------------------------------------------------------------------
# Section 2: speed at the real vocabulary and canvas (in this process)


def section_speed(args: argparse.Namespace, paths: dict[str, Path], profile: dict[str, Any], budget: Budget):
    from models.checkpoint.memory_plan import plan_memory

    path = paths["speed_checkpoint"]
    loaded = load_checkpoint(path, device=args.device, dtype=args.dtype)
    settings = settings_for(loaded, profile["speed_steps"], loaded.canvas_length)
    plan = plan_memory(path, device=args.device, dtype=args.dtype, prompt_tokens=64)
    deadline = time.monotonic() + budget.left() * 0.8
    result = peak_memory(lambda: compare_speed(loaded, TEXT, settings, profile["speed_rounds"], deadline))
    params = sum(p.numel() for p in loaded.model.parameters())
    return {
        "checkpoint": f"{params / 1e6:.1f}M parameters, vocab {loaded.model.config.text_config.vocab_size}, "
        f"canvas {loaded.canvas_length}",
        "plan_needed_gib": round(plan.needed_bytes / 2**30, 2),
        "candidates": "the engine has no candidates view; not timed",
        **result,
    }


# ----------------------------------------------------------------------------------------------------------------
# Sections run in child processes: the window, the 26B-A4B's dimensions, compile


def section_window(args: argparse.Namespace, paths: dict[str, Path], profile: dict[str, Any], budget: Budget):
    """Shells out to scripts/window_probe.py (Qt offscreen); a machine without Qt gets a note, not a failure."""
    command = [
        sys.executable,
        str(ROOT / "scripts" / "window_probe.py"),
        "--model",
        str(paths["speed_checkpoint"]),
        "--steps",
        str(profile["speed_steps"]),
        "--max-new-tokens",
        "1024" if args.device == "cuda" else "32",  # on CUDA four canvases: a stream long enough to measure
        "--timeout",
        str(max(10, int(budget.left()) - 5)),
    ]
    env = {"QT_QPA_PLATFORM": "offscreen"} | ({"CUDA_VISIBLE_DEVICES": ""} if args.device == "cpu" else {})
    return child(command, budget.left(), env)


def section_26b(
    args: argparse.Namespace, paths: dict[str, Path], profile: dict[str, Any], budget: Budget, compile_too: bool = False
):
    """Random weights at the 26B-A4B's dimensions, built straight on the GPU in bf16, if the memory plan says so."""
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion

    from models.checkpoint.hardware import detect_hardware
    from models.checkpoint.memory_plan import build_plan
    from models.checkpoint.size import CheckpointSize

    if args.device != "cuda":
        return {"status": "skipped", "reason": "needs a CUDA GPU"}
    small = load_checkpoint(paths["speed_checkpoint"], device=args.device)  # tokenizer and generation config
    config_dict = json.loads((paths["speed_checkpoint"] / "config.json").read_text())
    config_dict["text_config"] = {k: v for k, v in config_dict["text_config"].items() if k != "per_layer_config"}
    config_dict["text_config"] |= DIMS_26B | {"layer_types": None}
    config_dict["canvas_length"] = 256
    config = DiffusionGemmaConfig.from_dict(config_dict)
    with torch.device("meta"):
        count = sum(p.numel() for p in DiffusionGemmaForBlockDiffusion(config).parameters())
    size = CheckpointSize(count, 2 * count, {"BF16": 2 * count}, 0, None)
    generation_config = copy.deepcopy(small.model.generation_config)
    del small.model
    torch.cuda.empty_cache()
    plan = build_plan("random weights at 26B-A4B dimensions", config_dict, size, detect_hardware("cuda"), "bf16", 64)
    if plan.verdict != "gpu":
        return {"status": "skipped", "reason": "does not fit: " + plan.lines[-1], "plan": list(plan.lines)}
    started = time.monotonic()
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = DiffusionGemmaForBlockDiffusion._from_config(config, dtype=torch.bfloat16).eval()
    model.generation_config = generation_config
    built = time.monotonic() - started
    loaded = LoadedModel(
        model=model,
        processor=small.processor,
        source="random 26B-A4B",
        path=small.path,
        device=model.device,
        dtype=torch.bfloat16,
        defaults=small.defaults,
    )
    settings = settings_for(loaded, profile["steps_26b"], 256, compile=compile_too)
    deadline = time.monotonic() + budget.left() * 0.7
    result = peak_memory(lambda: compare_speed(loaded, TEXT, settings, 2, deadline))
    return {
        "parameters_b": round(count / 1e9, 2),
        "build_seconds": round(built, 1),
        "compile": compile_too,
        "plan_needed_gib": round(plan.needed_bytes / 2**30, 2),
        **result,
    }


def section_compile(args: argparse.Namespace, paths: dict[str, Path], profile: dict[str, Any], budget: Budget):
    loaded = load_checkpoint(paths["speed_checkpoint"], device=args.device, dtype=args.dtype)
    settings = settings_for(loaded, profile["speed_steps"], loaded.canvas_length, compile=True)
    deadline = time.monotonic() + budget.left() * 0.8
    result = peak_memory(lambda: compare_speed(loaded, TEXT, settings, 2, deadline))
    result["note"] = "warm_up_seconds includes compiling both generate's and the engine's step (shared cache)"
    return result


def child(command: list[str], seconds: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a section in a child process under a time cap; its last stdout line is its JSON result."""
    import os

    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=max(1, seconds),
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        return {
            "status": "timeout",
            "reason": f"stopped after its {seconds:.0f} s cap (the result is not partial: "
            "a section reports only when it finishes)",
        }
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if done.returncode != 0 or not result:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"status": "failed", "reason": result.get("reason") or error}
    return result


def run_child_section(args: argparse.Namespace, name: str, seconds: float) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--section",
        name,
        "--device",
        args.device,
        "--workdir",
        str(args.workdir),
        "--budget",
        str(int(seconds)),
    ] + (["--dtype", args.dtype] if args.dtype else [])
    return child(command, seconds + 15)  # a little over the section's own budget, for start-up


# ----------------------------------------------------------------------------------------------------------------
# Report


def table(report: dict[str, Any]) -> str:
    rows = [f"{'section':11s}  {'status':8s}  result"]
    for name, result in report["sections"].items():
        rows.append(f"{name:11s}  {result.get('status', '?'):8s}  {summary(name, result)}")
    return "\n".join(rows)


def summary(name: str, r: dict[str, Any]) -> str:
    if r.get("status") != "ok":
        return str(r.get("reason", ""))[:150]
    if name == "parity":
        t, i, lk = r["text"], r["image"], r["locks"]
        return (
            f"{r['dtype']}: text {t['identical']}/{t['runs']} identical, image {i['identical']}/{i['runs']}; "
            f"locked tokens changed {lk['locked_changed_at_any_step']}x, kept {lk['kept_positions_changed']}x"
        )
    if name == "window":
        g = r["gap_ms"]
        return (
            f"{r['steps_per_second']} steps/s on {r['device']}; event-loop gap worst {g['worst']} ms, "
            f"p99 {g['p99']} ms, finishing pass {g['finishing']} ms"
        )
    memory = (
        f"; peak {r['peak_gpu_memory_gib']} GiB (plan {r['plan_needed_gib']})" if "peak_gpu_memory_gib" in r else ""
    )
    return (
        f"engine/generate speed {r['speed_ratio']:.3f}, engine {r['engine_ms_per_step']} ms/step = "
        f"{r['engine_tokens_per_second']:,} tok/s at {r['steps_per_canvas']} steps/canvas, same ids: "
        f"{r['same_ids']}{memory}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 on the CPU)")
    parser.add_argument("--budget", type=float, default=540, help="seconds for the whole check (default 540)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated, from " + ", ".join(SECTIONS))
    parser.add_argument("--out", default=str(ROOT / "build" / "gpu_check.json"))
    parser.add_argument("--workdir", help="where the checkpoints are built (default: a temporary folder)")
    parser.add_argument("--section", choices=CHILD_SECTIONS, help=argparse.SUPPRESS)  # a child process's one section
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here; run with --device cpu to check the script itself", file=sys.stderr)
        return 2
    profile = PROFILES[args.device]
    budget = Budget(args.budget)
    runners = {
        "parity": section_parity,
        "speed": section_speed,
        "window": section_window,
        "26b": section_26b,
        "compile": section_compile,
        "26b-compile": lambda *a: section_26b(*a, compile_too=True),
    }

    if args.section:  # in a child: run one section, print its result as the last line
        paths = checkpoints(Path(args.workdir), profile)
        result = runners[args.section](args, paths, profile, budget)
        print(json.dumps({"status": "ok"} | result))
        return 0

    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        print(f"gpu_check: unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        args.workdir = Path(args.workdir or scratch)
        started = time.monotonic()
        paths = checkpoints(args.workdir, profile)
        report: dict[str, Any] = {
            "machine": machine(),
            "device": args.device,
            "budget_seconds": args.budget,
            "setup_seconds": round(time.monotonic() - started, 1),
            "sections": {},
        }
        for name in wanted:
            cap = min(profile["caps"][name], budget.left() - 10)
            began = time.monotonic()
            if profile["caps"][name] == 0:
                result = {"status": "skipped", "reason": f"{name} runs on CUDA only"}
            elif cap < 20:
                result = {"status": "skipped", "reason": f"time budget: {budget.left():.0f} s left"}
            elif name in CHILD_SECTIONS and name != "window":
                result = run_child_section(args, name, cap)
            else:
                try:
                    result = {"status": "ok"} | runners[name](args, paths, profile, Budget(cap))
                except Exception as error:  # noqa: BLE001 - a failed section is reported; the others still run
                    result = {"status": "failed", "reason": f"{type(error).__name__}: {error}".splitlines()[0]}
            result["seconds"] = round(time.monotonic() - began, 1)
            report["sections"][name] = result
            print(f"{name}: {result.get('status')} ({result['seconds']} s)", file=sys.stderr, flush=True)
        report["seconds"] = round(time.monotonic() - started, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(report))
    print(f"report: {out} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
