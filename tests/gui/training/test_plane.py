"""The plane under the decision boundary: the picture the right way up, points where they lie."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from nnstudio.gui.training.boundary import boundary_image, class_colour
from nnstudio.gui.training.plane import PlaneView, nice_ticks


def _near(a: QColor, b: QColor, tolerance: int = 12) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb()[:3], b.getRgb()[:3], strict=True))


@pytest.fixture
def plane(qtbot) -> PlaneView:
    view = PlaneView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    return view


def test_the_picture_has_its_first_row_at_the_bottom_and_points_sit_where_they_lie(plane):
    ys = np.linspace(-1.0, 1.0, 64)
    classes = np.repeat((ys > 0).astype(np.int64)[:, None], 64, axis=1)  # row i is at y = ys[i]
    rgb = boundary_image(classes, np.ones((64, 64), np.float32))
    plane.set_plane(rgb, (-1.0, 1.0, -1.0, 1.0))
    plane.set_points(np.array([[0.5, 0.5]], np.float32), [class_colour(0)])
    shot = plane.grab().toImage()
    above, below = plane.to_pixels(-0.5, 0.6).toPoint(), plane.to_pixels(-0.5, -0.6).toPoint()
    assert _near(shot.pixelColor(above), QColor(*rgb[-1, 0]))  # the top of the plane: class 1
    assert _near(shot.pixelColor(below), QColor(*rgb[0, 0]))  # the bottom: class 0
    assert not _near(QColor(*rgb[-1, 0]), QColor(*rgb[0, 0]))
    point = plane.to_pixels(0.5, 0.5).toPoint()
    assert _near(shot.pixelColor(point), QColor(*class_colour(0)), tolerance=4)  # on top, in full colour


def test_equal_units_on_both_axes_so_a_circle_stays_round(plane):
    plane.set_plane(np.zeros((8, 8, 3), np.uint8), (-1.0, 3.0, -1.0, 1.0))  # twice as wide as high
    rect = plane.plot_rect()
    assert rect.width() == pytest.approx(2 * rect.height())
    assert plane.rect().toRectF().contains(rect)


def test_ticks_are_round_numbers_inside_the_range():
    assert nice_ticks(-1.2, 1.2) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert nice_ticks(0.0, 10.0, 6) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(1.0, 1.0) == []
