"""What the token grid and the canvas text view share: the shown history and step, the overlay, the selection, the
mouse and the tooltips, and drawing at most ~30 times a second however fast steps arrive.

A subclass lays the positions out and paints them: it implements `position_at`, `position_rect`, `_where` and
`paintEvent` (which calls `_painted(rect)`), and calls `_schedule()` when its picture is out of date. While a run
streams (`show_step(..., live=True)`) a subclass may draw each frame on a worker thread
(widgets/canvas/render_worker.py): it overrides `_refresh`, and its paintEvent only puts the finished image on screen.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QHelpEvent, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QToolTip, QWidget

from models.canvas.overlays import CanvasHistory, Overlay
from models.work.bounded_cache import BoundedCache
from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.canvas.grid_cells import CellFrame, FrameInputs
from widgets.canvas.grid_render import GridColours

TokenText = Callable[[int], str]
FRAME_INTERVAL_S = 1 / 30  # at most this often a new step is drawn; the newest one wins
TOKEN_TEXTS = 8192  # token texts kept per view: several canvases' worth, a small share of a real vocabulary


class CanvasView(QWidget):
    """One canvas at one step; click selects, shift-click or drag extends, ctrl-click asks to toggle a lock; the
    arrow keys move the selected position (shift extends), so the inspector can be driven from the keyboard."""

    selectionChanged = Signal(int, int)  # half-open [start, end) in canvas positions; (-1, -1) when cleared
    lockToggleRequested = Signal(int)
    positionClicked = Signal(int)  # a plain click on a position (the inspector opens it)
    overlaysAvailable = Signal(object)  # frozenset[Overlay]: what the shown history can be coloured by
    framePainted = Signal()  # the newest step is on screen (other views can take their turn after it)

    def __init__(self, token_text: TokenText | None = None, max_entropy: float = colors.DEFAULT_MAX_ENTROPY,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self._token_text: TokenText = token_text or str
        self._max_entropy = float(max_entropy)
        self._raw_text: BoundedCache[int, str] = BoundedCache(TOKEN_TEXTS)
        self._history = CanvasHistory()
        self._step = -1
        self._committed = False  # the last snapshot is the canvas as committed
        self._overlay = Overlay.ENTROPY
        self._available = frozenset({Overlay.ENTROPY, Overlay.REVISIONS, Overlay.COMMIT_ORDER})
        self._frame: CellFrame | None = None
        self._version = 0  # counts the frames shown: a picture of an older one is not the newest
        self._selection: tuple[int, int] | None = None
        self._anchor = 0
        self._highlight: list[int] = []  # positions outlined as different (the comparison view)
        self._last_paint = 0.0
        self._pending = False  # a deferred repaint is on its way
        self._dirty = False  # something changed since the last paint
        self._live = False  # the shown step is a streaming run's newest: frames may be drawn off the GUI thread
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # ---- data -------------------------------------------------------------------------------------------------
    def show_step(self, snapshots: Sequence[StepSnapshot], step: int | None = None, committed: bool = False,
                  live: bool = False) -> None:
        """Show snapshots[step] (default: the latest) of one canvas; earlier snapshots give its history.
        `committed`: the canvas was committed after its last snapshot, so that step's tokens are the text, drawn
        settled (the sampler's renoising at a last step is never carried out).

        Cheap: the history grows by the new steps only, and nothing is computed for drawing until a paint, so a
        burst of steps costs one frame, the newest. `live`: a run is streaming these steps; a view may then draw
        its frames on a worker thread (the picture follows a moment later); otherwise a paint draws the step."""
        if not snapshots:
            self.clear()
            return
        step = len(snapshots) - 1 if step is None else step
        if not -len(snapshots) <= step < len(snapshots):
            raise IndexError(f"step {step} outside a history of {len(snapshots)} snapshots")
        old_length = self._history.length if self._step >= 0 else -1
        self._live = live
        self._history.update(snapshots)
        self._step = step % len(snapshots)
        self._committed = committed
        self._forget_frame()
        available = self._history.available()
        if available != self._available:
            self._available = available
            self.overlaysAvailable.emit(available)
        if self._selection is not None and self._selection[1] > self._history.length:
            self.setSelection(None)
        self._data_changed(layout=old_length != self._history.length)

    def clear(self) -> None:
        self._history = CanvasHistory()
        self._step, self._live = -1, False
        self._forget_frame()
        self._data_changed(layout=True)

    def snapshot(self) -> StepSnapshot | None:
        return self._history.snapshot(self._step) if self._step >= 0 else None

    def frame(self) -> CellFrame | None:
        """What is drawn for the shown step under the active overlay, built once per step (at the first paint)."""
        if self._frame is None and self._step >= 0:
            self._frame = CellFrame.build_from(self._frame_inputs())
        return self._frame

    def _frame_inputs(self) -> FrameInputs:
        wash = GridColours.of(self.palette()).window_rgb
        final = self._committed and self._step == self._history.steps - 1
        return FrameInputs.of(self._history, self._step, self._overlay, self._max_entropy, wash, final)

    def _forget_frame(self) -> None:
        """The shown step, overlay or colours changed: the frame is built again, and a picture of the old one is
        not the newest any more."""
        self._frame = None
        self._version += 1

    def _frame_job(self) -> tuple[int, Callable[[], CellFrame]]:
        """(version, build) for the render worker: the frame of the shown step, built there from inputs gathered
        here in O(canvas) (building it on the GUI thread was a third of the pass that takes a streamed step)."""
        if self._frame is not None:
            frame = self._frame
            return self._version, lambda: frame
        inputs = self._frame_inputs()
        return self._version, lambda: CellFrame.build_from(inputs)

    def _adopt_frame(self, version: int, frame: CellFrame) -> None:
        """A frame the worker built: kept when it is still the shown step's."""
        if version == self._version and self._frame is None:
            self._frame = frame

    def set_overlay(self, overlay: Overlay) -> None:
        overlay = Overlay(overlay)
        if overlay != self._overlay:
            self._overlay = overlay
            self._forget_frame()
            self._data_changed(layout=False, legend=True)

    def overlay(self) -> Overlay:
        return self._overlay

    def available_overlays(self) -> frozenset[Overlay]:
        return self._available

    def set_highlight(self, mask: np.ndarray | None) -> None:
        """Outline these positions (True in `mask`), e.g. where two runs differ; None clears."""
        self._highlight = [] if mask is None else np.flatnonzero(mask).tolist()
        self._data_changed(layout=False)

    def highlighted(self) -> list[int]:
        return list(self._highlight)

    def set_token_text(self, token_text: TokenText) -> None:
        self._token_text = token_text
        self._raw_text.clear()
        self._data_changed(layout=True)

    def set_max_entropy(self, value: float) -> None:
        self._max_entropy = float(value)
        self._forget_frame()
        self._data_changed(layout=False, legend=True)

    def max_entropy(self) -> float:
        return self._max_entropy

    def raw_text(self, token_id: int) -> str:
        """A token's text as the tokenizer gives it; called on the render worker too (the cache has a lock)."""
        return self._raw_text.get_or_make(token_id, self._token_text)

    def _legend_state(self) -> tuple:
        """(overlay, value range, has values, unknown entropy shown): what the legend shows, from the history (no
        frame is built)."""
        if self._step < 0:
            return self._overlay, (0.0, self._max_entropy), True, False
        value_range = self._history.value_range(self._overlay, self._max_entropy)
        unknown = self._overlay is Overlay.ENTROPY and bool(np.isnan(self._history.snapshot(self._step).entropy).any())
        return self._overlay, value_range, self._overlay in self._available, unknown

    # ---- drawing at a bounded rate ----------------------------------------------------------------------------
    def _data_changed(self, layout: bool, legend: bool = False) -> None:
        """Subclasses re-lay out what they must, then `_schedule()`."""
        self._schedule()

    def _schedule(self, rect: QRect | None = None) -> None:
        """Repaint now if the last paint is a frame old, else once when it is (steps arriving meanwhile wait)."""
        self._dirty = True
        wait = FRAME_INTERVAL_S - (time.perf_counter() - self._last_paint)
        if wait <= 0:
            self._refresh(rect if rect is not None else self.rect())
        elif not self._pending:
            # A one-shot call, not a QTimer child: nothing to stop, and it does nothing if a paint came first.
            self._pending = True
            QTimer.singleShot(max(1, int(wait * 1000) + 1), self, self._redraw)

    def _redraw(self) -> None:
        self._pending = False
        if self._dirty:
            self._refresh(self._dirty_rect())

    def _refresh(self, rect: QRect) -> None:
        """Bring `rect` up to date: a paint, here; a view that draws live frames on a worker starts one there."""
        self.update(rect)

    def _dirty_rect(self) -> QRect:
        return self.rect()

    def _painted(self, rect: QRect) -> None:
        """paintEvent calls this with its rectangle: when that covers what changed, the newest step is on screen."""
        if rect.contains(self._dirty_rect()):
            self._last_paint = time.perf_counter()
            self._dirty = False
            self.framePainted.emit()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self._forget_frame()  # outside-span cells blend toward the window colour
            self._data_changed(layout=False, legend=True)
        elif event.type() == QEvent.Type.FontChange:
            self._data_changed(layout=True, legend=True)
        super().changeEvent(event)

    # ---- selection --------------------------------------------------------------------------------------------
    def selection(self) -> tuple[int, int] | None:
        return self._selection

    def setSelection(self, start: int | None, end: int | None = None) -> None:  # noqa: N802 - Qt naming
        """Select [start, end) (end defaults to start + 1); None clears. Emits selectionChanged when it changes."""
        new = None if start is None else (int(start), int(start) + 1 if end is None else int(end))
        if new is not None and not 0 <= new[0] < new[1]:
            raise ValueError(f"bad selection {new}")
        if new == self._selection:
            return
        self._selection = new
        if new is not None:
            self._anchor = new[0]
            self.selectionChanged.emit(*new)
        else:
            self.selectionChanged.emit(-1, -1)
        self.update()

    def _extend_to(self, pos: int) -> None:
        anchor = self._anchor
        self.setSelection(min(anchor, pos), max(anchor, pos) + 1)
        self._anchor = anchor  # setSelection moves the anchor to the span's start; extending keeps the original

    # ---- geometry (subclasses) --------------------------------------------------------------------------------
    def position_at(self, point: QPoint | QPointF) -> int | None:
        """The canvas position under a widget point, or None."""
        raise NotImplementedError

    def position_rect(self, position: int) -> QRectF:
        """Where a position is drawn, in widget coordinates."""
        raise NotImplementedError

    def _where(self, position: int) -> str:
        """How the tooltip's first line places a position, e.g. "(row 0, column 5)"."""
        raise NotImplementedError

    # ---- interaction ------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = self.position_at(event.position())
        if event.button() != Qt.MouseButton.LeftButton or pos is None:
            super().mousePressEvent(event)
            return
        mods = event.modifiers()
        if mods & Qt.KeyboardModifier.ControlModifier:
            self.lockToggleRequested.emit(pos)
        elif mods & Qt.KeyboardModifier.ShiftModifier and self._selection is not None:
            self._extend_to(pos)
        else:
            self.setSelection(pos, pos + 1)
            self.positionClicked.emit(pos)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = self.position_at(event.position())
        if event.buttons() & Qt.MouseButton.LeftButton and pos is not None and self._selection is not None:
            self._extend_to(pos)  # dragging extends like shift-click
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        target = self._neighbour(event.key())
        if target is None:
            super().keyPressEvent(event)
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._extend_to(target)
        else:
            self.setSelection(target, target + 1)
        event.accept()

    def _neighbour(self, key: int) -> int | None:
        """The position an arrow key moves to from the selection's moving end; None for other keys or at an edge.
        Up and down go by geometry (the cell drawn above or below), so the grid and the flowing text both work."""
        length = self._history.length
        if self._selection is None or not length:
            return None
        start, end = self._selection
        current = start if start < self._anchor else end - 1
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            target = current + (1 if key == Qt.Key.Key_Right else -1)
            return target if 0 <= target < length else None
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            rect = self.position_rect(current)
            offset = rect.height() * (1 if key == Qt.Key.Key_Down else -1)
            return self.position_at(rect.center() + QPointF(0, offset))
        return None

    def tooltip_text(self, position: int) -> str:
        """Plain-text description of one position at the shown step (the hover tooltip's content)."""
        frame = self.frame()
        if frame is None or not 0 <= position < self._history.length:
            return ""
        snap = frame.snapshot
        token_id = int(snap.argmax[position])
        counts, last = self._history.changes(self._step)
        count, changed_at = int(counts[position]), int(last[position])
        plural = "s" if count != 1 else ""
        # Steps are numbered from 1 here, as on the scrubber and the plots.
        changed = f"last changed at step {changed_at + 1}, {count} change{plural}" if count else "never changed"
        settled = self._history.values(Overlay.COMMIT_ORDER, self._step)[position]
        state = [label for flag, label in (
            (frame.accepted_now[position], "accepted this step"),
            (frame.stable[position], "accepted earlier (stable)"),
            (frame.renoised[position], "renoised this step"),
            (frame.locked[position], "locked"),
            (not frame.editable[position], "outside the span"),
        ) if flag]  # fmt: skip
        lines = [
            f"position {position} {self._where(position)}",
            f"token id {token_id}: {self.raw_text(token_id)!r}",
            f"entropy {float(snap.entropy[position]):.4g} nats" if not np.isnan(snap.entropy[position])
            else "entropy unknown: the model did not sample this token (typed or opened text)",
            f"step {snap.step_index + 1}: {changed}" if snap.step_index >= 0 else f"the text: {changed}",
            f"settled since step {int(settled) + 1}" if not np.isnan(settled) else "not settled",
        ]
        if self._history.has_margin:
            lines.append(f"margin {float(self._history.values(Overlay.MARGIN, self._step)[position]):.3f}")
        return "\n".join([*lines, ", ".join(state)])

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            pos = self.position_at(event.pos())
            if pos is None:
                QToolTip.hideText()
                event.ignore()
                return True
            body = "<br>".join(html.escape(line) for line in self.tooltip_text(pos).splitlines())
            QToolTip.showText(event.globalPos(), f"<p style='white-space:pre'>{body}</p>", self,
                              self.position_rect(pos).toRect())  # fmt: skip
            return True
        return super().event(event)


__all__ = ["CanvasView", "TokenText"]
