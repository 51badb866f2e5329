"""The Generate menu: generate the prompt in the boxes, stop, follow up, compile, the demo model's example prompts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from app.controllers.engine_controller import EngineController
from app.controllers.examples import Example
from app.controllers.workspace_hub import WorkspaceHub, settings_for_run
from models.work.runs import Run
from models.work.settings import SamplerSettings
from models.work.vocabulary import model_ref
from widgets.prompt.image_strip import ImageStrip
from widgets.prompt.prompt_panel import PromptPanel
from widgets.prompt.sampler_panel import SamplerPanel


class StatusNotices(Protocol):
    """What the Generate menu tells the status bar (app/shell/status_bar.WindowStatus)."""

    def notify(self, message: str) -> None: ...

    def generating(self, seed: int | None, compiling: bool) -> None: ...


class GenerateController(QObject):
    modelNeeded = Signal()  # Generate was asked for with no model loaded or loading (app.shell.model_offer answers)

    def __init__(self, window: QWidget, hub: WorkspaceHub, engine: EngineController, status: StatusNotices,
                 prompt: PromptPanel, strip: ImageStrip, sampler: SamplerPanel,
                 new_session: Callable[[], bool]) -> None:
        super().__init__(window)
        self.window, self.hub, self.engine, self.status = window, hub, engine, status
        self.prompt, self.strip, self.sampler, self.new_session = prompt, strip, sampler, new_session
        self.generate_action = self._action("&Generate", self.generate,
                                            [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.stop_action = self._action("&Stop", self.stop, [QKeySequence(Qt.Key.Key_Escape)])
        self.follow_up_action = QAction("&Follow up (keep the conversation)", window)
        self.follow_up_action.setCheckable(True)
        self.follow_up_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
        self.follow_up_action.setToolTip("Generate the next turn: earlier prompts (with their images) and answers "
                                         "stay in the history; thoughts never do")
        self.compile_action = QAction(window)
        self.compile_action.setCheckable(True)
        self.set_compile_device(None)
        self.queued = False  # Generate was asked for while the model loads: it runs once the model is ready
        self.offer_when_stopped = False  # Generate was asked for while a load is being cancelled
        self.last_run: Run | None = None  # the run the last generate() started

    def _action(self, text: str, slot: Callable[[], Any], keys: list[QKeySequence]) -> QAction:
        action = QAction(text, self.window)
        action.setShortcuts(keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda checked=False: slot())
        self.window.addAction(action)
        return action

    def build_menu(self, menu: QMenu, examples: Sequence[Example], more: Sequence[QAction] = ()) -> None:
        menu.addActions([self.generate_action, *more, self.stop_action])
        menu.addSeparator()
        self.examples_menu = menu.addMenu("Demo-model &prompts")
        for example in examples:
            action = self.examples_menu.addAction(example.title)
            action.triggered.connect(lambda checked=False, e=example: self.use_example(e))
        self.examples_menu.setEnabled(not self.examples_menu.isEmpty())
        menu.addSeparator()
        menu.addActions([self.follow_up_action, self.compile_action])
        reset = menu.addAction("&Reset sampler to defaults")
        reset.triggered.connect(lambda: self.sampler.set_settings(self.sampler.defaults()))

    def set_compile_device(self, device: Any) -> None:
        """Compiling helps a CUDA GPU only: elsewhere the option is off and says why."""
        cuda = str(getattr(device, "type", device or "")).startswith("cuda")  # a server's device is its name
        self.compile_action.setEnabled(cuda)
        if not cuda:
            self.compile_action.setChecked(False)
        self.compile_action.setText("&Compile the denoising step" + ("" if cuda else " (needs a CUDA GPU)"))
        self.compile_action.setToolTip(
            "Static KV cache and torch.compile, as transformers does: the first run compiles (a minute or more), "
            "later steps are faster" if cuda else "torch.compile with CUDA graphs speeds up a GPU; the model here is "
            "not on a CUDA device, where compiling would only add minutes of waiting")

    def update_actions(self) -> None:
        engine = self.engine
        if not engine.busy and engine.generator is None:
            self.queued = False  # the load failed, was cancelled or came back as a plan
            # deferred: app.shell.model_offer learns why the load ended from the next signal
            if self.offer_when_stopped:
                QTimer.singleShot(0, self.modelNeeded.emit)
        if not engine.busy:
            self.offer_when_stopped = False
        # Enabled unless a run streams: while a model loads, Generate queues the prompt; with no model at all it
        # says why and offers the demo model, rather than a shortcut that silently does nothing.
        self.generate_action.setEnabled(engine.running() is None)
        self.stop_action.setEnabled(engine.busy)

    def model_ready(self) -> None:
        if self.queued:
            self.queued = False
            self.generate()

    # ----- generating -----------------------------------------------------------------------------------------
    def run_settings(self) -> SamplerSettings | None:
        """The workspace's settings for a run, with a definite seed; None (and a message) while the panel holds
        settings that are not valid."""
        return settings_for_run(self.hub.ws, self.status.notify)

    def use_example(self, example: Example) -> None:
        """Put a demo prompt (and its picture) in the prompt panel, replacing what was there; the cursor goes there."""
        self.prompt.set_prompt(example.prompt, example.system, example.think)
        self.strip.clear()
        if example.image is not None:
            self.strip.add_files([example.image])
        self.prompt.user_edit.setFocus()

    def generate(self, settings: SamplerSettings | None = None) -> bool:
        """Generate the prompt in the boxes, with the sampler panel's settings or (with a definite seed) `settings`."""
        engine, ws = self.engine, self.hub.ws
        draft = ws.draft
        if engine.generator is None and not engine.busy:
            self.modelNeeded.emit()
            return False
        if not draft.user.strip() and not draft.images:
            self.status.notify("Type a prompt first (or pick one from Generate → Demo-model prompts).")
            self.prompt.user_edit.setFocus()
            return False
        if engine.load_cancelling():  # it would never run: say so, and make the offer once the load has stopped
            self.offer_when_stopped = True
            self.status.notify("The load is being cancelled; it stops at its next step, and then the demo model is "
                               "offered.")
            return False
        if engine.busy and engine.running() is None:  # a model is loading: a newcomer's first Ctrl+Enter waits
            self.queue_prompt()
            return False
        if engine.generator is None or engine.busy:
            return False
        settings = settings or self.run_settings()
        if settings is None:
            return False
        if ws.model is not None and not ws.model.same_model(model_ref(engine.loaded)):
            if not self.new_session():  # this session belongs to another model: start one for this model
                return False
            self.hub.ws.set_draft(draft)
            ws = self.hub.ws
        run = ws.start_generation(settings)
        self.last_run = run
        self.status.generating(settings.seed, settings.compile)
        return engine.start_run(run)

    def queue_prompt(self) -> bool:
        """While a model loads: the prompt generates once it is ready (False, and nothing queued, with no prompt)."""
        draft = self.hub.ws.draft
        if not draft.user.strip() and not draft.images:
            return False
        self.queued = True
        self.status.notify("The model is still loading; this prompt generates as soon as it is ready (Esc: don't).")
        return True

    def stop(self) -> None:
        if self.queued:  # the first Esc takes back the queued prompt; the load goes on
            self.queued = False
            self.status.notify("The prompt will not generate by itself; press Ctrl+Enter when the model is ready.")
            return
        if self.engine.busy:
            running = self.engine.running() is not None
            self.engine.stop()  # a load's cancelling is said by the status bar, whichever button asked
            if running:
                self.status.notify("Stopping at the next step…")
