"""What the GUI shows of a layer follows its catalog entry: its category's colour in
every theme, and whether the training views pick it for filters and feature maps."""

from __future__ import annotations

import dataclasses

from nnstudio.core import blocks, layers
from nnstudio.core.graph import GraphModel
from nnstudio.core.layers import CATALOG, CATEGORIES
from nnstudio.gui.theme import DARK, LIGHT
from nnstudio.gui.training.insights import first_layer


def _all_categories() -> set[str]:
    used = {spec.category for spec in CATALOG.values()} | {s.category for s in blocks.PORT_SPECS.values()}
    return set(CATEGORIES) | used


def test_every_catalog_category_has_its_own_colour_in_every_theme() -> None:
    for theme in (LIGHT, DARK):
        missing = sorted(_all_categories() - set(theme.categories))
        assert missing == [], f"the {theme.name} theme has no colour for {missing}"
        colours = [theme.categories[c] for c in sorted(_all_categories())]
        assert len(set(colours)) == len(colours), f"two categories share a colour in the {theme.name} theme"


def test_a_new_layer_with_feature_maps_is_the_first_one_shown(monkeypatch) -> None:
    mixer = dataclasses.replace(CATALOG["Identity"], type="Mixer", has_feature_maps=True)
    monkeypatch.setitem(layers._SPECS, "Mixer", mixer)  # the read-only CATALOG's dict
    graph = GraphModel()
    x = graph.add("Input", name="x", shape=[8])
    relu = graph.add("ReLU")
    mix = graph.add("Mixer", name="mix")
    graph.connect(x, relu)
    graph.connect(relu, mix)
    assert first_layer(graph) == mix
