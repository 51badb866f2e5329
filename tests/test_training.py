"""Training code for the demo model: data, the loss's noise and masks, a few steps learning, evaluation end to end."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
import torch

from models.testing.tiny_checkpoint import END_OF_TURN_ID, PAD_ID
from models.training import data
from models.training.loss import answer_canvas, collate, corrupt, diffusion_loss, encode_prompt


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a loaded machine two threads spin-wait on each other
    (a 12-step loop here took 16 s with two threads, 4 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _take(task: str, seed: int, split: str = "train", n: int = 20) -> list[tuple[str, str]]:
    return [(e.user, e.answer) for e in itertools.islice(data.examples(task, seed, split), n)]


@pytest.mark.parametrize("task", data.TEXT_TASKS)
def test_text_data_is_deterministic_per_seed(task):
    assert _take(task, 3) == _take(task, 3)
    assert _take(task, 3) != _take(task, 4)


def test_image_data_is_deterministic_per_seed():
    first = [e.image.tobytes() for e in itertools.islice(data.examples("shape", 1), 3)]
    again = [e.image.tobytes() for e in itertools.islice(data.examples("shape", 1), 3)]
    assert first == again


@pytest.mark.parametrize("shape", data.SHAPES)
def test_figures_are_centred_in_their_colour_and_told_apart_by_covered_area(shape):
    """The figure fills the middle of the frame; its corners and centre say which shape it is."""
    import random

    image = data.draw_shape(shape, "blue", random.Random(0))
    near_corner = (data.FIGURE_MARGIN + 10, data.FIGURE_MARGIN + 10)  # inside the figure's box, top left
    middle = (data.IMAGE_SIZE // 2, data.IMAGE_SIZE // 2)

    def is_blue(xy: tuple[int, int]) -> bool:
        red, _, blue = image.getpixel(xy)
        return blue > 150 and red < 100

    assert is_blue(middle)
    assert not is_blue((5, 5)) and not is_blue((data.IMAGE_SIZE - 5, data.IMAGE_SIZE - 5))  # margins: background
    assert is_blue(near_corner) == (shape == "square")


def test_held_out_prompts_never_reach_training():
    for task in ("extreme", "sort", "rewrite"):
        train = {user for user, _ in _take(task, 0, "train", 400)}
        held = {user for user, _ in _take(task, 0, "eval", 40)}
        assert not train & held
        assert all(data.held_out(user) for user in held)


def test_answers_are_right():
    for example in itertools.islice(data.examples("sort", 0), 50):
        numbers = [int(x) for x in example.user.split()[1:]]
        assert example.answer == " ".join(map(str, sorted(numbers)))
    for example in itertools.islice(data.examples("latin", 0), 30):
        cells = data.parse_latin(example.answer)
        assert cells is not None and data.is_latin(cells)
        if example.kind == "puzzle":
            givens = [None if ch == "_" else int(ch) for ch in example.user.split(":\n")[1].replace("\n", "")]
            assert data.latin_solutions(givens) == [tuple(cells)]  # unique, so exact match is fair
    assert len(data.LATIN_SQUARES) == 576


def _passage_of(user: str) -> tuple[str, str, int, int]:
    """(instruction, text, start, end) read back from a rewrite prompt's user turn."""
    instruction, rest = user.split("\n\nPassage:\n", 1)
    passage, context = rest.split("\n\nIt sits in this text (… marks cuts):\n…", 1)
    before, after = context[:-1].split("[PASSAGE]")
    return instruction, before + passage + after, len(before), len(before) + len(passage)


def test_rewrite_examples_are_what_ctrl_k_sends_with_right_answers():
    """Each prompt is rewrite_prompt's over the whole answer text; the answer agrees with the evaluation's own
    implementation of the instructions (written apart from the training's)."""
    from models.training.independent import rewritten
    from models.training.rewrites import REWRITE_INSTRUCTIONS, REWRITE_KINDS
    from models.work.prompts import Prompt
    from models.work.rewriting import REWRITE_SYSTEM, rewrite_prompt

    seen_kinds, seen_shapes = set(), set()
    for example in itertools.islice(data.examples("rewrite", 0), 300):
        instruction, text, start, end = _passage_of(example.user)
        assert example.system == REWRITE_SYSTEM
        assert rewrite_prompt(instruction, text, start, end) == Prompt(user=example.user, system=example.system)
        passage = text[start:end]
        # A passage is whole numbers of a list or whole rows of a square: it starts and ends on a digit, at a boundary.
        assert passage[0].isdigit() and passage[-1].isdigit()
        assert start == 0 or text[start - 1] in " \n"
        assert end == len(text) or text[end] in " \n"
        words = instruction.split()
        old, new = (words[1], words[3]) if words[0] == "Replace" else ("", "")
        assert example.answer == rewritten(example.kind, passage, old, new), example.user
        assert instruction in REWRITE_INSTRUCTIONS or example.kind == "replace"
        seen_kinds.add(example.kind)
        seen_shapes.add("list" if " " in passage else f"rows:{passage.count(chr(10)) + 1}")
    assert seen_kinds == set(REWRITE_KINDS)
    assert seen_shapes == {"list", "rows:1", "rows:2", "rows:3", "rows:4"}


