"""The traditional neural net drawn as the lecture draws it (nn.diagram.draw_model)."""

import re
import subprocess
import sys

import pytest

from tapegrad import nn
from tapegrad.engine import _render, draw, save_graph
from tapegrad.nn.cli import main
from tapegrad.nn.diagram import draw_model, model_blocks


def test_nn_diagram_is_reachable_as_the_docs_write_it():
    # `tapegrad.nn.diagram.draw_model` after only `from tapegrad import nn`: a fresh
    # interpreter, since this file's own import has already loaded the module.
    code = "from tapegrad import nn; print(nn.diagram.draw_model.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "draw_model"


def _labels(g):
    found = re.findall(r'^\t(\w+) \[label=("(?:[^"\\]|\\.)*"|\S+)', g.source, re.M)
    return [(k, v[1:-1] if v.startswith('"') else v) for k, v in found]


def test_an_mlp_is_linear_and_non_linear_blocks_on_layer_vectors():
    g = draw_model(nn.MLP(2, [16, 16, 1], activation="tanh"), wrap=False)
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


# -- energy models (issue 20 item 5) -------------------------------------------------


def _edges(g):
    return re.findall(r"^\t(\w+) -> (\w+) \[(.*)\]$", g.source, re.M)


@pytest.mark.parametrize("model", [nn.Hopfield(4), nn.BoltzmannMachine(4)])
def test_an_energy_model_is_its_units_its_symmetric_weights_and_the_energy_square(model):
    g = draw_model(model)
    labels = dict(_labels(g))
    assert [labels[f"y{i}"] for i in range(4)] == ["y0", "y1", "y2", "y3"]
    assert "layout=neato" in g.source and "rankdir=BT" in g.source
    # one undirected edge per pair of units, named by its weight
    weights = {}
    for tail, head, attrs in _edges(g):
        if "dir=none" in attrs:
            name = re.search(r"taillabel=(\w+)", attrs).group(1)
            weights[name] = {tail, head}
    assert weights == {f"w{i}{j}": {f"y{i}", f"y{j}"} for i, j in model.pairs()}
    # the energy: a red square fed by the state y, with no outgoing arrow
    assert re.search(r'^\tE \[.*color="#ff3333".*shape=box', g.source, re.M)
    assert [(a, b) for a, b, _ in _edges(g) if "E" in (a, b)] == [("y", "E")]
    caption = re.search(r'label="([^"]*)" labelloc=b', g.source).group(1)
    if isinstance(model, nn.Hopfield):
        assert labels["E"] == "E(y) = −½ Σᵢⱼ yᵢ wᵢⱼ yⱼ"
        assert "yᵢ ← sign(Σⱼ wᵢⱼ yⱼ)" in caption and "wᵢⱼ ← wᵢⱼ + η yᵢ yⱼ" in caption
    else:
        assert labels["E"] == "E(y) = −½ Σᵢⱼ yᵢ wᵢⱼ yⱼ − Σᵢ bᵢ yᵢ"
        assert "wᵢⱼ ← wᵢⱼ + η (yᵢ yⱼ − ỹᵢ ỹⱼ)" in caption and "p(yᵢ = +1) = σ(2 hᵢ)" in caption
    # what the square says is what energy() computes (w_ii = 0; the slide's sum has no ½)
    for k, p in enumerate(model.parameters()):
        p.data = 0.25 * k - 0.6
    y = [1, -1, -1, 1]
    w = model.weight_matrix()
    b = [p.data for p in model.b] or [0.0] * 4
    said = -0.5 * sum(y[i] * w[i][j] * y[j] for i in range(4) for j in range(4))
    said -= sum(bi * yi for bi, yi in zip(b, y))
    assert model.energy(y).data == pytest.approx(said, abs=1e-12)


