"""Images of a canvas's denoising: an animation (GIF or APNG) or a PNG per step of the token grid, painted by the
grid's own code (widgets/canvas/grid_render.py) into QImages, and the entropy heatmap as a PNG.

Everything here runs on a worker thread (QImage and QPainter only, no widget, no QPixmap) or in the command line
with a QGuiApplication; the heatmap needs no Qt at all. Long loops report progress and stop when asked:
`progress(done, total)` and `cancel.is_set()`; a cancelled export returns None and writes nothing.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.canvas.overlays import CanvasHistory, Overlay
from models.inputs.safe_files import write_atomic
from models.work.events import StepSnapshot
from widgets.canvas import colors

Progress = Callable[[int, int], None]
FRAME_SIZE = (760, 560)  # about the grid's size in the window, legend included
FRAME_MS = 150  # an animation shows each step this long, the last one three times as long


def heatmap_png(steps: Sequence[StepSnapshot], max_entropy: float, width: int = 1024, height: int = 512) -> bytes:
    """Entropy per step (rows, first at the top) and position (columns) on the grid's colormap; each cell a block of
    whole pixels, so the cells stay crisp at any zoom."""
    entropy = np.stack([np.asarray(s.entropy, dtype=np.float32) for s in steps])
    cell_w = max(1, width // entropy.shape[1])
    cell_h = max(1, min(24, height // entropy.shape[0]))
    rgb = colors.entropy_to_rgb(entropy, max_entropy)
    rgb = np.repeat(np.repeat(rgb, cell_h, axis=0), cell_w, axis=1)
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(out, "PNG")
    return out.getvalue()


@dataclass(frozen=True)
class FrameStyle:
    """How frames look, taken from the window on the GUI thread (or the defaults, in the command line)."""

    colours: object  # widgets.canvas.grid_render.GridColours
    font: object  # QFont
    size: tuple[int, int] = FRAME_SIZE
    overlay: Overlay = Overlay.ENTROPY

    @classmethod
    def default(cls, overlay: Overlay = Overlay.ENTROPY) -> FrameStyle:
        from PySide6.QtGui import QFont, QGuiApplication

        from widgets.canvas.grid_render import GridColours

        return cls(GridColours.of(QGuiApplication.palette()), QFont(QGuiApplication.font()), FRAME_SIZE, overlay)


class FrameRenderer:
    """Paints step after step of one canvas as the grid shows it, with a caption line; reuses the unchanged cells."""

    def __init__(self, steps: Sequence[StepSnapshot], token_text: Callable[[int], str], max_entropy: float,
                 style: FrameStyle, caption: str) -> None:  # fmt: skip
        from PySide6.QtCore import QRect
        from PySide6.QtGui import QFontMetrics

        from widgets.canvas.grid_cells import grid_shape
        from widgets.canvas.grid_render import CellsImage, GridLayout
        from widgets.canvas.legend import Legend

        self.steps, self.style, self.caption, self.max_entropy = list(steps), style, caption, max_entropy
        self.history = CanvasHistory()
        self.history.update(self.steps)
        width, height = style.size
        self.legend = Legend(style.font, style.overlay, self.history.value_range(style.overlay, max_entropy),
                             style.overlay in self.history.available())  # fmt: skip
        legend_h = self.legend.layout(width - 8)
        self.caption_h = QFontMetrics(style.font).height() + 8
        rows, cols = grid_shape(self.history.length)
        area = QRect(2, self.caption_h, width - 4, height - self.caption_h - legend_h - 2)
        self.layout = GridLayout(area, rows, cols, self.history.length)
        self.cells = CellsImage(self.layout, token_text, style.font, style.colours)

    def render(self, step: int):
        """The frame of `step` as a QImage (RGB32)."""
        from PySide6.QtCore import QPointF, QRectF, Qt
        from PySide6.QtGui import QImage, QPainter

        from widgets.canvas.grid_cells import CellFrame

        colours = self.style.colours
        frame = CellFrame.build(self.history, step, self.style.overlay, self.max_entropy, colours.window_rgb)
        image = QImage(self.style.size[0], self.style.size[1], QImage.Format.Format_RGB32)
        image.fill(colours.window)
        p = QPainter(image)
        p.setFont(self.style.font)
        p.setPen(colours.text)
        text = f"{self.caption} · step {step + 1} of {len(self.steps)}"
        p.drawText(QRectF(6, 0, image.width() - 12, self.caption_h), Qt.AlignmentFlag.AlignVCenter, text)
        p.drawImage(self.layout.rect.topLeft(), self.cells.draw(frame))
        self.legend.paint(p, QPointF(4, self.layout.rect.bottom() + 7), colours)
        p.end()
        return image

    def cell_centre(self, position: int) -> tuple[int, int]:
        """Where a position's cell is in a frame (for checking exported frames)."""
        rect = self.layout.cells[position]
        return int(rect.center().x()), int(rect.center().y())


def to_pil(image) -> Image.Image:
    """A QImage (RGB32) as a PIL RGB image."""
    width, height = image.width(), image.height()
    data = bytes(image.constBits())[: image.bytesPerLine() * height]
    return Image.frombuffer("RGB", (width, height), data, "raw", "BGRX", image.bytesPerLine(), 1).copy()


def render_frames(renderer: FrameRenderer, progress: Progress, cancel: threading.Event) -> list[Image.Image] | None:
    frames = []
    total = len(renderer.steps)
    for step in range(total):
        if cancel.is_set():
            return None
        frames.append(to_pil(renderer.render(step)))
        progress(step + 1, total)
    return frames


def animation_bytes(frames: list[Image.Image], fmt: str) -> bytes:
    """An animated GIF or APNG of the frames, looping; the last frame held longer."""
    durations = [FRAME_MS] * (len(frames) - 1) + [FRAME_MS * 3]
    out = io.BytesIO()
    if fmt == "gif":
        # One adaptive palette per frame (at most 256 colours each); the grid's flat cells quantize well.
        frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                       disposal=1, optimize=False)  # fmt: skip
    else:
        frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out.getvalue()


def export_animation(path: str | Path, renderer: FrameRenderer, progress: Progress,
                     cancel: threading.Event) -> int | None:  # fmt: skip
    """Write the frames as one animation (GIF for .gif, else APNG); the number of frames, None if cancelled."""
    frames = render_frames(renderer, progress, cancel)
    if frames is None or cancel.is_set():
        return None
    write_atomic(path, animation_bytes(frames, "gif" if str(path).lower().endswith(".gif") else "apng"))
    return len(frames)


def step_png_paths(path: str | Path, steps: int) -> list[Path]:
    """OUT.png -> OUT-step01.png ... one name per step, numbered from 1 with as many digits as the last needs."""
    path = Path(path)
    digits = max(2, len(str(steps)))
    return [path.with_name(f"{path.stem}-step{i + 1:0{digits}d}{path.suffix or '.png'}") for i in range(steps)]


def export_step_pngs(path: str | Path, renderer: FrameRenderer, progress: Progress,
                     cancel: threading.Event) -> list[Path] | None:  # fmt: skip
    """A PNG per step next to `path`; all rendered before any is written, so a cancel leaves no partial set."""
    frames = render_frames(renderer, progress, cancel)
    if frames is None or cancel.is_set():
        return None
    paths = step_png_paths(path, len(frames))
    for target, frame in zip(paths, frames, strict=True):
        out = io.BytesIO()
        frame.save(out, "PNG")
        write_atomic(target, out.getvalue())
    return paths
