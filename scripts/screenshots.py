"""Take the README's screenshots of the window on the demo model (offscreen; a few seconds on a laptop CPU).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [--out resources/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.examples import load_examples  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from widgets.editor_pane import Mode  # noqa: E402


def wait(app: QApplication, done, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise TimeoutError("the window did not get there in time")
        app.processEvents()
        time.sleep(0.005)
    for _ in range(20):  # let layouts and deferred paints settle
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="resources/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(QSettings(str(Path(folder) / "s.ini"), QSettings.Format.IniFormat))
        window.resize(1400, 900)
        window.show()
        window.load_model(None)
        wait(app, lambda: window.loaded is not None and not window.runner.busy)
        examples = {e.title: e for e in load_examples()}
        seed_settings = window.sampler_panel.settings().with_values(seed=1)  # a seed that writes a valid square
        window.sampler_panel.set_settings(seed_settings)
        from_scratch = next(e for e in examples.values() if "from scratch" in e.title)

        # 1. The longest demo (a Latin square), replayed a third of the way: the canvas part-way to converging.
        window.generation.use_example(from_scratch)
        results = []
        window.generationDone.connect(results.append)
        window.generate()
        wait(app, lambda: results and not window.runner.busy)
        window.grid.setSelection(None)
        window._jump_to_step(0, len(window.record.steps(0)) // 3)
        wait(app, lambda: True)
        window.grab().save(str(out / "window.png"))

        # 2. An image prompt: the strip's thumbnail, the answer.
        window.generation.use_example(next(e for e in examples.values() if e.image is not None))
        window.generate()
        wait(app, lambda: len(results) == 2 and not window.runner.busy)
        window.grab().save(str(out / "image-prompt.png"))

        # 3. The editor: the Latin square's second and third rows re-denoised, live, then the diff under review.
        window.generation.use_example(from_scratch)
        window.generate()
        wait(app, lambda: len(results) == 3 and not window.runner.busy)
        window.bottom_tabs.setCurrentWidget(window.editor)
        text = window.edits.doc.text
        rows = window.edits.doc.token_text.tokens_for_chars(text.index("\n") + 1, len(text) - 5)
        for seed in range(8):  # a seed whose proposal differs from the text, so there is a diff to show
            window.sampler_panel.set_settings(window.sampler_panel.settings().with_values(seed=seed))
            window.editor.set_token_selection(*rows)
            window.edits.redenoise()
            live = []
            while window.runner.busy and not live:  # catch a frame while the span is still denoising
                app.processEvents()
                if window.editor.mode() == Mode.LIVE and len(window.heatmap.image_data()):  # plots drawn too
                    live.append(window.grab())
            wait(app, lambda: not window.runner.busy)
            if window.editor.mode() == Mode.REVIEW:
                if live:
                    live[0].save(str(out / "editor-live.png"))
                window.grab().save(str(out / "editor-review.png"))
                break
        window.close()
    print(f"saved screenshots to {out}")


if __name__ == "__main__":
    main()