def test_a_larger_energy_model_drops_the_names_then_the_units(tmp_path):
    g = draw_model(nn.Hopfield(7), rankdir="LR", theme="dark")
    undirected = [attrs for _, _, attrs in _edges(g) if "dir=none" in attrs]
    assert len(undirected) == 21 and not any("taillabel" in a for a in undirected)
    assert 'color="#80b1d3"' in g.source  # the dark theme's colour of an observed y
    e_at = re.search(r'^\tE \[.*pos="([-\d.]+),([-\d.]+)!"', g.source, re.M)
    assert float(e_at.group(1)) > 0 and float(e_at.group(2)) == 0  # LR: the energy right
    big = draw_model(nn.BoltzmannMachine(9))
    assert dict(_labels(big))["y"] == "y\\n9" and "y0" not in dict(_labels(big))
    assert "36 symmetric weights" in big.source
    assert save_graph(draw_model(nn.Hopfield(5)), tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="energy"):
        draw_model(nn.Hopfield(3), loss="mse")
    with pytest.raises(ValueError, match="rankdir"):
        draw_model(nn.Hopfield(3), rankdir="up")


# -- slide polish (issue 20 item 7) --------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [nn.Perceptron(2), nn.Adaline(2), nn.LogisticRegression(2), nn.MLP(2, [4, 1])],
    ids=lambda m: type(m).__name__,
)
def test_one_picture_has_one_name_for_the_models_output(model):
    """QA 6 item 17: the perceptron's output circle read ``ȳ = z1`` while its cost
    square said ``ỹ = sign(s)``."""
    text = " ".join(label for _, label in _labels(draw_model(model, loss=True)))
    assert "ȳ" in text
    assert "ỹ" not in text


def test_each_model_draws_its_own_cost_by_a_readable_name_and_the_dark_theme_colours_y(tmp_path):
    own = {}
    for model in (nn.Perceptron(2), nn.Adaline(2), nn.LogisticRegression(2)):
        g = draw_model(model, loss=True)
        own[type(model)] = dict(_labels(g))["C"]
        assert ("s1", "C") in [(a, b) for a, b, _ in _edges(g)]  # the criterion reads s
    assert own == {
        nn.Perceptron: "C\\nperceptron loss\\n−(y − ȳ) s,  ȳ = sign(s)",
        nn.Adaline: "C\\nAdaline loss\\n½ (y − s)²",
        nn.LogisticRegression: "C\\nlogistic loss\\nlog(1 + exp(−2 y s))",
    }
    assert dict(_labels(draw_model(nn.MLP(2, [4, 1]), loss=True)))["C"] == "C\\nhinge"
    assert dict(_labels(draw_model(nn.MLP(2, [4, 3]), loss=True)))["C"] == "C\\ncross-entropy"
    assert dict(_labels(draw_model(nn.MLP(2, [4, 1]), loss="bce")))["C"] == (
        "C\\nbinary cross-entropy"
    )
    # the engine's squares carry the same names: no snake_case on a slide
    squares = []
    for model in (nn.Perceptron(2), nn.Adaline(2), nn.LogisticRegression(2)):
        blocks = draw(model.loss([1.0, 2.0], 1.0), "blocks").source
        squares.append(re.search(r'\[label="?([^"\]]*?)"? color="#ff3333"', blocks).group(1))
    assert squares == ["perceptron loss", "Adaline loss", "logistic loss"]
    # dark theme: the target y blue, the prediction ȳ purple, x pink (NOTATION.md)
    dark = draw_model(nn.MLP(2, [4, 1]), loss="mse", theme="dark").source
    colour = dict(re.findall(r'^\t(\w+) \[.*?\bcolor="(#\w+)"', dark, re.M))
    assert (colour["z0"], colour["s2"], colour["y"]) == ("#fccde5", "#bc80bd", "#80b1d3")
    # tapegrad train --graph draws the cost it trained with
    path = tmp_path / "model.dot"
    args = ["--graph", str(path), "--samples", "20", "--epochs", "1", "--no-progress"]
    assert main(["train", "--model", "perceptron", "--dataset", "blobs", *args]) == 0
    assert 'label="C\\nperceptron loss' in path.read_text()
    # nn.average_loss names every sample: x[p] (x[p]₀, x[p]₁ for a list) and y[p]
    neuron = nn.Neuron(2)
    average = nn.losses.average_loss(nn.losses.hinge, neuron, [[0.1, 0.2], [0.3, -0.4]], [1, -1])
    shown = re.findall(r"\[label=\"([xy]\[\d\][₀₁]?)\"", draw(average, "blocks").source)
    assert sorted(shown) == ["x[0]₀", "x[0]₁", "x[1]₀", "x[1]₁", "y[0]", "y[1]"]
