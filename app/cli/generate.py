"""Command line: `generate` and `rewrite` on the same engine as the window, with no Qt imported.

Every refusal is one line on stderr, `diffusion-desk: <why>`, and exit status 2: argparse's own errors too
(`_Parser.error`), and every known error of the engine (`error_line` maps them; the remote server can reuse it).
A failed `--save` comes after the answer is printed, then says the answer was not saved, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, NoReturn

from app.cli.json_steps import step_json
from app.cli.remote_runs import ServerOptionError, add_server_options, check_server_options, connect_server
from app.cli.sampler_options import SAMPLER_OPTIONS, add_sampler_options
from models.checkpoint.devices import check_device
from models.inputs.images import IMAGE_TOKEN_BUDGETS
from models.inputs.safe_files import UserFileError, check_save_target, check_user_file, remove_stale_temporaries
from models.inputs.validation import InputError, Limits, check_model_source, check_text, is_out_of_memory
from models.work.events import CanvasCommitted, GenerationResult, StepSnapshot
from models.work.settings import SAMPLERS, SPEC_BY_NAME, SamplerSettings, SettingsError, check_in_range

EXIT_BAD_INPUT = 2

class CliError(Exception):
    """Bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (CliError) instead of the usage text and exit."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("diffusion-desk").strip()  # "generate" for a subcommand's parser
        raise CliError(f"{command + ': ' if command else ''}{message} (see --help)")


def _user_errors() -> tuple[type[BaseException], ...]:
    # Imported here, not at the top: the engine imports torch, and `--help` should not wait for it.
    from app.cli.sessions import SessionModelError
    from app.remote.errors import RemoteError
    from models.checkpoint.load_errors import LoadError
    from models.engine.edit_plans import EditError
    from models.inputs.images import ImageError
    from models.session.files import SessionError

    return (CliError, InputError, UserFileError, LoadError, ImageError, SessionError, EditError, SettingsError,
            ServerOptionError, RemoteError, SessionModelError)


def error_line(error: BaseException) -> str | None:
    """The one line a user sees for a known error (bad input, no memory), or None for a bug (let it raise)."""
    # The errors of the early checks first: naming the others imports the engine (seconds), for nothing.
    if isinstance(error, (CliError, InputError, UserFileError, SettingsError, ServerOptionError)):
        return str(error)
    if isinstance(error, _user_errors()):
        return str(error)
    text = str(error)
    if is_out_of_memory(error):
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        return (f"not enough memory for this run ({first}); try a shorter prompt, a smaller --max-new-tokens "
                "or --image-budget, or a smaller model")
    return None


def one_line(text: str) -> str:
    """`text` as one printable line: line breaks and control characters escaped, undecodable bytes as \\xNN."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: m[0].encode("unicode_escape").decode("ascii"), text.strip())


def _fail(message: str) -> int:
    print(f"diffusion-desk: {one_line(message)}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="diffusion-desk", description="Diffusion Desk command line")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--seed", type=int, help="random seed (default: a fresh one)")
        sub.add_argument("--save", metavar="FILE",
                         help="save a session file with every step (rewrite: the session plus this run)")
        sub.add_argument("--json", action="store_true", help="print one JSON object with ids, text and every step")
        sub.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
        sub.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 elsewhere)")
        sub.add_argument("--top-k", type=int, metavar="K",
                         help="candidates recorded per position and step, 0 to 10 (0: none); observation only")
        sub.add_argument("--compile", action="store_true",
                         help="static KV cache and torch.compile (GPU; the first run compiles)")
        add_sampler_options(sub)
        sub.add_argument("--plan", action="store_true",
                         help="print the memory plan (what the checkpoint needs, what fits here) and exit")
        sub.add_argument("--max-gpu-memory", metavar="SIZE",
                         help="offload: at most SIZE of weights on the GPU (e.g. 20GiB); other layers go to RAM")
        sub.add_argument("--max-cpu-memory", metavar="SIZE",
                         help="offload: at most SIZE of weights in RAM; the rest goes to --offload-folder")
        sub.add_argument("--offload-folder", metavar="DIR", help="offload: a folder for layers that fit nowhere else")
        add_server_options(sub)

    gen = commands.add_parser("generate", help="generate an answer to a prompt")
    gen.add_argument("--model", help="checkpoint folder or hub id (default: the shipped demo model)")
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--system", default="")
    gen.add_argument("--think", action="store_true", help="thinking mode")
    gen.add_argument("--image", action="append", default=[], metavar="FILE", help="an image (repeatable)")
    gen.add_argument("--image-budget", type=int, choices=IMAGE_TOKEN_BUDGETS,
                     help="visual tokens per image (lower is faster, higher reads finer detail)")
    gen.add_argument("--max-new-tokens", type=int)
    gen.add_argument("--steps", type=int, help="most denoising steps per canvas")
    gen.add_argument("--entropy-bound", type=float, help="entropy-bound: accepted joint entropy per step")
    gen.add_argument("--t-min", type=float, help="entropy-bound: temperature at the last step")
    gen.add_argument("--t-max", type=float, help="entropy-bound: temperature at the first step")
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


#: Numeric options and the settings they set: the common ones, then each sampler's own (SAMPLER_OPTIONS).
_SETTING_OPTIONS = (("max_new_tokens", "max_new_tokens"), ("steps", "max_denoising_steps"), ("top_k", "top_k"),
                    *((option, name) for option, (name, _) in SAMPLER_OPTIONS.items()))


def _settings(args: argparse.Namespace, defaults: SamplerSettings) -> SamplerSettings:
    changes: dict[str, Any] = {"seed": args.seed, "compile": args.compile}
    for option, name in (*_SETTING_OPTIONS, ("sampler", "sampler")):
        value = getattr(args, option, None)
        if value is not None:
            changes[name] = value
    return defaults.with_values(**changes)


def _check_sampler_options(args: argparse.Namespace, sampler: str) -> None:
    """An option of another sampler than the one that runs is refused, not silently ignored; and each sampler
    option's range is checked before the slow model load."""
    given = {option: getattr(args, option) for option in SAMPLER_OPTIONS if getattr(args, option, None) is not None}
    for option, value in given.items():
        name, samplers = SAMPLER_OPTIONS[option]
        if sampler not in samplers:
            flag = "--corrector-tau" if option == "corrector_selection_tau" else "--" + option.replace("_", "-")
            raise CliError(f"{flag} applies to {' and '.join(samplers)} only, and the sampler is {sampler} "
                           f"(choose one with --sampler)")
        if name not in ("t_min", "t_max"):  # these two are checked against each other, once the defaults are known
            SamplerSettings().with_values(**{name: value})


