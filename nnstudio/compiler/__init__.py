"""The compiler: a graph becomes PyTorch source, and that source becomes the model.

``generate`` (codegen.py) writes the source without importing torch, for the
editor's live preview; ``compile_graph`` executes it (build.py); ``export``
writes it to disk with weights, a prediction script and optionally ONNX.
"""

from nnstudio.compiler.codegen import CodegenError, ModelInput, PythonCode, compile_graph, generate

__all__ = ["CodegenError", "ModelInput", "PythonCode", "compile_graph", "generate"]
