"""The Help menu: every shortcut in a searchable list, a short page on how text diffusion works, and About."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
)

from resources import HELP_PICTURE

CONCEPTS = """
<h2>How text diffusion works</h2>
<p>DiffusionGemma does not write left to right. It lays down a <b>canvas</b> of tokens (64 for the demo model, 256
for the real one), at first random, and <b>denoises</b> the whole canvas at once, over up to 48 <b>steps</b>. When the
canvas has settled it is committed and the next canvas begins, until the answer ends.</p>
<p><img src="{screenshot}" width="640"></p>
<h3>A step</h3>
<p>At every step the model looks at the whole canvas and gives, for each position, a probability for every token of
its vocabulary. The sampler draws a token at each position, keeps the ones the model is surest of and throws the rest
back as noise (<i>renoised</i>, drawn dim and italic in the grid). The scrubber under the grid replays every step.</p>
<h3>Entropy</h3>
<p>How unsure the model is at a position, in nats: 0 when one token has all the probability, up to ln(vocabulary)
when it cannot choose. The grid and the heatmap colour each position by it: dark is sure, yellow is guessing, grey
is not known (text you typed or opened, which the model never sampled, until a run re-denoises it). The
sampler accepts tokens, lowest entropy first, until their total reaches the <i>entropy bound</i>; the canvas stops
early when the mean entropy falls under the <i>confidence threshold</i> and the draft stops changing.</p>
<p>Try it with the demo model: <i>Generate → Demo-model prompts → Sort</i>. The layout (spaces, the end of the
answer) settles in the first step; the digits stay unsure for a few steps, then snap into order.</p>
<h3>A lock</h3>
<p>Select tokens (in the grid or the editor) and press <b>Ctrl+L</b>: the model is given those tokens as fixed at
every step, so they never change, and the rest of the canvas is denoised around them. Text you type is locked for
you. With the demo model: generate a Latin square, change one digit, lock it, and press <b>Ctrl+Shift+F</b> (fill
around): the other cells are denoised again to fit your digit.</p>
<h3>Re-denoising a span</h3>
<p>Select part of the text and press <b>Ctrl+R</b>: only that span goes back to noise and is denoised again, with
everything around it fixed. The result comes back as a change to review, word by word: <b>Enter</b> accepts,
<b>Esc</b> rejects, and every run stays in the Runs list to replay or compare.</p>
<h3>Samplers</h3>
<p>How a step turns the model's probabilities into the next canvas is the <b>sampler</b>'s choice; the sampler
panel offers diffusers' three, each with its own settings. Try them on the demo model with seed 2 and <i>Sort 8 1
6 3 9 1 4</i> or <i>Write a 4x4 Latin square</i>: <i>Generate → Run with every sampler</i> (<b>Ctrl+Shift+Enter</b>)
runs the prompt once with each, with the same seed, and compares them side by side (choose the pair above the
grids; the cells are coloured by the step each position settled at).</p>
<p><b>Entropy bound</b> (the default, the model's own, exactly as transformers runs it): every step draws a token at
every position, keeps the surest until their entropies add up to the <i>entropy bound</i> and renoises the rest;
the temperature falls from <i>t_max</i> to <i>t_min</i>. On the demo model it keeps about 50 of 64 positions from
the first step (the layout is certain) and settles fast: the sort in 2 steps (sure of itself, and wrong: two 9s),
the Latin square in 29, right.</p>
<p><b>Block refinement</b>: a token is <i>committed</i> once its probability passes the <i>commit threshold</i>, and
at least an even share of the canvas is committed each step, so the canvas is full at the last one; committed
tokens stay unless the <i>editing threshold</i> lets the model replace them. On the demo model 49 of 64 positions
pass 0.95 at once and the rest wait: the sort comes out right in 3 steps, the Latin square takes all 48 and comes out
wrong.</p>
<p><b>DDIM</b>: each step every position takes the predicted token, keeps its own or turns to noise, with the exact
posterior's odds, so the canvas fills in gradually (2 of 64 positions after the first step on the demo model) and is
clean at the last step. It sorted right in 4 steps and wrote a valid Latin square in 44. With <i>corrector
sweeps</i>, the first steps are each followed by extra forwards that resample the least confident positions: they
are drawn as steps of their own, marked as sweeps, and count against the same step budget.</p>
<h3>Rewriting by instruction</h3>
<p>Select text and press <b>Ctrl+K</b>, then say how it should change ("Reverse", "Sort descending"): the selection
and its surroundings go to the model as a question, and its answer takes the selection's place, for review.</p>
"""


def _plain(text: str) -> str:
    return text.replace("&", "").replace("…", "")


class ShortcutsDialog(QDialog):
    """Every action of the window's menus with its keys; the search box filters by name or key."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search actions and keys…")
        self.search.setClearButtonEnabled(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Action", "Keys", "Menu"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        rows = list(_menu_actions(window))
        self.table.setRowCount(len(rows))
        for row, (menu, action) in enumerate(rows):
            keys = ", ".join(_typeable(action.shortcuts()))
            for column, text in enumerate((_plain(action.text()), keys, menu)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeRowsToContents()
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table)
        self.search.textChanged.connect(self.filter)
        self.resize(720, 600)

    def filter(self, text: str) -> None:
        words = text.lower().split()
        for row in range(self.table.rowCount()):
            line = " ".join(self.table.item(row, c).text().lower() for c in range(3))
            self.table.setRowHidden(row, not all(word in line for word in words))

    def visible_actions(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]


def _typeable(keys: list[QKeySequence]) -> list[str]:
    """The keys a person types: the platform's extra bindings for dedicated keys (X11 binds Undo to the keyboards'
    Undo and F14 keys) are left out, because no laptop has them and they read as noise."""
    names = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in keys]
    return [n for n in names if "+" in n or n in ("Esc", "Del", "Return", "Enter") or
            (n.startswith("F") and n[1:].isdigit() and int(n[1:]) <= 12)] or names


def _menu_actions(window: QMainWindow, menu: QMenu | None = None, path: str = ""):
    menus = [a.menu() for a in window.menuBar().actions()] if menu is None else [menu]
    for current in menus:
        if current is None:
            continue
        name = f"{path} → {_plain(current.title())}" if path else _plain(current.title())
        for action in current.actions():
            if action.menu() is not None:
                yield from _menu_actions(window, action.menu(), name)
            elif not action.isSeparator() and action.text():
                yield name, action


def show_concepts(window: QMainWindow) -> QDialog:
    dialog = QDialog(window)
    dialog.setWindowTitle("How text diffusion works")
    browser = QTextBrowser()
    browser.setOpenExternalLinks(True)
    browser.setHtml(CONCEPTS.replace("{screenshot}", HELP_PICTURE.as_uri()))
    layout = QVBoxLayout(dialog)
    layout.addWidget(browser)
    dialog.resize(760, 640)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def about_text(loaded: Any) -> str:
    def ver(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    device = "no model loaded"
    if loaded is not None:
        device = f"{loaded.device} ({str(loaded.dtype).removeprefix('torch.')})"
        if getattr(loaded.device, "type", "") == "cuda":
            import torch

            device += f", {torch.cuda.get_device_name(loaded.device)}"
    return (f"<h3>Diffusion Desk {ver('diffusion-desk')}</h3>"
            "<p>Watch and steer DiffusionGemma, a text-diffusion language model, as it denoises.</p>"
            f"<p>torch {ver('torch')} · transformers {ver('transformers')} · Qt {qVersion()} "
            f"(PySide6 {pyside_version}) · Python {platform.python_version()}</p>"
            f"<p>Model: {loaded.name if loaded is not None else '–'}<br>Device: {device}</p>")


def build_help_menu(menu: QMenu, window: QMainWindow, loaded: Any) -> dict[str, QAction]:
    """`loaded()` gives the model now loaded (or None), for About."""
    shortcuts = menu.addAction("&Keyboard shortcuts")
    shortcuts.setShortcut(QKeySequence("Ctrl+/"))
    shortcuts.triggered.connect(lambda: _open(ShortcutsDialog(window)))
    concepts = menu.addAction("&How text diffusion works")
    concepts.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
    concepts.triggered.connect(lambda: show_concepts(window))
    menu.addSeparator()
    about = menu.addAction("&About Diffusion Desk")
    about.triggered.connect(lambda: show_about(window, loaded()))
    return {"shortcuts": shortcuts, "concepts": concepts, "about": about}


def show_about(window: QMainWindow, loaded: Any) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, "About Diffusion Desk", about_text(loaded),
                      QMessageBox.StandardButton.Ok, window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def _open(dialog: QDialog) -> QDialog:
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    dialog.search.setFocus()
    return dialog
