"""The main window: canvas in the middle, panels in docks, menus, files.

Extending it (the training panel does): ``add_dock`` puts a panel in a dock
and in View › Panels; ``menus[...]`` and ``add_menu`` reach the menu bar;
``document_changed`` says when another file was opened; and
``set_editing_locked(True)`` freezes every model-changing action and command
while keeping pan, zoom, selection and the inspector's read-out.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QUndoGroup,
)
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QMessageBox, QStyle, QToolBar, QWidget

from nnstudio import __version__
from nnstudio.api import Graph
from nnstudio.core import project
from nnstudio.core.errors import FormatError
from nnstudio.core.graph import GraphModel
from nnstudio.core.validation import Analysis
from nnstudio.gui import dialogs, icons, recovery, settings, theme
from nnstudio.gui.document import LOCKED_MESSAGE, Document
from nnstudio.gui.editor import clipboard
from nnstudio.gui.editor.block_editing import BlockEditing
from nnstudio.gui.editor.minimap import Minimap
from nnstudio.gui.editor.scene import GraphScene
from nnstudio.gui.editor.view import GraphView
from nnstudio.gui.examples import ExamplesDialog, bundled_examples
from nnstudio.gui.experiments.controller import ExperimentsController
from nnstudio.gui.export_action import export_graph
from nnstudio.gui.panels.about import AboutPanel
from nnstudio.gui.panels.code_preview import CodePreviewPanel
from nnstudio.gui.panels.inspector import InspectorPanel
from nnstudio.gui.panels.palette import PalettePanel
from nnstudio.gui.panels.problems import DiagnosticsPanel
from nnstudio.gui.panels.summary import SummaryPanel
from nnstudio.gui.text import short_count
from nnstudio.gui.training.closing import CloseGuard
from nnstudio.gui.training.controller import TrainingController

APP_NAME = "nnstudio"
STATE_VERSION = 1  # bump when the docks change, so an old saved layout is not restored
PASTE_STEP = 40.0

_open_windows: set[MainWindow] = set()


def _fixed_label(action: QAction, label: str, parent: QWidget) -> QAction:
    """A stand-in for ``action`` on the toolbar with a short, fixed label: the undo stack
    renames its actions after each edit ("Undo Change kernel_size of conv2d1"), which made
    the button grow and push the others along. The full text stays in the menu and tooltip."""
    proxy = QAction(label, parent)
    proxy.triggered.connect(action.trigger)

    def follow() -> None:
        proxy.setEnabled(action.isEnabled())
        proxy.setIcon(action.icon())
        proxy.setToolTip(action.text().replace("&", "") or label)

    action.changed.connect(follow)
    follow()
    return proxy


def open_windows() -> list[MainWindow]:
    return list(_open_windows)


class MainWindow(QMainWindow):
    """One document in one window; see the module docstring for extension points."""

    document_changed = Signal(object)  # the new Document

    def __init__(
        self,
        document: Document | None = None,
        autosave_interval_ms: int = recovery.INTERVAL_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.resize(1400, 880)
        self.menus: dict[str, QMenu] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._editing_actions: list[QAction] = []
        self._locked = False
        self._shown_once = False
        self.scene: GraphScene | None = None
        self._document: Document | None = None

        self.view = GraphView(self)
        self.setCentralWidget(self.view)
        self.minimap = Minimap(self.view)
        self.palette = PalettePanel()
        self.inspector = InspectorPanel()
        self.diagnostics = DiagnosticsPanel()
        self.about = AboutPanel()
        self.summary = SummaryPanel()
        self.code_preview = CodePreviewPanel()
        self.undo_group = QUndoGroup(self)

        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._update_icons()
        self._build_status_bar()
        self._connect_widgets()

        document = document if document is not None else Document()
        self.autosaver = recovery.Autosaver(document, autosave_interval_ms, self)
        self.set_document(document)
        self.training = TrainingController(self)  # docks, the Train menu, runs
        self.experiments = ExperimentsController(self)  # sweeps: a dock and a Train menu entry
        self.close_guard = CloseGuard(self, self.training)  # closing during a run asks first
        self.block_editing = BlockEditing(self)  # group/ungroup, open a block, breadcrumb
        self._restore_layout()
        _open_windows.add(self)

    # --- extension points -------------------------------------------------------------------------------

    @property
    def document(self) -> Document:
        assert self._document is not None
        return self._document

    def add_dock(
        self,
        widget: QWidget,
        title: str,
        name: str,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.BottomDockWidgetArea,
        tabify_with: str | None = None,
    ) -> QDockWidget:
        """Put ``widget`` in a dock (its layout is remembered) and list it in View › Panels."""
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{name}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        if tabify_with and tabify_with in self.docks:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
        self.docks[name] = dock
        if "panels" in self.menus:
            self.menus["panels"].addAction(dock.toggleViewAction())
        return dock

    def add_menu(self, title: str, key: str, before: str = "help") -> QMenu:
        """A new menu-bar menu, placed before ``before`` (Help by default)."""
        menu = QMenu(title, self)
        anchor = self.menus.get(before)
        if anchor is not None:
            self.menuBar().insertMenu(anchor.menuAction(), menu)
        else:
            self.menuBar().addMenu(menu)
        self.menus[key] = menu
        return menu

    def add_editing_action(self, action: QAction) -> None:
        """Register an action that changes the model, so locking disables it."""
        self._editing_actions.append(action)
        action.setEnabled(not self._locked)

    @property
    def editing_locked(self) -> bool:
        return self._locked

    def set_editing_locked(self, locked: bool, reason: str = "") -> None:
        """Freeze (or unfreeze) every change to the model: commands, actions, drags,
        the inspector's fields and undo/redo. Viewing, selecting and saving still work."""
        self._locked = locked
        self.document.set_locked(locked)
        for action in self._editing_actions:
            action.setEnabled(not locked)
        self.undo_group.setActiveStack(None if locked else self.document.undo_stack)
        self.palette.set_enabled_for_editing(not locked)
        self.statusBar().showMessage(reason or (LOCKED_MESSAGE if locked else "Editing unlocked."), 5000)

    # --- documents -------------------------------------------------------------------------------------

    def set_document(self, document: Document) -> None:
        """Show ``document`` in this window (the previous one is closed)."""
        old, old_scene = self._document, self.scene
        if old is not None and old is not document:
            old_scene.detach()
            old_scene.deleteLater()
            old.detach()
            old.deleteLater()
        self._document = document
        document.setParent(self)
        self.scene = GraphScene(document, self)
        self.view.setScene(self.scene)
        self.minimap.attach(self.scene)
        self.undo_group.addStack(document.undo_stack)
        self.undo_group.setActiveStack(None if self._locked else document.undo_stack)
        document.set_locked(self._locked)
        self.scene.selectionChanged.connect(self._on_selection_changed)
        document.refused.connect(self._on_refused)
        document.analysis_changed.connect(self._update_status)
        document.undo_stack.cleanChanged.connect(self._update_title)
        document.path_changed.connect(self._update_title)
        for panel in (self.inspector, self.diagnostics, self.summary, self.code_preview, self.about):
            panel.set_document(document)
        self.autosaver.set_document(document)
        self._update_title()
        self._update_status(document.analysis())
        self.view.frame_graph()
        self.document_changed.emit(document)

    def open_path(self, path: str | Path) -> bool:
        """Open a project in this window. A file that cannot be read shows an error and
        changes nothing; unsaved work is offered for saving first."""
        path = Path(path)
        try:
            graph = Graph.load(path)
        except FormatError as exc:
            dialogs.show_error(self, "Cannot open project", str(exc))
            return False
        if not self.maybe_save():
            return False
        self.set_document(Document(graph, path))
        settings.add_recent_file(path)
        self.statusBar().showMessage(f"Opened {path}.", 5000)
        return True

    def open_graph(self, graph: GraphModel, path: str | Path | None = None, modified: bool = False) -> None:
        """Show an in-memory graph (an example, a recovered autosave)."""
        document = Document(graph, path)
        if modified:
            document.undo_stack.resetClean()
        self.set_document(document)
        if modified:
            self.autosaver.save_now()

    def new_document(self) -> bool:
        if not self.maybe_save():
            return False
        self.set_document(Document())
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._write(self.document.path)

    def save_as(self) -> bool:
        suggested = str(self.document.path or Path.home() / f"{self._safe_stem()}{project.SUFFIX}")
        path = dialogs.ask_save_path(self, suggested)
        if not path:
            return False
        if not path.endswith(project.SUFFIX):
            path += project.SUFFIX
        return self._write(Path(path))

    def _safe_stem(self) -> str:
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.document.graph.name.strip())
        return stem.lower() or "untitled"

    def _write(self, path: Path) -> bool:
        self.about.commit()  # a note still being typed is part of what is saved
        try:
            project.save(self.document.graph, path)
        except OSError as exc:
            dialogs.show_error(
                self,
                "Cannot save project",
                f"Could not save {path}: {exc.strerror or exc}. Your work is still open; try another folder.",
            )
            return False
        self.document.set_path(path)
        self.document.undo_stack.setClean()
        self.autosaver.discard()
        settings.add_recent_file(path)
        self.statusBar().showMessage(f"Saved {path}.", 5000)
        return True

    def maybe_save(self) -> bool:
        """True when it is fine to drop the current document (saved, or the user said so)."""
        self.about.commit()
        if not self.document.modified:
            return True
        answer = dialogs.ask_save_changes(self, self.document.display_name)
        if answer == "save":
            return self.save()
        return answer == "discard"

    def open_new_window(self, path: str | Path | None = None) -> MainWindow:
        window = MainWindow(autosave_interval_ms=self.autosaver.timer.interval())
        window.show()
        if path is not None:
            window.open_path(path)
        return window

    # --- building the window ------------------------------------------------------------------------------

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        # Side panels run full height; the bottom panels sit under the canvas only.
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        self.add_dock(self.palette, "Layers", "palette", left)
        self.add_dock(self.inspector, "Inspector", "inspector", right)
        self.add_dock(self.diagnostics, "Problems", "diagnostics", bottom)
        self.add_dock(self.summary, "Summary", "summary", bottom, tabify_with="diagnostics")
        self.add_dock(self.code_preview, "Code", "code", bottom, tabify_with="summary")
        self.add_dock(self.about, "About", "about", bottom, tabify_with="code")
        self.docks["diagnostics"].raise_()
        self.resizeDocks(
            [self.docks["palette"], self.docks["inspector"]], [220, 300], Qt.Orientation.Horizontal
        )
        self.resizeDocks([self.docks["diagnostics"]], [230], Qt.Orientation.Vertical)

    def _action(
        self,
        text: str,
        slot,
        shortcut=None,
        tip: str = "",
        editing: bool = False,
        icon: QStyle.StandardPixmap | None = None,
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts(shortcut)
            else:
                action.setShortcut(shortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)  # shortcuts work with the menu bar hidden too
        if editing:
            self._editing_actions.append(action)
        return action

    def _build_actions(self) -> None:
        key, pix = QKeySequence.StandardKey, QStyle.StandardPixmap
        a = self._action
        self.act_new = a("&New", self.new_document, key.New, "Start an empty project.", True, pix.SP_FileIcon)
        self.act_new_window = a(
            "New &Window", self.open_new_window, QKeySequence("Ctrl+Shift+N"), "Open another editor window."
        )
        self.act_open = a(
            "&Open…", self._open_dialog, key.Open, "Open a project file.", True, pix.SP_DialogOpenButton
        )
        self.act_import = a(
            "&Import PyTorch Model…",
            self._import_dialog,
            None,
            "Turn an nn.Module from a Python file into an editable project with its weights.",
            True,
        )
        self.act_examples = a(
            "&Examples…", self._examples_dialog, None, "Open one of the bundled example networks.", True
        )
        self.act_save = a("&Save", self.save, key.Save, "Save the project.", icon=pix.SP_DialogSaveButton)
        self.act_save_as = a("Save &As…", self.save_as, key.SaveAs, "Save the project under a new name.")
        self.act_export = a(
            "&Export PyTorch Code…",
            lambda: export_graph(self, self.document.graph, self.document.path),
            QKeySequence("Ctrl+E"),
            "Write model.py with the latest run's trained weights "
            "and predict.py; ONNX and train.py on request.",
        )
        self.act_close = a("&Close Window", self.close, key.Close)
        self.act_quit = a("&Quit", self._quit, key.Quit)
        self.act_quit.setMenuRole(QAction.MenuRole.QuitRole)

        self.act_undo = self.undo_group.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(key.Undo)
        self.act_redo = self.undo_group.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")])
        self.addActions([self.act_undo, self.act_redo])
        self.act_cut = a("Cu&t", self.cut, key.Cut, "Move the selected layers to the clipboard.", True)
        self.act_copy = a("&Copy", self.copy, key.Copy, "Copy the selected layers.")
        self.act_paste = a("&Paste", self.paste, key.Paste, "Paste layers from the clipboard.", True)
        self.act_duplicate = a(
            "&Duplicate",
            self.duplicate,
            QKeySequence("Ctrl+D"),
            "Copy the selected layers beside themselves.",
            True,
        )
        self.act_delete = a(
            "De&lete",
            self.delete_selection,
            [QKeySequence(key.Delete), QKeySequence(Qt.Key.Key_Backspace)],
            "Delete the selected layers and connections.",
            True,
        )
        self.act_select_all = a("Select &All", self.select_all, key.SelectAll)
        self.act_add_layer = a(
            "&Add Layer…",
            self._add_layer_popup,
            None,
            "Search the catalog and add a layer (Tab on the canvas).",
            True,
        )

        self.act_zoom_in = a(
            "Zoom &In", self.view.zoom_in, [QKeySequence(key.ZoomIn), QKeySequence("Ctrl+=")]
        )
        self.act_zoom_out = a("Zoom &Out", self.view.zoom_out, key.ZoomOut)
        self.act_zoom_reset = a("&Actual Size", self.view.reset_zoom, QKeySequence("Ctrl+0"))
        self.act_fit = a("&Fit to Window", self.view.fit_to_view, QKeySequence("F"), "Show the whole graph.")
        self.act_snap = a("&Snap to Grid", lambda: None, None, "Align moved layers to the grid.")
        self.act_snap.setCheckable(True)
        self.act_snap.toggled.connect(self._on_snap_toggled)
        self.act_minimap = a("&Minimap", lambda: None, None, "Show an overview of large graphs.")
        self.act_minimap.setCheckable(True)
        self.act_minimap.setChecked(True)
        self.act_minimap.toggled.connect(self.minimap.set_enabled_by_user)
        self.act_layout = a(
            "Arrange &Layers",
            self.auto_layout,
            QKeySequence("Ctrl+L"),
            "Lay the graph out in columns, data flowing left to right.",
            True,
        )

        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for mode, label in (("system", "Follow &System"), ("light", "&Light"), ("dark", "&Dark")):
            action = QAction(label, self, checkable=True)
            action.setData(mode)
            self.theme_group.addAction(action)
            self.theme_actions[mode] = action
        self.theme_group.triggered.connect(lambda action: self.set_theme_mode(action.data()))
        self.act_about = a("&About nnstudio", self._about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = self.menus["file"] = bar.addMenu("&File")
        file_menu.addActions([self.act_new, self.act_new_window, self.act_open, self.act_import])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.examples_menu = file_menu.addMenu("E&xamples")
        for example in bundled_examples():
            action = self.examples_menu.addAction(example.title)
            action.setToolTip(example.description)
            action.triggered.connect(lambda *_, p=example.path: self.open_example(p))
            self._editing_actions.append(action)
        self.examples_menu.addSeparator()
        self.examples_menu.addAction(self.act_examples)
        file_menu.addSeparator()
        file_menu.addActions([self.act_save, self.act_save_as])
        file_menu.addSeparator()
        file_menu.addAction(self.act_export)
        file_menu.addSeparator()
        file_menu.addActions([self.act_close, self.act_quit])

        edit = self.menus["edit"] = bar.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        edit.addSeparator()
        edit.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate, self.act_delete])
        edit.addSeparator()
        edit.addActions([self.act_select_all, self.act_add_layer])

        view = self.menus["view"] = bar.addMenu("&View")
        view.addActions([self.act_zoom_in, self.act_zoom_out, self.act_zoom_reset, self.act_fit])
        view.addSeparator()
        view.addActions([self.act_snap, self.act_minimap])
        themes = self.menus["theme"] = view.addMenu("&Theme")
        themes.addActions(list(self.theme_actions.values()))
        panels = self.menus["panels"] = view.addMenu("&Panels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())

        arrange = self.menus["arrange"] = bar.addMenu("&Arrange")
        arrange.addAction(self.act_layout)

        help_menu = self.menus["help"] = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main toolbar", self)
        bar.setObjectName("toolbar_main")
        bar.setIconSize(QSize(18, 18))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.addActions([self.act_new, self.act_open, self.act_save])
        bar.addSeparator()
        bar.addActions([_fixed_label(self.act_undo, "Undo", self), _fixed_label(self.act_redo, "Redo", self)])
        bar.addSeparator()
        bar.addActions([self.act_fit, self.act_layout])
        self.addToolBar(bar)
        self.toolbar = bar

    def _build_status_bar(self) -> None:
        self.counts_label = QLabel()
        self.zoom_label = QLabel()
        self.statusBar().addPermanentWidget(self.counts_label)
        self.statusBar().addPermanentWidget(self.zoom_label)

    def _connect_widgets(self) -> None:
        self.view.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.view.node_activated.connect(self._on_node_double_clicked)
        self.view.files_dropped.connect(self._open_files)
        self.view.zoom_changed.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        self.palette.layer_activated.connect(self._add_layer_at_centre)
        self.diagnostics.node_activated.connect(self.show_node)
        self.summary.node_activated.connect(self.show_node)
        theme.manager().changed.connect(self._on_theme_changed)

    # --- editing actions ----------------------------------------------------------------------------------

    def selected_node_ids(self) -> list[str]:
        return self.scene.selected_node_ids() if self.scene is not None else []

    @property
    def canvas_document(self) -> Document:
        """The document on the canvas: the model, or the body of a block opened in it."""
        return self.scene.document if self.scene is not None else self.document

    def copy(self) -> bool:
        ids = self.selected_node_ids()
        if not ids:
            self.statusBar().showMessage("Select some layers to copy.", 4000)
            return False
        QGuiApplication.clipboard().setMimeData(clipboard.to_mime(self.canvas_document.graph, ids))
        self.statusBar().showMessage(f"Copied {len(ids)} layer(s).", 4000)
        return True

    def cut(self) -> None:
        if self.copy():
            self.canvas_document.delete(self.selected_node_ids())

    def paste(self) -> list[str]:
        data = clipboard.from_mime(QGuiApplication.clipboard().mimeData())
        if data is None:
            self.statusBar().showMessage("The clipboard holds no layers to paste.", 4000)
            return []
        return self._insert(data, "Paste")

    def duplicate(self) -> list[str]:
        ids = self.selected_node_ids()
        if not ids:
            return []
        return self._insert(self.canvas_document.graph.to_dict(ids), "Duplicate")

    def _insert(self, data: dict, text: str) -> list[str]:
        graph = self.canvas_document.graph
        taken = {n.position for n in graph.nodes.values()}
        step = PASTE_STEP
        # Step further while the copies would land exactly on existing layers.
        while any((r["position"][0] + step, r["position"][1] + step) in taken for r in data["nodes"]):
            step += PASTE_STEP
        records, edges = clipboard.prepare_paste(graph, data, offset=(step, step))
        ids = self.canvas_document.add_records(records, edges, text)
        if ids:
            self.scene.select_nodes(ids)
        return ids

    def delete_selection(self) -> None:
        self.canvas_document.delete(self.selected_node_ids(), self.scene.selected_edges())

    def select_all(self) -> None:
        for item in self.scene.node_items.values():
            item.setSelected(True)

    def auto_layout(self) -> None:
        self.canvas_document.auto_layout()
        self.view.fit_to_view()
        self.minimap.refit()

    def _import_dialog(self) -> None:
        from nnstudio.gui.import_dialog import open_import_dialog

        if self.maybe_save():
            self.import_dialog = open_import_dialog(self)

    def show_node(self, node_id: str) -> None:
        """Select a node and bring it into view (from the problems list or the summary)."""
        if node_id in self.scene.node_items:
            self.scene.select_nodes([node_id])
            self.view.center_on_node(node_id)

    def _add_layer_at_centre(self, type_name: str) -> None:
        centre: QPointF = self.view.mapToScene(self.view.viewport().rect().center())
        node_id = self.canvas_document.add_node(type_name, (centre.x(), centre.y()))
        if node_id is not None:
            self.scene.select_nodes([node_id])

    def _add_layer_popup(self) -> None:
        self.view.open_layer_popup(self.view.cursor_scene_pos())

    def _on_snap_toggled(self, on: bool) -> None:
        if self.scene is not None:
            self.scene.snap_to_grid = on

    def set_theme_mode(self, mode: str) -> None:
        theme.manager().set_mode(mode)
        settings.set_value("view/theme", mode)
        self.theme_actions[theme.manager().mode].setChecked(True)

    # --- reacting -------------------------------------------------------------------------------------

    def _on_selection_changed(self) -> None:
        ids = self.selected_node_ids()
        self.inspector.show_nodes(ids)
        about = self.block_editing.describe(ids[0]) if len(ids) == 1 else None
        if about:  # an instance: which block, and how often the project uses it
            self.inspector.description.setText(f"{about}\n\n{self.inspector.description.text()}")

    def _on_node_double_clicked(self, node_id: str) -> None:
        if self.block_editing.open_instance(node_id):  # a block instance opens to its inside
            return
        self.docks["inspector"].show()
        self.docks["inspector"].raise_()
        self.inspector.show_nodes([node_id])
        self.inspector.name_edit.setFocus()
        self.inspector.name_edit.selectAll()

    def _on_refused(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _on_theme_changed(self, _theme: object) -> None:
        self._update_icons()
        self.view.viewport().update()
        self.minimap.viewport().update()

    def _update_icons(self) -> None:
        """Icons in the palette's text colour, redrawn when the theme changes."""
        self.act_undo.setIcon(icons.undo_icon())
        self.act_redo.setIcon(icons.redo_icon())
        self.act_fit.setIcon(icons.fit_icon())
        self.act_layout.setIcon(icons.layout_icon())

    def _update_title(self, *_args: object) -> None:
        self.setWindowTitle(f"{self.document.display_name}[*] — {APP_NAME}")
        self.setWindowModified(self.document.modified)

    def _update_status(self, analysis: Analysis) -> None:
        graph = self.document.graph
        params = analysis.model_parameters()
        errors = sum(d.is_error for d in analysis.diagnostics)
        count = len(graph.nodes)
        text = f"{count} layer{'s' if count != 1 else ''} · {short_count(params)} parameters"
        if errors:
            text += f" · {errors} problem{'s' if errors != 1 else ''}"
        self.counts_label.setText(text)

    # --- files: dialogs, recent, examples, drops -------------------------------------------------------

    def _open_dialog(self) -> None:
        directory = str(self.document.path.parent) if self.document.path else ""
        path = dialogs.ask_open_path(self, directory)
        if path:
            self.open_path(path)

    def _examples_dialog(self) -> None:
        dialog = ExamplesDialog(self)
        if dialog.exec() and dialog.selected_path() is not None:
            self.open_example(dialog.selected_path())

    def open_example(self, path: Path) -> bool:
        """Open a bundled example as a new, unsaved project (the original stays untouched)."""
        try:
            graph = Graph.load(path)
        except FormatError as exc:
            dialogs.show_error(self, "Cannot open example", str(exc))
            return False
        if not self.maybe_save():
            return False
        self.open_graph(graph)
        if graph.description:  # what the example shows and what to try, in view from the start
            self.docks["about"].raise_()
        return True

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = settings.recent_files()
        for path in files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setEnabled(not self._locked)
            action.triggered.connect(lambda *_, p=path: self.open_path(p))
        if not files:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu", settings.clear_recent_files)

    def _open_files(self, paths: list[str]) -> None:
        if self._locked:
            self.statusBar().showMessage(LOCKED_MESSAGE, 5000)
            return
        first, *rest = paths
        self.open_path(first)
        for path in rest:
            self.open_new_window(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.toLocalFile().endswith(project.SUFFIX) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.toLocalFile().endswith(project.SUFFIX)]
        if paths:
            event.acceptProposedAction()
            self._open_files(paths)

    # --- window life ----------------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, STATE_VERSION)
        mode = str(settings.value("view/theme", theme.manager().mode))
        self.theme_actions.get(mode, self.theme_actions["system"]).setChecked(True)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:  # the view has its real size only now
            self._shown_once = True
            self.view.frame_graph()

    def save_layout(self) -> None:
        settings.set_value("window/geometry", self.saveGeometry())
        settings.set_value("window/state", self.saveState(STATE_VERSION))

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.close_guard.may_close() or not self.maybe_save():
            event.ignore()
            return
        self.training.shutdown()  # a run stops, writes its checkpoint and its thread ends
        self.experiments.shutdown()  # a sweep stops; its finished trials are kept
        self.save_layout()
        self.autosaver.close()
        if self.view.popup is not None:
            self.view.popup.close()
        self.scene.detach()
        self.document.detach()
        theme.manager().changed.disconnect(self._on_theme_changed)
        _open_windows.discard(self)
        event.accept()

    def _quit(self) -> None:
        for window in [w for w in open_windows() if w is not self] + [self]:
            if not window.close():
                return

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About nnstudio",
            f"<b>nnstudio {__version__}</b><p>Design neural networks visually, watch them "
            "train, and export clean PyTorch code.</p>",
        )
