"""The prompt boxes, the image strip and the sampler panel, bound both ways to the workspace's draft and settings.

The widgets edit; every edit becomes the workspace's draft (what is in the boxes) or settings at once, so saving a
session stores what the user sees. A session opened or an example chosen changes the workspace, and the widgets show
it: the workspace is the one copy, the widgets only its editors.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from app.controllers.workspace_hub import WorkspaceHub
from models.work.changes import Change
from models.work.next_turn import describe
from models.work.settings import SettingsError
from models.work.workspace import Draft
from widgets.prompt.image_strip import ImageStrip
from widgets.prompt.prompt_panel import PromptPanel
from widgets.prompt.sampler_panel import SamplerPanel


class PromptBinding(QObject):
    REDRAWS_ON = Change.DRAFT | Change.CONVERSATION | Change.SETTINGS

    def __init__(self, hub: WorkspaceHub, prompt: PromptPanel, strip: ImageStrip, sampler: SamplerPanel,
                 follow_up: QAction, compile_action: QAction, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub, self.prompt, self.strip, self.sampler = hub, prompt, strip, sampler
        self.follow_up, self.compile_action = follow_up, compile_action
        self._rendering = False
        prompt.changed.connect(self.push_draft)
        strip.changed.connect(self.push_draft)
        prompt.follow_box.toggled.connect(follow_up.setChecked)  # the box beside the prompt and the menu's action
        follow_up.toggled.connect(prompt.follow_box.setChecked)
        follow_up.toggled.connect(self._follow_up_toggled)
        prompt.branchCancelled.connect(self._cancel_branch)
        sampler.changed.connect(self.push_settings)
        compile_action.toggled.connect(self.push_settings)
        hub.watch(self, self.render)

    def push_draft(self) -> None:
        if not self._rendering:
            self.hub.ws.set_draft(self._draft(self.hub.ws.draft.branch_of))

    def _follow_up_toggled(self) -> None:
        """Ticking or unticking Follow up says where the prompt goes: a pending "Run again…" branch gives way."""
        if not self._rendering:
            self.hub.ws.set_draft(self._draft(branch_of=None))

    def _draft(self, branch_of: int | None) -> Draft:
        return Draft(user=self.prompt.user_text(), system=self.prompt.system_text(), think=self.prompt.think(),
                     images=tuple(self.strip.images()), image_names=tuple(self.strip.names()),
                     image_budget=self.strip.budget(), follow_up=self.follow_up.isChecked(), branch_of=branch_of)

    def _cancel_branch(self) -> None:
        self.hub.ws.set_draft(dataclasses.replace(self.hub.ws.draft, branch_of=None))

    def push_settings(self) -> None:
        if self._rendering:
            return
        try:
            settings = self.sampler.settings()
        except SettingsError as error:  # the panel shows what is wrong; the workspace keeps the last valid settings
            self.hub.ws.refuse_settings(str(error))
            return
        self.hub.ws.set_settings(dataclasses.replace(settings, compile=self.compile_action.isChecked()))

    def render(self, change: Change) -> None:
        ws = self.hub.ws
        if change & (Change.DRAFT | Change.CONVERSATION):
            branch = ws.draft.branch_of is not None and ws.draft.branch_of in ws.conversation.turns
            self.prompt.show_intent(describe(ws.conversation, ws.draft), branch)
        if not change & (Change.DRAFT | Change.SETTINGS):
            return
        self._rendering = True
        try:
            draft = ws.draft
            if (self.prompt.user_text(), self.prompt.system_text(), self.prompt.think()) != (
                    draft.user, draft.system, draft.think):
                self.prompt.set_prompt(draft.user, draft.system, draft.think)
            shown = self.strip.images()
            if len(shown) != len(draft.images) or any(a is not b for a, b in zip(shown, draft.images, strict=False)):
                self.strip.set_images(list(draft.images), list(draft.image_names))
            if draft.image_budget is not None and draft.image_budget != self.strip.budget():
                self.strip.set_budget(draft.image_budget)
            self.follow_up.setChecked(draft.follow_up)
            try:
                shown_settings = self.sampler.settings()
            except SettingsError:
                shown_settings = None
            wanted = dataclasses.replace(ws.settings, compile=False)
            if ws.settings_problem and shown_settings is None:
                pass  # the user is still typing them: the panel keeps what it shows, and says what is wrong
            elif shown_settings is None or dataclasses.replace(shown_settings, compile=False) != wanted:
                self.sampler.set_settings(ws.settings)
            self.compile_action.setChecked(ws.settings.compile)
        finally:
            self._rendering = False
