"""Autosave: written after changes, atomic under SIGKILL at any moment, offered back after a crash."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from PySide6.QtCore import Qt

from models.session.autosave_files import autosave_path, orphaned_autosaves, write_autosave
from models.session.files import open_session, save_workspace
from tests.session_helpers import workspace_with_run
from tests.window_helpers import load, make_window, type_prompt

ROOT = Path(__file__).resolve().parent.parent

# The child writes autosaves in a loop through the app's own function, and says which one it finished.
CHILD = textwrap.dedent("""
    import sys
    from models.session.autosave_files import write_autosave
    from models.session.files import open_session
    from models.work.workspace import Draft
    ws = open_session(sys.argv[1])
    folder = sys.argv[2]
    for i in range(1_000_000):
        ws.set_draft(Draft(user=f"edit {i}" + " more text" * (i % 50)))
        write_autosave(folder, ws)
        print(i, flush=True)
""")


def test_a_kill_at_any_moment_leaves_the_last_autosave_whole(tmp_path, loaded_small):
    session = tmp_path / "start.ddsession"
    save_workspace(session, workspace_with_run(loaded_small, seed=2))
    folder = tmp_path / "autosaves"
    rng = random.Random(0)
    for attempt in range(20):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(session), str(folder)], cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True)
        first = int(child.stdout.readline())  # one whole autosave exists from here on
        time.sleep(rng.uniform(0, 0.08))  # then a kill lands anywhere in the following writes
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read().split()
        child.wait()
        last = int(rest[-1]) if rest else first
        path = autosave_path(folder, child.pid)
        restored = open_session(path)  # always a complete session
        shown = int(restored.draft.user.split()[1])
        assert last <= shown <= last + 1, (attempt, last, shown)  # the last finished one, or the one after it
        assert path in orphaned_autosaves(folder)  # its process is gone: offered back at the next start
        path.unlink()
    write_autosave(folder, workspace_with_run(loaded_small, seed=3))  # the next save cleans what kills left
    assert not list(folder.glob(".dd-*.tmp"))


def test_changes_are_autosaved_and_a_crash_is_offered_back(qtbot, tmp_path, small_canvas_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, small_canvas_checkpoint)
    win.autosaver.timer.setInterval(50)
    type_prompt(qtbot, win, "Keep this")
    folder = Path(os.environ["DIFFUSION_DESK_DATA"])
    own = autosave_path(folder)
    with qtbot.waitSignal(win.autosaver.writer.written, timeout=20_000):
        win.autosaver.save_now()
    assert open_session(own).draft.user == "Keep this"
    orphan = autosave_path(folder, 2**22 + 17)  # as if a window with that process id had crashed
    own.rename(orphan)
    second = make_window(qtbot, tmp_path / "settings.ini")
    qtbot.waitUntil(lambda: second.autosaver.offer is not None and second.autosaver.offer.isVisible())
    restore = next(b for b in second.autosaver.offer.buttons() if b.text() == "Restore")
    qtbot.mouseClick(restore, Qt.MouseButton.LeftButton)
    assert second.workspace.draft.user == "Keep this" and second.prompt_panel.user_text() == "Keep this"
    assert second.workspace.is_modified() and not orphan.exists()
    assert second.isWindowModified()
