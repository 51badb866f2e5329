"""EditorPane: the generated text to read and type in, with locks drawn over it, a tint on the span being
re-denoised, and the proposed change shown in place to accept or reject hunk by hunk."""

from __future__ import annotations

import enum

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import (
    QAction,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QPlainTextEdit,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from models.work.document import Document, Hunk
from widgets.editor.editor_text import (
    DISPLAY,
    block_formats,
    common_ends,
    qt_positions,
    review_ranges,
    review_text,
    token_ranges,
)
from widgets.editor.instruction_box import InstructionBox
from widgets.editor.review_panel import ReviewPanel

_ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class Mode(enum.Enum):
    NORMAL = "normal"  # the document, editable
    LIVE = "live"  # a re-denoise in progress, read-only, its span tinted
    REVIEW = "review"  # the proposed change as an in-place diff, read-only



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
        self._qt = qt_positions("")
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

        self.instruction_row = InstructionBox()
        self.instruction_edit = self.instruction_row.edit
        self.instruction_row.submitted.connect(self.instructionSubmitted)
        self.instruction_row.closed.connect(self.text_edit_focus)

        self.text_edit = QPlainTextEdit()
        self.text_edit.setUndoRedoEnabled(False)  # the Document history is the truth; the window owns undo
        self.text_edit.setPlaceholderText("The generated text appears here. Text you type is locked.")
        self.text_edit.document().contentsChange.connect(self._on_contents_change)
        self.text_edit.selectionChanged.connect(self._on_selection_changed)

        self.review_bar = ReviewPanel()
        self.review_bar.acceptClicked.connect(self._accept)
        self.review_bar.rejected.connect(self.rejected)
        self.review_bar.retryRequested.connect(self.retryRequested)
        self.review_bar.hunkToggled.connect(self.set_hunk_accepted)
        bar = self.review_bar  # its parts by name, for the window and tests
        self.accept_button, self.reject_button, self.retry_button = bar.accept_button, bar.reject_button, \
            bar.retry_button
        self.hunk_list, self.review_label = bar.hunk_list, bar.label

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(toolbar)
        layout.addWidget(self.instruction_row)
        layout.addWidget(self.text_edit, 1)
        layout.addWidget(self.review_bar)
        for watched in (self.text_edit, self.text_edit.viewport(), self.hunk_list):
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
        text, self._hunk_ranges = review_text(self._doc, hunks)
        self._mode = Mode.REVIEW
        self._set_shown(text.translate(DISPLAY))
        self.review_bar.show_hunks(hunks)
        self.text_edit.setReadOnly(True)
        self.text_edit.setFocus()
        self._refresh_formats()
        self._update_actions()

    def end_review(self) -> None:
        self.end_preview()

    def set_hunk_accepted(self, index: int, accepted: bool) -> None:
        """Tick or untick one hunk of the review (what the list's checkboxes and clicks in the text do)."""
        self._ticked = self._ticked | {index} if accepted else self._ticked - {index}
        self.review_bar.set_ticked(index, accepted)
        self._refresh_formats()

    def accepted_hunks(self) -> set[int]:
        return set(self._ticked)

    def ask_instruction(self) -> None:
        """Show the instruction box: Enter emits instructionSubmitted, Esc closes it."""
        self.instruction_row.ask()

    def text_edit_focus(self) -> None:
        self.text_edit.setFocus()

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
        self._set_shown(view.text.translate(DISPLAY))
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
        prefix, suffix = common_ends(old, target, len(old))
        cursor = QTextCursor(self.text_edit.document())
        cursor.setPosition(int(self._qt[prefix]))
        cursor.setPosition(int(self._qt[len(old) - suffix]), QTextCursor.MoveMode.KeepAnchor)
        self._own_change = True
        try:
            cursor.insertText(target[prefix : len(target) - suffix])
        finally:
            self._own_change = False
        self._shown, self._qt = target, qt_positions(target)

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
        prefix, suffix = common_ends(old, new, int(np.searchsorted(self._qt, position)))
        self._shown, self._qt = new, qt_positions(new)
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
        """Give the text these formats (display character ranges) as each block's layout formats."""
        doc = self.text_edit.document()
        per_block = block_formats(doc, self._qt, len(self._shown), ranges)
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
        if self._view is None:
            return []
        working = self._working if self._mode is Mode.LIVE else None
        return token_ranges(self._view, working, self.show_boundaries())

    def _review_ranges(self) -> list[tuple[int, int, QTextCharFormat]]:
        return review_ranges(self._hunk_ranges, self._ticked)

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

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride and watched is self.text_edit and isinstance(event, QKeyEvent):
            if event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo):
                return True  # not accepted: the window's undo action gets the shortcut
        if kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
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
