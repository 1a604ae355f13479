"""The search space: parsed from --param text, checked against the graph, applied to a copy."""

from __future__ import annotations

import pytest

from nnstudio.core import project
from nnstudio.experiments import space, variants
from nnstudio.experiments.errors import SpaceError
from tests.conftest import EXAMPLES_DIR


@pytest.fixture
def circles():
    return project.load(EXAMPLES_DIR / "mlp_circles.nnstudio")


def test_parse_ranges_log_and_choices() -> None:
    assert space.parse_param("hidden.out_features=8..64") == space.Dimension("hidden.out_features", 8, 64)
    lr = space.parse_param("lr=1e-4..0.1:log")
    assert (lr.low, lr.high, lr.log) == (1e-4, 0.1, True)
    opt = space.parse_param("optimizer=adam,sgd")
    assert opt.choices == ("adam", "sgd")
    # node names may hold dots: the parameter is what follows the last one
    assert space.parse_param("block.1.p=0.1,0.5").target == "block.1.p"


@pytest.mark.parametrize(
    "text, words",
    [
        ("lr", "write NAME=LOW..HIGH"),
        ("lr=0.1..x", "'x' is not a number"),
        ("lr=0.1..1:cubic", "not a scale"),
        ("optimizer=adam,,sgd", "a choice is empty"),
    ],
)
def test_parse_refuses_with_a_sentence(text: str, words: str) -> None:
    with pytest.raises(SpaceError, match=words):
        space.parse_param(text)


def test_resolve_takes_the_kind_from_the_target(circles) -> None:
    axes = space.resolve(
        [
            space.parse_param(t)
            for t in ("hidden.out_features=4..32", "lr=0.001..0.1:log", "optimizer=adam,sgd")
        ],
        circles,
    )
    assert [(a.name, a.kind, a.node_id) for a in axes] == [
        ("hidden.out_features", "int", "n2"),
        ("lr", "float", None),
        ("optimizer", "choice", None),
    ]


@pytest.mark.parametrize(
    "text, words",
    [
        (
            "hidden.out_features=64..8",
            "the low end 64 is above the high end 8; write hidden.out_features=8..64",
        ),
        ("hiden.out_features=8..64", "no node named 'hiden'. Did you mean 'hidden'?"),
        (
            "hidden.width=8..64",
            "Linear 'hidden' has no parameter 'width' \\(its parameters: out_features, bias\\)",
        ),
        ("hidden.out_features=0..8", "must be at least 1"),
        ("hidden.out_features=4.5..8", "whole number"),
        ("learning_rate=0.1..1", "Did you mean 'lr'"),
        ("lr=0..0.1:log", "a log range must start above 0"),
        ("point.shape=1,2", "is a shape"),
        ("hidden.bias=0..1", "takes choices, not a range"),
        ("optimizer=adam,lbfgs", "optimizer"),
        ("batch_size=0.5..8", "whole number"),
    ],
)
def test_resolve_refuses_what_cannot_be_swept(circles, text: str, words: str) -> None:
    with pytest.raises(SpaceError, match=words):
        space.resolve([space.parse_param(text)], circles)


def test_nothing_to_sweep_says_how_to_add_something(circles) -> None:
    with pytest.raises(SpaceError, match="--param"):
        space.resolve([], circles)


def test_given_params_replace_saved_ones_of_the_same_target() -> None:
    saved = [space.parse_param("lr=0.1..1"), space.parse_param("hidden.out_features=4..8")]
    merged = space.merge(saved, [space.parse_param("lr=0.001..0.01:log")])
    assert [d.describe() for d in merged] == ["lr=0.001..0.01:log", "hidden.out_features=4..8"]


def test_section_round_trip_is_plain_data() -> None:
    dims = [space.parse_param("lr=0.001..0.1:log"), space.parse_param("optimizer=adam,sgd")]
    section = space.to_section(dims)
    assert section == {
        "params": [
            {"target": "lr", "low": 0.001, "high": 0.1, "log": True},
            {"target": "optimizer", "choices": ["adam", "sgd"]},
        ]
    }
    assert space.from_section(section) == dims
    assert space.to_section([]) is None


