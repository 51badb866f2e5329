"""Fuzzing the edges with hypothesis: command lines, prompt text, sampler settings, image bytes, device and model
names. Every input ends in success or one clear refusal, never a traceback.

About 575 examples in the suite (fixed, so a run is repeatable); `HYPOTHESIS_PROFILE=thorough` runs 20x as many
fresh ones. The command line runs in-process (`app.cli.generate.main`) on a tiny checkpoint.
"""

from __future__ import annotations

import io
import os

import pytest
import torch
from hypothesis import event, given
from hypothesis import strategies as st
from PIL import Image
from transformers.models.diffusion_gemma.generation_diffusion_gemma import LinearTemperatureScheduleLogitsProcessor

from app.cli.generate import main
from models.checkpoint.devices import check_device
from models.engine.generator import Generator
from models.inputs.images import MAX_SIDE, MIN_SIDE, ImageError, load_image_bytes
from models.inputs.validation import _FORBIDDEN, _SURROGATE, InputError, Limits, check_model_source
from models.work.prompts import Prompt
from models.work.settings import SPECS, SamplerSettings, SettingsError
from tests.hardening_support import fuzz

SPECIALS = [
    "<|image|>",
    "<|audio|>",
    "<|video|>",
    "<|think|>",
    "<turn|>",
    "<|turn>",
    "<|channel>",
    "<channel|>",
    "<bos>",
    "<eos>",
    "<pad>",
    "<mask>",
    "<|image>",
    "<image|>",
    '<|"|>',
    "<|tool_call>",
]
ODD = [
    "\x00",
    "\x01",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9f",
    "\udcff",
    "\udc80",
    "\ud800",
    "\udfff",
    "\u2028",
    "\u2060",
    "\u200b",
    "\ufeff",
    "\t",
    "\n",
    "\r",
    "\U0010ffff",
    "\ufffd",
    "{{",
    "{%",
    "}}",
]
TEXT = st.lists(
    st.one_of(
        st.text(max_size=12),
        st.sampled_from(SPECIALS),
        st.sampled_from(ODD),
        st.characters(categories=["Cs", "Cc", "Cf", "Co", "Zl", "Zp"]),
    ),
    max_size=8,
).map("".join)


@pytest.fixture(scope="module")
def files(tmp_path_factory, text_checkpoint):
    root = tmp_path_factory.mktemp("fuzz")
    Image.new("RGB", (24, 16), (200, 30, 30)).save(root / "red.png")
    (root / "text.png").write_text("not an image")
    os.mkfifo(root / "pipe")
    return {
        "model": str(text_checkpoint),
        "root": root,
        "images": [
            str(root / "red.png"),
            str(root / "text.png"),
            str(root / "pipe"),
            "/dev/zero",
            str(root),
            str(root / "missing.png"),
        ],
        "saves": [str(root / "out.json"), str(root), str(root / "no" / "x.json"), "/proc/out.json"],
    }


def option_values(files: dict) -> dict[str, st.SearchStrategy[str]]:
    # Whole numbers of any size as a user might type them: 10**400 overflowed every float conversion, and argparse
    # itself refuses more than 4,300 digits.
    huge = st.integers(1, 6000).map(lambda n: "9" * n)
    numbers = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True).map(repr),
        st.sampled_from(["0", "1e-300", "5e-324", "-0.0", "inf", "nan", "1e308", "1e400", "x", ""]),
        huge,
    )
    return {
        "--system": TEXT,
        "--seed": st.one_of(st.integers(-5, 2**64).map(str), st.sampled_from(["abc", "", "1.5", "٣"])),
        "--steps": st.one_of(st.sampled_from(["1", "2", "0", "-1", "1e9", "2.5", "x"]), huge),  # no long valid run
        "--max-new-tokens": st.one_of(st.sampled_from(["1", "32", "64", "0", "-3", "99999999", "abc"]), huge),
        "--top-k": st.one_of(st.sampled_from(["0", "5", "11", "-1"]), huge),
        "--entropy-bound": numbers,
        "--t-min": numbers,
        "--t-max": numbers,
        "--device": st.sampled_from(["cpu", "CPU", "meta", "nonsense", "cuda:99", "", "cpu:0", "\udcff"]),
        "--dtype": st.sampled_from(["fp32", "bf16", "fp64", "", "int8"]),
        "--image": st.sampled_from(files["images"]),
        "--image-budget": st.sampled_from(["70", "140", "71", "-1", "x"]),
        "--save": st.sampled_from(files["saves"]),
        "--model": st.sampled_from([files["model"], "a b/c d", str(files["root"] / "missing"), "", "org/x/y"]),
    }


