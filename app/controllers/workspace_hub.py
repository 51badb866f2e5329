"""The window's one workspace, with its change notifications as a Qt signal; New and Open replace it whole."""

from __future__ import annotations

import math
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from models.work.changes import Change
from models.work.settings import SamplerSettings, SettingsError
from models.work.workspace import Workspace


class WorkspaceHub(QObject):
    """Views `watch` the changes they redraw on and render from `hub.ws`; they never keep state of their own that
    could disagree with it."""

    changed = Signal(object)  # Change: what one edit of the workspace touched

    def __init__(self, ws: Workspace, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ws = ws
        self.watchers: list[tuple[object, Change]] = []  # each view and the changes it redraws on
        ws.subscribe(self._relay)

    @property
    def ws(self) -> Workspace:
        return self._ws

    def replace(self, ws: Workspace) -> None:
        """Swap in another workspace (a new or opened session); every view renders it from scratch."""
        self._ws.unsubscribe(self._relay)
        self._ws = ws
        ws.subscribe(self._relay)
        self.changed.emit(Change.every())

    def watch(self, view: object, render: Callable[[Change], None]) -> None:
        """Call `render(change)` for each change that touches what the view's class declares in REDRAWS_ON."""
        redraws_on = getattr(type(view), "REDRAWS_ON", None)
        if not isinstance(redraws_on, Change) or not redraws_on:
            raise TypeError(f"{type(view).__name__}.REDRAWS_ON must name some Change, not {redraws_on!r}")
        self.watchers.append((view, redraws_on))
        self.changed.connect(lambda change: render(change) if change & redraws_on else None)

    def _relay(self, ws: Workspace, change: Change) -> None:
        if ws is self._ws:
            self.changed.emit(change)


def token_text(ws: Workspace) -> Callable[[int], str]:
    """A token's raw text, as the grid and heatmap show it, from the workspace's own vocabulary."""
    tokenizer = ws.tokenizer

    def text(token_id: int) -> str:
        return (tokenizer.convert_ids_to_tokens(int(token_id)) or "") if tokenizer is not None else str(token_id)

    return text


def max_entropy(ws: Workspace) -> float | None:
    """ln(vocabulary size): the entropy of a uniform guess, the top of every entropy scale."""
    return math.log(ws.model.vocab_size) if ws.model is not None else None


def settings_for_run(ws: Workspace, notify: Callable[[str], None]) -> SamplerSettings | None:
    """The workspace's settings for a run, with a definite seed; None (and a message) while they are not valid."""
    try:
        return ws.settings_for_run()
    except SettingsError as error:
        notify(f"Invalid sampler settings: {error}")
        return None
