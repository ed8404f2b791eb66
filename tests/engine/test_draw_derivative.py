"""The derivative network's contents (issue 20): collapsed layers' parameter
gradients as matrices and vectors, the mirror in the forward order, and scopes
listed to a user in their natural order."""

import random
import re
from pathlib import Path

import pytest

from tapegrad import engine, nn
from tapegrad.engine import _render, drawing
from tapegrad.engine.drawing import fit
from tapegrad.engine.drawing.entry import step_captions
from tapegrad.engine.drawing.select import natural_key
from tapegrad.nn.diagram import draw_model

from . import test_draw, test_draw_fit

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


# -- a collapsed layer's parameter gradients: one matrix, one vector ---------------------


def _mlp_loss(sizes, inputs=(1.0, -2.0), seed=0):
    model = nn.MLP(2, list(sizes), rng=random.Random(seed))
    x = [engine.Value(v, label=f"x{i + 1}") for i, v in enumerate(inputs)]
    return model, nn.losses.mse(model(x), 1.0)


def _gradient_nodes(g):
    """Label -> DOT id of every node of the derivative network's gradients."""
    return {a["label"]: i for i, a in test_draw.nodes(g).items() if i.startswith(("dp", "dg"))}


def test_a_collapsed_mlps_parameter_gradients_are_one_matrix_and_one_vector_per_layer():
    model, loss = _mlp_loss((4, 4, 1))
    g = engine.draw(loss, "blocks", collapse="layers", derivative=True)
    found = _gradient_nodes(g)
    b2 = model.layers[2].neurons[0].b
    # one number: its value, never its size "1"
    db2 = sum(s.contribution for s in engine.backprop_steps(loss) if s.parent is b2)
    assert sorted(found) == sorted(
        [
            "dmse/dw0\\n4×2",
            "dmse/db0\\n4",
            "dmse/dw1\\n4×4",
            "dmse/db1\\n4",
            "dmse/dw2\\n1×4",
            f"dmse/db2\\n{db2:.4f}",
        ]
    )
    # each sent out of its own layer's derivative module, once
    modules = {
        i: a["label"] for i, a in test_draw.nodes(g).items() if a.get("label", "")[:1] == "∂"
    }
    edges = [(a, b) for a, b, attrs in test_draw.edges(g) if attrs.get("style") != "invis"]
    for label, dot_id in found.items():
        k = label.split("\\n")[0][-1]
        ends = [b if a == dot_id else a for a, b in edges if dot_id in (a, b)]  # folded: turned
        assert [modules[e] for e in ends] == [f"∂ layers.{k}"], label
    # its tooltip gives the norm of the gradient: here of w1's 16 numbers
    w1 = [n.w for n in model.layers[1].neurons]
    loss.backward()
    norm = sum(w.grad**2 for row in w1 for w in row) ** 0.5
    tooltip = test_draw.nodes(g)[found["dmse/dw1\\n4×4"]]["tooltip"]
    assert tooltip.startswith("‖dmse/dw1‖ = ") and abs(float(tooltip.split("= ")[1]) - norm) < 1e-3


def test_a_collapsed_mlp_as_one_block_sends_out_every_layers_matrix_and_vector():
    model, loss = _mlp_loss((3, 1))
    g = engine.draw(loss, "blocks", collapse="MLP", derivative=True)
    b1 = model.layers[1].neurons[0].b
    db1 = sum(s.contribution for s in engine.backprop_steps(loss) if s.parent is b1)
    assert sorted(_gradient_nodes(g)) == sorted(
        ["dmse/dw0\\n3×2", "dmse/db0\\n3", "dmse/dw1\\n1×3", f"dmse/db1\\n{db1:.4f}"]
    )


def test_a_collapsed_neuron_sends_out_its_weight_vector_and_its_bias():
    n = nn.Neuron(2, rng=random.Random(0))
    loss = nn.losses.mse(n([engine.Value(1.0), engine.Value(-2.0)]), 1.0)
    g = engine.draw(loss, "blocks", collapse="Neuron", derivative=True)
    loss.backward()
    found = _gradient_nodes(g)
    assert sorted(found) == sorted(["dmse/dw\\n2", f"dmse/db\\n{drawing.text.num(n.b.grad)}"])


def test_a_scope_that_is_no_layer_sends_out_its_parameters_as_one_count():
    p, q, r = (engine.Value(v, label=k) for v, k in ((0.5, "p"), (-1.0, "q"), (2.0, "r")))
    x = engine.Value(1.5, label="x")
    with engine.scope("poly"):
        y = p * x * x + q * x + r  # no weighted sum: p * x is multiplied again
    g = engine.draw(y, "blocks", collapse="poly", params=[p, q, r], derivative=True)
    assert list(_gradient_nodes(g)) == ["dpoly/dw\\n3 parameters"]


