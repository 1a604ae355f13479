"""The canvas view: zoom, fit, quick-add, layout, minimap, snapping, themes, remembered layout."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication

from nnstudio.api import Graph
from nnstudio.gui import settings, theme
from nnstudio.gui.document import Document
from nnstudio.gui.editor.minimap import MIN_NODES

from .helpers import centre_of, chain, drag, move, press, release


def _wheel(view, steps: int) -> None:
    centre = QPointF(view.viewport().rect().center())
    event = QWheelEvent(
        centre,
        view.viewport().mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def _long_chain(length: int) -> Graph:
    return chain(*["ReLU"] * length, shape=(8,))


def test_wheel_and_keyboard_zoom_and_f_fits_the_whole_graph(make_window, qtbot):
    window = make_window(Document(_long_chain(12)))
    view = window.view
    start = view.zoom()
    _wheel(view, 2)
    assert view.zoom() > start
    _wheel(view, -4)
    assert view.zoom() < start
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(view, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom() == 1.0
    qtbot.keyClick(view, Qt.Key.Key_F)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(window.scene.nodes_rect())
    assert window.zoom_label.text() == f"{view.zoom() * 100:.0f}%"


def test_tab_on_the_canvas_opens_a_search_that_adds_the_layer(window, qtbot):
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Tab)
    popup = window.view.popup
    assert popup is not None and popup.isVisible()
    qtbot.keyClicks(popup.search, "batchnorm2")
    assert popup.types() == ["BatchNorm2d"]
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert [n.type for n in window.document.graph.nodes.values()] == ["BatchNorm2d"]


def test_double_click_on_empty_canvas_opens_the_search_and_escape_closes_it(window, qtbot):
    point = window.view.viewport().rect().center()
    qtbot.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    popup = window.view.popup
    assert popup is not None and popup.isVisible()
    qtbot.keyClick(popup.search, Qt.Key.Key_Escape)
    QApplication.processEvents()
    assert window.view.popup is None and not window.document.graph.nodes


def test_auto_layout_arranges_columns_in_one_undo_step(make_window):
    graph = chain("Conv2d", "ReLU", shape=(1, 16, 16))
    for index, node in enumerate(graph.nodes.values()):
        graph.move(node.id, 50.0 * (index % 2), 300.0 * index)  # a mess
    window = make_window(Document(graph))
    before = state_positions(graph)
    window.auto_layout()
    xs = [graph.nodes[n].position[0] for n in graph.analyze().order]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)  # data flows left to right
    ys = {graph.nodes[n].position[1] for n in graph.nodes}
    assert len(ys) == 1
    assert window.document.undo_stack.count() == 1
    window.document.undo_stack.undo()
    assert state_positions(graph) == before


def state_positions(graph):
    return {n.id: n.position for n in graph.nodes.values()}


def test_snap_to_grid_aligns_dragged_nodes(make_window):
    graph = chain("ReLU", shape=(4,))
    window = make_window(Document(graph))
    window.act_snap.setChecked(True)
    relu = graph.node_by_name("relu1").id
    item = window.scene.node_items[relu]
    window.scene.select_nodes([relu])
    drag(window.view, centre_of(item), centre_of(item) + QPointF(33, 47))
    x, y = graph.nodes[relu].position
    assert (x % 20, y % 20) == (0, 0) and (x, y) != (260, 0)


def test_the_minimap_appears_for_large_graphs_and_moves_the_view(make_window):
    small = make_window(Document(_long_chain(5)))
    assert not small.minimap.isVisible()
    window = make_window(Document(_long_chain(MIN_NODES + 5)))
    minimap = window.minimap
    assert minimap.isVisible()
    window.view.reset_zoom()
    target = window.scene.node_items[window.document.graph.node_by_name("out").id]
    press(minimap, centre_of(target))
    release(minimap, centre_of(target))
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert visible.contains(centre_of(target))
    window.act_minimap.setChecked(False)
    assert not minimap.isVisible()


def test_clicking_a_problem_selects_its_node_and_brings_it_into_view(make_window):
    graph = _long_chain(20)
    lonely = graph.add("Linear", name="lonely", position=(6000, 900))
    window = make_window(Document(graph))
    window.view.reset_zoom()
    window.view.centerOn(0, 0)
    problems = window.diagnostics.list
    row = next(i for i in range(problems.count()) if "lonely" in problems.item(i).text())
    problems.itemClicked.emit(problems.item(row))
    assert window.scene.selected_node_ids() == [lonely]
    visible = window.view.mapToScene(window.view.viewport().rect()).boundingRect()
    assert visible.contains(centre_of(window.scene.node_items[lonely]))


def test_dark_and_light_themes_restyle_widgets_and_canvas(window):
    window.set_theme_mode("dark")
    assert theme.current().dark
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    dark = window.view.grab().toImage().pixelColor(5, 5)
    window.set_theme_mode("light")
    assert not theme.current().dark
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 180
    light = window.view.grab().toImage().pixelColor(5, 5)
    assert dark.lightness() < 80 < 180 < light.lightness()
    assert settings.value("view/theme") == "light"
    window.set_theme_mode("system")
    assert window.theme_actions["system"].isChecked()


def test_dock_layout_and_geometry_are_remembered_between_windows(make_window):
    first = make_window()
    first.docks["summary"].hide()
    first.removeDockWidget(first.docks["inspector"])
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["inspector"])
    first.docks["inspector"].show()
    first.close()
    second = make_window()
    assert second.dockWidgetArea(second.docks["inspector"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert not second.docks["summary"].isVisible()


def test_pan_with_the_middle_button_moves_the_view(make_window):
    window = make_window(Document(_long_chain(12)))
    view = window.view
    view.reset_zoom()
    before = view.mapToScene(view.viewport().rect().center())
    press(view, before, Qt.MouseButton.MiddleButton)
    move(view, before + QPointF(-100, 0), Qt.MouseButton.MiddleButton)
    release(view, before + QPointF(-100, 0), Qt.MouseButton.MiddleButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() > before.x() + 50  # dragging the canvas left shows what lies to the right
    assert not window.document.undo_stack.count()  # panning is not an edit
