"""``nnstudio export FILE -o DIR``: write the model as PyTorch code, with weights and ONNX."""

from __future__ import annotations

import argparse

from nnstudio.commands._common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    error,
    exit_code_for,
    load_or_report,
    report_invalid,
)
from nnstudio.core.errors import GraphError
from nnstudio.training.errors import TrainingError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write the model as a standalone PyTorch file (and weights, ONNX)",
        description="Write model.py; with --weights also weights.safetensors and predict.py; "
        "with --onnx also model.onnx, checked against PyTorch with onnxruntime.",
    )
    parser.add_argument("file", help="a .nnstudio project")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write into")
    parser.add_argument(
        "--weights", metavar="FILE", help="trained weights: a .safetensors file or a .pt state dict"
    )
    parser.add_argument("--onnx", action="store_true", help="also write model.onnx (needs the onnx extra)")
    parser.add_argument(
        "--class-name", metavar="NAME", help="name of the model class (default: from the graph)"
    )
    parser.add_argument(
        "--train-script",
        action="store_true",
        help="also write train.py: the project's training as a plain PyTorch script "
        "that runs alone or under torchrun on many GPUs",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace files in DIR even if nnstudio did not write them"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    graph = load_or_report(args.file)
    if graph is None:
        return EXIT_BAD_INPUT
    invalid = report_invalid(graph, args.file, "export")
    if invalid is not None:
        return invalid

    from nnstudio.compiler.export import export, load_weights, read_trained_on

    try:
        if args.train_script:
            # Everything that could refuse train.py is checked before anything is written:
            # the settings by the rules of `nnstudio train`, then the script's own, then the folder.
            from nnstudio.compiler.train_script import check_writable, generate_train_script
            from nnstudio.training.config import TrainConfig

            TrainConfig.from_settings(graph.training)
            generate_train_script(graph, class_name=args.class_name)
            check_writable(args.output, overwrite=args.force)
        weights = load_weights(args.weights) if args.weights else None
        written = export(
            graph,
            args.output,
            weights=weights,
            onnx=args.onnx,
            class_name=args.class_name,
            overwrite=args.force,
            trained_on=read_trained_on(args.weights) if args.weights else None,  # class names for predict.py
        )
        if args.train_script:
            from nnstudio.compiler.train_script import write_train_script

            written.append(
                write_train_script(graph, args.output, overwrite=args.force, class_name=args.class_name)
            )
    except (GraphError, TrainingError, OSError) as exc:
        error(exc)
        return exit_code_for(exc)
    for path in written:
        print(f"wrote {path}")
    if args.onnx and weights is None:
        print("note: no --weights given, so model.onnx holds untrained random weights.")
    return EXIT_OK
