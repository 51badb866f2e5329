"""The image strip's parts: a thumbnail tile per image (move, remove, drag to reorder) and the row they sit in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice, QMimeData, QPoint, QSize, Qt
from PySide6.QtGui import (
    QAction,
    QDrag,
    QImage,
    QMouseEvent,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from widgets.panels.modal import nobody_to_ask

THUMB_HEIGHT = 72
THUMB_MAX_WIDTH = 144  # a panorama is letterboxed rather than pushing its neighbours out of view


def thumbnail_pixmap(image: Image.Image, scale: float) -> QPixmap:
    """A small pixmap of a PIL image; only the thumbnail's pixels are ever copied into Qt."""
    fit = min(THUMB_HEIGHT / image.height, THUMB_MAX_WIDTH / image.width)
    width, height = max(1, round(image.width * fit * scale)), max(1, round(image.height * fit * scale))
    small = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0).convert("RGB")
    qimage = QImage(small.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    pixmap = QPixmap.fromImage(qimage)
    pixmap.setDevicePixelRatio(scale)
    return pixmap


def qimage_to_png(image: QImage) -> bytes:
    """PNG bytes of a QImage, so pasted and dropped pixels go through the same checks as files."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(buffer.data().data())


class TileOwner(Protocol):
    """What a tile asks of the strip it sits in (a Protocol, so this module does not import the strip's)."""

    def index_of(self, tile: QWidget) -> int: ...

    def reorder_mime(self, index: int) -> QMimeData: ...

    def _step(self, tile: Tile, offset: int) -> None: ...

    def _remove_tile(self, tile: Tile) -> None: ...


@dataclass
class Entry:
    image: Any  # PIL RGB image, bounded by models.inputs.images
    name: str
    tile: Tile


class Tile(QFrame):
    """One image: its thumbnail, pixel size, token count, and move / remove buttons."""

    def __init__(self, strip: TileOwner, image: Image.Image, name: str) -> None:
        super().__init__()
        self._strip = strip
        self._press: QPoint | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setToolTip(name)
        self.picture = QLabel()
        self.picture.setPixmap(thumbnail_pixmap(image, self.devicePixelRatioF()))
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setFixedHeight(THUMB_HEIGHT)
        self.size_label = QLabel(f"{image.width}×{image.height}")
        self.tokens_label = QLabel()
        small = self.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        for label in (self.size_label, self.tokens_label):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setFont(small)
        self.left_button = self._button("◀", "Move left", lambda: strip._step(self, -1))
        self.remove_button = self._button("×", f"Remove {name}", lambda: strip._remove_tile(self))
        self.right_button = self._button("▶", "Move right", lambda: strip._step(self, +1))
        buttons = QHBoxLayout()
        buttons.setSpacing(2)
        buttons.addWidget(self.left_button)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.right_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(1)
        layout.addWidget(self.picture)
        layout.addWidget(self.size_label)
        layout.addWidget(self.tokens_label)
        layout.addLayout(buttons)

    def _button(self, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAccessibleName(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    def set_position(self, index: int, count: int) -> None:
        self.left_button.setEnabled(index > 0)
        self.right_button.setEnabled(index < count - 1)

    def context_menu(self) -> QMenu:
        menu = QMenu(self)
        for text, enabled, slot in (
            ("Move left", self.left_button.isEnabled(), lambda: self._strip._step(self, -1)),
            ("Move right", self.right_button.isEnabled(), lambda: self._strip._step(self, +1)),
            ("Remove", True, lambda: self._strip._remove_tile(self)),
        ):
            action = QAction(text, menu)
            action.setEnabled(enabled)
            action.triggered.connect(slot)
            menu.addAction(action)
        return menu

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        menu = self.context_menu()  # popped up, not exec'd: nothing waits on it (widgets.panels.modal)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(event.globalPos())

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        moved = self._press is not None and (
            (event.position().toPoint() - self._press).manhattanLength() >= QApplication.startDragDistance()
        )
        if not moved or not event.buttons() & Qt.MouseButton.LeftButton:
            return super().mouseMoveEvent(event)
        self._press = None
        if nobody_to_ask():  # a drag runs until a person lets go of the mouse; the move buttons do the same
            return None
        drag = QDrag(self)
        drag.setMimeData(self._strip.reorder_mime(self._strip.index_of(self)))
        drag.setPixmap(self.picture.pixmap())
        drag.exec(Qt.DropAction.MoveAction)


class TileScroll(QScrollArea):
    """A horizontal scroll row exactly as tall as its tiles plus a scroll bar, so a scroll bar never squeezes them."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        row = self.widget().sizeHint()
        bar = self.horizontalScrollBar().sizeHint().height()
        return QSize(row.width(), row.height() + bar + 2 * self.frameWidth())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(0, self.sizeHint().height())
