"""A server that drops in the middle of a run, as a user meets it (issue 20, section 4, defect 1): one message box
with what to do next, and the steps recorded before the drop stay on screen."""

from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from models.work.runs import Fate
from tests.remote_helpers import running_server
from tests.test_window_remote import token_file, until
from tests.window_helpers import last_run, make_window, set_spin, type_prompt


def open_boxes(win) -> list[QMessageBox]:
    return [box for box in win.findChildren(QMessageBox) if box.isVisible()]


def test_a_server_that_drops_mid_run_says_so_once_and_keeps_the_steps_on_screen(qtbot, qt_loop, tmp_path,
                                                                                 loaded_small):
    win = make_window(qtbot, tmp_path / "settings.ini")
    with running_server(loaded_small) as served:

        async def connect_and_start() -> None:
            assert win.models.connect_server(served.url, token_file(tmp_path))
            await until(lambda: win.loaded is not None and not win.runner.busy)
            set_spin(win, "max_new_tokens", 16 * 30)
            set_spin(win, "max_denoising_steps", 40)
            type_prompt(qtbot, win, "Sort 4 9 2")
            QTest.keyClick(win.prompt_panel.user_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
            await until(lambda: win.workspace.runs and last_run(win).step_count() >= 3)

        qt_loop.run_until_complete(connect_and_start())
    # The server is gone mid-run.
    qt_loop.run_until_complete(until(lambda: last_run(win).fate is not Fate.RUNNING and not win.runner.busy))
    qt_loop.run_until_complete(asyncio.sleep(0.3))  # a second box, if any, would open by now
    run = last_run(win)
    assert run.fate is Fate.FAILED and run.step_count() >= 3
    boxes = open_boxes(win)
    assert len(boxes) == 1, [b.windowTitle() for b in boxes]
    text = boxes[0].text()
    assert "Connect to server" in text and f"Run #{run.id}" in text and text[0].isupper()
    # The grid shows the run's last recorded step, not a blank canvas, without selecting the run by hand.
    position = win.workspace.position
    assert position.run == run.id
    newest_canvas, newest_step = run.record.newest()
    assert win.grid.snapshot() is not None
    assert (win.grid.snapshot().argmax == run.steps(newest_canvas)[newest_step].argmax).all()
    assert [row.run_id for row in (i.data(Qt.ItemDataRole.UserRole) for i in win.w.runs.list.selectedItems())] \
        == [run.id]
    assert "failed" in win.output.notice.text()
    # Closing the box with Enter (the focused button) leaves no box behind.
    QTest.keyClick(boxes[0], Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not open_boxes(win))
    # No model now: Generate does not run, and says why (it offers the demo model instead of sitting disabled).
    recorded = len(win.workspace.runs)
    assert not win.generate() and len(win.workspace.runs) == recorded
    assert win.model_offer.box.isVisible()
    win.model_offer.box.close()
    qt_loop.run_until_complete(asyncio.sleep(0.1))
