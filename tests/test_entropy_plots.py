"""EntropyHeatmap and StepCurves: data shown, incremental appends, step marker, hover and clicks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import shown

from models.work.events import StepSnapshot
from widgets.canvas import colors
from widgets.plots.entropy_heatmap import EntropyHeatmap
from widgets.plots.plot_common import DEFAULT_MAX_STEPS, MIN_FITTED_STEPS
from widgets.plots.step_curves import StepCurves

LENGTH = 64


def history(steps: int, length: int = LENGTH, seed: int = 0) -> list[StepSnapshot]:
    rng = np.random.default_rng(seed)
    out = []
    for s in range(steps):
        entropy = (rng.uniform(0, 4, length) * (1 - s / max(steps, 2))).astype(np.float32)
        accepted = rng.random(length) < s / max(steps, 2)
        out.append(
            StepSnapshot(
                canvas_index=0,
                step_index=s,
                argmax=rng.integers(0, 5, length).astype(np.int64),
                accepted=accepted,
                entropy=entropy,
                locked=np.zeros(length, bool),
                editable=np.ones(length, bool),
                mean_entropy=float(entropy.mean()),
                num_accepted=int(accepted.sum()),
                temperature=0.5,
                elapsed=0.1 * s,
            )
        )
    return out


@pytest.fixture
def heatmap(qtbot):
    return shown(qtbot, EntropyHeatmap(token_text=lambda i: ["▁a", "b", "\n", "c", "d"][i]), 600, 400)


@pytest.fixture
def curves(qtbot):
    return shown(qtbot, StepCurves(threshold=0.005), 500, 400)


def view_point(widget, step: int, position: int):
    """Widget (viewport) coordinates of a heatmap cell's centre."""
    scene = widget.plot.vb.mapViewToScene(QPointF(position + 0.5, step + 1.5))  # step s is drawn as row s + 1
    return widget.view.mapFromScene(scene)


def test_heatmap_rows_are_the_entropies_in_step_order(heatmap):
    snaps = history(5)
    for k in range(1, 6):  # live: one more snapshot each time
        heatmap.show_step(snaps[:k])
        data = heatmap.image_data()
        assert data.shape == (k, LENGTH)
        np.testing.assert_array_equal(data, np.stack([s.entropy for s in snaps[:k]]))
    image = heatmap.image.image
    assert image.dtype == np.float32 and image.flags.c_contiguous and image.shape == (5, LENGTH)
    assert heatmap.image.axisOrder == "row-major"
    assert list(heatmap.image.levels) == [0.0, colors.DEFAULT_MAX_ENTROPY]  # fixed, not auto-levelled
    np.testing.assert_array_equal(heatmap.image.lut, colors.LUT)


def test_heatmap_rebuilds_for_a_new_canvas_and_grows_past_its_budget(heatmap):
    heatmap.show_step(history(4, seed=1))
    other = history(60, seed=2)  # longer than the 48 preallocated rows
    heatmap.show_step(other)
    np.testing.assert_array_equal(heatmap.image_data(), np.stack([s.entropy for s in other]))
    heatmap.show_step(history(3, length=256, seed=3))
    assert heatmap.image_data().shape == (3, 256)
    heatmap.clear()
    assert heatmap.image_data().shape[0] == 0 and not heatmap.marker.isVisible()


def test_heatmap_marker_follows_the_displayed_step(heatmap):
    snaps = history(6)
    heatmap.show_step(snaps, step=2)
    assert heatmap.marker_step() == 2
    assert heatmap.marker.rect().top() == 3 and heatmap.marker.rect().height() == 1  # steps are numbered from 1
    heatmap.show_step(snaps)
    assert heatmap.marker_step() == 5 and heatmap.marker.rect().top() == 6


def test_heatmap_maps_scene_points_to_step_and_position(heatmap):
    heatmap.show_step(history(10))
    for step, position in [(0, 0), (3, 17), (9, 63)]:
        scene = heatmap.plot.vb.mapViewToScene(QPointF(position + 0.5, step + 1.5))
        assert heatmap.cell_at(scene) == (step, position)
    below_data = heatmap.plot.vb.mapViewToScene(QPointF(5.5, 21.5))  # a step not yet run
    assert heatmap.cell_at(below_data) is None


def test_heatmap_click_emits_step_and_position(heatmap, qtbot):
    heatmap.show_step(history(10))
    with qtbot.waitSignal(heatmap.stepPositionClicked, check_params_cb=lambda s, p: (s, p) == (7, 40)):
        qtbot.mouseClick(heatmap.view.viewport(), Qt.MouseButton.LeftButton, pos=view_point(heatmap, 7, 40))


