"""Export: animations and PNGs are the grid at each recorded step, the heatmap and the data files hold the recorded
numbers, the command line refuses bad input with one line and exit status 2, and the window's export runs off the
GUI thread and can be cancelled."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget
from session_helpers import workspace_with_run

import main
from app.export.images import FrameRenderer, FrameStyle, step_png_paths, to_pil
from app.export.jobs import export_request, perform
from models.canvas.overlays import Overlay
from models.export.step_data import ExportError, export_target
from models.session.files import open_session, save_workspace
from widgets.canvas import colors

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def session(loaded_small, tmp_path_factory) -> Path:
    """A saved session of one generated turn: 3 recorded steps of a 16-token canvas, with top-5 candidates."""
    path = tmp_path_factory.mktemp("export") / "run.ddsession"
    save_workspace(path, workspace_with_run(loaded_small, steps=3), "test")
    return path


def recorded(session: Path):
    ws = open_session(session)
    run, canvas = export_target(ws)
    return ws, run, run.steps(canvas)


def export(*args: str) -> int:
    return main.main(["export", *args])


def test_csv_and_json_hold_exactly_the_recorded_steps(session, tmp_path, capsys):
    ws, run, steps = recorded(session)
    assert export("--session", str(session), "--to", str(tmp_path / "steps.csv")) == 0
    assert export("--session", str(session), "--to", str(tmp_path / "steps.json")) == 0
    assert "wrote 3 steps of run #1" in capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "steps.csv").read_text())))
    assert len(rows) == len(steps) * 16
    data = json.loads((tmp_path / "steps.json").read_text())
    assert data["run"] == run.id and [c["canvas_index"] for c in data["canvases"]] == run.canvas_indices
    for s, snap in enumerate(steps):
        mine = [r for r in rows if int(r["step"]) == s]
        assert [int(r["token_id"]) for r in mine] == snap.argmax.tolist()
        assert [r["accepted"] == "1" for r in mine] == snap.accepted.tolist()
        np.testing.assert_array_equal(np.array([r["entropy"] for r in mine], np.float32), snap.entropy)
        np.testing.assert_array_equal(np.array([r["top2_prob"] for r in mine], np.float32), snap.top_probs[:, 1])
        assert [int(r["top5_id"]) for r in mine] == snap.top_ids[:, 4].tolist()
        assert [r["token"] for r in mine] == ws.tokenizer.convert_ids_to_tokens(snap.argmax.tolist())
        step_json = data["canvases"][0]["steps"][s]
        assert step_json["argmax"] == snap.argmax.tolist() and step_json["locked"] == snap.locked.tolist()
        np.testing.assert_array_equal(np.array(step_json["entropy"], np.float32), snap.entropy)
        np.testing.assert_array_equal(np.array(step_json["top_k"]["probs"], np.float32), snap.top_probs)
        assert step_json["num_accepted"] == snap.num_accepted
    assert all(data["tokens"][str(i)] == ws.tokenizer.convert_ids_to_tokens(i) for i in steps[-1].argmax.tolist())


def renders(steps, ws, overlay: Overlay = Overlay.ENTROPY) -> list[Image.Image]:
    """Each step rendered directly, as the export's frames should be."""
    request = export_request(ws, "gif", "unused.gif")
    renderer = FrameRenderer(steps, request.token_text, request.max_entropy, FrameStyle.default(overlay),
                             request.caption)  # fmt: skip
    return [to_pil(renderer.render(s)) for s in range(len(steps))]


