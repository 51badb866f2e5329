"""EditorPane driven as a person would: select with the keyboard, type, press Enter and Esc, click hunks."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QTextCharFormat, QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolButton

from models.work.document import Document, diff_hunks, lay_into_canvases
from widgets.editor.editor_pane import EditorPane, Mode
from widgets.editor.instruction_box import PLACEHOLDER as INSTRUCTION_PLACEHOLDER

CANVAS = 16
TEXT = "The cat sat on the mat. It was 😀 happy."


@pytest.fixture(scope="module")
def tok(loaded_small):
    return loaded_small.tokenizer


def doc_of(tok, text: str, locks=()) -> Document:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return Document(lay_into_canvases(ids, CANVAS, 6, 0), CANVAS, tok, frozenset(locks))


@pytest.fixture
def pane(qtbot, tok):
    pane = EditorPane()
    qtbot.addWidget(pane)
    pane.resize(640, 320)
    pane.set_document(doc_of(tok, TEXT))
    return pane


def follow_typing(pane: EditorPane) -> list[tuple[int, int, str]]:
    """Do what the window does with typed text: lock it into the document, and record each edit."""
    typed: list[tuple[int, int, str]] = []

    def on_typed(start: int, end: int, text: str) -> None:
        typed.append((start, end, text))
        pane.set_document(pane.document().with_typed_text(start, end, text))

    pane.textTyped.connect(on_typed)
    return typed


def move_to(pane: EditorPane, char_offset: int) -> None:
    cursor = pane.text_edit.textCursor()
    cursor.setPosition(char_offset)  # ASCII before the emoji: characters and Qt positions agree
    pane.text_edit.setTextCursor(cursor)


def selection_formats(pane: EditorPane) -> list[tuple[int, int, QTextCharFormat]]:
    """(start, end, format) of each formatted range, in characters of the shown text (Qt counts UTF-16 units)."""
    units = pane.text_edit.toPlainText().encode("utf-16-le")

    def chars(position: int) -> int:
        return len(units[: 2 * position].decode("utf-16-le"))

    ranges = []
    block = pane.text_edit.document().begin()
    while block.isValid():
        for r in block.layout().formats():
            start = block.position() + r.start
            ranges.append((chars(start), chars(start + r.length), QTextCharFormat(r.format)))
        block = block.next()
    return ranges


def tinted(fmt: QTextCharFormat) -> bool:
    return fmt.background().style() != Qt.BrushStyle.NoBrush


def test_shows_the_text_and_selecting_with_the_keyboard_emits_the_token_span(pane):
    assert pane.text_edit.toPlainText() == TEXT
    spans = []
    pane.selectionChanged.connect(lambda a, b: spans.append((a, b)))
    move_to(pane, 4)
    for _ in range(3):
        QTest.keyClick(pane.text_edit, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    tt = pane.document().token_text
    assert spans[-1] == tt.tokens_for_chars(4, 7)  # "cat"
    assert pane.token_selection() == spans[-1]
    assert pane.redenoise_action.isEnabled() and pane.lock_action.isEnabled()
    QTest.keyClick(pane.text_edit, Qt.Key.Key_Left)
    assert spans[-1] == (-1, -1) and not pane.redenoise_action.isEnabled()


def test_a_selection_over_the_emoji_covers_all_its_byte_tokens(pane):
    spans = []
    pane.selectionChanged.connect(lambda a, b: spans.append((a, b)))
    at = TEXT.index("😀")
    move_to(pane, at)
    QTest.keyClick(pane.text_edit, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)  # one glyph, two Qt units
    tt = pane.document().token_text
    start, end = spans[-1]
    assert "".join(tt.pieces[start:end]) == "😀" and end - start == 4


def test_set_token_selection_selects_those_characters_without_echo(pane):
    spans = []
    pane.selectionChanged.connect(lambda a, b: spans.append((a, b)))
    tt = pane.document().token_text
    pane.set_token_selection(2, 5)
    start, end = tt.offsets[2], tt.offsets[5]
    assert pane.text_edit.textCursor().selectedText() == TEXT[start:end]
    assert not spans and pane.token_selection() == (2, 5)
    pane.set_token_selection(-1, -1)
    assert not pane.text_edit.textCursor().hasSelection() and not spans


def test_typing_reports_the_edit_locks_it_and_keeps_the_cursor(pane):
    typed = follow_typing(pane)
    move_to(pane, TEXT.index(" sat"))
    QTest.keyClicks(pane.text_edit, " fat")
    assert typed[0] == (7, 7, " ") and [t[2] for t in typed] == list(" fat")
    doc = pane.document()
    assert doc.text == "The cat fat sat on the mat. It was 😀 happy."
    assert pane.text_edit.toPlainText() == doc.text
    assert pane.text_edit.textCursor().position() == TEXT.index(" sat") + 4
    locked = "".join(doc.token_text.piece(i) for i in sorted(doc.locks))
    assert locked == " fat"
    (run,) = [(a, b) for a, b, f in selection_formats(pane) if f.fontUnderline()]
    assert doc.text[run[0] : run[1]] == " fat"


def test_typing_over_a_selection_and_deleting(pane):
    typed = follow_typing(pane)
    start = TEXT.index("mat")
    move_to(pane, start)
    for _ in range(3):
        QTest.keyClick(pane.text_edit, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(pane.text_edit, "rug")
    assert typed[0][:2] == (start, start + 3)
    assert pane.document().text == TEXT.replace("mat", "rug")
    QTest.keyClick(pane.text_edit, Qt.Key.Key_Backspace)
    assert typed[-1] == (start + 2, start + 3, "")
    assert pane.document().text == TEXT.replace("mat", "ru")


def test_typing_after_the_emoji_reports_character_offsets(pane):
    typed = follow_typing(pane)
    cursor = pane.text_edit.textCursor()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    pane.text_edit.setTextCursor(cursor)
    QTest.keyClicks(pane.text_edit, "!")
    assert typed == [(len(TEXT), len(TEXT), "!")]
    assert pane.document().text == TEXT + "!"


def test_locked_runs_are_drawn_once_each_with_background_and_underline(pane, tok):
    doc = doc_of(tok, TEXT)
    pane.set_document(doc.with_locks_toggled((1, 4)).with_locks_toggled((8, 9)))
    runs = [(a, b) for a, b, f in selection_formats(pane) if f.fontUnderline() and tinted(f)]
    tt = doc.token_text
    assert runs == [(tt.offsets[1], tt.offsets[4]), (tt.offsets[8], tt.offsets[9])]
    assert pane.fill_action.isEnabled()


def test_token_boundaries_toggle_shades_every_other_token(pane, qtbot):
    button = next(b for b in pane.findChildren(QToolButton) if b.defaultAction() is pane.boundaries_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert pane.show_boundaries()
    tt = pane.document().token_text
    shaded = [(a, b) for a, b, _ in selection_formats(pane)]
    visible_tokens = [i for i in range(tt.visible_count) if tt.piece(i)]
    assert shaded == [(tt.offsets[i], tt.offsets[i + 1]) for i in visible_tokens[1::2]][: len(shaded)]
    assert len(shaded) == len(visible_tokens) // 2
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not pane.show_boundaries() and not selection_formats(pane)


def test_live_preview_changes_the_span_in_place_tinted_and_read_only(pane, tok):
    doc = pane.document()
    tt = doc.token_text
    span = tt.tokens_for_chars(TEXT.index("cat"), TEXT.index("cat") + 3)
    replacement = tok("dog", add_special_tokens=False)["input_ids"]
    ids = doc.ids.copy()
    ids[span[0] : span[1]] = (replacement * 3)[: span[1] - span[0]]
    live = doc.with_ids(ids)
    pane.preview(live, span)
    assert pane.mode() is Mode.LIVE and pane.text_edit.isReadOnly() and pane.document() is doc
    shown = pane.text_edit.toPlainText()
    assert shown == live.text and shown.startswith("The") and shown.endswith(TEXT[TEXT.index(" sat") :])
    (tint,) = [(a, b) for a, b, f in selection_formats(pane) if tinted(f)]
    assert tint == (live.token_text.offsets[span[0]], live.token_text.offsets[span[1]])
    assert not pane.redenoise_action.isEnabled()
    pane.end_preview()
    assert pane.text_edit.toPlainText() == TEXT and pane.mode() is Mode.NORMAL


@pytest.fixture
def review(pane, tok):
    old = pane.document()
    new = doc_of(tok, TEXT.replace("The cat", "A dog").replace("happy", "very happy"))
    hunks = diff_hunks(old, new.ids)
    pane.show()
    pane.show_review(hunks)
    return pane, hunks


def test_review_shows_removed_text_struck_and_added_text_tinted(review):
    pane, hunks = review
    assert len(hunks) >= 2 and pane.mode() is Mode.REVIEW and pane.text_edit.isReadOnly()
    shown = pane.text_edit.toPlainText()
    for hunk in hunks:
        assert hunk.old_text + hunk.new_text in shown
    struck = [shown[a:b] for a, b, f in selection_formats(pane) if f.fontStrikeOut()]
    added = [shown[a:b] for a, b, f in selection_formats(pane) if not f.fontStrikeOut()]
    assert struck == [h.old_text for h in hunks if h.old_text]
    assert added == [h.new_text for h in hunks if h.new_text]
    assert pane.review_bar.isVisible() and pane.hunk_list.count() == len(hunks)


def test_enter_accepts_every_hunk(review, qtbot):
    pane, hunks = review
    with qtbot.waitSignal(pane.accepted) as blocker:
        QTest.keyClick(pane.text_edit, Qt.Key.Key_Return)
    assert blocker.args == [set(range(len(hunks)))]


def test_unticking_a_hunk_then_enter_accepts_the_rest(review, qtbot):
    pane, hunks = review
    item = pane.hunk_list.item(0)
    rect = pane.hunk_list.visualItemRect(item)
    checkbox = QPoint(rect.left() + rect.height() // 2, rect.center().y())  # the check box leads the row
    qtbot.mouseClick(pane.hunk_list.viewport(), Qt.MouseButton.LeftButton, pos=checkbox)
    assert item.checkState() == Qt.CheckState.Unchecked and pane.accepted_hunks() == set(range(1, len(hunks)))
    assert [
        pane.text_edit.toPlainText()[a:b] for a, b, f in selection_formats(pane) if f.fontStrikeOut() and not tinted(f)
    ] == [hunks[0].new_text]  # what would have been added, crossed out
    with qtbot.waitSignal(pane.accepted) as blocker:
        QTest.keyClick(pane.hunk_list, Qt.Key.Key_Enter)
    assert blocker.args == [set(range(1, len(hunks)))]


def test_clicking_a_hunk_in_the_text_toggles_it(review, qtbot):
    pane, hunks = review
    shown = pane.text_edit.toPlainText()
    at = shown.index(hunks[-1].new_text) + 1
    cursor = QTextCursor(pane.text_edit.document())
    cursor.setPosition(at)
    point = pane.text_edit.cursorRect(cursor).center()
    qtbot.mouseClick(pane.text_edit.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert pane.accepted_hunks() == set(range(len(hunks) - 1))
    qtbot.mouseClick(pane.text_edit.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert pane.accepted_hunks() == set(range(len(hunks)))


def test_escape_rejects_and_try_again_asks_for_a_retry(review, qtbot):
    pane, _ = review
    with qtbot.waitSignal(pane.rejected):
        QTest.keyClick(pane.text_edit, Qt.Key.Key_Escape)
    with qtbot.waitSignal(pane.retryRequested):
        qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
    pane.end_review()
    assert pane.text_edit.toPlainText() == TEXT and not pane.review_bar.isVisible()
    assert not pane.text_edit.isReadOnly()


def test_instruction_box_submits_on_enter_and_closes_on_escape(pane, qtbot):
    pane.show()
    pane.ask_instruction()
    assert pane.instruction_row.isVisible()
    assert pane.instruction_edit.placeholderText() == INSTRUCTION_PLACEHOLDER
    qtbot.keyClicks(pane.instruction_edit, "more formal")
    with qtbot.waitSignal(pane.instructionSubmitted) as blocker:
        QTest.keyClick(pane.instruction_edit, Qt.Key.Key_Return)
    assert blocker.args == ["more formal"] and not pane.instruction_row.isVisible()
    pane.ask_instruction()
    assert pane.instruction_edit.text() == ""
    qtbot.keyClicks(pane.instruction_edit, "never mind")
    with qtbot.assertNotEmitted(pane.instructionSubmitted):
        QTest.keyClick(pane.instruction_edit, Qt.Key.Key_Escape)
    assert not pane.instruction_row.isVisible()


def test_toolbar_actions_have_their_shortcuts_and_emit(pane, qtbot):
    assert pane.redenoise_action.shortcut() == QKeySequence("Ctrl+R")
    assert pane.lock_action.shortcut() == QKeySequence("Ctrl+L")
    assert pane.rewrite_action.shortcut() == QKeySequence("Ctrl+K")
    assert pane.redenoise_action.shortcutContext() == Qt.ShortcutContext.WidgetWithChildrenShortcut
    pane.show()
    pane.set_token_selection(1, 3)
    for action, signal in (
        (pane.redenoise_action, pane.redenoiseRequested),
        (pane.lock_action, pane.lockRequested),
        (pane.rewrite_action, pane.rewriteRequested),
    ):
        button = next(b for b in pane.findChildren(QToolButton) if b.defaultAction() is action)
        with qtbot.waitSignal(signal):
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not pane.fill_action.isEnabled()  # nothing locked yet


def test_undo_is_left_to_the_window(pane):
    event = QKeyEvent(QEvent.Type.ShortcutOverride, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier, "z")
    event.ignore()
    QApplication.sendEvent(pane.text_edit, event)
    assert not event.isAccepted()


def test_a_document_that_differs_from_the_typed_text_is_shown_after_the_keystroke(pane, tok, qtbot):
    pane.textTyped.connect(lambda *_: pane.set_document(doc_of(tok, "Replaced by the window.")))
    QTest.keyClicks(pane.text_edit, "x")
    qtbot.waitUntil(lambda: pane.text_edit.toPlainText() == "Replaced by the window.")
    assert pane.document().text == pane.text_edit.toPlainText()
