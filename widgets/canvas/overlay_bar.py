"""OverlayBar: what the canvas views colour cells by (segmented buttons), and whether the canvas shows as a grid or
as running text. An overlay the shown run has no data for (the margin without recorded candidates) is disabled, with
the reason in its tooltip; the views' legends say it too."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QToolButton, QWidget

from models.canvas.overlays import DESCRIPTIONS, NO_CANDIDATES, Overlay
from widgets.canvas.canvas_view import CanvasView

LABELS = {Overlay.ENTROPY: "Entropy", Overlay.REVISIONS: "Revisions", Overlay.COMMIT_ORDER: "Commit order",
          Overlay.MARGIN: "Margin"}  # fmt: skip
VIEWS = {"grid": ("Grid", "Tokens in a square grid, one cell per canvas position"),
         "text": ("Text", "Tokens as running text, every token readable, each on its overlay colour")}  # fmt: skip


class OverlayBar(QWidget):
    overlayChanged = Signal(object)  # Overlay, when the user picks another
    viewChanged = Signal(str)  # "grid" or "text", when the user switches

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overlay_group, self.view_group = QWidget(), QWidget()
        overlays, views = QHBoxLayout(self.overlay_group), QHBoxLayout(self.view_group)
        for row in (overlays, views):
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(0)
        overlays.addWidget(QLabel("Colour by "))
        self.overlay_buttons: dict[Overlay, QToolButton] = {}
        self._overlays = QButtonGroup(self)
        for overlay in Overlay:
            button = self._button(LABELS[overlay], DESCRIPTIONS[overlay])
            self._overlays.addButton(button)
            self.overlay_buttons[overlay] = button
            overlays.addWidget(button)
            button.clicked.connect(lambda checked=False, o=overlay: self._picked(o))
        views.addWidget(QLabel("Show as "))
        self.view_buttons: dict[str, QToolButton] = {}
        self._views = QButtonGroup(self)
        for name, (label, tip) in VIEWS.items():
            button = self._button(label, tip)
            self._views.addButton(button)
            self.view_buttons[name] = button
            views.addWidget(button)
            button.clicked.connect(lambda checked=False, n=name: self.viewChanged.emit(n))
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(1, 1)
        self._grid.addWidget(self.overlay_group, 0, 0)
        self._wrapped: bool | None = None
        self._place_views(wrapped=False)
        self.overlay_buttons[Overlay.ENTROPY].setChecked(True)
        self.view_buttons["grid"].setChecked(True)

    def _place_views(self, wrapped: bool) -> None:
        """Grid / Text beside the overlays, or on a row of their own when both do not fit (buttons are never cut
        to "Re…ns")."""
        if wrapped == self._wrapped:
            return
        self._wrapped = wrapped
        self._grid.removeWidget(self.view_group)
        if wrapped:
            self._grid.addWidget(self.view_group, 1, 0, Qt.AlignmentFlag.AlignLeft)
        else:
            self._grid.addWidget(self.view_group, 0, 2)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt naming
        needed = self.overlay_group.sizeHint().width() + 12 + self.view_group.sizeHint().width()
        self._place_views(wrapped=event.size().width() < needed)
        super().resizeEvent(event)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """As wide as the overlay buttons: narrower than that, the grid's column would cut them."""
        return QSize(self.overlay_group.sizeHint().width(), super().minimumSizeHint().height())

    @staticmethod
    def _button(text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setCheckable(True)
        button.setAutoRaise(False)
        return button

    def _picked(self, overlay: Overlay) -> None:
        self.overlayChanged.emit(overlay)

    def overlay(self) -> Overlay:
        return next(o for o, b in self.overlay_buttons.items() if b.isChecked())

    def set_overlay(self, overlay: Overlay) -> None:
        """Check `overlay`'s button (no signal: the caller sets the views itself)."""
        self.overlay_buttons[Overlay(overlay)].setChecked(True)

    def view(self) -> str:
        return next(n for n, b in self.view_buttons.items() if b.isChecked())

    def set_view(self, name: str) -> None:
        self.view_buttons[name].setChecked(True)

    def set_available(self, available: Iterable[Overlay]) -> None:
        """Enable the overlays the shown history has data for; the others say why not."""
        available = frozenset(available)
        for overlay, button in self.overlay_buttons.items():
            button.setEnabled(overlay in available)
            tip = DESCRIPTIONS[overlay]
            button.setToolTip(tip if overlay in available else f"{tip}. Not now: {NO_CANDIDATES}")

    def attach(self, *views: CanvasView) -> None:
        """Drive these views: a picked overlay goes to all of them; what they can show enables the buttons."""
        for view in views:
            self.overlayChanged.connect(view.set_overlay)
            view.overlaysAvailable.connect(self.set_available)
            view.set_overlay(self.overlay())
        if views:
            self.set_available(views[0].available_overlays())
