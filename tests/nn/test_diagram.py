"""The traditional neural net drawn as the lecture draws it (nn.diagram.draw_model)."""

import re

import pytest

from tapegrad import nn
from tapegrad.engine import _render, save_graph
from tapegrad.nn.diagram import draw_model, model_blocks


def _labels(g):
    found = re.findall(r'^\t(\w+) \[label=("(?:[^"\\]|\\.)*"|\S+)', g.source, re.M)
    return [(k, v[1:-1] if v.startswith('"') else v) for k, v in found]


def test_an_mlp_is_linear_and_non_linear_blocks_on_layer_vectors():
    g = draw_model(nn.MLP(2, [16, 16, 1], activation="tanh"))
    labels = dict(_labels(g))
    assert labels["z0"] == "x = z0\\n2"
    assert [labels[f"lin{k}"] for k in range(3)] == ["w0 z0", "w1 z1", "w2 z2"]
    assert [labels[f"h{k}"] for k in range(2)] == ["tanh", "tanh"]
    assert labels["s1"] == "s1\\n16" and labels["z2"] == "z2\\n16"
    # a linear output layer has no non-linear block: ȳ is s3
    assert labels["s3"] == "ȳ = s3\\n1" and "h2" not in labels
    chain = re.findall(r"^\t(\w+) -> (\w+)", g.source, re.M)
    assert chain == [
        ("z0", "lin0"), ("lin0", "s1"), ("s1", "h0"), ("h0", "z1"), ("z1", "lin1"),
        ("lin1", "s2"), ("s2", "h1"), ("h1", "z2"), ("z2", "lin2"), ("lin2", "s3"),
    ]  # fmt: skip
    assert g.source.count('class="tg-function"') == 5


@pytest.mark.parametrize(
    "model, h",
    [(nn.Perceptron(3), "sign"), (nn.Adaline(3), None), (nn.LogisticRegression(3), "tanh")],
)
def test_each_classic_model_has_its_own_non_linearity(model, h):
    labels = dict(_labels(draw_model(model)))
    assert labels["lin0"] == "w0 z0" and labels["z0"] == "x = z0\\n3"
    if h is None:
        assert labels["s1"] == "ȳ = s1\\n1" and "h0" not in labels
    else:
        assert labels["h0"] == h and labels["z1"] == "ȳ = z1\\n1"


def test_a_loss_adds_the_cost_square_with_the_target():
    g = draw_model(nn.MLP(2, [3, 1]), loss="mse")
    labels = dict(_labels(g))
    assert labels["C"] == "C\\nmse" and labels["y"] == "y\\n1"
    assert re.search(r'^\tC \[.*color="#ff3333"', g.source, re.M)
    assert not re.search(r"^\tC -> ", g.source, re.M)  # no outgoing arrow


def test_the_picture_renders_in_every_direction(tmp_path):
    for rankdir in ("LR", "TB", "BT", "RL"):
        path = save_graph(draw_model(nn.MLP(2, [4, 1]), rankdir=rankdir), tmp_path / "m.png")
        assert path.read_bytes()[:4] == b"\x89PNG"
    laid_out = _render.layout(draw_model(nn.Perceptron(2), theme="dark").source)
    assert sum("tg-function" in o.get("class", "") for o in laid_out["objects"]) == 2


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="got str"):
        model_blocks("mlp")
    with pytest.raises(TypeError, match="loss"):
        draw_model(nn.MLP(2, [1]), loss=3)
    with pytest.raises(ValueError, match="rankdir"):
        draw_model(nn.MLP(2, [1]), rankdir="up")
    with pytest.raises(ValueError, match="theme"):
        draw_model(nn.MLP(2, [1]), theme="blue")
