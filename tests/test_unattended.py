"""A run that nobody drives (a screenshot, a script, a test, Qt's offscreen platform) never waits on a dialog."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

from app.shell.main_window import MainWindow
from models.session.autosave_files import autosave_path
from models.session.files import open_session
from resources import DEMO_MODEL
from tests.window_helpers import close_quietly, focus_window, generate_with_keys, load, set_spin, type_prompt
from widgets.panels import modal

ROOT = Path(__file__).resolve().parent.parent


def screenshot_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", DIFFUSION_DESK_DATA=str(tmp_path / "data"))
    # As on a desktop where a dialog would show and wait: only --screenshot itself may keep it from waiting.
    env["DIFFUSION_DESK_UNATTENDED"] = "0"
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=240)


@pytest.mark.slow
def test_the_real_screenshot_run_saves_its_png_and_exits(tmp_path):
    out = tmp_path / "shot.png"
    done = screenshot_run(tmp_path, "--model", str(DEMO_MODEL), "--prompt", "Sort 3 1 2", "--seed", "2",
                          "--screenshot", str(out))
    assert done.returncode == 0, done.stderr
    image = QImage(str(out))
    assert not image.isNull() and (image.width(), image.height()) == (1400, 900)
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()  # the user's data folder is not touched by a screenshot run


def test_a_screenshot_run_whose_model_cannot_load_says_why_and_exits_2(tmp_path):
    done = screenshot_run(tmp_path, "--model", str(tmp_path / "missing"), "--prompt", "x", "--screenshot",
                          str(tmp_path / "shot.png"))
    assert done.returncode == 2
    assert "missing" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "shot.png").exists()


def test_who_answers_dialogs(qapp, monkeypatch):
    monkeypatch.delenv(modal.ENVIRONMENT)
    assert modal.nobody_to_ask() is (QApplication.platformName() in {"offscreen", "minimal"})
    monkeypatch.setenv(modal.ENVIRONMENT, "1")
    assert modal.nobody_to_ask()
    monkeypatch.setenv(modal.ENVIRONMENT, "0")  # a test that answers with a timer, even offscreen
    assert not modal.nobody_to_ask()
    modal.set_unattended(True)  # a screenshot run: whatever the environment says
    try:
        assert modal.nobody_to_ask()
    finally:
        modal.set_unattended(None)


def test_every_modal_question_answers_at_once_when_nobody_can(qtbot, capfd):
    dialog = QDialog()
    qtbot.addWidget(dialog)
    dialog.setWindowTitle("Pick")
    assert modal.exec_dialog(dialog) == QDialog.DialogCode.Rejected and not dialog.isVisible()
    box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes", "Save?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel)
    qtbot.addWidget(box)
    assert modal.ask(box, unattended=QMessageBox.StandardButton.Cancel) == QMessageBox.StandardButton.Cancel
    assert modal.open_file_name(None, "Open session", "", "*") == ""
    assert modal.open_file_names(None, "Add images", "", "*") == []
    assert modal.save_file_name(None, "Save session", "", "*") == ""
    assert modal.existing_folder(None, "Open a folder", "") == ""
    assert modal.text_input(None, "Hub id", "Id:") is None
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    err = capfd.readouterr().err
    for question in ("Pick", "Save?", "Open session", "Add images", "Save session", "Open a folder", "Hub id"):
        assert f"not asked, nobody to answer: {question!r}" in err


@pytest.fixture
def window(qtbot, tmp_path):
    win = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.resize(1300, 850)
    win.show()
    return win


def run_once(qtbot, win: MainWindow, checkpoint) -> None:
    load(qtbot, win, checkpoint)
    type_prompt(qtbot, win, "Sort 3 1 2")
    set_spin(win, "max_denoising_steps", 2)
    generate_with_keys(qtbot, win)
    assert win.workspace.is_modified()


def test_keys_that_would_open_a_file_dialog_ask_nothing_and_lose_nothing(qtbot, window, text_checkpoint, capfd):
    run_once(qtbot, window, text_checkpoint)
    focus_window(qtbot, window)
    for key in (Qt.Key.Key_S, Qt.Key.Key_O):  # save (no name yet: "save as"), open
        QTest.keyClick(QApplication.focusWidget(), key, Qt.KeyboardModifier.ControlModifier)
        assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QFileDialog) and w.isVisible()]
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # new session
    assert "Not starting a new session" in window.statusBar().currentMessage()
    assert len(window.workspace.runs) == 1 and window.workspace.is_modified()  # nothing dropped, nothing saved
    err = capfd.readouterr().err
    assert "'Save session'" in err and "'Open session'" in err and "Save the changes" in err
    close_quietly(window)


def test_quitting_with_unsaved_work_and_nobody_to_ask_keeps_it_in_the_autosave(qtbot, window, text_checkpoint,
                                                                                 tmp_path):
    run_once(qtbot, window, text_checkpoint)
    assert window.close()  # at once: no "Save the changes?" question waits
    kept = autosave_path(tmp_path / "data")
    restored = open_session(kept)
    assert [turn.user for turn in restored.conversation.turns.values()] == ["Sort 3 1 2"] and len(restored.runs) == 1


def test_a_model_that_needs_a_choice_is_refused_with_a_message_not_a_dialog(qtbot, window, text_checkpoint,
                                                                            monkeypatch):
    import models.checkpoint.memory_plan

    real = models.checkpoint.memory_plan.plan_memory
    monkeypatch.setattr(models.checkpoint.memory_plan, "plan_memory",
                        lambda source, **kwargs: dataclasses.replace(real(source, **kwargs), verdict="offload"))
    with qtbot.waitSignal(window.errorShown, timeout=60_000) as blocker:
        window.load_model(str(text_checkpoint))
    assert "needs a person" in blocker.args[0] and window.loaded is None
    qtbot.waitUntil(lambda: not window.engine.busy)
    assert not [w for w in QApplication.topLevelWidgets() if w.inherits("QDialog") and w.isModal() and w.isVisible()
                and not w.inherits("QMessageBox")]
    close_quietly(window)
