"""Workspace changes are typed flags: a misspelt kind fails loudly, and every view redraws on what it declares."""

from __future__ import annotations

import ast
import inspect

import pytest
from PySide6.QtCore import SIGNAL

from app.controllers.edit_controller import EditController
from app.controllers.inspector_controller import InspectorController
from app.controllers.workspace_hub import WorkspaceHub
from app.shell.canvas_views import CanvasViews
from app.shell.history_views import HistoryViews
from models.work import workspace as workspace_module
from models.work.changes import Change
from models.work.workspace import Draft, Workspace
from tests.window_helpers import load, make_window


def emitted_by_workspace() -> Change:
    """Every flag some method of the workspace announces, read from its `_changed(...)` calls."""
    emitted = Change(0)
    for node in ast.walk(ast.parse(inspect.getsource(workspace_module))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "_changed":
            for name in ast.walk(node.args[0]):
                if isinstance(name, ast.Attribute) and getattr(name.value, "id", "") == "Change":
                    emitted |= Change[name.attr]
    return emitted


def test_an_unknown_change_name_fails_loudly(qapp):
    with pytest.raises(AttributeError):
        Change.STEP  # noqa: B018 (the misspelling is the test)
    with pytest.raises(KeyError):
        Change["steps"]  # the names are the members', not the old strings
    ws = Workspace()
    heard: list[Change] = []
    ws.subscribe(lambda _ws, change: heard.append(change))
    with pytest.raises(TypeError, match="'steps'"):
        ws._changed("steps")  # a string notice would reach every view and redraw none
    assert heard == [] and ws.revision == 0

    class Misdeclared:
        REDRAWS_ON = frozenset({"steps"})

    with pytest.raises(TypeError, match="Misdeclared.REDRAWS_ON"):
        WorkspaceHub(ws).watch(Misdeclared(), lambda change: None)


def test_a_view_is_called_only_for_the_changes_it_declares(qapp):
    class Plot:
        REDRAWS_ON = Change.STEPS | Change.POSITION

    ws = Workspace()
    hub = WorkspaceHub(ws)
    drawn: list[Change] = []
    hub.watch(Plot(), drawn.append)
    ws.set_draft(Draft(user="Why?"))  # a draft change: not the plot's business
    assert drawn == [] and ws.draft.user == "Why?"
    hub.changed.emit(Change.SETTINGS | Change.SAVED)
    assert drawn == []
    hub.changed.emit(Change.STEPS | Change.DRAFT)
    assert drawn == [Change.STEPS | Change.DRAFT]  # the whole notice, to tell its parts apart
    hub.replace(Workspace())
    assert drawn[-1] == Change.every()


def test_every_view_declares_what_it_redraws_on_and_every_declared_flag_is_announced(qtbot, tmp_path,
                                                                                   text_checkpoint):
    win = make_window(qtbot, tmp_path / "settings.ini")
    load(qtbot, win, text_checkpoint)
    watchers = {type(view): on for view, on in win.hub.watchers}
    for view_class in (CanvasViews, EditController, HistoryViews, InspectorController, type(win)):
        assert watchers[view_class] == view_class.REDRAWS_ON
    assert all(on == type(view).REDRAWS_ON for view, on in win.hub.watchers)
    # No view listens past its declaration: every receiver of the notices is a watcher.
    assert win.hub.receivers(SIGNAL("changed(PyObject)")) == len(win.hub.watchers)
    emitted = emitted_by_workspace()
    heard = Change(0)
    for view, on in win.hub.watchers:
        assert on & emitted == on, f"{type(view).__name__} redraws on a change nothing announces"
        heard |= on
    assert emitted & ~heard == Change(0), "the workspace announces a change no view redraws on"
    assert emitted == Change.every()  # and every kind of change is one the workspace makes


def test_the_selection_and_refused_settings_are_the_workspaces_and_announced_once():
    from models.work.settings import SamplerSettings, SettingsError

    ws = Workspace(settings=SamplerSettings(seed=None))
    heard: list[Change] = []
    ws.subscribe(lambda _ws, change: heard.append(change))
    ws.set_selection((3, 3))  # an empty span selects nothing: nothing changed
    ws.set_selection((3, 7))
    ws.set_selection((3, 7))
    assert ws.selection == (3, 7) and heard == [Change.SELECTION]
    ws.set_selection(None)
    assert ws.selection is None and heard[-1] == Change.SELECTION
    run = ws.settings_for_run()
    assert run.seed is not None and run.with_values(seed=None) == ws.settings  # a definite seed, nothing else
    ws.refuse_settings("t_max must be greater than t_min")
    with pytest.raises(SettingsError, match="t_max"):
        ws.settings_for_run()
    assert heard[-1] == Change.SETTINGS and ws.settings.seed is None  # the last valid settings are kept
    ws.set_settings(ws.settings)  # the same valid settings again: the refusal is over
    assert ws.settings_problem == "" and ws.settings_for_run().seed is not None
