"""Blocks in the editor: group and ungroup, open an instance, breadcrumb, make unique.

Grouping, ungrouping and making unique are one undo command each, built on
the core's revertible edits (nnstudio.core.blocks). Opening an instance shows
its definition's body on the canvas through a Document that shares the
project's undo stack, so one history covers every level and the window's
"modified" state stays right. Shapes inside are those of the instance the
user came from. A breadcrumb bar (``Model › layer2 › BasicBlock``) leads back.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QToolBar, QToolButton

from nnstudio.core import block_files, blocks
from nnstudio.core.errors import GraphError
from nnstudio.core.graph import GraphModel, Node
from nnstudio.core.instance_paths import copy_prefixes, locate
from nnstudio.gui.document import Document
from nnstudio.gui.editor import block_palette
from nnstudio.gui.editor.scene import GraphScene
from nnstudio.gui.editor.undo import GraphCommand

# --- undo commands ----------------------------------------------------------------------------


class GroupCommand(GraphCommand):
    """Selected layers -> a new block and one instance of it (Ctrl+G)."""

    def __init__(self, graph: GraphModel, node_ids: Iterable[str], name: str | None = None) -> None:
        super().__init__(graph, "Group into Block")
        self.node_ids = list(node_ids)
        self.name = name or graph.blocks.unique_name("Block")
        self.instance_id: str | None = None
        self.edit: blocks.Edit | None = None

    def _redo(self) -> None:
        self.edit = blocks.group(self.graph, self.node_ids, name=self.name, instance_id=self.instance_id)
        self.instance_id = self.edit.result

    def _undo(self) -> None:
        assert self.edit is not None
        blocks.revert(self.graph, self.edit)


class UngroupCommand(GraphCommand):
    """An instance -> the layers of its block (Ctrl+Shift+G); the definition stays."""

    def __init__(self, graph: GraphModel, instance_id: str) -> None:
        super().__init__(graph, "Ungroup Block")
        self.instance_id = instance_id
        self.node_ids: list[str] | None = None  # the same ids on every redo
        self.edit: blocks.Edit | None = None

    def _redo(self) -> None:
        self.edit = blocks.ungroup(self.graph, self.instance_id, node_ids=self.node_ids)
        self.node_ids = list(self.edit.added_nodes)

    def _undo(self) -> None:
        assert self.edit is not None
        blocks.revert(self.graph, self.edit)


class MakeUniqueCommand(GraphCommand):
    """One instance gets its own copy of its block."""

    def __init__(self, graph: GraphModel, instance_id: str) -> None:
        super().__init__(graph, "Make Block Unique")
        self.instance_id = instance_id
        self.name = graph.blocks.unique_name(graph.node(instance_id).params["block"])
        self.edit: blocks.Edit | None = None

    def _redo(self) -> None:
        self.edit = blocks.make_unique(self.graph, self.instance_id, name=self.name)

    def _undo(self) -> None:
        assert self.edit is not None
        blocks.revert(self.graph, self.edit)


def _instance_values(graph: GraphModel, node: Node) -> dict | None:
    """The parameter values of instance ``node``: inside a block, a "$width" is the value of the
    instance the user came from. None when they cannot be worked out (a diagnostic says why)."""
    params = dict(node.params)
    try:
        if graph.context is not None:
            outer_shapes, outer_values = graph.context
            params = blocks.resolve_params(node, {**blocks.implicit_values(outer_shapes), **outer_values})
        return graph.blocks.values_for(node.params["block"], params)
    except GraphError:
        return None


# --- the window's block actions and navigation ---------------------------------------------------


class BlockEditing(QObject):
    """Group/ungroup/open/make-unique actions and the breadcrumb of one editor window."""

    level_changed = Signal()  # the canvas shows another level (a block opened or left)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.levels: list[tuple[Document, str]] = []  # opened bodies, outermost first
        self._bodies: dict[int, Document] = {}  # id(definition) -> its document

        def action(text: str, slot, shortcut: str | None, tip: str) -> QAction:
            act = QAction(text, window)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.setToolTip(tip)
            act.triggered.connect(lambda *_: slot())
            window.addAction(act)
            return act

        self.act_group = action(
            "&Group into Block",
            self.group_selection,
            "Ctrl+G",
            "Make the selected layers a reusable block, used here once.",
        )
        self.act_ungroup = action(
            "&Ungroup Block",
            self.ungroup_selection,
            "Ctrl+Shift+G",
            "Replace the selected block instance by its layers.",
        )
        self.act_open = action(
            "&Open Block",
            self.open_selection,
            None,
            "Edit the inside of the selected block (double-click does the same).",
        )
        self.act_unique = action(
            "Make Block &Unique",
            self.make_unique_selection,
            None,
            "Give the selected instance its own copy of its block.",
        )
        self.act_leave = action(
            "&Leave Block", self.leave, "Ctrl+Shift+Up", "Go back to the enclosing graph."
        )
        self.act_save = action(
            "&Save Block to Library",
            self.save_selection_to_library,
            None,
            "Save the selected instance's block to your block library (listed in the palette).",
        )
        for act in (self.act_group, self.act_ungroup, self.act_unique):
            window.add_editing_action(act)
        menu = window.menus.get("edit")
        if menu is not None:
            menu.addSeparator()
            menu.addActions(
                [
                    self.act_group,
                    self.act_ungroup,
                    self.act_open,
                    self.act_unique,
                    self.act_leave,
                    self.act_save,
                ]
            )

        # Right-click on the canvas offers the same entries, for the selection.
        window.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        window.view.addActions(
            [self.act_group, self.act_ungroup, self.act_open, self.act_unique, self.act_save]
        )

        self.breadcrumb = QToolBar("Block path", window)
        self.breadcrumb.setObjectName("toolbar_blocks")
        self.breadcrumb.setMovable(False)
        window.addToolBarBreak()
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.breadcrumb)
        self.breadcrumb.hide()
        self._library = None
        self._palette_names: list[str] | None = None
        window.document_changed.connect(self._on_root_changed)
        self._on_root_changed(window._document)
        training = getattr(window, "training", None)  # its views follow the opened block
        if training is not None:
            self.level_changed.connect(training.on_level_changed)
        summary = getattr(window, "summary", None)  # its tree opens the instance shown
        if summary is not None:
            summary.path_activated.connect(self.show_path)
            self.level_changed.connect(
                lambda: summary.reveal(copy_prefixes(self.root.graph, [name for _, name in self.levels]))
            )

    # -- where we are ------------------------------------------------------------------------

    @property
    def root(self) -> Document:
        return self.window.document

    @property
    def current(self) -> Document:
        return self.levels[-1][0] if self.levels else self.root

    def crumbs(self) -> list[str]:
        """The breadcrumb's texts: 'Model', then each opened instance, then its block."""
        if not self.levels:
            return ["Model"]
        return ["Model", *(name for _, name in self.levels), self.levels[-1][0].graph.owner or ""]

    # -- actions ------------------------------------------------------------------------------

    def _selected(self) -> list[str]:
        return self.window.selected_node_ids()

    def _instance(self) -> str | None:
        ids = self._selected()
        graph = self.current.graph
        if len(ids) == 1 and graph.nodes[ids[0]].type == blocks.BLOCK_TYPE:
            return ids[0]
        self.window.statusBar().showMessage("Select one block instance first.", 4000)
        return None

    def group_selection(self) -> str | None:
        ids = self._selected()
        if not ids:
            self.window.statusBar().showMessage("Select the layers to put into a block first.", 4000)
            return None
        command = GroupCommand(self.current.graph, ids)
        if not self.current.push(command):
            return None
        self.window.scene.select_nodes([command.instance_id])
        self.window.statusBar().showMessage(
            f"Grouped {len(ids)} layer(s) into block {command.name}; double-click it to edit its inside.",
            6000,
        )
        return command.instance_id

    def ungroup_selection(self) -> list[str]:
        instance = self._instance()
        if instance is None:
            return []
        command = UngroupCommand(self.current.graph, instance)
        if not self.current.push(command):
            return []
        self.window.scene.select_nodes(command.node_ids or [])
        return command.node_ids or []

    def make_unique_selection(self) -> str | None:
        instance = self._instance()
        if instance is None:
            return None
        command = MakeUniqueCommand(self.current.graph, instance)
        return command.name if self.current.push(command) else None

    def open_selection(self) -> bool:
        instance = self._instance()
        return instance is not None and self.open_instance(instance)

    # -- navigation ----------------------------------------------------------------------------

    def open_instance(self, node_id: str) -> bool:
        """Show the body of instance ``node_id`` of the current graph; False if it is no instance."""
        graph = self.current.graph
        node = graph.nodes.get(node_id)
        if node is None or node.type != blocks.BLOCK_TYPE:
            return False
        library = graph.blocks
        definition = library.get(node.params["block"])
        analysis = self.current.analysis()
        in_shapes = [analysis.shapes.get(e.source) for e in graph.inputs_of(node_id)]
        values = _instance_values(graph, node) if None not in in_shapes else None
        if values is not None:
            definition.body.context = (tuple(tuple(s) for s in in_shapes), values)
        self.levels.append((self._body_document(definition), node.name))
        self._show(self.levels[-1][0])
        return True

    def show_path(self, path: str) -> bool:
        """Open the blocks the layer at instance path ``path`` (``layer2.0/conv1``) lies in,
        then select it; False when the model has nothing at that path."""
        opened, node_id = locate(self.root.graph, path)
        if not opened and node_id is None:
            return False
        graph, names = self.root.graph, []
        for instance in opened:  # the instances' names, as the levels keep them
            node = graph.nodes[instance]
            names.append(node.name)
            graph = graph.blocks.get(node.params["block"]).body
        if [name for _, name in self.levels] != names:
            self.go_to(0)
            for instance in opened:
                self.open_instance(instance)
        if node_id is not None:
            self.window.show_node(node_id)
        return True

    def leave(self) -> None:
        if self.levels:
            self.go_to(len(self.levels) - 1)

    def go_to(self, depth: int) -> None:
        """Show the graph ``depth`` levels down (0: the model)."""
        del self.levels[depth:]
        self._show(self.current)

    def _body_document(self, definition: blocks.BlockDefinition) -> Document:
        document = self._bodies.get(id(definition))
        if document is None or document.graph is not definition.body:
            document = Document(definition.body, parent=self.root)
            # One history for the whole project: edits inside go on the model's stack.
            document.undo_stack.indexChanged.disconnect(document.refresh)
            document.undo_stack = self.root.undo_stack
            document.undo_stack.indexChanged.connect(document.refresh)
            document.refused.connect(self.window._on_refused)
            self._bodies[id(definition)] = document
        document.set_locked(self.root.locked)
        return document

    def _show(self, document: Document) -> None:
        window = self.window
        old = window.scene
        if old is not None and old.document is document:
            return
        if old is not None:
            old.detach()
            old.deleteLater()
        window.scene = GraphScene(document, window)
        window.view.setScene(window.scene)
        window.minimap.attach(window.scene)
        window.scene.snap_to_grid = window.act_snap.isChecked()
        window.scene.selectionChanged.connect(window._on_selection_changed)
        window.inspector.set_document(document)
        window.diagnostics.set_document(document)
        window.view.frame_graph()
        self._update_breadcrumb()
        self.refresh_palette()
        self.level_changed.emit()

    def _update_breadcrumb(self) -> None:
        bar = self.breadcrumb
        bar.clear()
        bar.setVisible(bool(self.levels))
        crumbs = self.crumbs()
        for depth, text in enumerate(crumbs):
            if depth:
                bar.addWidget(QLabel(" › "))
            if depth < len(crumbs) - 1 and depth <= len(self.levels) - 1:
                button = QToolButton()
                button.setText(text)
                button.setObjectName(f"crumb_{depth}")
                button.clicked.connect(lambda *_, d=depth: self.go_to(d))
                bar.addWidget(button)
            else:
                label = QLabel(f"<b>{text}</b>" if depth == len(crumbs) - 1 else text)
                label.setObjectName(f"crumb_{depth}")
                bar.addWidget(label)

    def _on_root_changed(self, document: Document | None) -> None:
        self.levels.clear()
        self._bodies.clear()
        self._update_breadcrumb()
        if self._library is not None:
            self._library.changed.disconnect(self.refresh_palette)
        self._library = document.graph.blocks if document is not None else None
        if self._library is not None:
            self._library.changed.connect(self.refresh_palette)
        self._palette_names = None
        self.refresh_palette()

    def refresh_palette(self) -> None:
        """List the built-in, project and user-library blocks in the palette's Blocks category."""
        if self._library is None:
            return
        entries = block_palette.entries(self.current.graph)  # inside a block: its ports too
        names = [label for _, label, _ in entries]
        if names != self._palette_names:  # bodies change often; the list of blocks seldom
            self._palette_names = names
            self.window.palette.tree.set_blocks(entries)

    def save_selection_to_library(self) -> str | None:
        instance = self._instance()
        if instance is None:
            return None
        name = self.current.graph.nodes[instance].params["block"]
        try:
            path = block_palette.user_library_dir() / f"{name}{block_files.SUFFIX}"
            block_files.save(self.current.graph.blocks, name, path)
        except OSError as exc:
            self.window.statusBar().showMessage(f"Cannot save block {name} to your library: {exc}.", 8000)
            return None
        self._palette_names = None
        self.refresh_palette()
        self.window.statusBar().showMessage(f"Saved block {name} to {path}.", 6000)
        return str(path)

    # -- what the inspector says about an instance -----------------------------------------------

    def describe(self, node_id: str) -> str | None:
        """'Block BasicBlock, used 4 times.' for an instance of the shown graph, else None."""
        graph = self.current.graph
        node = graph.nodes.get(node_id)
        if node is None or node.type != blocks.BLOCK_TYPE:
            return None
        name = node.params["block"]
        try:
            count = graph.blocks.usage_count(name, [self.root.graph])
        except GraphError:
            return None
        times = "once" if count == 1 else f"{count} times"
        return f"Block {name}, used {times}. Double-click to edit its inside; edits apply to every use."
