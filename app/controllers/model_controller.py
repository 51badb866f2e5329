"""The Model menu: open a checkpoint folder or hub id, recent models, the demo; what a load changes in the window."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from app.controllers.engine_controller import EngineController
from app.controllers.workspace_hub import WorkspaceHub
from models.checkpoint.loading import LoadedModel
from models.work.settings import SamplerSettings, SettingsError
from models.work.vocabulary import model_ref
from models.work.workspace import Workspace
from widgets.panels.modal import exec_dialog, existing_folder, nobody_to_ask, text_input
from widgets.prompt.image_strip import BUDGETS as IMAGE_BUDGETS
from widgets.prompt.image_strip import ImageStrip
from widgets.prompt.sampler_panel import SamplerPanel

MAX_RECENT = 8


def carried_settings(current: SamplerSettings, old_defaults: SamplerSettings,
                     new_defaults: SamplerSettings) -> SamplerSettings:
    """Settings after another model loads: what the user changed is kept, what was left at the old model's
    default follows the new model's default."""
    values = {}
    for field in dataclasses.fields(SamplerSettings):
        mine, old = getattr(current, field.name), getattr(old_defaults, field.name)
        values[field.name] = getattr(new_defaults, field.name) if mine == old else mine
    try:
        return SamplerSettings(**values).validated()
    except SettingsError:
        return new_defaults