@st.composite
def generate_argv(draw, files: dict) -> list[str]:
    values = option_values(files)
    argv = ["generate", "--model", files["model"], "--steps", "1"]
    if draw(st.integers(0, 9)):
        argv += ["--prompt", draw(TEXT)]
    for option in draw(st.lists(st.sampled_from(sorted(values)), unique=True, max_size=4)):
        argv += [option, draw(values[option])]
    for flag in draw(st.lists(st.sampled_from(["--json", "--think", "--bogus", "-x", "--"]), max_size=2)):
        argv.insert(draw(st.integers(1, len(argv))), flag)
    return argv


def check_outcome(code: int, out: str, err: str, argv: list[str]) -> None:
    event(f"exit {code}")
    assert "Traceback" not in err
    if code == 0:
        assert out.endswith("\n") and not err.strip(), (argv, err)  # the answer may be empty, its line is there
        return
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("diffusion-desk: "), (argv, code, err)
    if "--save" not in argv:
        assert out == "", (argv, out)


@fuzz(40)
@given(data=st.data())
def test_fuzz_the_command_line(capsys, files, data) -> None:
    argv = data.draw(generate_argv(files))
    code = main(argv)
    captured = capsys.readouterr()
    check_outcome(code, captured.out, captured.err, argv)


@fuzz(15)
@given(
    span=st.one_of(
        st.integers(0, 31).flatmap(lambda a: st.integers(a + 1, 32).map(lambda b: f"{a}:{b}")),
        st.tuples(st.integers(-3, 40), st.integers(-3, 40)).map(lambda t: f"{t[0]}:{t[1]}"),
        st.sampled_from(["", ":", "1:", "a:b", "1:2:3", "\udcff"]),
    ),
    lock=st.one_of(
        st.lists(st.integers(-2, 40), max_size=4).map(lambda x: ",".join(map(str, x))),
        st.sampled_from(["x", ",,", "1,a"]),
    ),
)
def test_fuzz_rewrite_spans_and_locks(capsys, files, span: str, lock: str) -> None:
    session = files["root"] / "session.json"
    if not session.exists():
        assert (
            main(
                [
                    "generate",
                    "--model",
                    files["model"],
                    "--prompt",
                    "x",
                    "--steps",
                    "1",
                    "--seed",
                    "0",
                    "--save",
                    str(session),
                ]
            )
            == 0
        )
        capsys.readouterr()
    argv = ["rewrite", "--session", str(session), "--span", span, "--lock", lock]
    code = main(argv)
    captured = capsys.readouterr()
    check_outcome(code, captured.out, captured.err, argv)


@fuzz(150)
@given(user=TEXT, system=TEXT, answer=TEXT, think=st.booleans())
def test_fuzz_prompt_text(loaded_text, user: str, system: str, answer: str, think: bool) -> None:
    """Refused exactly when a text holds a forbidden character (an earlier answer, which the model wrote, may hold
    control characters, not invalid Unicode); otherwise no special token comes from the text."""
    generator = Generator(loaded_text)
    prompt = Prompt(user="q", system=system, think=think).followed_by(answer, user)
    forbidden = any(_FORBIDDEN.search(text) for text in (user, system)) or bool(_SURROGATE.search(answer))
    try:
        inputs = generator.prompt_inputs(prompt)
    except InputError as error:
        assert forbidden and "\n" not in str(error), str(error)
        return
    assert not forbidden
    plain = generator.prompt_inputs(Prompt(user="q", system="s" if system else "", think=think).followed_by("a", "u"))
    special = set(loaded_text.tokenizer.all_special_ids)
    count = sum(int(i) in special for i in inputs["input_ids"][0].tolist())
    assert count == sum(int(i) in special for i in plain["input_ids"][0].tolist())


