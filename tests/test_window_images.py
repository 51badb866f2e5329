"""Images in the window: dropped anywhere, pasted into the prompt, sent in order at the chosen budget."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.controllers.examples import load_examples
from models.checkpoint.processing import image_token_count
from models.testing.tiny_checkpoint import IMAGE_TOKEN_ID
from tests.window_helpers import close_quietly, load, make_window


@pytest.fixture
def window(qtbot, tmp_path, vision_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, vision_checkpoint)
    yield win
    close_quietly(win)


def drop(target, mime: QMimeData) -> None:
    """Enter, move, drop: the sequence a real drag delivers (Qt sends a drop only where the drag was accepted)."""
    point, action = QPointF(10, 10), Qt.DropAction.CopyAction
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(point.toPoint(), action, mime, buttons, keys)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the drag was not accepted"
    QApplication.sendEvent(target, QDragMoveEvent(point.toPoint(), action, mime, buttons, keys))
    QApplication.sendEvent(target, QDropEvent(point, action, mime, buttons, keys))


def image_files(tmp_path, colours) -> list:
    paths = []
    for index, colour in enumerate(colours):
        path = tmp_path / f"image{index}.png"
        Image.new("RGB", (120, 90), colour).save(path)
        paths.append(path)
    return paths


def test_files_dropped_on_the_prompt_become_images_in_order(qtbot, window, tmp_path):
    window.prompt_panel.set_prompt("What is in these?")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in image_files(tmp_path, [(255, 0, 0), (0, 0, 255)])])
    drop(window.prompt_panel.user_edit.viewport(), mime)
    assert [img.getpixel((5, 5)) for img in window.image_strip.images()] == [(255, 0, 0), (0, 0, 255)]
    assert window.prompt_panel.user_text() == "What is in these?"  # no file path typed into the prompt
    prompt = window.workspace.draft
    assert [img.getpixel((5, 5)) for img in prompt.images] == [(255, 0, 0), (0, 0, 255)]


def test_a_bad_drop_is_refused_and_loses_nothing(qtbot, window, tmp_path):
    window.prompt_panel.set_prompt("Keep me")
    good = image_files(tmp_path, [(0, 255, 0)])[0]
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(good)), QUrl.fromLocalFile(str(bad))])
    drop(window, mime)
    assert "notes.png" in window.statusBar().currentMessage()  # said in the status bar; no dialog to dismiss
    assert len(window.image_strip.images()) == 1 and window.prompt_panel.user_text() == "Keep me"


def test_ctrl_v_pastes_an_image_into_the_prompt(qtbot, window):
    image = QImage(64, 48, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.yellow)
    QGuiApplication.clipboard().setImage(image)
    window.prompt_panel.user_edit.setFocus()
    QTest.keySequence(window.prompt_panel.user_edit, QKeySequence_paste())
    assert len(window.image_strip.images()) == 1
    assert window.prompt_panel.user_text() == ""


def QKeySequence_paste():  # noqa: N802 - reads like the Qt call it wraps
    from PySide6.QtGui import QKeySequence

    return QKeySequence(QKeySequence.StandardKey.Paste)


def test_two_images_generate_end_to_end_with_the_budget(qtbot, window, tmp_path):
    for path in image_files(tmp_path, [(200, 20, 20), (20, 200, 20)]):
        window.image_strip.add_files([path])
    window.image_strip.set_budget(140)
    window.prompt_panel.set_prompt("Compare the two pictures")
    window.sampler_panel.spins["max_denoising_steps"].setValue(2)
    with qtbot.waitSignal(window.generationDone, timeout=120_000) as blocker:
        window.generate()
    result = blocker.args[0]
    assert not result.cancelled and len(result.token_ids) == window.loaded.canvas_length
    expected = sum(image_token_count(window.loaded.processor, img, 140) for img in window.image_strip.images())
    assert int((result.prompt_ids == IMAGE_TOKEN_ID).sum()) == expected
    assert window.image_strip.prompt_tokens() == expected + 2 * 2  # each image adds its begin/end markers


def test_a_demo_prompt_with_a_picture_fills_the_prompt(qtbot, window):
    actions = {a.text(): a for a in window.generation.examples_menu.actions()}
    assert actions, "no demo prompts in the Generate menu"
    with_image = next(e for e in load_examples() if e.image is not None)
    window.image_strip.add_image(Image.new("RGB", (8, 8)), "old.png")
    actions[with_image.title].trigger()
    assert window.prompt_panel.user_text() == with_image.prompt
    assert window.image_strip.names() == [with_image.image.name]  # replaces what was there


def test_a_follow_up_keeps_the_first_turn_and_its_image(qtbot, window, tmp_path):
    window.image_strip.add_files(image_files(tmp_path, [(10, 10, 200)]))
    window.image_strip.set_budget(70)
    window.prompt_panel.set_prompt("What colour is this?")
    window.sampler_panel.spins["max_denoising_steps"].setValue(2)
    with qtbot.waitSignal(window.generationDone, timeout=120_000) as first:
        assert window.generate(), window.statusBar().currentMessage()
    image_tokens = int((first.args[0].prompt_ids == IMAGE_TOKEN_ID).sum())
    assert image_tokens > 0
    window.generation.follow_up_action.trigger()
    window.image_strip.clear()
    window.prompt_panel.set_prompt("And is it dark?")
    ws = window.workspace
    assert ws.draft.follow_up and ws.draft.user == "And is it dark?" and not ws.draft.images
    with qtbot.waitSignal(window.generationDone, timeout=120_000) as second:
        assert window.generate(), window.statusBar().currentMessage()
    ids = second.args[0].prompt_ids
    assert int((ids == IMAGE_TOKEN_ID).sum()) == image_tokens  # the first turn's image is still in the prompt
    text = window.loaded.tokenizer.decode(ids)
    assert text.index("What colour is this?") < text.index("And is it dark?")
    path = ws.conversation.active_path()
    assert [ws.conversation.turns[t].user for t in path] == ["What colour is this?", "And is it dark?"]
    run = ws.runs[max(ws.runs)]
    assert [t.user for t in run.prompt.history] == ["What colour is this?"]
    assert len(run.prompt.history[0].images) == 1