def test_heatmap_hover_describes_the_cell(heatmap, qtbot):
    snaps = history(10)
    heatmap.show_step(snaps)
    viewport = heatmap.view.viewport()
    point = QPointF(view_point(heatmap, 4, 12))
    # QTest.mouseMove only moves the cursor on the offscreen platform; deliver the move event itself.
    move = QMouseEvent(
        QEvent.Type.MouseMove, point, viewport.mapToGlobal(point), Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(viewport, move)
    token_id = int(snaps[4].argmax[12])
    expected_text = ["·a", "b", "⏎", "c", "d"][token_id]
    qtbot.waitUntil(lambda: "position 12" in heatmap.hover_label.text(), timeout=20_000)
    label = heatmap.hover_label.text()
    assert "step 5" in label and f"token {token_id} “{expected_text}”" in label  # the fifth step, counted from 1
    assert f"entropy {snaps[4].entropy[12]:.3g} nats" in label


def test_curves_hold_mean_entropy_and_accepted_per_step(curves):
    snaps = history(7)
    for k in (3, 7):
        curves.show_step(snaps[:k])
        x, y = curves.entropy_curve.getOriginalDataset()
        np.testing.assert_array_equal(x, np.arange(1, k + 1))  # step numbers as the scrubber shows them
        np.testing.assert_allclose(y, [s.mean_entropy for s in snaps[:k]], rtol=1e-6)
        x, y = curves.accepted_curve.getOriginalDataset()
        np.testing.assert_array_equal(y, [s.num_accepted for s in snaps[:k]])
    assert curves.entropy_marker.value() == 7 and curves.accepted_marker.value() == 7  # the seventh step
    curves.show_step(snaps, step=2)
    assert curves.entropy_marker.value() == 3


def test_curves_clip_zero_entropy_to_the_log_floor(curves):
    snaps = history(3)
    zero = StepSnapshot(**{**snaps[2].__dict__, "mean_entropy": 0.0})
    curves.show_step([*snaps[:2], zero])
    assert curves.mean_entropy()[-1] == pytest.approx(1e-4)
    assert np.all(np.isfinite(curves.entropy_curve.getData()[1]))


def test_threshold_line_is_drawn_at_the_threshold(curves):
    assert curves.threshold() == 0.005
    assert curves.threshold_line.value() == pytest.approx(math.log10(0.005))  # log-mode view coordinates
    curves.set_threshold(0.02)
    assert curves.threshold_line.value() == pytest.approx(math.log10(0.02))
    assert "stop &lt; 0.02" in curves.entropy_plot.titleLabel.text


def test_curves_click_picks_a_step(curves, qtbot):
    curves.show_step(history(10))
    vb = curves.accepted_plot.vb
    scene = vb.mapViewToScene(QPointF(7.2, 1.0))  # drawn at step number 7: the seventh step, index 6
    assert curves.step_at(scene) == 6
    point = curves.view.mapFromScene(scene)
    with qtbot.waitSignal(curves.stepClicked, check_params_cb=lambda s: s == 6):
        qtbot.mouseClick(curves.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    curves.clear()
    assert curves.entropy_curve.getOriginalDataset() == (None, None)
    assert curves.accepted_curve.getOriginalDataset() == (None, None)
    assert len(curves.mean_entropy()) == 0 and not curves.entropy_marker.isVisible()


def test_scales_stay_put_while_canvases_stream(curves, heatmap):
    """A new scale makes pyqtgraph lay out an axis again (milliseconds of the GUI thread): streaming never does."""
    curves.set_max_entropy(math.log(1000))
    for plot in (curves, heatmap):
        plot.set_canvas_length(LENGTH)  # as the window does when a model loads, before any run
    first, second = history(12, seed=1), history(9, seed=2)
    ranges = (curves.entropy_plot.viewRange(), curves.accepted_plot.viewRange(), heatmap.plot.viewRange())
    for canvas in (first, second):
        for k in range(1, len(canvas) + 1):
            curves.show_step(canvas[:k], fit=False)
            heatmap.show_step(canvas[:k], fit=False)
            assert (curves.entropy_plot.viewRange(), curves.accepted_plot.viewRange(),
                    heatmap.plot.viewRange()) == ranges  # fmt: skip
    top = curves.entropy_plot.viewRange()[1][1]
    assert math.log10(math.log(1000)) <= top < math.log10(math.log(1000)) + 0.1  # up to ln(vocabulary)
    assert curves.accepted_plot.viewRange()[1][1] >= LENGTH  # tokens accepted, out of the whole canvas


def test_a_finished_canvas_fills_the_views(curves, heatmap):
    """Streaming shows the whole step budget; a finished canvas (fit, the default) spans the steps it took."""
    steps = history(12)
    heatmap.show_step(steps, fit=False)
    curves.show_step(steps, fit=False)
    assert heatmap.plot.viewRange()[1][1] >= DEFAULT_MAX_STEPS and curves.entropy_plot.viewRange()[0][1] > 40
    heatmap.show_step(steps)
    curves.show_step(steps)
    assert 13 <= heatmap.plot.viewRange()[1][1] < 14  # rows 1 to 12 and the padding below
    assert curves.entropy_plot.viewRange()[0] == pytest.approx([0.5, 12.5])
    heatmap.show_step(steps[:2])  # a very short canvas is not stretched over the whole height
    assert heatmap.plot.viewRange()[1][1] >= MIN_FITTED_STEPS