def test_rewrite_instructions_on_lists_and_rows():
    from models.training.rewrites import apply_instruction

    assert apply_instruction("Reverse", "2 4 7") == "7 4 2"
    assert apply_instruction("Sort descending", "2 4 7") == "7 4 2"
    assert apply_instruction("Sort ascending", "3412\n2143") == "1234\n1234"
    assert apply_instruction("Reverse", "3412\n2143") == "2143\n3412"  # each row, not the order of rows
    assert apply_instruction("Replace 3 with 7", "3 1 3") == "7 1 7"
    assert apply_instruction("Replace 5 with 0", "3412") == "3412"
    assert apply_instruction("Double each number", "4 5 9") == "8 10 18"
    assert apply_instruction("Double each number", "3412") == "6824"
    with pytest.raises(ValueError):
        apply_instruction("Shuffle", "1 2")


def test_demo_tokenizer_keeps_every_cell_and_digit_one_token():
    """Runs of blanks must not merge ("__"), or a puzzle's cells would sit at other offsets than the answer's."""
    from models.testing.tiny_checkpoint import build_tokenizer

    tokenizer = build_tokenizer(640, data.tokenizer_corpus(0))
    puzzle = "Complete the Latin square:\n1___\n__4_\n____\n_3_1"
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(puzzle, add_special_tokens=False)["input_ids"])
    assert pieces[-19:] == list(puzzle[-19:])
    assert tokenizer.convert_ids_to_tokens(tokenizer("Double each number", add_special_tokens=False)["input_ids"]) \
        == ["Double", "\u2581each", "\u2581number"]


@pytest.mark.parametrize("task,kind", [("extreme", None), ("sort", None), ("latin", "puzzle"), ("shape", "both"),
                                       ("rewrite", "replace"), ("rewrite", "double")])
def test_independent_cases_are_seeded(task, kind):
    from models.training.independent import independent_cases

    def key(cases):
        return [(c.prompt, c.answer) if not c.prompt.images else (c.answer, c.prompt.images[0].tobytes())
                for c in cases]

    assert key(independent_cases(task, kind, 4, 0)) == key(independent_cases(task, kind, 4, 0))
    assert key(independent_cases(task, kind, 4, 0)) != key(independent_cases(task, kind, 4, 1))


def test_independent_cases_have_right_answers():
    from models.training.independent import independent_cases

    for case in independent_cases("sort", None, 30, 0):
        values = [int(v) for v in case.prompt.user.split()[1:]]
        assert 3 <= len(values) <= 7 and case.answer == " ".join(map(str, sorted(values)))
    for case in independent_cases("extreme", None, 30, 0):
        word, _, rest = case.prompt.user.partition(" of ")
        values = [int(v) for v in rest.rstrip("?").split()]
        assert case.answer == str(max(values) if word == "Largest" else min(values))
    blanks = set()
    for case in independent_cases("latin", "puzzle", 30, 0):
        grid = case.prompt.user.split(":\n")[1]
        givens = [None if ch == "_" else int(ch) for ch in grid.replace("\n", "")]
        blanks.add(givens.count(None))
        assert data.latin_solutions(givens) == [tuple(data.parse_latin(case.answer))]  # the one completion
    assert min(blanks) >= 4 and max(blanks) <= 11 and len(blanks) > 4
    for case in independent_cases("rewrite", "descending", 20, 0):
        instruction, text, start, end = _passage_of(case.prompt.user)
        assert instruction == "Sort descending"
        lines = text[start:end].split("\n")
        assert case.answer == "\n".join(" ".join(sorted(line.split(), reverse=True)) if " " in line
                                        else "".join(sorted(line, reverse=True)) for line in lines)


@pytest.mark.parametrize("shape", data.SHAPES)
def test_independent_pictures_match_the_training_figures(shape):
    """Drawn by other code, the figure still covers (nearly) the same pixels as the training's."""
    import random

    import numpy as np

    from models.training.independent import draw_figure

    ours = np.asarray(draw_figure(np.random.default_rng(0), shape, "blue")).astype(int)
    theirs = np.asarray(data.draw_shape(shape, "blue", random.Random(0))).astype(int)
    assert ((ours[..., 2] > 150) != (theirs[..., 2] > 150)).mean() < 0.01


@pytest.fixture(scope="module")
def tiny(vision_checkpoint):
    from models.checkpoint.loading import load_checkpoint

    return load_checkpoint(vision_checkpoint)