def test_the_captions_name_a_collapsed_layers_weight_as_an_element_of_its_matrix():
    _, loss = _mlp_loss((4, 4, 1))
    captions = step_captions(loss, view="blocks", collapse="layers")
    into_w1 = [c for c in captions if "from inside layers.1" in c and "/dw" in c]
    assert len(into_w1) == 16
    assert all(re.match(r"dmse/dw1\[[0-3],[0-3]\] \+=", c) for c in into_w1)
    # the step into w1[3, 0] is highlighted on w1's arrow out of ∂ layers.1
    k = next(i for i, c in enumerate(captions) if c.startswith("dmse/dw1[3,0] +="))
    g = engine.draw(loss, "blocks", collapse="layers", derivative=True, step=k)
    w1 = _gradient_nodes(g)["dmse/dw1\\n4×4"]
    lit = [a for a, b, attrs in test_draw.edges(g) if attrs.get("penwidth") == "3.5"]
    assert w1 in lit


def test_the_derivative_network_of_a_collapsed_16_16_mlp_fits_a_slide():
    # was 1314 x 22971 px: one gradient per parameter, 337 of them
    _, loss = _mlp_loss((16, 16, 1))
    g = engine.draw(loss, "blocks", collapse="layers", derivative=True)
    assert len(_gradient_nodes(g)) == 6
    ratio = test_draw_fit.aspect(g.source)
    assert 1 / fit.MAX_ASPECT <= ratio <= fit.MAX_ASPECT


# -- the derivative network in the forward order -----------------------------------------


def _centres(g):
    """First line of each element's label -> its centre, as laid out."""
    where = {}
    for o in _render.layout(g.source)["objects"]:
        if "pos" in o and o.get("label"):
            where[str(o["label"]).split("\\n")[0].split("\n")[0]] = [
                float(v) for v in o["pos"].split(",")
            ]
    return where


def _reads_before(g, first, second):
    """Whether ``first`` comes before ``second`` in reading order: above it left to
    right, left of it top to bottom."""
    where = _centres(g)
    (x0, y0), (x1, y1) = where[first], where[second]
    return y0 > y1 if re.search(r"rankdir=(LR|RL)", g.source) else x0 < x1


@pytest.mark.parametrize("rankdir", [None, "LR", "TB", "BT"])
def test_a_neurons_derivative_network_reads_in_the_forward_order(rankdir):
    # w0's gradient where w0 is: was dmse/dw1 above dmse/dw0, dmse/dv7 above dmse/dv2
    n = nn.Neuron(2, rng=random.Random(0))
    x = [engine.Value(1.0, label="x1"), engine.Value(-2.0, label="x2")]
    loss = nn.losses.mse(n(x), engine.Value(1.0, label="y"))
    g = engine.draw(loss, "blocks", derivative=True, rankdir=rankdir)
    assert _reads_before(g, "dmse/dw0", "dmse/dw1")
    assert _reads_before(g, "dmse/dv2", "dmse/dv7")
    assert _reads_before(g, "∂ * w0", "∂ * w1")
    # the bias comes in from the side of Σ b, before its terms
    assert _reads_before(g, "dmse/db", "dmse/dv2")


def test_each_collapsed_layer_sends_out_its_weights_bias_and_input_gradients_in_order():
    _, loss = _mlp_loss((4, 4, 1))
    g = engine.draw(loss, "blocks", collapse="layers", derivative=True)
    for k, z in ((0, None), (1, "z1"), (2, "z2")):
        assert _reads_before(g, f"dmse/dw{k}", f"dmse/db{k}")
        if z:
            assert _reads_before(g, f"dmse/db{k}", f"dmse/d{z}")


def test_the_layers_of_an_average_loss_share_one_matrix_and_one_vector_per_layer():
    # every sample's layers.0 uses the same weights: one dw0, fed by each ∂ layers.0
    model = nn.MLP(2, [3, 1], rng=random.Random(0))
    xs = [[0.5, -1.0], [1.0, 0.2], [-0.3, 0.8]]
    loss = nn.average_loss(nn.losses.mse, model, xs, [1.0, -1.0, 1.0])
    g = engine.draw(loss, "blocks", collapse="layers", derivative=True)
    found = {label.split("\\n")[1]: i for label, i in _gradient_nodes(g).items()}
    b1 = model.layers[1].neurons[0].b
    db1 = sum(s.contribution for s in engine.backprop_steps(loss) if s.parent is b1)
    assert sorted(found) == sorted(["3×2", "3", "1×3", f"{db1:.4f}"])  # w0, b0, w1, b1
    drawn = test_draw.nodes(g)
    edges = [(a, b) for a, b, attrs in test_draw.edges(g) if attrs.get("style") != "invis"]
    ends = [b if a == found["3×2"] else a for a, b in edges if found["3×2"] in (a, b)]
    assert [drawn[e]["label"] for e in ends] == ["∂ layers.0"] * 3
