"""The window's widgets and where they sit: conversation, prompt and sampler on the left; the canvas and its
scrubber in the middle; heatmap, curves and runs on the right; the answer and the editor below."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from widgets.canvas.canvas_panel import CanvasPanel
from widgets.canvas.replay_bar import ReplayBar
from widgets.canvas.token_grid import TokenGrid
from widgets.canvas.token_inspector import TokenInspector
from widgets.editor.editor_pane import EditorPane
from widgets.panels.conversation_panel import ConversationPanel
from widgets.panels.output_pane import OutputPane
from widgets.panels.runs_panel import RunsPanel
from widgets.panels.welcome_panel import WelcomePanel
from widgets.plots.entropy_heatmap import EntropyHeatmap
from widgets.plots.step_curves import StepCurves
from widgets.prompt.image_strip import ImageStrip
from widgets.prompt.prompt_panel import PromptPanel
from widgets.prompt.sampler_panel import SamplerPanel


@dataclass
class WindowWidgets:
    conversation: ConversationPanel
    prompt_panel: PromptPanel
    image_strip: ImageStrip
    sampler_panel: SamplerPanel
    generate_button: QPushButton
    stop_button: QPushButton
    canvas: CanvasPanel  # the canvas as a grid or as text, under the overlay bar
    grid: TokenGrid  # the canvas panel's grid view
    welcome: WelcomePanel
    welcome_page: QScrollArea  # the welcome panel, scrolled in a short window rather than squashed
    canvas_stack: QStackedWidget  # the welcome page until there is a canvas, then the grid
    replay: ReplayBar
    heatmap: EntropyHeatmap
    curves: StepCurves
    runs: RunsPanel
    inspector: TokenInspector
    inspector_tab: QScrollArea  # the inspector's page in the side tabs
    side_tabs: QTabWidget  # runs and the token inspector, under the plots
    output: OutputPane
    editor: EditorPane
    bottom_tabs: QTabWidget
    splitters: dict[str, QSplitter]


def _splitter(orientation: Qt.Orientation, *widgets: QWidget, stretch: tuple[int, ...] = ()) -> QSplitter:
    splitter = QSplitter(orientation)
    for widget in widgets:
        splitter.addWidget(widget)
    for index, factor in enumerate(stretch):
        splitter.setStretchFactor(index, factor)
    splitter.setChildrenCollapsible(False)
    return splitter


def _column(*widgets: QWidget, margins: tuple[int, int, int, int] = (0, 0, 0, 0)) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(*margins)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, (QStackedWidget, PromptPanel)) else 0)
    return box


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class _VerticalScroll(QScrollArea):
    """Scrolled up and down only, and as tall as its widget when there is room: the column keeps the widget's
    whole width (its fields are never cut) and scrolls only in a short window."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__()
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(widget.minimumSizeHint().width() + self.verticalScrollBar().sizeHint().width())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return self.widget().sizeHint()


def build_layout(central_parent: QWidget) -> tuple[QWidget, WindowWidgets]:
    """(the central widget, the widgets by role)."""
    prompt_panel = PromptPanel()
    image_strip = ImageStrip()
    prompt_panel.add_strip(image_strip)
    sampler_panel = SamplerPanel()
    generate_button = QPushButton("Generate")
    generate_button.setToolTip("Generate an answer (Ctrl+Enter)")
    stop_button = QPushButton("Stop")
    stop_button.setToolTip("Stop at the next denoising step (Esc)")
    conversation = ConversationPanel()
    # The left column has a margin of its own, so its boxes do not touch the window's edge.
    # The sampler scrolls in a short window (at 1024x700 its nine rows squeezed the prompt box to one line).
    left = _splitter(Qt.Orientation.Vertical, _column(conversation, margins=(6, 4, 0, 0)),
                     _column(prompt_panel, margins=(6, 0, 0, 0)),
                     _column(_VerticalScroll(sampler_panel), margins=(6, 0, 0, 0)),
                     _column(generate_button, stop_button, margins=(6, 0, 0, 6)), stretch=(1, 3, 0, 0))

    canvas, replay, welcome = CanvasPanel(), ReplayBar(), WelcomePanel()
    canvas_stack = QStackedWidget()
    welcome_page = _scrolled(welcome)
    canvas_stack.addWidget(welcome_page)
    canvas_stack.addWidget(canvas)
    heatmap, curves, runs, inspector = EntropyHeatmap(), StepCurves(), RunsPanel(), TokenInspector()
    side_tabs = QTabWidget()
    side_tabs.addTab(runs, "Runs")
    inspector_tab = _scrolled(inspector)  # scrolls rather than squeezing the plots above it
    side_tabs.addTab(inspector_tab, "Inspector")
    side_tabs.setTabToolTip(1, "The candidates behind a token and its story across the steps: click a cell")
    curves.setMinimumHeight(190)  # two stacked plots: any shorter and their axis labels run into each other
    plots = _splitter(Qt.Orientation.Vertical, heatmap, curves, side_tabs, stretch=(3, 3, 3))
    plots.setMinimumWidth(270)  # narrower, the plots' titles and axis labels run into each other
    output, editor = OutputPane(), EditorPane()
    bottom_tabs = QTabWidget()
    bottom_tabs.addTab(output, "Answer")
    bottom_tabs.addTab(editor, "Editor")
    bottom_tabs.setTabToolTip(1, "Edit the text with the model: lock tokens, re-denoise or rewrite a selection, "
                                 "review every change")
    for page in (runs, inspector_tab, output, editor):
        # Opaque pages: a label or list that changes at every step repaints from its page down, not from the tab
        # widget, whose frame (drawn by the style) cost several milliseconds of every streamed frame.
        page.setAutoFillBackground(True)
    top = _splitter(Qt.Orientation.Horizontal, _column(canvas_stack, replay), plots, stretch=(3, 2))
    centre = _splitter(Qt.Orientation.Vertical, top, bottom_tabs, stretch=(3, 1))
    main = _splitter(Qt.Orientation.Horizontal, left, _column(centre, margins=(0, 4, 6, 0)), stretch=(1, 3))
    widgets = WindowWidgets(conversation, prompt_panel, image_strip, sampler_panel, generate_button, stop_button,
                            canvas, canvas.grid, welcome, welcome_page, canvas_stack, replay, heatmap, curves, runs,
                            inspector, inspector_tab, side_tabs, output, editor, bottom_tabs,
                            {"main": main, "left": left, "top": top, "centre": centre, "plots": plots})
    return main, widgets
