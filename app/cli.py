"""Command line: `generate` and `rewrite` on the same engine as the window, with no Qt imported."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from models.events import CanvasCommitted, GenerationResult, StepSnapshot
from models.settings import SamplerSettings, SettingsError


def _user_errors() -> tuple[type[Exception], ...]:
    # Imported here, not at the top: the engine imports torch, and `--help` should not wait for it.
    from models.editing import EditError
    from models.images import ImageError
    from models.loading import LoadError
    from models.sessions import SessionError

    return (LoadError, ImageError, SessionError, EditError, SettingsError)


class CliError(Exception):
    """Bad input: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffusion-desk", description="Diffusion Desk command line")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
        sub.add_argument("--save", metavar="FILE", help="save the generation as a session file (JSON)")
        sub.add_argument("--json", action="store_true", help="print one JSON object with ids, text and every step")
        sub.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
        sub.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 elsewhere)")
        sub.add_argument("--compile", action="store_true",
                         help="static KV cache and torch.compile (GPU; the first run compiles)")

    gen = commands.add_parser("generate", help="generate an answer to a prompt")
    gen.add_argument("--model", help="checkpoint folder or hub id (default: the shipped demo model)")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--system", default="")
    gen.add_argument("--think", action="store_true", help="thinking mode")
    gen.add_argument("--image", action="append", default=[], metavar="FILE", help="an image (repeatable)")
    gen.add_argument("--image-budget", type=int, choices=(70, 140, 280, 560, 1120),
                     help="visual tokens per image (lower is faster, higher reads finer detail)")
    gen.add_argument("--max-new-tokens", type=int)
    gen.add_argument("--steps", type=int, help="most denoising steps per canvas")
    gen.add_argument("--entropy-bound", type=float)
    gen.add_argument("--t-min", type=float)
    gen.add_argument("--t-max", type=float)
    common(gen)

    rewrite = commands.add_parser("rewrite", help="re-denoise a span of a saved generation")
    rewrite.add_argument("--session", required=True, metavar="FILE")
    rewrite.add_argument("--span", required=True, metavar="A:B", help="generated-token indices, end exclusive")
    rewrite.add_argument("--lock", default="", metavar="I,J,...", help="positions that must not change")
    common(rewrite)
    return parser


def _span(text: str) -> tuple[int, int]:
    try:
        start, end = (int(part) for part in text.split(":"))
    except ValueError as error:
        raise CliError(f"--span must look like A:B (two whole numbers), got {text!r}") from error
    return start, end


def _locks(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise CliError(f"--lock must be whole numbers separated by commas, got {text!r}") from error


def _settings(args: argparse.Namespace, defaults: SamplerSettings) -> SamplerSettings:
    changes: dict[str, Any] = {"seed": args.seed, "compile": args.compile}
    for option, name in (("max_new_tokens", "max_new_tokens"), ("steps", "max_denoising_steps"),
                         ("entropy_bound", "entropy_bound"), ("t_min", "t_min"), ("t_max", "t_max")):
        value = getattr(args, option, None)
        if value is not None:
            changes[name] = value
    return defaults.with_values(**changes)


def _run(events: Any, want_json: bool) -> tuple[GenerationResult, list[list[dict[str, Any]]]]:
    canvases: dict[int, list[dict[str, Any]]] = {}
    result = None
    for event in events:
        if isinstance(event, StepSnapshot):
            if want_json:  # keep only what is printed: memory stays O(steps x canvas)
                canvases.setdefault(event.canvas_index, []).append({
                    "argmax": event.argmax.tolist(), "accepted": event.accepted.tolist(),
                    "entropy": [round(float(x), 6) for x in event.entropy]})
        elif isinstance(event, CanvasCommitted):
            canvases.setdefault(event.canvas_index, [])
        elif isinstance(event, GenerationResult):
            result = event
    assert result is not None
    return result, [canvases[i] for i in sorted(canvases)]


def _report(result: GenerationResult, steps: list[list[dict[str, Any]]], want_json: bool) -> None:
    if want_json:
        print(json.dumps({
            "token_ids": result.token_ids.tolist(),
            "text": result.answer,
            "thought": result.thought,
            "raw_text": result.text,
            "seconds": round(result.seconds, 4),
            "tokens_per_forward": result.tokens_per_forward,
            "tokens_per_second": result.tokens_per_second,
            "parallel_tokens_per_second": result.parallel_tokens_per_second,
            "canvases": [{"steps": canvas} for canvas in steps],
            "adaptive_stops": list(result.adaptive_stops),
            "span": list(result.span) if result.span else None,
        }))
    else:
        if result.thought:
            print(f"[thought] {result.thought}\n")
        print(result.answer)


def _generate(args: argparse.Namespace) -> None:
    from models.generator import Generation, Generator
    from models.images import load_image_file
    from models.loading import load_checkpoint
    from models.prompts import Prompt
    from models.sessions import save_session

    images = tuple(load_image_file(path) for path in args.image)  # check images before the slow model load
    loaded = load_checkpoint(args.model, device=args.device, dtype=args.dtype)
    settings = _settings(args, loaded.defaults)
    prompt = Prompt(user=args.prompt, system=args.system, think=args.think, images=images)
    generator = Generator(loaded)
    result, steps = _run(generator.generate(prompt, settings, image_budget=args.image_budget), args.json)
    if args.save:
        save_session(args.save, Generation(prompt, result.token_ids, settings), args.model or "")
    _report(result, steps, args.json)


def _rewrite(args: argparse.Namespace) -> None:
    from models.generator import Generator
    from models.loading import load_checkpoint
    from models.sessions import load_session, save_session

    span, locks = _span(args.span), _locks(args.lock)
    generation, model = load_session(args.session)
    length = len(generation.token_ids)
    if not 0 <= span[0] < span[1] <= length:  # checked here too so a bad span fails before the slow load
        raise CliError(f"--span {span[0]}:{span[1]} is outside the session's generated text (0:{length})")
    loaded = load_checkpoint(model or None, device=args.device, dtype=args.dtype)
    settings = _settings(args, generation.settings)
    generator = Generator(loaded)
    locks = sorted(set(locks) | generation.locks)  # the session's own locks hold too
    result, steps = _run(generator.rewrite(generation, span, locks, settings), args.json)
    if args.save:
        save_session(args.save, generation.with_ids(result.token_ids), model)
    _report(result, steps, args.json)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        (_generate if args.command == "generate" else _rewrite)(args)
    except (CliError, *_user_errors()) as error:
        print(f"diffusion-desk: {error}", file=sys.stderr)
        return 2
    return 0