class ModelController(QObject):
    modelReady = Signal(object)  # LoadedModel, once the window shows it
    planningDone = Signal()  # a plan came back instead of a model: the load's progress ends here
    loadStarted = Signal(str)  # a load the user chose from the plan, or a connection to a server
    modelGone = Signal()  # disconnected from the server: no model until one is loaded or connected
    refused = Signal(str, str)  # title, message: a load that cannot go on by itself

    def __init__(self, hub: WorkspaceHub, engine: EngineController, window: QMainWindow, store: QSettings,
                 sampler: SamplerPanel, strip: ImageStrip, notify: Callable[[str], None]) -> None:
        super().__init__(window)
        self.hub, self.engine, self.window, self.store = hub, engine, window, store
        self.sampler, self.strip, self.notify = sampler, strip, notify
        self.actions: list[QAction] = []
        self.recent_menu: QMenu | None = None
        self.pending_server = ("", "", "")
        engine.modelReady.connect(self._loaded)
        engine.planned.connect(self._planned)

    def build_menu(self, menu: QMenu) -> None:
        folder = menu.addAction("Open checkpoint &folder…")
        folder.setShortcut(QKeySequence("Ctrl+Shift+O"))
        folder.triggered.connect(self.choose_folder)
        hub_id = menu.addAction("Open &hub id…")
        hub_id.triggered.connect(self.enter_hub_id)
        self.recent_menu = menu.addMenu("&Recent models")
        demo = menu.addAction("&Demo model")
        demo.triggered.connect(lambda: self.load_model(None))
        menu.addSeparator()
        server = menu.addAction("&Connect to server…")
        server.triggered.connect(self.choose_server)
        self.disconnect_action = menu.addAction("&Disconnect from server")
        self.disconnect_action.triggered.connect(self.disconnect_server)
        self.disconnect_action.setEnabled(False)
        self.actions = [folder, hub_id, demo, server]
        self.rebuild_recent_menu()

    # ----- loading ----------------------------------------------------------------------------------------------
    def load_model(self, source: str | None, options: dict[str, Any] | None = None,
                   allow_download: bool = True) -> bool:
        if not self.engine.load_model(source, options, allow_download):
            return False
        self.notify(f"Loading {source or 'the demo model'}…")
        return True

    # ----- a server ---------------------------------------------------------------------------------------------
    def choose_server(self) -> None:
        from widgets.panels.connect_dialog import ConnectDialog

        dialog = ConnectDialog(self.recent_servers(), self.window)
        if exec_dialog(dialog) == ConnectDialog.DialogCode.Accepted:
            self.connect_server(*dialog.values())

    def connect_server(self, url: str, token_file: str, ca_file: str = "") -> bool:
        if not self.engine.connect_server(url, token_file, ca_file or None):
            return False
        self.pending_server = (url, token_file, ca_file)
        self.notify(f"Connecting to {url}…")
        self.loadStarted.emit(url)
        return True

    def disconnect_server(self) -> None:
        self.engine.disconnect_server()
        self.disconnect_action.setEnabled(False)
        self.modelGone.emit()
        self.notify("Disconnected from the server; load a model or connect again")

    def recent_servers(self) -> list[tuple[str, str, str]]:
        value = self.store.value("remote/recent") or []
        entries = [value] if isinstance(value, str) else list(value)
        servers = []
        for entry in entries:
            parts = (str(entry).split("\t") + ["", ""])[:3]
            if parts[0]:
                servers.append((parts[0], parts[1], parts[2]))
        return servers

    def _remember_server(self, server: tuple[str, str, str]) -> None:
        servers = [server] + [s for s in self.recent_servers() if s[0] != server[0]]
        self.store.setValue("remote/recent", ["\t".join(s) for s in servers[:MAX_RECENT]])

    def _planned(self, plan: Any) -> None:
        """The model does not simply fit: the plan says what would, and the user chooses (or cancels)."""
        from widgets.panels.memory_plan_dialog import MemoryPlanDialog

        self.planningDone.emit()
        if nobody_to_ask():  # the choice is the user's: a run nobody drives says so and ends, never waits on it
            self.refused.emit("Could not load the model", f"{plan.source} does not simply fit here (plan: "
                              f"{plan.verdict}); choosing how to load it needs a person: open it in the window, or "
                              "give the caps on the command line (see `generate --plan`)")
            return
        options = MemoryPlanDialog.choose(plan, self.window)
        if options is None:
            self.notify(f"Not loaded: {plan.source}")
            return
        if self.load_model(plan.source, options.load_kwargs()):
            self.loadStarted.emit(plan.source)

    def choose_folder(self) -> None:
        folder = existing_folder(self.window, "Open a DiffusionGemma checkpoint folder",
                                 self.store.value("models/folder") or "")
        if folder:
            self.store.setValue("models/folder", folder)
            self.load_model(folder)

    def enter_hub_id(self) -> None:
        text = text_input(self.window, "Open from the Hugging Face hub",
                          "Hub id (for example google/diffusiongemma-26B-A4B-it):")
        if text and text.strip():
            self.load_model(text.strip())

    def _loaded(self, loaded: LoadedModel) -> None:
        """The new model is ready: the sampler takes its defaults, the workspace takes it where it can."""
        old_defaults, current = self.sampler.defaults(), self.hub.ws.settings  # before the panel shows new defaults
        first = old_defaults == SamplerSettings()
        from models.checkpoint.processing import image_token_count  # imported by the load itself

        processor = loaded.processor
        self.strip.set_token_counter(lambda image, budget: image_token_count(processor, image, budget))
        budget = getattr(getattr(processor, "image_processor", None), "max_soft_tokens", None)
        if budget in IMAGE_BUDGETS:
            self.strip.set_budget(budget)  # the checkpoint's own default visual budget
        self.sampler.set_defaults(loaded.defaults)
        ws = self.hub.ws
        ref = model_ref(loaded)
        saved = self._saved_sampler() if first else None
        if ws.model is not None and ws.model.same_model(ref):
            settings = current  # a session of this model (restored after a crash, opened): its settings are in use
        else:
            # The checkpoint's defaults (or, for the model used last, the settings it was left with), under
            # whatever the user changed in the panel meanwhile: edits made while the model loaded are kept.
            remembered = saved is not None and loaded.source == (self.store.value("models/last") or "demo")
            settings = carried_settings(current, old_defaults, saved if remembered else loaded.defaults)
        if ws.adopt_model(ref, loaded.tokenizer):
            ws.set_settings(settings)
        elif not ws.is_modified():  # saved work of another model: nothing is lost by starting afresh
            self.hub.replace(Workspace(ref, loaded.tokenizer, settings))
        else:
            self.notify(f"This session was made with {ws.model.name}; it stays open to replay and save. "
                        f"File → New session starts one with {loaded.name}.")
        self.sampler.set_settings(self.hub.ws.settings)
        if self.engine.remote is not None:
            self._remember_server(self.pending_server)
        else:
            self._remember(self.engine.loading_source)
        self.disconnect_action.setEnabled(self.engine.remote is not None)
        self.modelReady.emit(loaded)

    # ----- remembered models and settings -----------------------------------------------------------------------
    def recent_models(self) -> list[str]:
        value = self.store.value("models/recent") or []
        return [value] if isinstance(value, str) else list(value)

    def _remember(self, source: str | None) -> None:
        self.store.setValue("models/last", source or "")
        if source:
            recent = [source] + [m for m in self.recent_models() if m != source]
            self.store.setValue("models/recent", recent[:MAX_RECENT])
        self.rebuild_recent_menu()

    def rebuild_recent_menu(self) -> None:
        if self.recent_menu is None:
            return
        self.recent_menu.clear()
        for source in self.recent_models():
            action = self.recent_menu.addAction(source)
            action.triggered.connect(lambda checked=False, s=source: self.load_model(s))
        self.recent_menu.setEnabled(bool(self.recent_models()) and not self.engine.busy)

    def save_sampler(self) -> None:
        try:
            self.store.setValue("sampler", self.sampler.settings().to_dict())
        except SettingsError:
            pass  # an invalid combination is not worth keeping

    def _saved_sampler(self) -> SamplerSettings | None:
        data = self.store.value("sampler")
        if not isinstance(data, dict):
            return None
        try:
            return SamplerSettings.from_dict({k: _number(v) for k, v in data.items()})
        except (SettingsError, TypeError, ValueError):
            return None


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
            pass
        try:
            return float(value)
        except ValueError:
            return value  # a name (the sampler, its corrector selection), which validation checks
    return value
