"""The derivative network's contents (issue 20): collapsed layers' parameter
gradients as matrices and vectors, the mirror in the forward order, and scopes
listed to a user in their natural order."""

import random
import re
from pathlib import Path

import pytest

from tapegrad import engine, nn
from tapegrad.engine.drawing.select import natural_key
from tapegrad.nn.diagram import draw_model

ROOT = Path(__file__).resolve().parent.parent.parent

# -- scopes listed in their natural order ---------------------------------------------


def test_natural_key_orders_numbered_siblings_by_number():
    paths = ["MLP.layers.10", "MLP.layers.2", "MLP.layers.1.neurons.11", "MLP.layers.1.neurons.9"]
    assert sorted(paths, key=natural_key) == [
        "MLP.layers.1.neurons.9",
        "MLP.layers.1.neurons.11",
        "MLP.layers.2",
        "MLP.layers.10",
    ]


def test_an_unknown_collapse_scope_lists_the_scopes_outermost_first_by_number():
    x = engine.Value(1.0, label="x")
    y = x
    with engine.scope("MLP"):
        for k in (0, 1, 2, 10):  # made in this order; a lexical sort puts 10 before 2
            with engine.scope(f"neurons.{k}"):
                y = (y * 2.0).tanh()
    with pytest.raises(ValueError) as caught:
        engine.draw(y, view="blocks", collapse="nerons")
    listed = str(caught.value).split("its scopes are: ")[1].split(" (")[0]
    assert listed == "MLP, MLP.neurons.0, MLP.neurons.1, MLP.neurons.2, MLP.neurons.10"
    assert "'layers'" in str(caught.value)  # how to select every numbered sibling


# -- draw_model's non-linear blocks, as drawn and as documented -------------------------


def test_the_drawing_docs_name_draw_models_non_linear_blocks_as_the_pictures_do():
    model = nn.MLP(2, [3, 3, 1], activation="tanh", rng=random.Random(0))
    labels = re.findall(r"^\th\d+ \[label=(\w+)", draw_model(model).source, re.M)
    assert labels == ["tanh", "tanh"]  # the activation's name, never the letter h
    page = (ROOT / "docs" / "drawing.md").read_text(encoding="utf-8")
    paragraph = page.split("**The traditional net, model level.**")[1].split("\n\n")[0]
    assert "block `h`" not in paragraph
    assert "`relu`" in paragraph and "`tanh`" in paragraph
