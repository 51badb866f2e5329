"""What keeps a streamed step's work out of one long event-loop pass: labels that repaint without re-laying out the
window, and the views beside the grid drawn one at a time after its frames."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.shell.frame_followers import FrameFollowers
from widgets.panels.steady_label import steady


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def layout_requests_for_new_texts(window: QWidget, label: QLabel) -> int:
    QVBoxLayout(window).addWidget(label)
    window.show()
    QCoreApplication.processEvents()
    requests = LayoutRequests()
    window.installEventFilter(requests)
    for step in range(1, 40):
        label.setText(f"Step {step} / {step * 7}")
        QCoreApplication.processEvents()
    return requests.count


def test_a_steady_label_repaints_without_re_laying_out_the_window(qtbot):
    windows = [QWidget(), QWidget()]
    for window in windows:
        qtbot.addWidget(window)
    assert layout_requests_for_new_texts(windows[0], QLabel()) > 0  # what a plain label costs at every step
    label = steady(QLabel(), "Step 0000 / 0000")
    assert layout_requests_for_new_texts(windows[1], label) == 0
    assert label.width() >= label.fontMetrics().horizontalAdvance("Step 39 / 273")


class Frames(QObject):
    painted = Signal()


def test_followers_draw_after_a_frame_one_pass_each_and_only_when_due(qapp):
    frames = Frames()
    followers = FrameFollowers(frames.painted)
    drawn: list[str] = []
    due = {"inspector": True, "plot": True, "idle": False}
    for name in due:  # as the views do: drawing what was due leaves nothing due
        followers.follow(lambda name=name: due[name], lambda name=name: (drawn.append(name), due.update({name: False})))
    frames.painted.emit()
    assert drawn == []  # nothing in the frame's own pass
    QCoreApplication.processEvents()
    assert drawn == ["inspector"]  # one follower a pass
    frames.painted.emit()  # a frame while the plot waits: it is not queued twice
    QCoreApplication.processEvents()
    assert drawn == ["inspector", "plot"]
    for _ in range(3):
        QCoreApplication.processEvents()
    assert drawn == ["inspector", "plot"]
    due["inspector"] = True  # the next streamed step
    frames.painted.emit()
    QCoreApplication.processEvents()
    assert drawn == ["inspector", "plot", "inspector"]