def test_gif_frames_are_the_recorded_steps_one_for_one(qapp, session, tmp_path):
    ws, run, steps = recorded(session)
    out = tmp_path / "denoising.gif"
    assert export("--session", str(session), "--to", str(out)) == 0
    direct = [np.asarray(image, np.int16) for image in renders(steps, ws)]
    assert any(np.abs(direct[0] - d).mean() > 1 for d in direct[1:])  # the steps really look different
    gif = Image.open(out)
    assert gif.n_frames == len(steps)
    renderer = FrameRenderer(steps, str, 1.0, FrameStyle.default(), "")
    for s in range(gif.n_frames):
        gif.seek(s)
        frame = np.asarray(gif.convert("RGB"), np.int16)
        distances = [np.abs(frame - d).mean() for d in direct]
        assert int(np.argmin(distances)) == s and distances[s] < 2.0, (s, distances)  # GIF palettes are lossy
        # A cell's background is its recorded entropy's colour (within what a 256-colour palette keeps).
        for position in (0, 7, 15):
            x, y = renderer.cell_centre(position)
            rect = renderer.layout.cells[position]
            got = frame[y, int(rect.left() + rect.width() * 0.12)]
            want = colors.entropy_to_rgb(steps[s].entropy[position : position + 1], export_request(
                ws, "gif", "x.gif").max_entropy)[0]  # fmt: skip
            assert np.abs(got - want.astype(int)).max() <= 12, (s, position, got, want)


def test_apng_and_png_per_step_are_the_grid_exactly(qapp, session, tmp_path):
    ws, run, steps = recorded(session)
    direct = renders(steps, ws, Overlay.REVISIONS)
    apng = tmp_path / "denoising.apng"
    args = ("--session", str(session), "--overlay", "revisions")
    assert export(*args, "--to", str(apng)) == 0
    animation = Image.open(apng)
    assert animation.n_frames == len(steps)
    for s in range(len(steps)):
        animation.seek(s)
        assert np.array_equal(np.asarray(animation.convert("RGB")), np.asarray(direct[s]))
    assert export(*args, "--to", str(tmp_path / "frame.png"), "--per-step") == 0
    paths = step_png_paths(tmp_path / "frame.png", len(steps))
    assert sorted(tmp_path.glob("frame-step*.png")) == paths and len(paths) == len(steps)
    for s, path in enumerate(paths):
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), np.asarray(direct[s]))


