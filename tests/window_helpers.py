"""Driving the main window as a person would, shared by the window tests."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtTest import QTest

from app.shell.main_window import MainWindow
from models.work.events import GenerationResult
from models.work.runs import Run


def make_window(qtbot, settings_file, size=(1300, 850)) -> MainWindow:
    win = MainWindow(QSettings(str(settings_file), QSettings.Format.IniFormat))
    # pytest-qt closes the window after the test; the scratch work is not worth the "save changes?" question.
    qtbot.addWidget(win, before_close_func=lambda w: w.workspace.mark_saved(w.workspace.name))
    win.resize(*size)
    win.show()
    return win


def close_quietly(win: MainWindow) -> None:
    """Close without the save question: the tests' sessions are scratch work."""
    win.workspace.mark_saved(win.workspace.name)
    win.close()


def load(qtbot, win: MainWindow, path) -> None:
    with qtbot.waitSignal(win.modelReady, timeout=60_000):
        assert win.load_model(str(path))


def focus_window(qtbot, win: MainWindow) -> None:
    win.activateWindow()  # shortcuts reach the focused window only, as on a desktop
    qtbot.waitUntil(win.isActiveWindow)


def type_prompt(qtbot, win: MainWindow, text: str) -> None:
    focus_window(qtbot, win)
    win.prompt_panel.user_edit.setFocus()
    qtbot.keyClicks(win.prompt_panel.user_edit, text)


def set_spin(win: MainWindow, name: str, value) -> None:
    win.sampler_panel.spins[name].setValue(value)


def fixed_seed(win: MainWindow, seed: int) -> None:
    win.sampler_panel.random_box.setChecked(False)
    win.sampler_panel.seed_spin.setValue(seed)


def generate_with_keys(qtbot, win: MainWindow, timeout: int = 60_000) -> GenerationResult:
    with qtbot.waitSignal(win.generationDone, timeout=timeout) as blocker:
        QTest.keyClick(win.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    return blocker.args[0]


def last_run(win: MainWindow) -> Run:
    return win.workspace.runs[max(win.workspace.runs)]
