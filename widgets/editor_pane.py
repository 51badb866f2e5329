"""EditorPane: the generated text to read and type in, with locks drawn over it, a tint on the span being
re-denoised, and the proposed change shown in place to accept or reject hunk by hunk."""

from __future__ import annotations

import enum

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import (
    QAction,
    QColor,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QTextCharFormat,
    QTextCursor,
    QTextLayout,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from models.document import Document, Hunk

# Characters QTextDocument would treat as structure (block and frame markers) or not draw are shown as one visible
# stand-in each, so a character offset in the text is always the same offset in the widget.
_DISPLAY = str.maketrans(
    {c: 0x2400 + c for c in range(32) if c not in (9, 10)}
    | {0x7F: 0x2421, 0x2028: 0x21B5, 0x2029: 0xB6, 0xFDD0: 0xFFFD, 0xFDD1: 0xFFFD, 0xFFFC: 0xFFFD}
)
_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
INSTRUCTION_PLACEHOLDER = "How should the selection change? e.g. more formal, fix the grammar, translate to French"


class Mode(enum.Enum):
    NORMAL = "normal"  # the document, editable
    LIVE = "live"  # a re-denoise in progress, read-only, its span tinted
    REVIEW = "review"  # the proposed change as an in-place diff, read-only


def _utf32(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _qt_positions(text: str) -> np.ndarray:
    """(len(text) + 1,) the widget position of each character offset: Qt counts UTF-16 units."""
    if text.isascii():
        return np.arange(len(text) + 1)
    positions = np.zeros(len(text) + 1, dtype=np.int64)
    np.cumsum(1 + (_utf32(text) > 0xFFFF), out=positions[1:])
    return positions


def _common_ends(old: str, new: str, max_prefix: int) -> tuple[int, int]:
    """Lengths of the common prefix (at most max_prefix) and of the common suffix after it."""
    a, b = _utf32(old), _utf32(new)
    m = min(len(a), len(b), max_prefix)
    differ = np.flatnonzero(a[:m] != b[:m])
    prefix = int(differ[0]) if len(differ) else m
    rest = min(len(a), len(b)) - prefix
    differ = np.flatnonzero(a[len(a) - rest :][::-1] != b[len(b) - rest :][::-1])
    return prefix, int(differ[0]) if len(differ) else rest


def _format(
    background: QColor | None = None,
    foreground: QColor | None = None,
    underline: QColor | None = None,
    strike: bool = False,
) -> QTextCharFormat:
    fmt = QTextCharFormat()
    if background is not None:
        fmt.setBackground(background)
    if foreground is not None:
        fmt.setForeground(foreground)
    if underline is not None:
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
        fmt.setUnderlineColor(underline)
    fmt.setFontStrikeOut(strike)
    return fmt


# Translucent tints read on light and dark palettes alike. Key bits: 4 locked, 2 being re-denoised, 1 odd token.
_LOCK_LINE = QColor(214, 120, 0)
_TOKEN_FORMATS = {
    1: _format(QColor(128, 128, 128, 45)),
    2: _format(QColor(66, 133, 244, 60)),
    3: _format(QColor(66, 133, 244, 100)),
    4: _format(QColor(255, 179, 0, 80), underline=_LOCK_LINE),
    5: _format(QColor(255, 179, 0, 130), underline=_LOCK_LINE),
}
_TOKEN_FORMATS |= {6: _TOKEN_FORMATS[4], 7: _TOKEN_FORMATS[5]}  # a locked token stays put inside a span
_REMOVED = _format(QColor(229, 57, 53, 70), foreground=QColor(183, 28, 28), strike=True)
_ADDED = _format(QColor(67, 160, 71, 80))
_NOT_ADDED = _format(foreground=QColor(128, 128, 128), strike=True)


def _short(text: str, limit: int = 32) -> str:
    text = text.strip(" ").replace("\n", "⏎") or "␣"
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EditorPane(QWidget):
    selectionChanged = Signal(int, int)  # token span [start, end) of the text selection; (-1, -1) when empty
    textTyped = Signal(int, int, str)  # the user replaced characters [start, end) of document().text with this
    accepted = Signal(object)  # set[int]: indices of the hunks the user kept ticked
    rejected = Signal()
    retryRequested = Signal()
    instructionSubmitted = Signal(str)
    redenoiseRequested = Signal()
    lockRequested = Signal()
    rewriteRequested = Signal()
    fillRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._doc: Document | None = None
        self._view: Document | None = None  # what the text shows in NORMAL and LIVE: the document or a preview
        self._mode = Mode.NORMAL
        self._working: tuple[int, int] = (0, 0)
        self._selection: tuple[int, int] | None = None
        self._shown = ""  # the widget's text as a str, '\n' between blocks
        self._qt = _qt_positions("")
        self._own_change = False  # the widget is changing its own text: not the user typing
        self._in_user_change = False
        self._pending: str | None = None
        self._hunk_ranges: list[tuple[int, int, int]] = []  # display offsets: removed start, added start, end
        self._ticked: set[int] = set()

        self.redenoise_action = self._action(
            "Re-denoise", "Ctrl+R", "Re-denoise the selected tokens", self.redenoiseRequested
        )
        self.lock_action = self._action("Lock", "Ctrl+L", "Lock or unlock the selected tokens", self.lockRequested)
        self.rewrite_action = self._action(
            "Rewrite…", "Ctrl+K", "Rewrite the selection by an instruction", self.rewriteRequested
        )
        self.fill_action = self._action(
            "Fill around locks", None, "Re-denoise everything around the locked tokens", self.fillRequested
        )
        self.boundaries_action = QAction("Token boundaries", self)
        self.boundaries_action.setCheckable(True)
        self.boundaries_action.setToolTip("Shade every other token to show where tokens begin and end")
        self.boundaries_action.toggled.connect(self._refresh_formats)
        toolbar = QToolBar()
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.redenoise_action, self.lock_action, self.rewrite_action, self.fill_action])
        toolbar.addSeparator()
        toolbar.addAction(self.boundaries_action)

        self.instruction_edit = QLineEdit()
        self.instruction_edit.setPlaceholderText(INSTRUCTION_PLACEHOLDER)
        self.instruction_edit.setClearButtonEnabled(True)
        self.instruction_edit.returnPressed.connect(self._submit_instruction)
        self.instruction_row = QWidget()
        row = QHBoxLayout(self.instruction_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Rewrite:"))
        row.addWidget(self.instruction_edit, 1)
        self.instruction_row.hide()

        self.text_edit = QPlainTextEdit()
        self.text_edit.setUndoRedoEnabled(False)  # the Document history is the truth; the window owns undo
        self.text_edit.setPlaceholderText("The generated text appears here. Text you type is locked.")
        self.text_edit.document().contentsChange.connect(self._on_contents_change)
        self.text_edit.selectionChanged.connect(self._on_selection_changed)

        self.review_label = QLabel()
        self.accept_button = QPushButton("Accept (Enter)")
        self.reject_button = QPushButton("Reject (Esc)")
        self.retry_button = QPushButton("Try again")
        self.accept_button.clicked.connect(self._accept)
        self.reject_button.clicked.connect(self.rejected)
        self.retry_button.clicked.connect(self.retryRequested)
        self.hunk_list = QListWidget()
        self.hunk_list.setToolTip("Untick a change to keep the old text there; clicking a change in the text works too")
        self.hunk_list.itemChanged.connect(self._on_hunk_item_changed)
        self.review_bar = QFrame()
        self.review_bar.setFrameShape(QFrame.Shape.StyledPanel)
        bar = QVBoxLayout(self.review_bar)
        buttons = QHBoxLayout()
        buttons.addWidget(self.review_label, 1)
        for button in (self.accept_button, self.reject_button, self.retry_button):
            buttons.addWidget(button)
        bar.addLayout(buttons)
        bar.addWidget(self.hunk_list)
        self.review_bar.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(toolbar)
        layout.addWidget(self.instruction_row)
        layout.addWidget(self.text_edit, 1)
        layout.addWidget(self.review_bar)
        for watched in (self.text_edit, self.text_edit.viewport(), self.hunk_list, self.instruction_edit):
            watched.installEventFilter(self)
        self._update_actions()

    def _action(self, text: str, shortcut: str | None, tip: str, signal: SignalInstance) -> QAction:
        action = QAction(text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            tip = f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.triggered.connect(signal)
        self.addAction(action)
        return action

    # ---- public API -------------------------------------------------------------------------------------------

    def document(self) -> Document | None:
        return self._doc

    def mode(self) -> Mode:
        return self._mode

    def token_selection(self) -> tuple[int, int] | None:
        """The token span of the text selection, as last emitted by selectionChanged."""
        return self._selection

    def set_document(self, doc: Document) -> None:
        """Show doc and leave any preview or review. Only changed characters are replaced: the cursor survives."""
        self._doc = doc
        self._enter(Mode.NORMAL, doc)
        self._emit_selection()

    def preview(self, doc: Document, span: tuple[int, int]) -> None:
        """Show a re-denoise in progress: doc's text with token span [start, end) tinted; document() is kept."""
        self._working = span
        self._enter(Mode.LIVE, doc)

    def end_preview(self) -> None:
        """Back to document(), e.g. after a cancelled re-denoise."""
        if self._doc is not None:
            self.set_document(self._doc)

    def show_review(self, hunks: list[Hunk]) -> None:
        """Show diff_hunks(document(), new_ids) in place: removed text struck through, added text tinted."""
        assert self._doc is not None, "show_review needs a document"
        self._ticked = set(range(len(hunks)))
        tt = self._doc.token_text
        parts, self._hunk_ranges, at, length = [], [], 0, 0
        for hunk in hunks:
            start, end = int(tt.offsets[hunk.old_start]), int(tt.offsets[hunk.old_end])
            parts += [tt.text[at:start], hunk.old_text, hunk.new_text]
            removed = length + start - at
            self._hunk_ranges.append(
                (removed, removed + len(hunk.old_text), removed + len(hunk.old_text) + len(hunk.new_text))
            )
            length, at = self._hunk_ranges[-1][2], end
        parts.append(tt.text[at:])
        self._mode = Mode.REVIEW
        self._set_shown("".join(parts).translate(_DISPLAY))
        self.hunk_list.blockSignals(True)
        self.hunk_list.clear()
        for k, hunk in enumerate(hunks):
            item = QListWidgetItem(self._hunk_label(k, hunk))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.hunk_list.addItem(item)
        self.hunk_list.blockSignals(False)
        self.hunk_list.setVisible(len(hunks) > 1)
        if hunks:  # as tall as its rows, up to five; more scroll
            rows = min(len(hunks), 5) * self.hunk_list.sizeHintForRow(0)
            self.hunk_list.setFixedHeight(rows + 2 * self.hunk_list.frameWidth())
        count = f"{len(hunks)} change{'' if len(hunks) == 1 else 's'}"
        self.review_label.setText(f"<b>Review the rewrite</b>: {count}" if hunks else "<b>No changes</b>")
        self.review_bar.show()
        self.text_edit.setReadOnly(True)
        self.text_edit.setFocus()
        self._refresh_formats()
        self._update_actions()

    def end_review(self) -> None:
        self.end_preview()

    def set_hunk_accepted(self, index: int, accepted: bool) -> None:
        """Tick or untick one hunk of the review (what the list's checkboxes and clicks in the text do)."""
        self._ticked = self._ticked | {index} if accepted else self._ticked - {index}
        item = self.hunk_list.item(index)
        if item is not None:
            self.hunk_list.blockSignals(True)
            item.setCheckState(Qt.CheckState.Checked if accepted else Qt.CheckState.Unchecked)
            self.hunk_list.blockSignals(False)
        self._refresh_formats()

    def accepted_hunks(self) -> set[int]:
        return set(self._ticked)

    def ask_instruction(self) -> None:
        """Show the instruction box: Enter emits instructionSubmitted, Esc closes it."""
        self.instruction_edit.clear()
        self.instruction_row.show()
        self.instruction_edit.setFocus()

    def set_show_boundaries(self, show: bool) -> None:
        self.boundaries_action.setChecked(show)

    def show_boundaries(self) -> bool:
        return self.boundaries_action.isChecked()

    def set_token_selection(self, start: int, end: int) -> None:
        """Select the characters of tokens [start, end) (empty or negative clears) without emitting selectionChanged."""
        if self._view is None or self._mode is not Mode.NORMAL:
            return
        tt = self._view.token_text
        start, end = max(start, 0), min(end, tt.visible_count)
        cursor = self.text_edit.textCursor()
        if start < end:
            cursor.setPosition(int(self._qt[tt.offsets[start]]))
            cursor.setPosition(int(self._qt[tt.offsets[end]]), QTextCursor.MoveMode.KeepAnchor)
        else:
            cursor.clearSelection()
        self._selection = (start, end) if start < end else None
        self.text_edit.blockSignals(True)
        self.text_edit.setTextCursor(cursor)
        self.text_edit.blockSignals(False)
        self.text_edit.viewport().update()
        self._update_actions()

    # ---- showing text -----------------------------------------------------------------------------------------

    def _enter(self, mode: Mode, view: Document) -> None:
        self._mode, self._view = mode, view
        self.review_bar.hide()
        self.text_edit.setReadOnly(mode is not Mode.NORMAL)
        self._set_shown(view.text.translate(_DISPLAY))
        self._refresh_formats()
        self._update_actions()

    def _set_shown(self, target: str) -> None:
        """Make the widget show target by replacing only what differs, so the cursor and scroll stay put."""
        if self._in_user_change:  # editing inside QTextDocument's own change notification is unsafe: do it next
            self._pending = target
            QTimer.singleShot(0, self, self._apply_pending)
            return
        old = self._shown
        if old == target:
            return
        prefix, suffix = _common_ends(old, target, len(old))
        cursor = QTextCursor(self.text_edit.document())
        cursor.setPosition(int(self._qt[prefix]))
        cursor.setPosition(int(self._qt[len(old) - suffix]), QTextCursor.MoveMode.KeepAnchor)
        self._own_change = True
        try:
            cursor.insertText(target[prefix : len(target) - suffix])
        finally:
            self._own_change = False
        self._shown, self._qt = target, _qt_positions(target)

    def _apply_pending(self) -> None:
        target, self._pending = self._pending, None
        if target is not None:
            self._set_shown(target)
            self._refresh_formats()

    def _read_shown(self) -> str:
        return self.text_edit.document().toRawText().replace("\u2029", "\n").replace("\u2028", "\n")

    def _on_contents_change(self, position: int, _removed: int, _added: int) -> None:
        if self._own_change:
            return
        old, new = self._shown, self._read_shown()
        # Qt may report a wider range than was typed; diff the text, starting no later than where Qt says.
        prefix, suffix = _common_ends(old, new, int(np.searchsorted(self._qt, position)))
        self._shown, self._qt = new, _qt_positions(new)
        if prefix == len(old) - suffix and prefix == len(new) - suffix:
            return
        self._in_user_change = True
        try:
            self.textTyped.emit(prefix, len(old) - suffix, new[prefix : len(new) - suffix])
        finally:
            self._in_user_change = False

    def _refresh_formats(self) -> None:
        ranges = self._review_ranges() if self._mode is Mode.REVIEW else self._token_ranges()
        self._apply_formats(ranges)

    def _apply_formats(self, ranges: list[tuple[int, int, QTextCharFormat]]) -> None:
        """Give the text these formats (display character ranges) as each block's layout formats.

        Layout formats are drawn with the text in one pass, as a syntax highlighter's are; extra selections would
        redraw every line once per selection, which takes most of a second with a tint on every other token.
        """
        doc = self.text_edit.document()
        per_block: dict[int, list[QTextLayout.FormatRange]] = {}
        for start, end, fmt in ranges:
            a, b = (int(self._qt[min(i, len(self._shown))]) for i in (start, end))
            block = doc.findBlock(a)
            while block.isValid() and a < b:
                block_end = block.position() + block.length() - 1  # without the block separator
                if block_end > a:
                    piece = QTextLayout.FormatRange()
                    piece.start, piece.length, piece.format = a - block.position(), min(b, block_end) - a, fmt
                    per_block.setdefault(block.blockNumber(), []).append(piece)
                block = block.next()
                a = block.position()
        self._own_change = True
        try:
            block = doc.begin()
            while block.isValid():
                formats = per_block.get(block.blockNumber(), [])
                if formats or block.layout().formats():
                    block.layout().setFormats(formats)
                    doc.markContentsDirty(block.position(), block.length())
                block = block.next()
        finally:
            self._own_change = False

    def _token_ranges(self) -> list[tuple[int, int, QTextCharFormat]]:
        """One range per run of tokens that look alike: locked, being re-denoised, odd or even."""
        if self._view is None or not self._view.visible_count:
            return []
        tt, n = self._view.token_text, self._view.visible_count
        shown = np.flatnonzero(np.diff(tt.offsets) > 0)  # tokens with characters: zero-width ones draw nothing
        key = np.zeros(n, dtype=np.int64)
        if self._view.locks:
            key[[i for i in self._view.locks if i < n]] += 4
        if self._mode is Mode.LIVE:
            key[max(self._working[0], 0) : self._working[1]] += 2
        if self.show_boundaries():
            key[shown[1::2]] += 1
        key = key[shown]
        starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
        ends = np.append(starts[1:], len(shown))
        return [
            (int(tt.offsets[shown[s]]), int(tt.offsets[shown[e - 1] + 1]), _TOKEN_FORMATS[int(key[s])])
            for s, e in zip(starts, ends, strict=True)
            if key[s]
        ]

    def _review_ranges(self) -> list[tuple[int, int, QTextCharFormat]]:
        ranges = []
        for k, (removed, added, end) in enumerate(self._hunk_ranges):
            ticked = k in self._ticked
            if ticked and added > removed:
                ranges.append((removed, added, _REMOVED))
            if end > added:
                ranges.append((added, end, _ADDED if ticked else _NOT_ADDED))
        return ranges

    # ---- selection, keys and clicks ---------------------------------------------------------------------------

    def _on_selection_changed(self) -> None:
        if self._mode is Mode.NORMAL:
            self._emit_selection()

    def _emit_selection(self) -> None:
        span = None
        cursor = self.text_edit.textCursor()
        if self._view is not None and cursor.hasSelection():
            tt = self._view.token_text
            a, b = (
                min(int(np.searchsorted(self._qt, p)), len(tt.text))
                for p in (cursor.selectionStart(), cursor.selectionEnd())
            )
            span = tt.tokens_for_chars(a, b) if a < b else None
        if span != self._selection:
            self._selection = span
            self.selectionChanged.emit(*(span or (-1, -1)))
        self._update_actions()

    def _update_actions(self) -> None:
        normal = self._mode is Mode.NORMAL and self._doc is not None
        for action in (self.redenoise_action, self.lock_action, self.rewrite_action):
            action.setEnabled(normal and self._selection is not None)
        self.fill_action.setEnabled(normal and self._doc is not None and bool(self._doc.locks))

    def _accept(self) -> None:
        self.accepted.emit(set(self._ticked))

    def _hunk_label(self, k: int, hunk: Hunk) -> str:
        if not hunk.old_text:
            return f"{k + 1}. add “{_short(hunk.new_text)}”"
        if not hunk.new_text:
            return f"{k + 1}. remove “{_short(hunk.old_text)}”"
        return f"{k + 1}. “{_short(hunk.old_text)}” → “{_short(hunk.new_text)}”"

    def _on_hunk_item_changed(self, item: QListWidgetItem) -> None:
        self.set_hunk_accepted(self.hunk_list.row(item), item.checkState() == Qt.CheckState.Checked)

    def _submit_instruction(self) -> None:
        text = self.instruction_edit.text().strip()
        if text:
            self._close_instruction()
            self.instructionSubmitted.emit(text)

    def _close_instruction(self) -> None:
        self.instruction_row.hide()
        self.text_edit.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride and watched is self.text_edit and isinstance(event, QKeyEvent):
            if event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
                return True  # not accepted: the window's undo action gets the shortcut
        if kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if watched is self.instruction_edit and event.key() == Qt.Key.Key_Escape:
                self._close_instruction()
                return True
            if self._mode is Mode.REVIEW and watched in (self.text_edit, self.hunk_list):
                if event.key() in _ENTER_KEYS:
                    self._accept()
                    return True
                if event.key() == Qt.Key.Key_Escape:
                    self.rejected.emit()
                    return True
        if (
            kind == QEvent.Type.MouseButtonPress
            and self._mode is Mode.REVIEW
            and isinstance(event, QMouseEvent)
            and watched is self.text_edit.viewport()
            and event.button() == Qt.MouseButton.LeftButton
        ):
            position = self.text_edit.cursorForPosition(event.position().toPoint()).position()
            at = int(np.searchsorted(self._qt, position))
            for k, (removed, _added, end) in enumerate(self._hunk_ranges):
                if removed <= at <= end:
                    self.set_hunk_accepted(k, k not in self._ticked)
                    return True
        return super().eventFilter(watched, event)
