"""TokenInspector: one position of the canvas: its candidates at the step on screen, with probability bars, and its
story across the steps (draft token, entropy, accepted or renoised, the step it settled at).

Left/Right move to the previous/next position, Up/Down choose a candidate, Enter (or a double click) puts the chosen
candidate in place; the window then locks it and offers to denoise around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from models.canvas.inspection import Candidate, Timeline
from widgets.canvas import colors
from widgets.canvas.grid_cells import format_token

TokenText = Callable[[int], str]


@dataclass(frozen=True)
class InspectedToken:
    """What the inspector shows: a position, the step on screen, its candidates there and its timeline."""

    position: int
    step: int  # 0-based index into the timeline; -1 when the canvas is the document itself
    token_id: int
    candidates: tuple[Candidate, ...]
    timeline: Timeline | None
    source: str = ""  # where the candidates of the text's token come from ("step 4 of run #2"); "" on a run's step
    replaced: int | None = None  # the token that step had, when the text now holds another (picked, typed)


class CandidateList(QWidget):
    """The candidates as rows with a bar for each probability; click to choose, double-click to pick."""

    chosen = Signal(int)
    picked = Signal(int)
    ROW = 22

    def __init__(self, token_text: TokenText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.token_text = token_text
        self.items: tuple[Candidate, ...] = ()
        self.current = -1
        self.empty_text = ""  # what an empty list says: nothing while no token is inspected
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_candidates(self, items: tuple[Candidate, ...], current: int = 0) -> None:
        """The rows, and the one chosen (-1: none)."""
        self.items, self.current = items, (current if 0 <= current < len(items) else -1)
        self.setFixedHeight(max(1, len(items)) * self.ROW + 2)
        self.update()

    def choose(self, index: int) -> None:
        if 0 <= index < len(self.items) and index != self.current:
            self.current = index
            self.chosen.emit(index)
            self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        pal = self.palette()
        if not self.items:
            p.setPen(pal.placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        bar = QColor(pal.highlight().color())
        bar.setAlpha(90)
        for row, item in enumerate(self.items):
            rect = QRectF(0, row * self.ROW, self.width(), self.ROW - 2)
            p.fillRect(QRectF(rect.left(), rect.top(), rect.width() * item.probability, rect.height()), bar)
            font = p.font()
            font.setBold(row == self.current)  # the chosen row: bold and outlined, whatever its bar's length
            p.setFont(font)
            if row == self.current:
                p.setPen(QPen(pal.highlight().color(), 2))
                p.drawRect(rect.adjusted(1, 1, -1, -1))
            p.setPen(pal.windowText().color())
            label = f"{row + 1}. {format_token(self.token_text(item.token_id))}"
            p.drawText(rect.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter, label)
            p.drawText(rect.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                       f"{100 * item.probability:.1f}%")

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        self.choose(int(event.position().y() // self.ROW))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt naming
        row = int(event.position().y() // self.ROW)
        if 0 <= row < len(self.items):
            self.choose(row)
            self.picked.emit(row)


class TimelineStrip(QWidget):
    """One cell per step: coloured by entropy, a dot where the sampler accepted, the draft token when it fits;
    the step on screen outlined and the step the token settled at marked."""

    def __init__(self, token_text: TokenText, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.token_text = token_text
        self.timeline: Timeline | None = None
        self.step = -1
        self.max_entropy = colors.DEFAULT_MAX_ENTROPY
        self.empty_text = ""
        self.setMinimumHeight(44)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def show_timeline(self, timeline: Timeline | None, step: int) -> None:
        self.timeline, self.step = timeline, step
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt naming
        p = QPainter(self)
        timeline = self.timeline
        if timeline is None or not len(timeline.argmax):
            p.setPen(self.palette().placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        n = len(timeline.argmax)
        width = self.width() / n
        rgb = colors.entropy_to_rgb(timeline.entropy, self.max_entropy)
        dark = colors.use_dark_text(rgb)
        for step in range(n):
            cell = QRectF(step * width, 0, width, self.height() - 12)
            p.fillRect(cell.adjusted(0.5, 0, -0.5, 0), QColor(*rgb[step].tolist()))
            ink = QColor(0, 0, 0) if dark[step] else QColor(255, 255, 255)
            if width >= 18:
                p.setPen(ink)
                text = format_token(self.token_text(int(timeline.argmax[step])))
                p.drawText(cell, Qt.AlignmentFlag.AlignCenter, p.fontMetrics().elidedText(
                    text, Qt.TextElideMode.ElideRight, int(width) - 2))
            if timeline.accepted[step]:
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(ink)
                p.drawEllipse(QRectF(cell.center().x() - 2, cell.bottom() - 6, 4, 4))
        if 0 <= self.step < n:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(self.palette().highlight().color(), 2))
            p.drawRect(QRectF(self.step * width + 1, 1, width - 2, self.height() - 14))
        if timeline.settled is not None:
            x = timeline.settled * width
            p.setPen(QPen(self.palette().windowText().color(), 1.5))
            p.drawLine(int(x), int(self.height() - 11), int(self.width()), int(self.height() - 11))
            label = f"settled at step {timeline.settled + 1}"
            fits_right = x + p.fontMetrics().horizontalAdvance(label) + 4 < self.width()
            area = QRectF(x + 2, self.height() - 11, self.width(), 11) if fits_right else \
                QRectF(0, self.height() - 11, x - 4, 11)  # late in the canvas: the words go left of the mark
            align = Qt.AlignmentFlag.AlignLeft if fits_right else Qt.AlignmentFlag.AlignRight
            p.drawText(area, align | Qt.AlignmentFlag.AlignVCenter, label)


class TokenInspector(QWidget):
    positionMoved = Signal(int)  # -1 or +1: Left/Right
    candidatePicked = Signal(int, int)  # position, token id
    fillRequested = Signal()
    redenoiseRequested = Signal(int)  # the position whose neighbourhood to re-denoise

    def __init__(self, token_text: TokenText = str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shown: InspectedToken | None = None
        self.header = QLabel("Click a token in the grid to inspect it.")
        self.header.setWordWrap(True)
        self.candidates = CandidateList(token_text)
        self.timeline = TimelineStrip(token_text)
        self.pick_button = QPushButton("Use this token")
        self.pick_button.setToolTip("Put the chosen candidate in place and lock it (Enter)")
        self.fill_button = QPushButton("Fill around")
        self.fill_button.setToolTip("Re-denoise the rest of the canvas around the locked tokens")
        self.redenoise_button = QPushButton("Re-denoise around")
        self.redenoise_button.setToolTip("Re-denoise the tokens near this one, keeping it")
        buttons = QHBoxLayout()
        for button in (self.pick_button, self.fill_button, self.redenoise_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        self.candidates_title = QLabel()
        self.candidates_title.setWordWrap(True)
        layout.addWidget(self.candidates_title)
        layout.addWidget(self.candidates)
        layout.addWidget(QLabel("<b>Across the steps</b>"))
        layout.addWidget(self.timeline)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.pick_button.clicked.connect(self._pick)
        self.candidates.picked.connect(lambda row: self._pick())
        self.fill_button.clicked.connect(self.fillRequested)
        self.redenoise_button.clicked.connect(
            lambda: self.redenoiseRequested.emit(self.shown.position) if self.shown else None)
        self.set_offers(False)
        self.show_token(None)

    def set_token_text(self, token_text: TokenText, max_entropy: float) -> None:
        self.candidates.token_text = self.timeline.token_text = token_text
        self.timeline.max_entropy = max_entropy
        self.update()

    def show_token(self, token: InspectedToken | None) -> None:
        self.shown = token
        unsampled = token is not None and token.step < 0 and token.timeline is None  # typed or opened text
        self.candidates.empty_text = ("" if token is None else "No run has denoised this canvas yet" if unsampled
                                      else "No candidates recorded (top-k was 0)")
        self.timeline.empty_text = "" if token is None else "No steps recorded for this canvas"
        if token is None:
            self.header.setText("Click a token in the grid to inspect it; the arrow keys move from token to token. "
                                "Double-click a candidate to use it.")
            self.candidates_title.setText("<b>Candidates at this step</b>")
            self.candidates.set_candidates(())
            self.timeline.show_timeline(None, -1)
        else:
            where = "the text" if token.step < 0 else f"step {token.step + 1}"
            text = format_token(self.candidates.token_text(token.token_id))
            self.header.setText(f"<b>Position {token.position}</b> at {where}: “{text}” (id {token.token_id})")
            ids = [c.token_id for c in token.candidates]
            self.candidates_title.setText(_candidates_title(token, self.candidates.token_text))
            # The row of the token in place is the chosen one; none when the model never offered it.
            self.candidates.set_candidates(token.candidates, ids.index(token.token_id) if token.token_id in ids
                                           else (0 if token.replaced is None else -1))
            self.timeline.show_timeline(token.timeline, token.step)
        self.pick_button.setEnabled(bool(token and token.candidates))

    def set_offers(self, enabled: bool) -> None:
        """Fill around / Re-denoise around, offered once a candidate is in place (and while editing is possible)."""
        self.fill_button.setEnabled(enabled)
        self.redenoise_button.setEnabled(enabled)

    def _pick(self) -> None:
        token, row = self.shown, self.candidates.current
        if token is not None and 0 <= row < len(token.candidates):
            self.candidatePicked.emit(token.position, token.candidates[row].token_id)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        key = event.key()
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.positionMoved.emit(-1 if key == Qt.Key.Key_Left else 1)
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self.candidates.choose(self.candidates.current + (-1 if key == Qt.Key.Key_Up else 1))
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._pick()
        else:
            super().keyPressEvent(event)
            return
        event.accept()


def _candidates_title(token: InspectedToken, token_text: TokenText) -> str:
    """What the candidate list is: a run's step on screen, or the step that last denoised the text's token, and
    whether the text still holds what the model had there."""
    if not token.source:
        return "<b>Candidates at this step</b>"
    if token.replaced is None:
        return f"<b>Candidates at {token.source}</b>, which wrote this token"
    before = format_token(token_text(token.replaced))
    return (f"<b>Candidates at {token.source}</b>, where the model had “{before}”; the text holds your choice "
            f"“{format_token(token_text(token.token_id))}” now")