def test_grid_values(circles) -> None:
    width, lr = space.resolve(
        [space.parse_param("hidden.out_features=4..8"), space.parse_param("lr=0.001..0.1:log")], circles
    )
    assert width.grid_values() == [4, 5, 6, 7, 8]
    assert lr.grid_values() == pytest.approx([0.001, 0.00316228, 0.01, 0.0316228, 0.1], rel=1e-5)


def test_a_variant_is_a_copy_with_the_values(circles) -> None:
    axes = space.resolve(
        [space.parse_param("hidden.out_features=4..32"), space.parse_param("lr=0.001..0.1")], circles
    )
    variant = variants.apply(circles, axes, {"hidden.out_features": 8, "lr": 0.01})
    assert variant.node("n2").params["out_features"] == 8 and variant.training["lr"] == 0.01
    assert circles.node("n2").params["out_features"] == 16 and circles.training["lr"] == 0.05
    assert variants.problems(variant) == []


def test_a_value_that_breaks_the_graph_gives_its_diagnostic(circles) -> None:
    axes = space.resolve([space.parse_param("classifier.out_features=2,3")], circles)
    variant = variants.apply(circles, axes, {"classifier.out_features": 3})
    problems = variants.problems(variant)
    assert problems and problems[0].startswith("Output 'scores':") and "2 class scores" in problems[0]


def test_channels_that_break_a_later_add_fail_with_the_graph_diagnostic() -> None:
    resnet = project.load(EXAMPLES_DIR / "resnet_block.nnstudio")
    axes = space.resolve([space.parse_param("res_conv2.out_channels=8,16")], resnet)
    assert variants.problems(variants.apply(resnet, axes, {"res_conv2.out_channels": 16})) == []
    problems = variants.problems(variants.apply(resnet, axes, {"res_conv2.out_channels": 8}))
    assert problems and "shortcut" in problems[0]


def block_graph():
    """Input -> a 'Dense' block instance (Linear of $width + ReLU, repeated) -> classifier."""
    from nnstudio.core.graph import GraphModel
    from nnstudio.core.layers import Param

    graph = GraphModel(name="Blocks on circles")
    block = graph.blocks.define("Dense", params=[Param("width", "int", 16, 1, 4096)])
    body = block.body
    x = body.add("BlockInput", name="x")
    fc = body.add("Linear", name="fc", out_features="$width")
    act = body.add("ReLU", name="act")
    out = body.add("BlockOutput", name="out")
    for a, b in ((x, fc), (fc, act), (act, out)):
        body.connect(a, b)
    point = graph.add("Input", name="point", shape=[2])
    stage = graph.add("Block", name="stage", block="Dense", width=16, repeat=2)
    head = graph.add("Linear", name="classifier", out_features=2)
    scores = graph.add("Output", name="scores")
    for a, b in ((point, stage), (stage, head), (head, scores)):
        graph.connect(a, b)
    graph.training = {"dataset": "circles", "optimizer": "adam", "lr": 0.05, "batch_size": 64, "epochs": 2}
    return graph


def test_a_block_instance_sweeps_its_repeat_and_its_parameters() -> None:
    graph = block_graph()
    axes = space.resolve(
        [space.parse_param("stage.repeat=1..3"), space.parse_param("stage.width=4..32:log")], graph
    )
    assert [(a.name, a.kind) for a in axes] == [("stage.repeat", "int"), ("stage.width", "int")]
    variant = variants.apply(graph, axes, {"stage.repeat": 3, "stage.width": 8})
    stage = variant.node_by_name("stage")
    assert (stage.params["repeat"], stage.params["width"]) == (3, 8)
    assert variants.problems(variant) == []
    with pytest.raises(SpaceError, match="at least 1"):
        space.resolve([space.parse_param("stage.repeat=0..3")], graph)
