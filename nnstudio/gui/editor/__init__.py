"""The node-graph canvas: scene and items that follow the GraphModel, the view,
and the undo commands through which the GUI edits the graph."""