def _run(events: Any, want_json: bool) -> tuple[GenerationResult, list[list[dict[str, Any]]]]:
    canvases: dict[int, list[dict[str, Any]]] = {}
    result = None
    for event in events:
        if isinstance(event, StepSnapshot):
            if want_json:  # keep only what is printed: memory stays O(steps x canvas)
                canvases.setdefault(event.canvas_index, []).append(step_json(event))
        elif isinstance(event, CanvasCommitted):
            canvases.setdefault(event.canvas_index, [])
        elif isinstance(event, GenerationResult):
            result = event
    assert result is not None
    return result, [canvases[i] for i in sorted(canvases)]


def _report(result: GenerationResult, steps: list[list[dict[str, Any]]], want_json: bool) -> None:
    if want_json:
        _print(json.dumps({
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
            _print(f"[thought] {result.thought}\n")
        _print(result.answer)


def _print(text: str) -> None:
    try:
        print(text)
    except UnicodeEncodeError:  # a terminal that cannot show every character still gets the answer
        encoding = sys.stdout.encoding or "ascii"
        print(text.encode(encoding, "backslashreplace").decode(encoding))


def _load_options(args: argparse.Namespace) -> dict[str, Any]:
    """The offload options for load_checkpoint (accelerate's; see models/checkpoint/placement.py)."""
    names = ("max_gpu_memory", "max_cpu_memory", "offload_folder")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _print_plan(model: str | None, args: argparse.Namespace) -> None:
    """--plan: what the checkpoint needs against what this machine has; reads no weights."""
    from models.checkpoint.memory_plan import plan_json, plan_memory

    plan = plan_memory(model, device=args.device, dtype=args.dtype, offload_folder=args.offload_folder)
    _print(plan_json(plan) if args.json else plan.text())


def _check_early(args: argparse.Namespace) -> None:
    """What can be refused before the slow model load: text, device, model name, save path."""
    check_server_options(args)
    if args.sampler is not None or args.command == "generate":  # rewrite's sampler is the session's
        _check_sampler_options(args, args.sampler or SAMPLERS[0])
    for option in ("prompt", "system"):
        value = getattr(args, option, None)
        if value is not None:
            check_text(value, f"--{option}")
    for option, name in _SETTING_OPTIONS:  # each in its range; how they combine is checked with the model's defaults
        if name in SPEC_BY_NAME and getattr(args, option, None) is not None:
            check_in_range(name, getattr(args, option))
    if args.seed is not None:
        SamplerSettings(seed=args.seed).validated()
    check_device(args.device)
    check_model_source(getattr(args, "model", None))
    if args.save:
        check_save_target(args.save)
        # Temporaries of a save that was killed (kill -9 mid-write) are cleared now, not at the next save there.
        remove_stale_temporaries(os.path.dirname(os.path.realpath(args.save)))


def _save(path: str, ws: Any, run: Any) -> None:
    """Save after the answer is printed; a failure says so (the answer is on screen, not lost)."""
    from app.cli.sessions import save_after
    from models.session.files import SessionError

    try:
        save_after(path, ws, run)
    except SessionError as error:
        raise CliError(f"the answer above was not saved: {error}") from error


def _generate(args: argparse.Namespace) -> None:
    from app.cli.sessions import generation_workspace, recorded
    from models.checkpoint.loading import load_checkpoint
    from models.engine.generator import Generator
    from models.inputs.images import load_image_file
    from models.inputs.validation import check_prompt_texts
    from models.work.prompts import Prompt

    if args.plan:
        return _print_plan(args.model, args)
    images = tuple(load_image_file(path) for path in args.image)  # check images before the slow model load
    prompt = Prompt(user=args.prompt, system=args.system, think=args.think, images=images)
    limits = Limits.from_env()
    check_prompt_texts(prompt, limits)
    if args.server:  # the same run on a server's engine (app/remote)
        generator, defaults, _ = connect_server(args)
        model = generator.remote_model()
    else:
        model = load_checkpoint(args.model, device=args.device, dtype=args.dtype, **_load_options(args))
        generator, defaults = Generator(model), model.defaults
    settings = _settings(args, defaults)
    events = generator.generate(prompt, settings, image_budget=args.image_budget)
    if args.save:  # every step is kept for the session file
        ws, run = generation_workspace(model, prompt, settings)
        events = recorded(run, events)
    result, steps = _run(events, args.json)
    _report(result, steps, args.json)
    if args.save:
        _save(args.save, ws, run)


def _rewrite(args: argparse.Namespace) -> None:
    from app.cli.sessions import recorded, session_model, session_on, start_rewrite
    from models.checkpoint.loading import load_checkpoint
    from models.engine.generator import Generation, Generator
    from models.session.files import NeedsItsModel, open_session

    span, locks = _span(args.span), _locks(args.lock)
    if os.path.lexists(args.session):  # a missing file is open_session's to report ("... does not exist")
        check_user_file(args.session, Limits.from_env().max_session_bytes, "session")  # no FIFO, device, folder
    try:  # read and checked whole before the slow load; a format-2 file also knows its text's length
        _check_span(span, locks, open_session(args.session).document)
    except NeedsItsModel:
        pass  # a format-1 file is checked once its model is loaded
    model_source = session_model(args.session)
    if args.plan:
        return _print_plan(model_source or None, args)
    if args.server:  # the same run on a server's engine (app/remote)
        generator = connect_server(args)[0]
        model = generator.remote_model()
    else:
        # A session file is not trusted to make us download anything: its model must be a folder or already cached.
        model = load_checkpoint(model_source or None, device=args.device, dtype=args.dtype, allow_download=False,
                                **_load_options(args))
        generator = Generator(model)
    ws = session_on(args.session, model)
    _check_span(span, locks, ws.document)
    if args.sampler is None:
        _check_sampler_options(args, ws.settings.sampler)
    settings = _settings(args, ws.settings)
    run = start_rewrite(ws, span, locks, settings)
    doc = ws.document
    events = generator.rewrite(Generation(run.prompt, doc.ids, settings, doc.locks), span, doc.locks, settings)
    result, steps = _run(recorded(run, events), args.json)
    _report(result, steps, args.json)
    if args.save:
        _save(args.save, ws, run)


def _check_span(span: tuple[int, int], locks: list[int], doc: Any) -> None:
    """--span and --lock inside the session's text, as the server checks a rewrite's span and locks."""
    length = len(doc.ids) if doc is not None else 0
    if not 0 <= span[0] < span[1] <= length:
        raise CliError(f"--span {span[0]}:{span[1]} is outside the session's generated text (0:{length})")
    outside = [i for i in locks if not 0 <= i < length]
    if outside:
        raise CliError(f"--lock {outside[0]} is outside the session's generated text (0 to {length - 1})")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; 0 on success, 2 (and one line on stderr) for any bad input."""
    try:
        args = _parser().parse_args(argv)
    except CliError as error:
        return _fail(str(error))
    except SystemExit as done:  # --help and --version print and exit 0
        return done.code if isinstance(done.code, int) else 0
    try:
        _check_early(args)  # before the engine's modules are imported: a refusal here takes a fraction of a second
        (_generate if args.command == "generate" else _rewrite)(args)
    except KeyboardInterrupt:
        print("diffusion-desk: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        line = error_line(error)
        if line is None:
            raise  # a bug, not bad input: its traceback is what a report needs
        return _fail(line)
    return 0
