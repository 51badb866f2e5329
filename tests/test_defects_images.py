"""Removing an image as a person does it (issue 20, section 4, defect 9): a click on × leaves the focus where the
person was typing; from the keyboard, the focus stays in the strip."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.window_helpers import focus_window, make_window, type_prompt


def two_images(tmp_path):
    paths = []
    for index, colour in enumerate([(200, 0, 0), (0, 200, 0)]):
        paths.append(tmp_path / f"{index}.png")
        Image.new("RGB", (40, 30), colour).save(paths[-1])
    return paths


def test_clicking_remove_keeps_the_focus_in_the_prompt(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "settings.ini")
    strip = win.image_strip
    strip.add_files(two_images(tmp_path))
    type_prompt(qtbot, win, "What colour")
    for _ in range(2):  # the second click empties the strip, which then hides its row
        qtbot.mouseClick(strip.tile(0).remove_button, Qt.MouseButton.LeftButton)
        assert QApplication.focusWidget() is win.prompt_panel.user_edit
    assert not strip.images()
    QTest.keyClicks(QApplication.focusWidget(), " is it?")
    assert win.prompt_panel.user_text() == "What colour is it?"
    assert win.sampler_panel.spins["max_new_tokens"].value() == win.sampler_panel.defaults().max_new_tokens


def test_removing_from_the_keyboard_keeps_the_focus_in_the_strip(qtbot, tmp_path):
    win = make_window(qtbot, tmp_path / "settings.ini")
    strip = win.image_strip
    strip.add_files(two_images(tmp_path))
    focus_window(qtbot, win)
    strip.add_button.setFocus()
    while QApplication.focusWidget() is not strip.tile(0).remove_button:  # Tab along to the first image's ×
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    QTest.keyClick(strip.tile(0).remove_button, Qt.Key.Key_Space)
    assert len(strip.images()) == 1 and QApplication.focusWidget() is strip.tile(0).remove_button
    QTest.keyClick(strip.tile(0).remove_button, Qt.Key.Key_Space)
    assert not strip.images() and QApplication.focusWidget() is strip.add_button