def test_answer_canvas_is_answer_end_of_turn_then_pad(tiny):
    canvas = answer_canvas(tiny.tokenizer, "2 4 7", 32, END_OF_TURN_ID, PAD_ID)
    ids = tiny.tokenizer("2 4 7", add_special_tokens=False)["input_ids"]
    assert canvas == ids + [END_OF_TURN_ID] + [PAD_ID] * (32 - len(ids) - 1)


def test_noise_level_is_the_fraction_of_uniform_random_tokens():
    canvas = torch.zeros((4, 4096), dtype=torch.long)
    generator = torch.Generator().manual_seed(0)
    noisy, noise, levels = corrupt(canvas, 1000, generator, levels=torch.tensor([0.0, 0.25, 0.75, 1.0]))
    assert torch.equal(noisy[0], canvas[0]) and not noise[0].any()
    assert noise[3].all()
    for row, level in enumerate((0.0, 0.25, 0.75, 1.0)):
        assert abs(noise[row].float().mean().item() - level) < 0.03
    # Replaced tokens are uniform over the vocabulary (mean of U{0..999} is 499.5).
    assert abs(noisy[3].float().mean().item() - 499.5) < 20
    assert torch.equal(noisy[~noise], canvas[~noise])


def test_left_padded_batch_matches_each_prompt_alone(tiny):
    """The loss pads prompts on the left; the decoder must see exactly what an unpadded `generate` run sees."""
    examples = [data.Example("sort", "Sort 3 1 2 9 9 8", "1 2 3 8 9 9"),
                data.Example("extreme", "Largest of 1 2?", "2")]
    canvas_length = tiny.canvas_length
    generator = torch.Generator().manual_seed(1)

    def logits(batch, noisy):
        cache, mask = encode_prompt(tiny.model, batch.inputs)
        length = mask.shape[1]
        masks = tiny.model.model.decoder.create_diffusion_decoder_attention_mask(
            config=tiny.model.config, inputs_embeds=noisy.unsqueeze(-1), past_key_values=cache,
            decoder_attention_mask=torch.nn.functional.pad(mask, (0, canvas_length), value=True))
        positions = torch.arange(length, length + canvas_length, dtype=torch.int32).unsqueeze(0)
        return tiny.model(decoder_input_ids=noisy, past_key_values=cache, decoder_attention_mask=masks,
                          decoder_position_ids=positions).logits

    with torch.no_grad():
        batch = collate(examples, tiny.processor, canvas_length, END_OF_TURN_ID, PAD_ID)
        assert not batch.inputs["attention_mask"].all()  # the shorter prompt really is padded
        noisy, _, _ = corrupt(batch.canvas, tiny.model.config.text_config.vocab_size, generator)
        together = logits(batch, noisy)
        for row, example in enumerate(examples):
            alone = logits(collate([example], tiny.processor, canvas_length, END_OF_TURN_ID, PAD_ID),
                           noisy[row:row + 1])
            assert torch.allclose(together[row], alone[0], atol=1e-4)


def test_a_few_steps_reduce_the_loss(vision_checkpoint):
    from models.checkpoint.loading import load_checkpoint

    loaded = load_checkpoint(vision_checkpoint)  # a private copy: this test changes its weights
    model = loaded.model.train()
    text = list(itertools.islice(data.examples("sort", 0), 8))
    image = list(itertools.islice(data.examples("shape", 0), 2))
    batch = collate(text + image, loaded.processor, loaded.canvas_length, END_OF_TURN_ID, PAD_ID)
    assert "pixel_values" in batch.inputs
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss, stats = diffusion_loss(model, batch, torch.Generator().manual_seed(0))  # the same noise each step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(stats["loss"])
    assert losses[-1] < 0.8 * losses[0]


def _tiny_phases():
    """Two short phases of the real training loop, the second with the "free" task and another mix."""
    from models.training.train import Phase

    return (Phase(steps=2, peak_lr=2e-3, image_every=2, rewrite_share=0.5, short_weights={"sort": 1.0}),
            Phase(steps=2, peak_lr=1e-3, image_every=5, rewrite_share=0.5, short_weights={"free": 0.5, "latin": 0.5}))


def _train_tiny(folder: Path, seed: int, from_phase: int = 0) -> dict:
    """Four steps of the real training loop on a tiny version of the demo architecture."""
    from models.training.train import DEMO_ARCHITECTURE, train

    architecture = dict(DEMO_ARCHITECTURE, hidden_size=32, num_layers=1, heads=2, kv_heads=1, vision_hidden_size=16,
                        vision_layers=1, canvas_length=32, generation_defaults={"max_new_tokens": 32})
    return train(folder / "model", folder / "work", seed=seed, phases=_tiny_phases(), text_batch=2, image_batch=1,
                 save_every=3, threads=1, quiet=True, architecture=architecture, from_phase=from_phase)