def test_heatmap_cells_are_the_entropy_colours(session, tmp_path):
    ws, run, steps = recorded(session)
    out = tmp_path / "heatmap.png"
    assert export("--session", str(session), "--to", str(out)) == 0
    image = np.asarray(Image.open(out).convert("RGB"))
    cell_w, cell_h = 1024 // 16, min(24, 512 // len(steps))
    assert image.shape == (cell_h * len(steps), cell_w * 16, 3)
    top = export_request(ws, "heatmap", str(out)).max_entropy
    for s, snap in enumerate(steps):
        want = colors.entropy_to_rgb(snap.entropy, top)
        got = image[s * cell_h + cell_h // 2, cell_w // 2 :: cell_w]
        np.testing.assert_array_equal(got, want)
        assert (image[s * cell_h : (s + 1) * cell_h, :cell_w] == want[0]).all()  # crisp: one colour per cell


def test_the_command_line_refuses_bad_input_with_one_line_and_status_2(session, tmp_path, capsys):
    cases = [
        (["--to", str(tmp_path / "x.txt")], "must end in .gif, .apng, .png, .csv, .json or .md"),
        (["--to", str(tmp_path / "x.csv"), "--run", "7"], "no run #7 with recorded steps (it has #1)"),
        (["--to", str(tmp_path / "x.csv"), "--canvas", "0"], "canvases are counted from 1"),
        (["--to", str(tmp_path / "x.csv"), "--canvas", "9"], "run #1 has no canvas 9 (its canvases: 1)"),
        (["--to", str(tmp_path / "missing" / "x.csv")], "does not exist"),
        (["--to", str(tmp_path / "x.gif"), "--per-step"], "--per-step writes PNG files"),
    ]
    for extra, message in cases:
        assert export("--session", str(session), *extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("diffusion-desk: "), err
    (tmp_path / "bad.ddsession").write_bytes(b"PK\x03\x04 not really a zip")
    assert export("--session", str(tmp_path / "bad.ddsession"), "--to", str(tmp_path / "x.csv")) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert export("--to", str(tmp_path / "x.csv")) == 2  # no --session
    assert "required: --session" in capsys.readouterr().err
    assert not list(tmp_path.glob("x*"))  # nothing half-written


def test_data_exports_run_without_qt(session, tmp_path):
    code = (
        "import sys, main\n"
        f"for suffix in ('csv', 'json', 'md', 'png'):\n"
        f"    assert main.main(['export', '--session', {str(session)!r}, '--to', {str(tmp_path)!r} + '/out.' + suffix]) == 0\n"  # noqa: E501
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "# " in (tmp_path / "out.md").read_text()  # conversation_markdown's title


def test_a_cancelled_export_writes_nothing(qapp, session, tmp_path):
    ws, run, steps = recorded(session)
    for kind, name in (("gif", "a.gif"), ("pngs", "b.png")):
        request = export_request(ws, kind, str(tmp_path / name), style=FrameStyle.default())
        cancel = threading.Event()
        seen: list[int] = []

        def progress(done: int, total: int, seen=seen, cancel=cancel) -> None:
            seen.append(done)
            cancel.set()  # the user presses Cancel after the first frame

        assert perform(request, progress, cancel) is None
        assert seen == [1]
    assert list(tmp_path.iterdir()) == []


def test_export_target_defaults_to_the_canvas_on_screen(session):
    ws, run, steps = recorded(session)
    run.record.add(dataclasses.replace(steps[-1], canvas_index=1))  # a second canvas
    assert export_target(ws) == (run, 0)
    ws.show(run.id, 1)
    assert export_target(ws) == (run, 1)
    assert export_target(ws, canvas=0) == (run, 0)
    with pytest.raises(ExportError, match="its canvases: 1, 2"):
        export_target(ws, canvas=2)
    request = export_request(ws, "csv", "x.csv")
    assert request.canvases == (0, 1) and request.canvas == 1  # data: every canvas; images: the one on screen


def test_the_export_menu_writes_off_the_gui_thread_and_cancel_stops_it(qtbot, session, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMenu, QPushButton

    import app.export.images
    from app.controllers.export_controller import ExportController
    from app.controllers.workspace_hub import WorkspaceHub

    window = QWidget()
    qtbot.addWidget(window)
    hub = WorkspaceHub(open_session(session), window)
    messages: list[str] = []
    controller = ExportController(hub, window, messages.append)
    menu = QMenu()
    submenu = controller.build_menu(menu)
    assert [a.text() for a in submenu.actions() if a.text()][:2] == ["Denoising animation (GIF)…",
                                                                    "Denoising animation (APNG)…"]  # fmt: skip
    assert all(action.isEnabled() for action in controller.actions.values())
    out = tmp_path / "a.gif"
    with qtbot.waitSignal(controller.finished, timeout=20000):
        assert controller.export("gif", str(out))
        assert controller.busy and not controller.actions["gif"].isEnabled()  # one export at a time
    assert Image.open(out).n_frames == 3 and "Wrote 3 frames" in messages[-1]
    # Cancel from the progress dialog while the worker is on its first frame: nothing is written.
    pressed = threading.Event()
    convert = app.export.images.to_pil
    monkeypatch.setattr(app.export.images, "to_pil", lambda image: (pressed.wait(10), convert(image))[1])
    slow = tmp_path / "b.apng"
    with qtbot.waitSignal(controller.cancelled, timeout=20000):
        controller.export("apng", str(slow))
        qtbot.mouseClick(controller.progress.findChild(QPushButton), Qt.MouseButton.LeftButton)
        pressed.set()
    assert not slow.exists() and messages[-1] == "Export cancelled: nothing was written"
    assert controller.progress is None and not controller.busy
    with qtbot.waitSignal(controller.failed):
        controller.export("csv", str(tmp_path / "x.csv"), run_id=9)
    assert "no run #9" in messages[-1]
