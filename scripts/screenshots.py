"""Take the README's screenshots of the window on the demo model (offscreen; a minute on a laptop CPU).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out resources/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DIFFUSION_DESK_UNATTENDED", "1")  # a script: no dialog waits, on any platform
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.controllers.examples import load_examples  # noqa: E402
from app.shell.main_window import MainWindow  # noqa: E402
from models.canvas.overlays import Overlay  # noqa: E402
from models.work.runs import Fate  # noqa: E402
from widgets.editor.editor_pane import Mode  # noqa: E402

LATIN = "Write a 4x4 Latin square."
SEED = 2  # a seed on which the demo model writes a valid square, over many steps


def wait(app: QApplication, done, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.005)
    for _ in range(30):  # let layouts and deferred paints settle
        app.processEvents()
        time.sleep(0.01)


def generate(app: QApplication, window: MainWindow, prompt: str, image=None) -> None:
    window.prompt_panel.set_prompt(prompt)
    window.image_strip.clear()
    if image is not None:
        window.image_strip.add_files([image])
    runs = len(window.workspace.runs)
    window.generate()
    wait(app, lambda: len(window.workspace.runs) > runs and not window.runner.busy)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="resources/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        os.environ["DIFFUSION_DESK_DATA"] = str(Path(folder) / "data")
        window = MainWindow(QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
        window.resize(1500, 940)
        window.show()
        window.load_model(None)
        wait(app, lambda: window.loaded is not None and not window.runner.busy)
        window.sampler_panel.random_box.setChecked(False)
        window.sampler_panel.seed_spin.setValue(SEED)

        # 1. A Latin square replayed a third of the way, the inspector on one of its digits.
        generate(app, window, LATIN)
        ws = window.workspace
        run = ws.runs[max(ws.runs)]
        ws.show(run.id, 0, len(run.steps(0)) // 3)
        digit = next(i for i, token in enumerate(run.steps(0)[-1].argmax.tolist())
                     if window.loaded.tokenizer.convert_ids_to_tokens(token) in {"1", "2", "3", "4"})
        window.inspection.inspect(digit)
        window.canvas.setSelection(digit, digit + 1)
        wait(app, lambda: True)
        window.grab().save(str(out / "window.png"))

        # 2. The same canvas as running text, coloured by the step each token settled at.
        window.canvas.set_overlay(Overlay.COMMIT_ORDER)
        window.canvas.set_view("text")
        ws.show(run.id, 0, len(run.steps(0)) - 1)
        wait(app, lambda: True)
        window.w.canvas_stack.grab().save(str(out / "text-view.png"))
        window.canvas.set_view("grid")
        window.canvas.set_overlay(Overlay.ENTROPY)

        # 3. An image prompt: the strip's thumbnail and the answer.
        example = next(e for e in load_examples() if e.image is not None)
        generate(app, window, example.prompt, example.image)
        window.grab().save(str(out / "image-prompt.png"))

        # 4. The editor: rows of a Latin square re-denoised, live, then the change under review.
        generate(app, window, LATIN)
        window.bottom_tabs.setCurrentWidget(window.editor)
        text = ws.document.text
        rows = ws.document.token_text.tokens_for_chars(text.index("\n") + 1, len(text))
        for seed in range(12):  # a seed whose proposal differs from the text, so there is a change to show
            window.sampler_panel.seed_spin.setValue(seed)
            window.editor.set_token_selection(*rows)
            window.edits.redenoise(span=rows)
            live = []
            while window.runner.busy and not live:  # catch a frame while the span is still denoising
                app.processEvents()
                if window.editor.mode() == Mode.LIVE and len(window.heatmap.image_data()):
                    live.append(window.grab())
            wait(app, lambda: not window.runner.busy)
            if window.editor.mode() == Mode.REVIEW:
                if live:
                    live[0].save(str(out / "editor-live.png"))
                window.grab().save(str(out / "editor-review.png"))
                window.edits.reject()
                break

        # 5. Two re-denoises of the same rows compared: where they differ and from which step.
        window.sampler_panel.seed_spin.setValue(seed + 1)
        window.editor.set_token_selection(*rows)
        window.edits.redenoise(span=rows)
        wait(app, lambda: not window.runner.busy)
        if window.editor.mode() == Mode.REVIEW:
            window.edits.reject()
        proposals = [r.id for r in ws.runs.values() if r.is_edit and r.fate in (Fate.REJECTED, Fate.UNCHANGED)]
        if len(proposals) >= 2:
            window.compare_runs(*proposals[-2:])
            wait(app, lambda: True)
            compare = next(w for w in app.topLevelWidgets() if w.isVisible() and w.windowTitle().startswith("Compare"))
            compare.slider.setValue(compare.slider.maximum() // 2)
            wait(app, lambda: True)
            compare.grab().save(str(out / "compare.png"))
            compare.close()
        ws.mark_saved("")
        window.close()
    print(f"saved screenshots to {out}")


if __name__ == "__main__":
    main()
