"""What the pictures say (QA round 6): a neuron's weighted sum stays one ``Σ b``
whatever the signs of its inputs, captions name every parameter's gradient, no
``-0``, names the picture shows, gradients of one number show the number."""

import random
import re

from tapegrad import engine, nn
from tapegrad.engine import Value

from .test_draw import edges, nodes


def _functions(g):
    return [a["label"] for a in nodes(g).values() if a.get("class", "").startswith("tg-function")]


def _neuron_loss(x):
    random.seed(0)
    n = nn.Neuron(2, activation="relu")
    return nn.losses.mse(n(x), 1.0), n


# -- a negative number into a weighted sum (QA 2) ------------------------------------


def test_a_negative_number_input_keeps_the_neurons_weighted_sum_one_block():
    for x1 in (1.0, -1.0):
        loss, n = _neuron_loss([0.5, x1])
        for options in ({}, {"step": 4}, {"derivative": True}):
            g = engine.draw(loss, params=n, view="blocks", **options)
            blocks = [t for t in _functions(g) if not t.startswith("∂")]
            assert sorted(blocks) == sorted(["* 0.5 w0", f"* {x1:g} w1", "Σ b", "relu"])
        values = engine.draw(loss, params=n, view="values", show_params=True)
        ops = [a["label"] for k, a in nodes(values).items() if k.startswith("f")]
        assert "Σ" in ops and "−" not in ops and f"* {x1:g}" in ops


def test_a_term_times_minus_one_in_any_chain_of_sums_stays_a_term():
    # a student's own weights (no parameters marked): still one Σ with a * -1 term
    a, b, c, w = (Value(v, label=k) for v, k in ((1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "w")))
    s = a * 0.5 + b * -1.0 + c
    assert sorted(_functions(engine.draw(s, view="blocks"))) == ["* -1", "* 0.5", "Σ"]
    # alone, a + b·(−1) is still the subtraction it records, and -w a negation
    assert _functions(engine.draw(a + b * -1.0, view="blocks")) == ["−"]
    assert _functions(engine.draw(w * -1.0, view="blocks")) == ["−"]
    # a parameter times -1 is a weighted input, never a negation
    engine.mark_parameters([w])
    assert _functions(engine.draw(a + w * -1.0, view="blocks", show_params=True)) == ["* -1", "+"]


def test_every_parameter_step_names_its_gradient_and_its_edge_carries_its_local():
    loss, n = _neuron_loss([0.5, -1.0])
    captions = engine.draw_steps(loss, params=n, view="blocks").explanations
    for name in ("w0", "w1", "b"):
        assert any(c.startswith(f"dmse/d{name} += dmse/d") for c in captions), (name, captions)
    assert not any("inside" in c and "b:" in c and "db" in c for c in captions)
    g = engine.draw(loss, params=n, view="blocks", derivative=True)
    labels = {
        nodes(g)[s]["label"].split("\\n")[0]: a.get("label")
        for s, _, a in edges(g)
        if s.startswith("dp") and a.get("style") != "invis"
    }
    assert labels == {"dmse/dw0": "× 0.5", "dmse/dw1": "× -1", "dmse/db": "× 1"}


# -- no -0 (QA 7) -----------------------------------------------------------------------

_MINUS_ZERO = re.compile(r"(?<![\d.])[-−]0(?![\d.])")


def test_a_signed_zero_is_written_0_in_captions_and_labels():
    loss, n = _neuron_loss([0.5, -1.0])  # relu is off: every gradient below it is ±0
    steps = engine.draw_steps(loss, params=n, view="blocks")
    for text in [*steps.explanations, *(s.explanation for s in engine.backprop_steps(loss))]:
        assert not _MINUS_ZERO.search(text), text
    for k in range(len(steps)):
        assert not _MINUS_ZERO.search(steps[k].source)
    assert not _MINUS_ZERO.search(engine.draw(loss, params=n, derivative=True).source)


# -- names the picture shows (QA 4) ----------------------------------------------------


def _gradient_labels(g):
    return [a["label"].split("\\n")[0] for k, a in nodes(g).items() if k.startswith("d")]


