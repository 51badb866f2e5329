"""How the editor shows text: characters Qt would treat as structure made visible, Qt's UTF-16 positions, and the
tints of locks, spans and review changes as layout formats."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor, QTextCharFormat, QTextDocument, QTextLayout

from models.work.document import Document, Hunk

# Characters QTextDocument would treat as structure (block and frame markers) or not draw are shown as one visible
# stand-in each, so a character offset in the text is always the same offset in the widget.
DISPLAY = str.maketrans(
    {c: 0x2400 + c for c in range(32) if c not in (9, 10)}
    | {0x7F: 0x2421, 0x2028: 0x21B5, 0x2029: 0xB6, 0xFDD0: 0xFFFD, 0xFDD1: 0xFFFD, 0xFFFC: 0xFFFD}
)


def utf32(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def qt_positions(text: str) -> np.ndarray:
    """(len(text) + 1,) the widget position of each character offset: Qt counts UTF-16 units."""
    if text.isascii():
        return np.arange(len(text) + 1)
    positions = np.zeros(len(text) + 1, dtype=np.int64)
    np.cumsum(1 + (utf32(text) > 0xFFFF), out=positions[1:])
    return positions


def common_ends(old: str, new: str, max_prefix: int) -> tuple[int, int]:
    """Lengths of the common prefix (at most max_prefix) and of the common suffix after it."""
    a, b = utf32(old), utf32(new)
    m = min(len(a), len(b), max_prefix)
    differ = np.flatnonzero(a[:m] != b[:m])
    prefix = int(differ[0]) if len(differ) else m
    rest = min(len(a), len(b)) - prefix
    differ = np.flatnonzero(a[len(a) - rest :][::-1] != b[len(b) - rest :][::-1])
    return prefix, int(differ[0]) if len(differ) else rest


def char_format(
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
LOCK_LINE = QColor(214, 120, 0)
TOKEN_FORMATS = {
    1: char_format(QColor(128, 128, 128, 45)),
    2: char_format(QColor(66, 133, 244, 60)),
    3: char_format(QColor(66, 133, 244, 100)),
    4: char_format(QColor(255, 179, 0, 80), underline=LOCK_LINE),
    5: char_format(QColor(255, 179, 0, 130), underline=LOCK_LINE),
}
TOKEN_FORMATS |= {6: TOKEN_FORMATS[4], 7: TOKEN_FORMATS[5]}  # a locked token stays put inside a span
REMOVED = char_format(QColor(229, 57, 53, 70), foreground=QColor(183, 28, 28), strike=True)
ADDED = char_format(QColor(67, 160, 71, 80))
NOT_ADDED = char_format(foreground=QColor(128, 128, 128), strike=True)


def short(text: str, limit: int = 32) -> str:
    text = text.strip(" ").replace("\n", "⏎") or "␣"
    return text if len(text) <= limit else text[: limit - 1] + "…"

def block_formats(document: QTextDocument, qt: np.ndarray, length: int,
                  ranges: list[tuple[int, int, QTextCharFormat]]) -> dict[int, list[QTextLayout.FormatRange]]:
    """The formats of display character ranges as each block's layout formats (positions in Qt's UTF-16 units).

    Layout formats are drawn with the text in one pass, as a syntax highlighter's are; extra selections would redraw
    every line once per selection, which takes most of a second with a tint on every other token.
    """
    per_block: dict[int, list[QTextLayout.FormatRange]] = {}
    for start, end, fmt in ranges:
        a, b = (int(qt[min(i, length)]) for i in (start, end))
        block = document.findBlock(a)
        while block.isValid() and a < b:
            block_end = block.position() + block.length() - 1  # without the block separator
            if block_end > a:
                piece = QTextLayout.FormatRange()
                piece.start, piece.length, piece.format = a - block.position(), min(b, block_end) - a, fmt
                per_block.setdefault(block.blockNumber(), []).append(piece)
            block = block.next()
            a = block.position()
    return per_block


def token_ranges(view: Document, working: tuple[int, int] | None, boundaries: bool
                 ) -> list[tuple[int, int, QTextCharFormat]]:
    """One tinted range per run of tokens that look alike: locked, being re-denoised (`working`), odd or even."""
    if not view.visible_count:
        return []
    tt, n = view.token_text, view.visible_count
    shown = np.flatnonzero(np.diff(tt.offsets) > 0)  # tokens with characters: zero-width ones draw nothing
    key = np.zeros(n, dtype=np.int64)
    if view.locks:
        key[[i for i in view.locks if i < n]] += 4
    if working is not None:
        key[max(working[0], 0) : working[1]] += 2
    if boundaries:
        key[shown[1::2]] += 1
    key = key[shown]
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    ends = np.append(starts[1:], len(shown))
    return [
        (int(tt.offsets[shown[s]]), int(tt.offsets[shown[e - 1] + 1]), TOKEN_FORMATS[int(key[s])])
        for s, e in zip(starts, ends, strict=True)
        if key[s]
    ]


def review_ranges(hunks: list[tuple[int, int, int]], ticked: set[int]) -> list[tuple[int, int, QTextCharFormat]]:
    """Each change in place: the removed text struck through, the added text tinted (greyed when unticked)."""
    ranges = []
    for k, (removed, added, end) in enumerate(hunks):
        kept = k in ticked
        if kept and added > removed:
            ranges.append((removed, added, REMOVED))
        if end > added:
            ranges.append((added, end, ADDED if kept else NOT_ADDED))
    return ranges


def review_text(doc: Document, hunks: list[Hunk]) -> tuple[str, list[tuple[int, int, int]]]:
    """The text with each change in place (the old text, then the new), and for each change the offsets where its
    removed part starts, its added part starts and it ends."""
    tt = doc.token_text
    parts, ranges, at, length = [], [], 0, 0
    for hunk in hunks:
        start, end = int(tt.offsets[hunk.old_start]), int(tt.offsets[hunk.old_end])
        parts += [tt.text[at:start], hunk.old_text, hunk.new_text]
        removed = length + start - at
        ranges.append((removed, removed + len(hunk.old_text), removed + len(hunk.old_text) + len(hunk.new_text)))
        length, at = ranges[-1][2], end
    parts.append(tt.text[at:])
    return "".join(parts), ranges
