"""The main window: prompt and sampler on the left, the live canvas in the middle, entropy plots and output beside."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.document_files import DocumentFiles
from app.edit_controller import EditController
from app.examples import Example, load_examples
from app.image_drops import ImageDropRouter
from app.jobs import LoadProgress, load_job, stream_job, with_seed
from app.status import live_rate, memory_in_use, result_stats
from app.tasks import TaskRunner, leave_a_core_for_the_gui
from models.document import Document
from models.events import CanvasCommitted, GenerationResult, StepSnapshot
from models.generator import Generation, Generator
from models.loading import LoadCancelled, LoadedModel
from models.processing import image_token_count
from models.prompts import Prompt, split_reply
from models.recording import GenerationRecord
from models.settings import SamplerSettings, SettingsError
from widgets.editor_pane import EditorPane
from widgets.entropy_plots import EntropyHeatmap, StepCurves
from widgets.image_strip import BUDGETS as IMAGE_BUDGETS
from widgets.image_strip import ImageStrip
from widgets.output_pane import OutputPane
from widgets.prompt_panel import PromptPanel
from widgets.replay_bar import ReplayBar
from widgets.sampler_panel import SamplerPanel
from widgets.token_grid import TokenGrid

MAX_RECENT = 8
PLOT_INTERVAL_MS = 50  # the heatmap and curves redraw at most 20 times a second while a run streams


class MainWindow(QMainWindow):
    modelReady = Signal(object)  # LoadedModel
    generationDone = Signal(object)  # GenerationResult (cancelled ones too)
    errorShown = Signal(str)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        leave_a_core_for_the_gui()
        self.setWindowTitle("Diffusion Desk")
        self.setMinimumSize(900, 600)
        self.store = settings or QSettings()
        self.loaded: LoadedModel | None = None
        self.generator: Generator | None = None
        self.record: GenerationRecord | None = None
        self.generation: Generation | None = None
        self._loading_source: str | None = None
        self._task_kind = ""  # "load", "generate" or "edit": what the runner is doing
        self._run_seed: int | None = None
        self._plot_target: tuple[list, int] | None = None
        self._plot_timer = QTimer(self)
        self._plot_timer.setSingleShot(True)
        self._plot_timer.setInterval(PLOT_INTERVAL_MS)
        self._plot_timer.timeout.connect(self._draw_heatmap_live)
        self._curves_timer = QTimer(self)
        self._curves_timer.setSingleShot(True)
        self._curves_timer.setInterval(PLOT_INTERVAL_MS // 2)
        self._curves_timer.timeout.connect(self._draw_curves_live)

        self.runner = TaskRunner(self)
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(self._on_task_finished)
        self.runner.cancelled.connect(self._on_task_cancelled)
        self.runner.failed.connect(self._on_task_failed)

        self._build_widgets()
        self._build_actions()
        self._build_status_bar()
        self._restore_state()
        self._update_actions()

    # ----- layout -------------------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.prompt_panel = PromptPanel()
        self.image_strip = ImageStrip()
        self.prompt_panel.add_strip(self.image_strip)
        self.image_strip.refused.connect(lambda message: self.show_error("Image refused", message))
        self.image_drops = ImageDropRouter(self.image_strip, self,
                                           [self.prompt_panel.user_edit, self.prompt_panel.system_edit])
        self.sampler_panel = SamplerPanel()
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Generate an answer (Ctrl+Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop at the next denoising step (Esc)")
        buttons = QWidget()
        row = QVBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.generate_button)
        row.addWidget(self.stop_button)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.prompt_panel)
        left.addWidget(self.sampler_panel)
        left.addWidget(buttons)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setChildrenCollapsible(False)

        self.grid = TokenGrid()
        self.replay = ReplayBar()
        canvas_box = QWidget()
        canvas_layout = QVBoxLayout(canvas_box)
        canvas_layout.setContentsMargins(0, 0, 0, 0)
        canvas_layout.addWidget(self.grid, 1)
        canvas_layout.addWidget(self.replay)

        self.heatmap = EntropyHeatmap()
        self.curves = StepCurves()
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.heatmap)
        plots.addWidget(self.curves)
        plots.setChildrenCollapsible(False)

        self.output = OutputPane()
        self.editor = EditorPane()
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(self.output, "Answer")
        self.bottom_tabs.addTab(self.editor, "Editor")
        self.bottom_tabs.setTabToolTip(1, "Edit the text with the model: lock tokens, re-denoise or rewrite a "
                                          "selection, review every change")
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(canvas_box)
        top.addWidget(plots)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(top)
        centre.addWidget(self.bottom_tabs)
        centre.setStretchFactor(0, 3)
        centre.setStretchFactor(1, 1)

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(centre)
        main.setStretchFactor(0, 1)
        main.setStretchFactor(1, 3)
        self.setCentralWidget(main)
        self.splitters = {"main": main, "left": left, "top": top, "centre": centre, "plots": plots}

        self.generate_button.clicked.connect(self.generate)
        self.stop_button.clicked.connect(self.stop)
        self.replay.positionChanged.connect(self._show_position)
        self.replay.liveChanged.connect(self._on_live_changed)
        self.heatmap.stepPositionClicked.connect(self._on_heatmap_clicked)
        self.curves.stepClicked.connect(lambda step: self._jump_to_step(self.replay.position()[0], step))
        self.sampler_panel.changed.connect(self._on_sampler_changed)
        self.edits = EditController(self)

    def _build_actions(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)

        self.files = DocumentFiles(self)
        file_menu.insertActions(quit_action, self.files.actions)
        file_menu.insertSeparator(quit_action)
        self.edit_actions = self.edits.build_menu(menus.addMenu("&Edit"))

        model_menu = menus.addMenu("&Model")
        self.open_folder_action = model_menu.addAction("Open checkpoint &folder…")
        self.open_folder_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        self.open_folder_action.triggered.connect(self._choose_folder)
        self.hub_action = model_menu.addAction("Open &hub id…")
        self.hub_action.triggered.connect(self._enter_hub_id)
        self.recent_menu = model_menu.addMenu("&Recent models")
        self.demo_action = model_menu.addAction("&Demo model")
        self.demo_action.triggered.connect(lambda: self.load_model(None))

        run_menu = menus.addMenu("&Generate")
        self.generate_action = QAction("&Generate", self)
        self.generate_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.generate_action.triggered.connect(self.generate)
        self.stop_action = QAction("&Stop", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.triggered.connect(self.stop)
        for action in (self.generate_action, self.stop_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            run_menu.addAction(action)
            self.addAction(action)
        run_menu.addSeparator()
        self.examples_menu = run_menu.addMenu("Demo-model &prompts")
        for example in load_examples():
            action = self.examples_menu.addAction(example.title)
            action.triggered.connect(lambda checked=False, e=example: self.use_example(e))
        self.examples_menu.setEnabled(not self.examples_menu.isEmpty())
        run_menu.addSeparator()
        self.follow_up_action = run_menu.addAction("&Follow up (keep the conversation)")
        self.follow_up_action.setCheckable(True)
        self.follow_up_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        self.follow_up_action.setToolTip("Generate the next turn: earlier prompts (with their images) and answers "
                                         "stay in the history; thoughts never do")
        self.compile_action = run_menu.addAction("&Compile the denoising step (GPU)")
        self.compile_action.setCheckable(True)
        self.compile_action.setToolTip("Static KV cache and torch.compile, as transformers does: a slow first run, "
                                       "then faster steps on a GPU")
        reset = run_menu.addAction("&Reset sampler to defaults")
        reset.triggered.connect(lambda: self.sampler_panel.set_settings(self.sampler_panel.defaults()))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel("No model")
        self.memory_label = QLabel()
        self.speed_label = QLabel()
        self.speed_label.setMinimumWidth(self.speed_label.fontMetrics().horizontalAdvance("00000.0 tok/s "))
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_load_button = QToolButton()
        self.cancel_load_button.setText("Cancel")
        self.cancel_load_button.clicked.connect(self.runner.cancel)
        for widget in (self.progress, self.cancel_load_button):
            widget.hide()
            bar.addPermanentWidget(widget)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.speed_label)
        bar.addPermanentWidget(self.memory_label)
        self.memory_timer = QTimer(self)
        self.memory_timer.setInterval(2000)
        self.memory_timer.timeout.connect(self._update_memory)
        self.memory_timer.start()
        self._update_memory()

    # ----- state --------------------------------------------------------------------------------------------
    def _restore_state(self) -> None:
        geometry = self.store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
            self.splitters["centre"].setSizes([560, 300])
            self.splitters["main"].setSizes([330, 1070])
            self.splitters["left"].setSizes([330, 330, 70])
        for name, splitter in self.splitters.items():
            state = self.store.value(f"window/splitter/{name}")
            if state is not None:
                splitter.restoreState(state)
        self._rebuild_recent_menu()

    def _save_state(self) -> None:
        self.store.setValue("window/geometry", self.saveGeometry())
        for name, splitter in self.splitters.items():
            self.store.setValue(f"window/splitter/{name}", splitter.saveState())
        try:
            self.store.setValue("sampler", self.sampler_panel.settings().to_dict())
        except SettingsError:
            pass  # an invalid combination is not worth keeping
        self.store.sync()

    def _saved_sampler(self) -> SamplerSettings | None:
        data = self.store.value("sampler")
        if not isinstance(data, dict):
            return None
        try:
            return SamplerSettings.from_dict({k: _number(v) for k, v in data.items()})
        except (SettingsError, TypeError, ValueError):
            return None

    def recent_models(self) -> list[str]:
        value = self.store.value("models/recent") or []
        return [value] if isinstance(value, str) else list(value)

    def _remember_model(self, source: str | None) -> None:
        self.store.setValue("models/last", source or "")
        if source:
            recent = [source] + [m for m in self.recent_models() if m != source]
            self.store.setValue("models/recent", recent[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for source in self.recent_models():
            action = self.recent_menu.addAction(source)
            action.triggered.connect(lambda checked=False, s=source: self.load_model(s))
        self.recent_menu.setEnabled(bool(self.recent_models()))

    def _update_actions(self) -> None:
        busy = self.runner.busy
        ready = self.loaded is not None and not busy
        for widget in (self.generate_action, self.generate_button):
            widget.setEnabled(ready)
        for widget in (self.stop_action, self.stop_button):
            widget.setEnabled(busy)
        for action in (self.open_folder_action, self.hub_action, self.demo_action, *self.files.actions,
                       *self.edit_actions.values()):
            action.setEnabled(not busy)
        self.editor.setEnabled(self.loaded is not None)
        self.recent_menu.setEnabled(not busy and bool(self.recent_models()))

    # ----- model loading ------------------------------------------------------------------------------------
    def load_model(self, source: str | None) -> bool:
        """Load in the background; the current model stays usable until the new one is ready."""
        if not self.runner.start(load_job(source)):
            return False
        self._task_kind = "load"
        self._loading_source = source
        self.progress.setValue(0)
        self.progress.setFormat("Loading…")
        self.progress.show()
        self.cancel_load_button.show()
        self.statusBar().showMessage(f"Loading {source or 'the demo model'}…")
        self._update_actions()
        return True

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a DiffusionGemma checkpoint folder")
        if folder:
            self.load_model(folder)

    def _enter_hub_id(self) -> None:
        text, ok = QInputDialog.getText(self, "Open from the Hugging Face hub",
                                        "Hub id (for example google/diffusiongemma-26B-A4B-it):")
        if ok and text.strip():
            self.load_model(text.strip())

    def _model_loaded(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.generator = Generator(loaded)
        vocab = int(loaded.model.config.text_config.vocab_size)
        max_entropy = math.log(vocab)
        for widget in (self.grid, self.heatmap):
            widget.set_token_text(self.token_text)
        for widget in (self.grid, self.heatmap, self.curves):
            widget.set_max_entropy(max_entropy)
        for plot in (self.heatmap, self.curves):
            plot.set_canvas_length(loaded.canvas_length)
        saved = self._saved_sampler() if self.sampler_panel.defaults() == SamplerSettings() else None
        self.sampler_panel.set_defaults(loaded.defaults)
        if saved is not None and self.loaded.source == (self.store.value("models/last") or "demo"):
            self.sampler_panel.set_settings(saved)
        self.curves.set_threshold(self.sampler_panel.defaults().confidence_threshold)
        processor = loaded.processor
        self.image_strip.set_token_counter(lambda image, budget: image_token_count(processor, image, budget))
        budget = getattr(getattr(processor, "image_processor", None), "max_soft_tokens", None)
        if budget in IMAGE_BUDGETS:
            self.image_strip.set_budget(budget)  # the checkpoint's own default visual budget
        self.model_label.setText(f"{loaded.name} · {loaded.device.type} · {str(loaded.dtype).removeprefix('torch.')}")
        self.edits.reset(self.edits.empty_document())
        self._remember_model(self._loading_source)
        self.statusBar().showMessage(f"Loaded {loaded.name}", 4000)
        self.modelReady.emit(loaded)

    def token_text(self, token_id: int) -> str:
        """A token's raw text for the grid and heatmap (each caches what it asks for)."""
        if self.loaded is None:
            return ""
        return self.loaded.tokenizer.convert_ids_to_tokens(int(token_id)) or ""

    # ----- generation ---------------------------------------------------------------------------------------
    def current_prompt(self) -> Prompt:
        """The prompt panel's prompt; while following up, the next turn of the conversation so far."""
        panel = self.prompt_panel
        images = tuple(self.image_strip.images())
        if self.follow_up_action.isChecked() and self.generation is not None and self.edits.doc is not None:
            _, _, answer = split_reply(self.edits.doc.ids, self.loaded.tokenizer)
            return self.generation.prompt.followed_by(answer, panel.user_text(), images)
        return Prompt(user=panel.user_text(), system=panel.system_text(), think=panel.think(), images=images)

    def use_example(self, example: Example) -> None:
        """Put a demo prompt (and its picture) in the prompt panel, replacing what was there."""
        self.prompt_panel.set_prompt(example.prompt, example.system, example.think)
        self.image_strip.clear()
        if example.image is not None:
            self.image_strip.add_files([example.image])


    def generate(self) -> bool:
        if self.generator is None or self.runner.busy:
            return False
        try:
            settings = self.editing_settings()
        except SettingsError as error:
            self.show_error("Invalid sampler settings", str(error))
            return False
        prompt = self.current_prompt()
        if not prompt.user.strip() and not prompt.images:
            self.show_error("Nothing to generate", "Type a prompt first.")
            return False
        generator = self.generator
        budget = self.image_strip.budget()
        self.generation = Generation(prompt, np.zeros(0, dtype=np.int64), settings)  # ids arrive with the result
        return self._start_stream("generate", settings,
                                  lambda cancel: generator.generate(prompt, settings, cancel, image_budget=budget))

    def editing_settings(self) -> SamplerSettings:
        """The sampler panel's settings for a run, with a definite seed; an invalid panel raises SettingsError."""
        return with_seed(self.sampler_panel.settings()).with_values(compile=self.compile_action.isChecked())

    def start_edit_run(self, make_events: Any, settings: SamplerSettings) -> bool:
        """Run an edit of the editor's document (`make_events(generator, cancel)`); the grid animates its canvases."""
        if self.generator is None or self.runner.busy:
            return False
        generator = self.generator
        self.bottom_tabs.setCurrentWidget(self.editor)
        # Building the stream checks the edit (EditError for an impossible span) without running anything yet.
        make_events(generator, None)
        return self._start_stream("edit", settings, lambda cancel: make_events(generator, cancel))

    def _start_stream(self, kind: str, settings: SamplerSettings, make_events: Any) -> bool:
        self._task_kind = kind
        self._run_seed = settings.seed
        self._begin_run(GenerationRecord(self.loaded.canvas_length), settings)
        started = self.runner.start(stream_job(make_events))
        self._update_actions()
        return started

    def _begin_run(self, record: GenerationRecord, settings: SamplerSettings) -> None:
        self.record = record
        self.grid.clear()
        self.heatmap.clear()
        self.curves.clear()
        self.output.clear()
        self.curves.set_threshold(settings.confidence_threshold)
        self.replay.set_canvas_count(0)
        self.replay.set_live(True)
        self.speed_label.setText("")
        doing = "Editing" if self._task_kind == "edit" else "Generating"
        self.statusBar().showMessage(f"{doing} (seed {settings.seed})…")

    def stop(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self.statusBar().showMessage("Stopping at the next step…")

    def _on_events(self, batch: list[Any]) -> None:
        """Record every event; draw only the newest state once per batch (batches arrive at most ~60 Hz)."""
        record = self.record
        committed = False
        for event in batch:
            if isinstance(event, LoadProgress):
                self.progress.setValue(int(event.fraction * 100))
                self.progress.setFormat(event.message)
            elif record is not None:
                record.add(event)
                committed |= isinstance(event, (CanvasCommitted, GenerationResult))
                if isinstance(event, StepSnapshot) and event.elapsed > 0:
                    self.speed_label.setText(f"{live_rate(record):.1f} tok/s")
        if record is None or not record.canvases:
            return
        canvases = record.canvas_indices
        self.replay.set_canvas_count(len(canvases))
        for canvas in canvases:
            self.replay.set_step_count(canvas, len(record.steps(canvas)))
        if self.replay.is_live():
            newest = record.newest()
            if newest is not None:
                self.replay.set_position(*newest)
                self._show_position(*newest, plots_later=True)
        if self._task_kind == "edit":
            self.edits.on_events(batch, record)
        elif committed and self.loaded is not None:
            _, thought, answer = split_reply(record.draft_ids(), self.loaded.tokenizer)
            self.output.set_answer(answer)
            self.output.set_thought(thought)

    def _show_position(self, canvas: int, step: int, plots_later: bool = False) -> None:
        if self.record is None:
            return
        steps = self.record.steps(canvas)
        if not steps:
            return
        step = max(0, min(step, len(steps) - 1))
        self.grid.show_step(self._with_current_locks(steps, step), step)
        self._plot_target = (steps, step)
        if not plots_later:
            self._draw_plots()
        elif not self._plot_timer.isActive():
            # While streaming, the plots follow at most PLOT_INTERVAL_MS apart and in their own event-loop pass,
            # never in the grid's: no single pass of the GUI thread carries all three views.
            self._plot_timer.start()

    def _with_current_locks(self, steps: list[StepSnapshot], step: int) -> list[StepSnapshot]:
        """The shown step marked with the editor's locks as they are now, so grid and editor show the same locks."""
        doc, snapshot = self.edits.doc, steps[step]
        if doc is None or self.runner.busy:
            return steps  # while a run streams, its own snapshots say what is locked
        length = len(snapshot.locked)
        first = snapshot.canvas_index * length
        locked = np.array([first + i in doc.locks for i in range(length)], dtype=bool)
        if np.array_equal(locked, snapshot.locked):
            return steps
        return steps[:step] + [dataclasses.replace(snapshot, locked=locked)] + steps[step + 1:]

    def refresh_grid(self) -> None:
        """Show the current replay position again (after the locks changed)."""
        if self.record is not None and self.record.canvases:
            self._show_position(*self.replay.position())

    def _draw_plots(self) -> None:
        """Both plots at once (after a run, or when the user moves the scrubber), fitted to the canvas's steps."""
        self._plot_timer.stop()
        self._curves_timer.stop()
        if self._plot_target is not None:
            steps, step = self._plot_target
            self.heatmap.show_step(steps, step)
            self.curves.show_step(steps, step)

    def _draw_heatmap_live(self) -> None:
        # pyqtgraph's scene update after a plot changes is the costliest thing the GUI thread does while a run
        # streams: the heatmap and the curves each get their own event-loop pass, so neither stalls the other.
        if self._plot_target is not None:
            self.heatmap.show_step(*self._plot_target, fit=False)
            self._curves_timer.start()

    def _draw_curves_live(self) -> None:
        if self._plot_target is not None:
            self.curves.show_step(*self._plot_target, fit=False)

    def _jump_to_step(self, canvas: int, step: int) -> None:
        self.replay.set_live(False)
        self.replay.set_position(canvas, step)
        self._show_position(canvas, step)

    def _on_heatmap_clicked(self, step: int, position: int) -> None:
        self._jump_to_step(self.replay.position()[0], step)
        self.grid.setSelection(position, position + 1)

    def _on_live_changed(self, live: bool) -> None:
        if live and self.record is not None:
            newest = self.record.newest()
            if newest is not None:
                self.replay.set_position(*newest)
                self._show_position(*newest)

    def _on_sampler_changed(self) -> None:
        try:
            self.curves.set_threshold(self.sampler_panel.settings().confidence_threshold)
        except SettingsError:
            pass  # the panel itself shows what is wrong

    # ----- task outcomes ------------------------------------------------------------------------------------
    def _hide_progress(self) -> None:
        self.progress.hide()
        self.cancel_load_button.hide()

    def _on_task_finished(self, result: Any) -> None:
        self._hide_progress()
        if isinstance(result, LoadedModel):
            self._model_loaded(result)
        elif isinstance(result, GenerationResult):
            self._run_finished(result)
        self._update_actions()

    def _on_task_cancelled(self, result: Any) -> None:
        self._hide_progress()
        if isinstance(result, GenerationResult):
            self._run_finished(result)
            self.statusBar().showMessage("Stopped", 4000)
        self._update_actions()

    def _run_finished(self, result: GenerationResult) -> None:
        if self._task_kind == "edit":
            self._draw_plots()
            self._show_stats(result)
            self.statusBar().showMessage("Review the proposal: Enter accepts, Esc rejects", 6000)
            self.edits.on_result(result)
        else:
            self._generation_finished(result)

    def _on_task_failed(self, error: BaseException) -> None:
        self._hide_progress()
        self._update_actions()
        if isinstance(error, LoadCancelled):
            self.statusBar().showMessage("Loading cancelled; the previous model is still loaded", 6000)
            return
        if isinstance(error, MemoryError) or "out of memory" in str(error).lower():
            message = ("The model ran out of memory. Try fewer max new tokens, a smaller image budget, "
                       "or a smaller (FP8/NVFP4) build of the model.")
        else:
            message = _one_line(error)
        title = "Could not load the model" if self._task_kind == "load" else "Generation failed"
        if self._task_kind == "edit":
            self.edits.proposal = None
            self.editor.end_preview()
        self.show_error(title, message)

    def _generation_finished(self, result: GenerationResult) -> None:
        self._draw_plots()  # the last live frame may still be pending
        if self.record is not None:
            self.record.add(result)
        if self.generation is not None:
            self.generation = self.generation.with_ids(result.token_ids)
        self.output.set_answer(result.answer)
        self.output.set_thought(result.thought)
        self.edits.reset(Document(result.token_ids, self.loaded.canvas_length, self.loaded.tokenizer))
        self._show_stats(result)
        self.speed_label.setText(f"{result.tokens_per_second:.1f} tok/s")
        if not result.cancelled:
            self.statusBar().showMessage("Done", 4000)
        self.generationDone.emit(result)

    def _show_stats(self, result: GenerationResult) -> None:
        self.output.set_stats(result_stats(result, self.loaded.canvas_length, self._run_seed))

    def show_error(self, title: str, message: str) -> None:
        """One clear message, never a traceback; non-blocking so the window stays usable."""
        self.statusBar().showMessage(message, 10000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.errorShown.emit(message)

    def _update_memory(self) -> None:
        self.memory_label.setText(memory_in_use(self.loaded.device if self.loaded else None))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.hide()  # the window goes at once; the worker stops at its next step boundary
        self.runner.shutdown()
        self.memory_timer.stop()
        self._plot_timer.stop()
        self._curves_timer.stop()
        self.replay.stop_playback()
        self._save_state()
        event.accept()


def _number(value: Any) -> Any:
    """QSettings (INI) gives numbers back as strings."""
    if isinstance(value, str):
        if value in ("", "None", "@Invalid()"):
            return None
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        try:
            return int(value)
        except ValueError:
            return float(value)
    return value


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else f"Unexpected error ({type(error).__name__})"
