"""ImageStrip: the prompt's images as a row of thumbnails, with the visual token budget and the tokens they add."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QMimeData, QPoint, QStandardPaths, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QPalette,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from models.inputs.images import DEFAULT_IMAGE_BUDGET, IMAGE_TOKEN_BUDGETS
from widgets.panels.modal import open_file_names
from widgets.prompt.image_input import read_files, read_mime
from widgets.prompt.image_tiles import Entry, Tile, TileScroll

BUDGETS, DEFAULT_BUDGET = IMAGE_TOKEN_BUDGETS, DEFAULT_IMAGE_BUDGET
MARKER_TOKENS = 2  # the <|image> and <image|> that wrap each image's soft tokens
FILE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.gif);;All files (*)"
REORDER_MIME = "application/x-diffusion-desk-image-index"
BUDGET_TOOLTIP = (
    "Visual tokens per image: lower is faster, higher reads finer detail (small text, charts). "
    "Each image adds this many tokens or fewer to the prompt, plus 2 markers."
)

TokenCounter = Callable[[Any, int], int]  # (PIL image, budget) -> soft tokens


class ImageStrip(QWidget):
    """The prompt's images, in order. changed() fires on any change of images or budget; refused(str) carries
    one line per input that was not a readable image."""

    changed = Signal()
    refused = Signal(str)

    def __init__(self, parent: QWidget | None = None, budget: int = DEFAULT_BUDGET) -> None:
        super().__init__(parent)
        self._entries: list[Entry] = []
        self._counter: TokenCounter | None = None
        self._folder = ""  # where the last images were picked from
        self.setAcceptDrops(True)

        self.add_button = QPushButton("Add image…")
        self.add_button.setToolTip("Add PNG, JPEG, WebP, BMP or GIF images; they go before the prompt's text")
        self.add_button.clicked.connect(self._add_from_dialog)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)  # on a line of its own: squeezed beside the buttons it overflowed
        self.budget_box = QComboBox()
        for value in BUDGETS:
            self.budget_box.addItem(str(value), value)
        self.budget_box.setToolTip(BUDGET_TOOLTIP)
        self.budget_box.setCurrentIndex(BUDGETS.index(budget))
        self.budget_box.currentIndexChanged.connect(self._budget_changed)
        budget_label = QLabel("Image &budget")
        budget_label.setBuddy(self.budget_box)
        budget_label.setToolTip(BUDGET_TOOLTIP)

        header = QHBoxLayout()
        header.addWidget(self.add_button)
        header.addStretch(1)
        header.addWidget(budget_label)
        header.addWidget(self.budget_box)

        self._row = QWidget()
        self._row_layout = QHBoxLayout(self._row)
        self._row_layout.setContentsMargins(0, 0, 0, 0)
        self._row_layout.addStretch(1)
        self._marker = QFrame(self._row)  # where a dragged thumbnail will land
        self._marker.setFrameShape(QFrame.Shape.VLine)
        self._marker.setForegroundRole(QPalette.ColorRole.Highlight)
        self._marker.hide()
        self.scroll = TileScroll()
        # A click on a tile's × must not take the focus: Qt gives it to the nearest parent that takes clicks, this
        # scroll area, which then hid with the last image and passed the focus on down the window (to Max new
        # tokens). The tiles' buttons are reached with Tab.
        self.scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scroll.setWidget(self._row)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.scroll)
        self._refresh()

    # ----- reading ------------------------------------------------------------------------------------------
    def images(self) -> list[Any]:
        return [entry.image for entry in self._entries]

    def names(self) -> list[str]:
        return [entry.name for entry in self._entries]

    def budget(self) -> int:
        return int(self.budget_box.currentData())

    def token_counts(self) -> list[int] | None:
        """Soft tokens per image at the current budget, or None while no counter is set."""
        if self._counter is None:
            return None
        return [int(self._counter(entry.image, self.budget())) for entry in self._entries]

    def prompt_tokens(self) -> int | None:
        """Tokens the images add to the prompt: each one's soft tokens plus its two markers."""
        counts = self.token_counts()
        return None if counts is None else sum(counts) + MARKER_TOKENS * len(counts)

    def index_of(self, tile: QWidget) -> int:
        return next(i for i, entry in enumerate(self._entries) if entry.tile is tile)

    def tile(self, index: int) -> Tile:
        return self._entries[index].tile

    # ----- changing -----------------------------------------------------------------------------------------
    def set_budget(self, budget: int) -> None:
        if budget not in BUDGETS:
            raise ValueError(f"visual token budget must be one of {BUDGETS}, got {budget}")
        self.budget_box.setCurrentIndex(BUDGETS.index(budget))

    def set_token_counter(self, counter: TokenCounter | None) -> None:
        self._counter = counter
        self._refresh()

    def add_image(self, image: Any, name: str) -> None:
        """Append an image already read by models.inputs.images (load_image_file / load_image_bytes)."""
        self._append(image, name)
        self._commit()

    def add_files(self, paths: Iterable[str | PathLike]) -> int:
        """Append the readable images among `paths`, in order; the rest are refused. Returns how many were added."""
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            images, refusals = read_files(paths)
        finally:
            QApplication.restoreOverrideCursor()
        return self._add(images, refusals)

    def add_mime_data(self, mime: QMimeData, name: str = "dropped image") -> int:
        """Append what a drop or paste carries: local files, else image data. Returns how many were added."""
        urls = mime.urls() if mime.hasUrls() else []
        files = [url.toLocalFile() for url in urls if url.isLocalFile()]
        if files:
            return self.add_files(files)
        return self._add(*read_mime(mime, name))

    def _add(self, images: list[tuple[Any, str]], refusals: list[str]) -> int:
        for image, name in images:
            self._append(image, name)
        self._report(len(images), refusals)
        return len(images)

    def paste_from_clipboard(self) -> bool:
        """Add the clipboard's image or image files; False (and nothing changes) when it holds none."""
        mime = QGuiApplication.clipboard().mimeData()
        return mime is not None and self.add_mime_data(mime, "pasted image") > 0

    def remove(self, index: int) -> None:
        entry = self._entries.pop(index)
        focus = QApplication.focusWidget()
        had_focus = focus is not None and entry.tile.isAncestorOf(focus)
        entry.tile.hide()
        entry.tile.deleteLater()
        self._commit()
        if had_focus:  # stay in the strip (the next image's ×, else Add image), not the next box in the window
            following = self._entries[min(index, len(self._entries) - 1)].tile.remove_button if self._entries else None
            (following or self.add_button).setFocus()

    def move(self, index: int, new_index: int) -> None:
        if not (0 <= index < len(self._entries) and 0 <= new_index < len(self._entries)):
            raise IndexError(f"cannot move image {index} to {new_index} of {len(self._entries)}")
        if index == new_index:
            return
        self._entries.insert(new_index, self._entries.pop(index))
        self._commit()

    def clear(self) -> None:
        if self._entries:
            self.set_images([], [])

    def set_images(self, images: Sequence[Any], names: Sequence[str]) -> None:
        """Replace every image at once (to restore a prompt); changed() fires once."""
        if len(images) != len(names):
            raise ValueError(f"{len(images)} images but {len(names)} names")
        for entry in self._entries:
            entry.tile.hide()
            entry.tile.deleteLater()
        self._entries = []
        for image, name in zip(images, names, strict=True):
            self._append(image, name)
        self._commit()

    def choose_files(self) -> list[str]:
        """The files the person picks, starting where they last picked some (else their Pictures folder)."""
        start = self._folder or QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        paths = open_file_names(self, "Add images", start or str(Path.home()), FILE_FILTER)
        if paths:
            self._folder = str(Path(paths[0]).parent)
        return paths

    @staticmethod
    def reorder_mime(index: int) -> QMimeData:
        """What dragging the thumbnail at `index` carries."""
        mime = QMimeData()
        mime.setData(REORDER_MIME, QByteArray(str(index).encode()))
        return mime

    # ----- drag and drop ------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        self._drag_over(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt override
        self._drag_over(event)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._marker.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        self._marker.hide()
        mime = event.mimeData()
        if mime.hasFormat(REORDER_MIME):
            text = bytes(mime.data(REORDER_MIME).data()).decode(errors="replace")
            source = int(text) if text.isdigit() else -1
            target = self._insertion_index(event.position().toPoint())
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()
            if 0 <= source < len(self._entries):
                self.move(source, target - 1 if target > source else target)
            return
        event.acceptProposedAction()
        self.add_mime_data(mime)

    def _drag_over(self, event: QDragMoveEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(REORDER_MIME):
            self._show_marker(self._insertion_index(event.position().toPoint()))
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()
        elif mime.hasUrls() or mime.hasImage() or any(f.startswith("image/") for f in mime.formats()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def _insertion_index(self, pos: QPoint) -> int:
        """Where a thumbnail dropped at `pos` (strip coordinates) goes: before the first tile whose middle is right
        of it."""
        x = self._row.mapFrom(self, pos).x()
        for index, entry in enumerate(self._entries):
            if x < entry.tile.geometry().center().x():
                return index
        return len(self._entries)

    def _show_marker(self, index: int) -> None:
        if not self._entries:
            return
        tiles = [entry.tile.geometry() for entry in self._entries]
        x = tiles[index].left() - 3 if index < len(tiles) else tiles[-1].right() + 1
        self._marker.setGeometry(max(0, x), 0, 3, self._row.height())
        self._marker.raise_()
        self._marker.show()

    # ----- internals ----------------------------------------------------------------------------------------
    def _add_from_dialog(self) -> None:
        paths = self.choose_files()
        if paths:
            self.add_files(paths)

    def _append(self, image: Any, name: str) -> None:
        self._entries.append(Entry(image, name, Tile(self, image, name)))

    def _report(self, added: int, refusals: list[str]) -> None:
        if added:
            self._commit()
        if refusals:
            self.refused.emit("\n".join(refusals))

    def _commit(self) -> None:
        self._refresh()
        self.changed.emit()

    def _step(self, tile: Tile, offset: int) -> None:
        index = self.index_of(tile)
        if 0 <= index + offset < len(self._entries):
            self.move(index, index + offset)

    def _remove_tile(self, tile: Tile) -> None:
        self.remove(self.index_of(tile))

    def _budget_changed(self) -> None:
        self._refresh()
        self.changed.emit()

    def _refresh(self) -> None:
        """Lay the tiles out in order and bring every label up to date."""
        counts = self.token_counts()
        for index, entry in enumerate(self._entries):
            self._row_layout.insertWidget(index, entry.tile, 0, Qt.AlignmentFlag.AlignTop)  # moves one already there
            entry.tile.set_position(index, len(self._entries))
            entry.tile.tokens_label.setVisible(counts is not None)
            if counts is not None:
                entry.tile.tokens_label.setText(f"{counts[index]} tokens")
        self.scroll.setVisible(bool(self._entries))
        self.scroll.updateGeometry()
        self.summary_label.setForegroundRole(
            QPalette.ColorRole.WindowText if self._entries else QPalette.ColorRole.PlaceholderText
        )
        self.summary_label.setText(self._summary())

    def _summary(self) -> str:
        count = len(self._entries)
        if not count:
            return "Drop or paste images here"
        text = f"{count} image{'s' if count != 1 else ''}"
        counts = self.token_counts()
        if counts is None:
            return text
        # The thumbnails count each image's soft tokens; the prompt also holds a begin and an end marker per image.
        return (f"{text} · {sum(counts) + MARKER_TOKENS * count} prompt tokens "
                f"({sum(counts)} image + {MARKER_TOKENS * count} markers)")
