"""ReplayBar: scrub and play back the recorded denoising steps, canvas by canvas, or follow the newest one live."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QStyle, QToolButton, QWidget

from widgets.canvas.step_slider import StepSlider
from widgets.panels.steady_label import steady

SPEEDS = (2, 5, 10, 20)  # steps per second
DEFAULT_SPEED = 10


class ReplayBar(QWidget):
    """Position is (canvas, step), both 0-based. Signals fire only for user actions (and playback ticks);
    set_position and set_live are for the main window and stay silent."""

    positionChanged = Signal(int, int)  # noqa: N815 - Qt naming
    liveChanged = Signal(bool)  # noqa: N815 - Qt naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._counts: list[int] = []  # recorded steps per canvas
        self._canvas = 0
        self._document = False  # the text itself is shown, after the replayed run's last step
        self._playing_shown: bool | None = None  # which icon the play button shows

        self.canvas_combo = QComboBox()
        self.canvas_combo.setToolTip("Which canvas (block of tokens) to show; the model writes them one after another")
        self.canvas_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.canvas_combo.hide()

        self.play_button = QToolButton()
        self.play_button.setAutoRaise(True)

        self.slider = StepSlider()
        self.slider.setToolTip("Denoising step (click or drag, or Left/Right when focused)")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(5)

        self.step_label = steady(QLabel(), "Step 0000 / 0000")  # nor does the slider jump as digits grow
        self.step_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        # A DDIM corrector sweep is a step of its own: said beside the step number (a label of its own, so the
        # step number keeps its place).
        self.sweep_label = QLabel("corrector sweep")
        self.sweep_label.setToolTip("This step is a corrector sweep: an extra forward after a DDIM step that "
                                    "resamples the least confident positions")
        self.sweep_label.setStyleSheet("font-style: italic;")
        self.sweep_label.hide()

        self.speed_combo = QComboBox()
        self.speed_combo.setToolTip("Playback speed")
        for speed in SPEEDS:
            self.speed_combo.addItem(f"{speed} steps/s", speed)
        self.speed_combo.setCurrentIndex(SPEEDS.index(DEFAULT_SPEED))

        self.live_button = QToolButton()
        self.live_button.setText("Live")
        self.live_button.setCheckable(True)
        self.live_button.setToolTip("Follow the newest step while generating")

        self._timer = QTimer(self)
        self._timer.setInterval(1000 // DEFAULT_SPEED)
        self._timer.timeout.connect(self._tick)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas_combo)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.step_label)
        layout.addWidget(self.sweep_label)
        layout.addWidget(self.speed_combo)
        layout.addWidget(self.live_button)

        self.slider.valueChanged.connect(self._on_slider_moved)
        self.canvas_combo.currentIndexChanged.connect(self._on_canvas_chosen)
        self.play_button.clicked.connect(self._on_play_clicked)
        self.speed_combo.currentIndexChanged.connect(self._on_speed_chosen)
        self.live_button.toggled.connect(self._on_live_toggled)
        self._show_playing(False)
        self._refresh()

    # ----- main-window API ----------------------------------------------------------------------------------
    def show_state(self, counts: dict[int, int], canvas: int, step: int, *, document: bool, live: bool,
                   canvases: int = 0) -> None:
        """Show what is on screen: recorded steps per canvas, the canvas and step shown (or, `document`, the text
        itself at the end of the replayed steps), and whether it follows a streaming run. Emits nothing."""
        n = max(canvases, max(counts, default=-1) + 1)
        self._resize(n)
        for index in range(n):
            self._counts[index] = counts.get(index, 0)
        self._document = document
        self.set_live(live)
        self.set_position(canvas, step)  # the one refresh: this is asked at every streamed step

    def set_sweep(self, sweep: bool) -> None:
        """Whether the step shown is a corrector sweep."""
        self.sweep_label.setVisible(sweep)

    def is_document(self) -> bool:
        return self._document

    def set_canvas_count(self, n: int) -> None:
        self._resize(n)
        self._refresh()

    def _resize(self, n: int) -> None:
        n = max(0, n)
        self._counts = (self._counts + [0] * n)[:n]
        self.canvas_combo.blockSignals(True)
        try:
            while self.canvas_combo.count() > n:
                self.canvas_combo.removeItem(self.canvas_combo.count() - 1)
            for i in range(self.canvas_combo.count(), n):
                self.canvas_combo.addItem(f"Canvas {i + 1}")
        finally:
            self.canvas_combo.blockSignals(False)
        if n == 0:
            self.stop_playback()
        self._canvas = min(self._canvas, max(0, n - 1))

    def set_step_count(self, canvas: int, n: int) -> None:
        """How many steps are recorded for that canvas (a canvas past the count adds canvases)."""
        if canvas >= len(self._counts):
            self.set_canvas_count(canvas + 1)
        self._counts[canvas] = max(0, n)
        self._refresh()

    def set_position(self, canvas: int, step: int) -> None:
        """Show (canvas, step), clamped to what is recorded; emits nothing."""
        self._canvas = max(0, min(canvas, len(self._counts) - 1))
        self._refresh(step)

    def position(self) -> tuple[int, int]:
        return self._canvas, self.slider.value()

    def set_live(self, on: bool) -> None:
        """Mark whether the view follows the newest step; emits nothing. Live and playback exclude each other."""
        if on:
            self.stop_playback()
        self.live_button.blockSignals(True)
        self.live_button.setChecked(on)
        self.live_button.blockSignals(False)

    def is_live(self) -> bool:
        return self.live_button.isChecked()

    def stop_playback(self) -> None:
        self._timer.stop()
        self._show_playing(False)

    def is_playing(self) -> bool:
        return self._timer.isActive()

    # ----- user actions -------------------------------------------------------------------------------------
    def _on_slider_moved(self, _step: int) -> None:
        self._user_moved()

    def _on_canvas_chosen(self, index: int) -> None:
        if index < 0:
            return
        # Same step on the other canvas (clamped), so two canvases can be compared at one point of the schedule.
        self._canvas = index
        self._user_moved()

    def _on_play_clicked(self) -> None:
        if self.is_playing():
            self.stop_playback()
            return
        self._leave_live()
        if self._next_position() is None:  # at the very end: play again from the start
            first = next((c for c, n in enumerate(self._counts) if n > 0), None)
            if first is None:
                return
            self._canvas = first
            self._refresh(0)
            self.positionChanged.emit(first, 0)
        self._timer.start()
        self._show_playing(True)

    def _on_speed_chosen(self, index: int) -> None:
        self._timer.setInterval(1000 // int(self.speed_combo.itemData(index)))

    def _on_live_toggled(self, on: bool) -> None:
        if on:
            self.stop_playback()
        self.liveChanged.emit(on)

    def _tick(self) -> None:
        if self.slider.isSliderDown():
            return  # the user holds the slider; carry on from wherever they let go
        following = self._next_position()
        if following is None:
            self.stop_playback()
            return
        canvas, step = following
        self._canvas = canvas
        self._refresh(step)
        self.positionChanged.emit(canvas, step)
        if self._next_position() is None:
            self.stop_playback()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt naming
        self.stop_playback()
        super().hideEvent(event)

    # ----- helpers ------------------------------------------------------------------------------------------
    def _user_moved(self) -> None:
        self._document = False
        self._refresh()
        self._leave_live()
        self.positionChanged.emit(*self.position())

    def _leave_live(self) -> None:
        if self.is_live():
            self.set_live(False)
            self.liveChanged.emit(False)

    def _next_position(self) -> tuple[int, int] | None:
        """The step after the current one: the next step of this canvas, else the first of the next canvas."""
        canvas, step = self.position()
        if canvas < len(self._counts) and step + 1 < self._counts[canvas]:
            return canvas, step + 1
        for following in range(canvas + 1, len(self._counts)):
            if self._counts[following] > 0:
                return following, 0
        return None

    def _refresh(self, step: int | None = None) -> None:
        """Bring the widgets in line with the state without emitting; step None keeps the slider's value."""
        count = self._counts[self._canvas] if self._counts else 0
        widgets = (self.slider, self.canvas_combo)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.slider.setRange(0, max(0, count - 1))
            if step is not None:
                self.slider.setValue(step)
            if self._counts:
                self.canvas_combo.setCurrentIndex(self._canvas)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self.canvas_combo.setVisible(len(self._counts) > 1)
        self.slider.setEnabled(count > 0)
        self.play_button.setEnabled(any(self._counts))
        shown = self.slider.value() + 1 if count else 0
        self.step_label.setText("Text" if self._document else f"Step {shown} / {count}")
        self.step_label.setToolTip("The text as it stands, coloured by each token's entropy when it was committed; "
                                   "drag the slider to replay the steps that wrote it" if self._document else "")

    def _show_playing(self, playing: bool) -> None:
        if playing == self._playing_shown:  # a new icon re-lays out the bar, and the window above it
            return
        self._playing_shown = playing
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.setToolTip("Pause" if playing else "Play back the recorded steps")