def test_an_average_loss_is_named_L_in_its_square_captions_and_derivative_network():
    random.seed(0)
    m = nn.Neuron(2, activation="tanh")
    loss = nn.average_loss(nn.losses.mse, m, [[0.5, -1.0], [1.0, 2.0]], [1.0, -1.0])
    assert loss.label == "𝓛"
    g = engine.draw(loss, params=m, view="blocks", derivative=True)
    assert "𝓛\\n1/2 Σ" in [a.get("label") for a in nodes(g).values()]
    grads = _gradient_labels(g)
    assert {"d𝓛/dw0", "d𝓛/dw1", "d𝓛/db"} <= set(grads)
    assert all(label.startswith("d𝓛/d") for label in grads if label != "d")
    for caption in engine.draw_steps(loss, params=m, view="blocks").explanations:
        assert caption.startswith(("d𝓛/d", "inside")), caption


def test_a_cost_named_with_a_sign_is_bracketed_and_shared_labels_are_told_apart():
    random.seed(0)
    layer = nn.Layer(2, 3)
    loss = nn.losses.softmax_cross_entropy(layer([0.5, -1.0]), 1)
    g = engine.draw(loss, params=layer, view="blocks", derivative=True)
    grads = _gradient_labels(g)
    assert not any("dcross-entropy" in label for label in grads)
    params = [
        label for label in grads if label.startswith("d(cross-entropy)/d") and "v" not in label
    ]
    # three neurons, each labelling its weights w0, w1 and its bias b: nine names
    expected = {f"d(cross-entropy)/dw[{i},{j}]" for i in range(3) for j in range(2)}
    expected |= {f"d(cross-entropy)/db[{i}]" for i in range(3)}
    assert set(params) == expected and len(params) == 9
    assert "* -1 w[2,1]" in _functions(g) and "Σ b[2]" in _functions(g)
    captions = engine.draw_steps(loss, params=layer, view="blocks").explanations
    assert any(c.startswith("d(cross-entropy)/dw[2,1] += ") for c in captions)
    assert not any("dcross-entropy" in c or "/dw1 " in c for c in captions)


# -- the target of a cross-entropy (QA 12) -----------------------------------------------


def _observed_into_cost(g):
    squares = {k for k, a in nodes(g).items() if a.get("color") == "#ff3333"}
    labels = {k: a.get("label") for k, a in nodes(g).items()}
    return sorted(labels[s] for s, d, _ in edges(g) if d in squares and labels[s] in ("y",))


def test_a_cross_entropy_square_reads_its_target_y_as_mse_does():
    random.seed(0)
    layer = nn.Layer(2, 3)
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2")]
    for inputs in ([0.5, -1.0], x):
        loss = nn.losses.softmax_cross_entropy(layer(inputs), 1)
        for collapse in (None, "Layer"):
            g = engine.draw(loss, params=layer, view="blocks", collapse=collapse)
            assert _observed_into_cost(g) == ["y"], collapse
    assert {"x1", "x2"} <= {a.get("label") for a in nodes(g).values()}
    # a cost given y as a Value, and an energy of its states, get no extra y
    y = Value(1.0, label="y")
    random.seed(0)
    n = nn.Neuron(2)
    assert _observed_into_cost(engine.draw(nn.losses.mse(n(x), y), view="blocks")) == ["y"]
    h = nn.Hopfield(3)
    assert _observed_into_cost(engine.draw(h.energy([1, -1, 1]), view="blocks")) == []


def test_the_targets_of_an_average_cross_entropy_are_named_by_their_sample():
    # item 7: every sample's target reads y[p], as its inputs read x[p]₀ (QA: `y` x3)
    random.seed(0)
    model = nn.MLP(2, [3, 3])
    X = [[0.5, -1.0], [1.0, 0.2], [-0.3, 0.8]]
    loss = nn.losses.average_loss(nn.losses.softmax_cross_entropy, model, X, [0, 1, 2])
    for collapse in ("layers", "MLP"):
        g = engine.draw(loss, view="blocks", collapse=collapse)
        squares = {k for k, a in nodes(g).items() if a.get("color") == "#ff3333"}
        labels = {k: a.get("label") for k, a in nodes(g).items()}
        targets = sorted(labels[s] for s, d, _ in edges(g) if d in squares and labels[s][0] == "y")
        assert targets == ["y[0]", "y[1]", "y[2]"], (collapse, targets)