def setting_values(spec) -> st.SearchStrategy:
    edges = [spec.minimum, spec.maximum, 0, -1, 1e-300, 5e-324, -0.0, float("inf"), float("-inf"), float("nan")]
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
        st.sampled_from(edges),
        st.integers(-(2**70), 2**70),
        st.integers(1, 6000).map(lambda n: 10**n),  # any size: 10**400 raised OverflowError in validation
        st.integers(1, 6000).map(lambda n: -(10**n)),
        st.sampled_from([None, "1", True, [1], {}]),
    )


@fuzz(150)
@given(data=st.data())
def test_fuzz_sampler_settings(data) -> None:
    """Every setting accepted gives finite probabilities at the schedule's first and last steps, in every dtype."""
    values = {
        spec.name: data.draw(setting_values(spec), label=spec.name)
        for spec in SPECS
        if data.draw(st.booleans(), label=f"set {spec.name}")
    }
    for name in ("seed", "compile"):  # any JSON value, as a session file or a client may carry
        if data.draw(st.booleans(), label=f"set {name}"):
            values[name] = data.draw(st.one_of(setting_values(SPECS[0]), st.booleans()), label=name)
    try:
        settings = SamplerSettings(**values).validated()
    except SettingsError as error:
        assert str(error) and "\n" not in str(error) and len(str(error)) < 300
        return
    assert isinstance(settings.compile, bool) and (settings.seed is None or type(settings.seed) is int)
    steps = int(settings.max_denoising_steps)
    schedule = LinearTemperatureScheduleLogitsProcessor(settings.t_min, settings.t_max, steps)
    logits = torch.linspace(-30, 30, 64).reshape(1, 2, 32)  # the real model soft-caps its logits at 30
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        for step in (steps, 1):
            scaled = schedule(None, logits.to(dtype), cur_step=torch.tensor(step, dtype=torch.int32))
            probabilities = torch.softmax(scaled, dim=-1, dtype=torch.float32)
            assert torch.isfinite(probabilities).all(), (settings, dtype, step)
            torch.multinomial(probabilities.view(-1, 32), 1)


def encoded(image: Image.Image, format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format)
    return buffer.getvalue()


SEEDS = [
    encoded(Image.new(mode, size, 1), fmt)
    for mode, size, fmt in [
        ("RGB", (9, 9), "PNG"),
        ("RGBA", (3, 40), "PNG"),
        ("L", (16, 4), "JPEG"),
        ("P", (5, 5), "GIF"),
        ("RGB", (7, 13), "BMP"),
        ("RGB", (12, 12), "WEBP"),
        ("I;16", (8, 8), "PNG"),
        ("CMYK", (8, 8), "JPEG"),
    ]
]


@st.composite
def image_bytes(draw) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=200))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@fuzz(120)
@given(data=image_bytes())
def test_fuzz_image_bytes(data: bytes) -> None:
    try:
        image = load_image_bytes(data, "fuzz.png")
    except ImageError as error:
        assert str(error).startswith("fuzz.png") and "\n" not in str(error)
        return
    assert image.mode == "RGB" and MIN_SIDE <= min(image.size) and max(image.size) <= MAX_SIDE


@fuzz(50)
@given(name=st.one_of(TEXT, st.sampled_from(["cuda:0", "mps", "cpu:1", "xla", "meta", "CUDA", " cpu "])))
def test_fuzz_device_names(name: str) -> None:
    try:
        assert check_device(name) in (None, "cpu")  # this machine kind has no GPU: cpu is all it may accept
    except InputError as error:
        assert str(error)


@fuzz(50)
@given(source=st.one_of(TEXT, st.sampled_from(["a b/c d", "google/x", "../x", "~/m", "org/-x", "a/b.c", "a\x00b"])))
def test_fuzz_model_sources(source: str) -> None:
    try:
        check_model_source(source)
    except InputError as error:
        assert "hub id" in str(error)


@pytest.mark.parametrize("option", ["--model", "--image", "--save"])
def test_a_nul_in_a_file_name_is_one_message(capsys, option: str) -> None:
    assert main(["generate", option, "a\x00b", "--prompt", "x"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_limits_respect_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DIFFUSION_DESK_MAX_PROMPT_CHARS", "10")
    assert Limits.from_env().max_prompt_chars == 10
