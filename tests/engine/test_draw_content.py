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
