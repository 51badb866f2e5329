"""Shared fixtures: tiny real checkpoints built offline once per session, and a leak check for Qt tests."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Nobody answers dialogs in a test (widgets.panels.modal), on any platform: a modal question is never shown, never
# waited on.
os.environ.setdefault("DIFFUSION_DESK_UNATTENDED", "1")

from app.shell.qt_setup import prepare_qt_environment  # noqa: E402

prepare_qt_environment()  # as the app does, before pytest-qt creates the QApplication

import pytest  # noqa: E402
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

from models.testing.tiny_checkpoint import build_checkpoint  # noqa: E402

# Hypothesis profiles: "ci" (what the suite runs: fixed examples, so a run is repeatable) and "thorough" (by hand:
# HYPOTHESIS_PROFILE=thorough ./scripts/test.sh tests/test_hardening_fuzz.py; fresh random examples, 20x as many).
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None,
                                     suppress_health_check=[HealthCheck.function_scoped_fixture])
hypothesis_settings.register_profile("thorough", deadline=None, max_examples=2000,
                                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
if os.environ.get("HYPOTHESIS_PROFILE"):
    hypothesis_settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


@pytest.fixture
def host_transfers(monkeypatch) -> list[int]:
    """The element count of every tensor moved to the host (`Tensor.cpu`) while the test runs."""
    import torch

    moved: list[int] = []
    original = torch.Tensor.cpu

    def recording_cpu(self, *args, **kwargs):
        moved.append(self.numel())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "cpu", recording_cpu)
    return moved


@pytest.fixture(scope="session")
def text_checkpoint(tmp_path_factory):
    """Hidden 64, 2 layers, vocab 1024, canvas 32, a minimal vision tower."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "text", vision=False, canvas_length=32)


@pytest.fixture(scope="session")
def small_canvas_checkpoint(tmp_path_factory):
    """Canvas 16, so several canvases are cheap."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "canvas16", vision=False, canvas_length=16, seed=1)


@pytest.fixture(scope="session")
def vision_checkpoint(tmp_path_factory):
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "vision", vision=True, canvas_length=32, seed=2)


@pytest.fixture(scope="session")
def loaded_text(text_checkpoint):
    from models.checkpoint.loading import load_checkpoint

    return load_checkpoint(text_checkpoint)


@pytest.fixture(scope="session")
def loaded_small(small_canvas_checkpoint):
    from models.checkpoint.loading import load_checkpoint

    return load_checkpoint(small_canvas_checkpoint)


@pytest.fixture(scope="session")
def loaded_vision(vision_checkpoint):
    from models.checkpoint.loading import load_checkpoint

    return load_checkpoint(vision_checkpoint)


@pytest.fixture(autouse=True)
def no_leftover_workers(request):
    """Fail a test that leaves a worker thread running or an active timer on a window."""
    yield
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        return
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.running.thread_runner import running_threads

    assert not running_threads(), "a worker thread is still running after the test"
    app = QApplication.instance()
    if app is None:
        return
    active = [t for w in app.topLevelWidgets() if w.isVisible() for t in w.findChildren(QTimer) if t.isActive()]
    assert not active, f"{len(active)} timer(s) still running on visible windows after the test"


@pytest.fixture
def a_person_answers(monkeypatch):
    """The test answers modal dialogs itself (a timer finds the dialog and clicks, as a person would): they are shown
    and waited on as in a window someone uses."""
    monkeypatch.setenv("DIFFUSION_DESK_UNATTENDED", "0")


@pytest.fixture(autouse=True)
def private_data_folder(tmp_path, monkeypatch):
    """Each test's window autosaves into a folder of its own, never into the user's data folder."""
    monkeypatch.setenv("DIFFUSION_DESK_DATA", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def canvas256_checkpoint(tmp_path_factory):
    """The real model's canvas (256) on a tiny model: what the window must keep up with."""
    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "canvas256", vision=False, canvas_length=256, seed=3)


@pytest.fixture
def qt_loop(qapp):
    """A qasync loop on the test's QApplication, closed after the test with no Qt timer left behind.

    qasync keeps each pending `call_later` (websockets' keepalive and close timeouts) as a Qt timer on an object
    of its own, and closing the loop does not kill them. In the app the loop lives as long as the window; here a
    timer left over fired during a later Qt test, into the freed object, and crashed it (seen in gdb:
    QTimerInfoList::activateTimers -> notifyInternal2). So the fixture kills them.
    """
    import gc

    import qasync

    loop = qasync.QEventLoop(qapp)
    yield loop
    loop.close()
    for timer_id in list(loop._timer._SimpleTimer__callbacks):  # qasync has no public way to do this
        loop._timer.killTimer(timer_id)
    del loop
    gc.collect()
