"""Regenerate the README's gallery: ``python docs/gallery/make_gallery.py``.

Every picture is built here from tapegrad's public API, seeded, and written next to
this script: ``<name>.png`` (the image the README shows) and, for the drawings of
graphs, ``<name>.dot`` (their DOT text). CI runs :func:`dot_sources` and checks that
it still gives the committed ``.dot`` files byte for byte
(``tests/test_gallery.py``), so a change to the drawings shows up as a change to
these files, and the images are regenerated with the same script.

Pictures: the neuron of micrograd's README in both views, one backprop step with the
lecture's derivative network, the traditional net as the lecture draws it, the
lecture's average-loss figure, and a decision boundary (matplotlib).
"""

from __future__ import annotations

import pathlib
import random
import sys

from tapegrad import engine, nn
from tapegrad.engine import Value
from tapegrad.nn.diagram import draw_model
from tapegrad.nn.plot import decision_boundary_example

HERE = pathlib.Path(__file__).resolve().parent
DPI = 110


def neuron():
    """micrograd's neuron, z = tanh(x1·w1 + x2·w2 + b), labelled: ``(z, (x1, x2, w1, w2, b))``.

    ``benchmarks/dot_corpus.py`` draws this graph (and :func:`average_loss_graph`) too."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    s = x1 * w1 + x2 * w2 + b
    s.label = "s"
    z = s.tanh()
    z.label = "z"
    return z, (x1, x2, w1, w2, b)


def neuron_values():
    """micrograd's neuron after ``backward()``: the values view."""
    z, _ = neuron()
    z.backward()
    return engine.draw(z)


def neuron_blocks():
    """The same neuron in the course's notation: x observed, weights implicit."""
    z, (x1, x2, *_) = neuron()
    return engine.draw(z, view="blocks", observed=[x1, x2])


def backprop_step():
    """Step 2 of backprop through the neuron's squared error -- the slide's
    "backprop through a non-linear function", dc/ds = dc/dz · tanh'(s) -- with the
    mirrored derivative network seeded with 1 at the cost."""
    z, (x1, x2, *_) = neuron()
    with engine.cost_scope("C"):
        c = (z - 1.0) ** 2
    c.label = "c"
    steps = engine.draw_steps(c, view="blocks", observed=[x1, x2], derivative=True)
    drawing = steps[2]
    drawing.attr(label=f"step 2:  {steps.explanations[2]}", labelloc="t", fontsize="16")
    return drawing


def traditional_net():
    """The lecture's traditional neural net: MLP(2, [16, 16, 1]) with tanh units."""
    model = nn.MLP(2, [16, 16, 1], activation="tanh", rng=random.Random(0))
    return draw_model(model, loss="mse")


def average_loss_graph():
    """The lecture's average loss over P = 3 samples, each sample's model in a scope
    ``G``: ``(𝓛, [x[0], x[1], x[2]])``."""
    w = Value(0.7, label="w")
    rng = random.Random(0)
    samples = [(Value(rng.uniform(-1, 1), label=f"x[{p}]"), rng.uniform(-1, 1)) for p in range(3)]
    costs, observed = [], []
    for p, (x, y) in enumerate(samples):
        with engine.scope("G"):
            y_bar = (w * x).tanh()
        y_bar.label = f"ȳ[{p}]"
        costs.append(nn.losses.mse(y_bar, y))
        observed.append(x)
    average = nn.losses.mean(costs)
    average.label = "𝓛"
    return average, observed


def average_loss():
    """The lecture's average loss over P = 3 samples, bottom to top."""
    average, observed = average_loss_graph()
    return engine.draw(average, view="blocks", observed=observed, collapse="G", rankdir="BT")


GRAPHS = {
    "neuron_values": neuron_values,
    "neuron_blocks": neuron_blocks,
    "backprop_step": backprop_step,
    "traditional_net": traditional_net,
    "average_loss": average_loss,
}


def dot_sources() -> dict[str, str]:
    """The DOT text of every drawing of the gallery, by name."""
    return {name: make().source for name, make in GRAPHS.items()}


def main(out: pathlib.Path = HERE) -> list[pathlib.Path]:
    """Write every picture (and the DOT text of each graph) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in GRAPHS.items():
        drawing = make()
        (out / f"{name}.dot").write_text(drawing.source, encoding="utf-8")
        written.append(engine.save_graph(drawing, out / f"{name}.png", dpi=DPI))
    boundary = decision_boundary_example(str(out / "decision_boundary.png"), dpi=DPI)
    written.append(pathlib.Path(boundary))
    return written


if __name__ == "__main__":
    for path in main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"wrote {path}")