def test_train_writes_a_loadable_checkpoint_and_a_loss_curve(tmp_path):
    import json

    from PIL import Image

    from models.checkpoint.loading import load_checkpoint

    out = tmp_path / "model"
    summary = _train_tiny(tmp_path, seed=0)
    assert summary["steps"] == summary["steps_run"] == 4
    loaded = load_checkpoint(out)
    assert loaded.defaults.max_denoising_steps == 48 and loaded.canvas_length == 32
    assert Image.open(tmp_path / "work" / "loss.png").size == (800, 480)
    for folder in ("latest", "phase-0", "phase-1"):
        assert (tmp_path / "work" / folder / "model.safetensors").is_file()
    history = json.loads((tmp_path / "work" / "history.json").read_text())
    assert [h["phase"] for h in history] == [0, 0, 1, 1] and [h["image"] for h in history] == [0, 1, 0, 0]


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(folder / "model" / "model.safetensors")


def test_training_is_reproducible_from_its_seed_and_resumes_exactly(tmp_path):
    import shutil

    runs = {name: _train_tiny(tmp_path / name, seed) for name, seed in (("a", 0), ("b", 0), ("c", 1))}
    weights = {name: _weights(tmp_path / name) for name in runs}
    assert runs["a"]["final_loss"] == runs["b"]["final_loss"]
    assert all(torch.equal(weights["a"][key], weights["b"][key]) for key in weights["a"])
    assert not all(torch.equal(weights["a"][key], weights["c"][key]) for key in weights["a"])
    # Stopped after the first phase and resumed: the same weights as straight through.
    shutil.rmtree(tmp_path / "b" / "model")
    shutil.rmtree(tmp_path / "b" / "work" / "phase-1")
    resumed = _train_tiny(tmp_path / "b", 0, from_phase=1)
    assert resumed["steps_run"] == 2 and resumed["final_loss"] == runs["a"]["final_loss"]
    again = _weights(tmp_path / "b")
    assert all(torch.equal(weights["a"][key], again[key]) for key in weights["a"])


def test_evaluation_reports_every_task_and_editing_trial_on_the_demo_model():
    """Three steps a canvas on the shipped model: the report's fields, not its accuracy."""
    from models.training.edit_trials import EDIT_TRIALS
    from models.training.evaluate import SOURCES, SUITES, evaluate

    printed = io.StringIO()
    report = evaluate(None, per_task=1, locks=2, out=printed, max_denoising_steps=3)
    assert list(report["tasks"]) == [name for name, _, _ in SUITES]
    assert all(task[source]["total"] == 1 for task in report["tasks"].values() for source in SOURCES)
    assert 1 <= report["mean_steps"] <= 3
    assert list(report["edits"]) == [name for name, _ in EDIT_TRIALS]
    for edit in report["edits"].values():
        assert edit["total"] == 2 and 0 <= edit["correct"] <= 2 and edit["accuracy"] == edit["correct"] / 2
    text = printed.getvalue()
    assert "independent" in text and "fill around 2 locks" in text
    assert text.rstrip().splitlines()[-1].startswith("| re-denoise one row (Ctrl+R) |")  # README's tables end it


def test_two_locks_never_clash_and_always_fit_a_square():
    import numpy as np

    from models.training.edit_trials import choose_locks
    from models.training.independent import random_square

    rng = np.random.default_rng(0)
    for _ in range(200):
        cells = random_square(rng)
        kept = choose_locks(rng, cells, 2)
        (a, da), (b, db) = kept.items()
        assert da != cells[a] and db != cells[b]
        assert not (da == db and (a // 4 == b // 4 or a % 4 == b % 4))
        assert data.latin_solutions([kept.get(c) for c in range(16)])


def test_demo_prompts_name_shipped_images():
    import json

    root = Path(__file__).resolve().parent.parent / "resources"
    prompts = json.loads((root / "demo_prompts.json").read_text(encoding="utf-8"))
    assert prompts and all(isinstance(p["title"], str) and isinstance(p["prompt"], str) for p in prompts)
    for entry in prompts:
        if "image" in entry:
            assert (root / "demo-images" / entry["image"]).is_file()


def test_the_list_heavy_rewrite_stream_draws_four_in_five_passages_from_number_lists():
    import random

    from models.training.data import MAKERS

    rng = random.Random(7)
    lists = [" " in MAKERS["rewrite-lists"](rng).answer for _ in range(400)]  # rows of a square have no spaces
    balanced = [" " in MAKERS["rewrite"](rng).answer for _ in range(400)]
    assert 0.72 < sum(lists) / 400 < 0.88 and 0.4 < sum(balanced) / 400 < 0.6
