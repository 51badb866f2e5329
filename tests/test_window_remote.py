"""The window against a server on loopback, as a user with the GPU elsewhere: connect, generate, edit, stop, and a
dropped connection that keeps everything recorded. The client runs on Qt's own event loop through qasync."""

from __future__ import annotations

import asyncio
import gc
import os
import time

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from models.checkpoint.heap import walked_by_full_collection
from models.engine.generator import Generator
from models.work.runs import Fate
from tests.remote_helpers import TOKEN, running_server
from tests.window_helpers import last_run, make_window, set_spin
from widgets.editor.editor_pane import Mode


async def until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    os.chmod(path, 0o600)
    return str(path)


def test_every_feature_works_the_same_over_the_connection(qtbot, qt_loop, tmp_path, loaded_small):
    win = make_window(qtbot, tmp_path / "settings.ini")
    with running_server(loaded_small) as served:

        async def scenario() -> None:
            assert win.models.connect_server(served.url, token_file(tmp_path))
            await until(lambda: win.loaded is not None and not win.runner.busy)
            assert "remote: 127.0.0.1:" in win.status.model_label.text()
            # The client's modules left the collector's reach once connected: a full collection walks few objects.
            assert walked_by_full_collection() * 20 < gc.get_freeze_count()
            win.prompt_panel.set_prompt("Sort 4 9 2")
            set_spin(win, "max_new_tokens", 32)
            set_spin(win, "max_denoising_steps", 3)
            win.sampler_panel.random_box.setChecked(False)
            win.sampler_panel.seed_spin.setValue(5)
            assert win.generate()
            await until(lambda: win.workspace.runs and last_run(win).fate is not Fate.RUNNING)
            run = last_run(win)
            local = list(Generator(loaded_small).generate(run.prompt, run.settings))
            assert run.result.token_ids.tolist() == local[-1].token_ids.tolist()  # same ids as the local engine
            first_steps = [s for c in run.canvas_indices for s in run.steps(c)]
            local_steps = [e for e in local if type(e).__name__ == "StepSnapshot"]
            assert [s.argmax.tolist() for s in first_steps] == [s.argmax.tolist() for s in local_steps]
            np.testing.assert_array_equal(win.grid.snapshot().argmax, win.workspace.document.ids[16:32])
            # Re-denoise a span with keys, review, accept: the same flow as on a local model.
            edit = win.editor.text_edit
            win.w.bottom_tabs.setCurrentWidget(win.editor)
            edit.setFocus()
            edit.selectAll()
            QTest.keyClick(edit, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
            await until(lambda: not win.runner.busy and last_run(win).fate is not Fate.RUNNING)
            if win.editor.mode() == Mode.REVIEW:
                QTest.keyClick(edit, Qt.Key.Key_Return)
                assert last_run(win).fate is Fate.ACCEPTED
            # Stop cancels on the server.
            set_spin(win, "max_new_tokens", 32 * 20)
            set_spin(win, "max_denoising_steps", 40)
            assert win.generate()
            await until(lambda: last_run(win).step_count() >= 2)
            win.generation.stop()
            await until(lambda: last_run(win).fate is not Fate.RUNNING)
            assert last_run(win).fate is Fate.CANCELLED
            # The server is free for the next run (how far the cancelled one got depends on the machine).
            set_spin(win, "max_new_tokens", 32)
            set_spin(win, "max_denoising_steps", 3)
            assert win.generate()
            await until(lambda: last_run(win).fate is not Fate.RUNNING)
            assert last_run(win).fate is Fate.ACCEPTED and not last_run(win).result.cancelled

        qt_loop.run_until_complete(scenario())
        recorded = len(win.workspace.runs)
    # The server is gone: the window says so and keeps every run; Generate no longer runs, and says why.
    qt_loop.run_until_complete(until(lambda: win.engine.remote is None, timeout=30))
    assert "lost" in win.statusBar().currentMessage() or "Disconnected" in win.status.model_label.text()
    assert len(win.workspace.runs) == recorded and not win.generate()
    assert win.model_offer.box.isVisible() and "connection to the server was lost" in win.model_offer.box.text()
    win.model_offer.box.close()
    qt_loop.run_until_complete(asyncio.sleep(0.1))


def test_the_connect_dialog_remembers_servers(qtbot, tmp_path):
    from widgets.panels.connect_dialog import ConnectDialog

    recent = [("http://gpu-box:8765", "/home/me/token-a", ""), ("https://lab:9000", "/home/me/token-b", "/ca.pem")]
    dialog = ConnectDialog(recent)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.values() == recent[0]
    dialog.url.setCurrentIndex(1)  # a recent server brings its files back
    assert dialog.values() == recent[1]
    dialog.token_file.clear()
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    assert dialog.error.isVisible() and dialog.isVisible()  # not accepted: says what is missing
