"""The painter sets every label that lies on an edge (or beside a node) above the
lines, on a halo of the field's colour, clear of its own edge and inside the canvas
(QA 6 items 5 and 10)."""

import random

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex

from tapegrad import engine, nn
from tapegrad.engine import Value, _render
from tapegrad.nn import diagram


def _neuron_cost():
    """Notebook 4's neuron: step 2 highlights s -> tanh, labelled -1.417 × 0.9151."""
    x1, x2 = Value(2.0, label="x1"), Value(-1.0, label="x2")
    w1, w2, b = Value(0.3, label="w1"), Value(0.4, label="w2"), Value(0.1, label="b")
    s = x1 * w1 + x2 * w2 + b
    s.label = "s"
    z = s.tanh()
    z.label = "z"
    c = (z - 1.0) ** 2
    c.label = "c"
    c.backward()
    return c


def _painted(drawing):
    graph = _render.layout(drawing.source)
    with _render.own_style():
        fig = _render.figure(graph)
    return graph, fig


def _edge_texts(graph):
    return {
        op["text"]
        for edge in graph["edges"]
        for key in ("_ldraw_", "_hldraw_", "_tldraw_")
        for op in edge.get(key) or []
        if op["op"] == "T" and op["text"].strip()
    }


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("model", [lambda: nn.Hopfield(4), lambda: nn.BoltzmannMachine(5)])
def test_edge_labels_sit_on_a_halo_of_the_background_above_every_line(model, theme):
    graph, fig = _painted(diagram.draw_model(model(), theme=theme))
    background = to_hex(fig.patch.get_facecolor())
    labels = _edge_texts(graph)
    assert {"w02", "w13"} <= labels
    top_line = max(p.get_zorder() for p in fig.axes[0].patches)
    texts = [t for t in fig.axes[0].texts if t.get_text() in labels]
    assert len(texts) == len(labels)
    for text in texts:
        halo = text.get_bbox_patch()
        assert halo is not None, text.get_text()
        assert to_hex(halo.get_facecolor()) == background
        assert text.get_zorder() > top_line


def test_a_label_beside_its_highlighted_edge_does_not_touch_it():
    graph, fig = _painted(engine.draw(_neuron_cost(), step=2))
    label = "-1.417 × 0.9151 = -1.297"
    (edge,) = [e for e in graph["edges"] if e.get("label") == label]
    (spline,) = [op for op in edge["_draw_"] if op["op"] in ("B", "b")]
    shaft_x = max(x for x, _ in spline["points"])
    half_width = float(edge["penwidth"]) / 2
    (text,) = [t for t in fig.axes[0].texts if t.get_text() == label]
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    (left, _), _ = ax.transData.inverted().transform(text.get_window_extent(renderer).get_points())
    assert left - _render._HALO_PAD > shaft_x + half_width


def test_transparent_labels_get_no_halo():
    """A step's other edges keep their labels' room with transparent text: a halo
    there would blank out the line under it."""
    _, fig = _painted(engine.draw(_neuron_cost(), step=2))
    hidden = [t for t in fig.axes[0].texts if t.get_color() == "none"]
    assert hidden
    assert all(t.get_bbox_patch() is None for t in hidden)


@pytest.mark.parametrize(
    "make",
    [
        lambda: engine.draw(_neuron_cost(), step=2),
        lambda: diagram.draw_model(nn.Hopfield(4)),
        lambda: _mlp_step(3),
    ],
)
def test_every_text_and_its_halo_lies_inside_the_canvas(make):
    _, fig = _painted(make())
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    to_data = ax.transData.inverted()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for text in ax.texts:
        (a, b), (c, d) = to_data.transform(text.get_window_extent(renderer).get_points())
        room = _render._HALO_PAD if text.get_bbox_patch() is not None else 0.0
        assert a - room >= x0 + 1 and c + room <= x1 - 1, text.get_text()
        assert b - room >= y0 + 1 and d + room <= y1 - 1, text.get_text()


def _mlp_step(k):
    random.seed(0)
    m = nn.MLP(2, [4, 4, 1])
    loss = nn.losses.mse(m([0.5, -1.0]), 1.0)
    loss.backward()
    return engine.draw(loss, step=k)


def _neuron_derivative_network():
    random.seed(0)
    n = nn.Neuron(2, activation="relu")
    loss = nn.losses.mse(n([0.5, -1.0]), 1.0)
    loss.backward()
    return engine.draw(loss, params=n, derivative=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: engine.draw(_neuron_cost(), step=2),
        _neuron_derivative_network,  # × 1 on slanting edges out of ∂ Σ b
    ],
)
def test_no_label_sits_on_its_own_edge(make):
    """(A label Graphviz writes into a flat edge between two units of one rank, as
    the energy models' ``y0 — w01 — y1``, stays there on its halo: it reads inline.)"""
    graph, fig = _painted(make())
    ax = fig.axes[0]
    renderer = FigureCanvasAgg(fig).get_renderer()
    to_data = ax.transData.inverted()
    boxes = {}
    for text in ax.texts:
        if text.get_bbox_patch() is not None:
            boxes.setdefault(text.get_text(), []).append(
                to_data.transform(text.get_window_extent(renderer).get_points())
            )
    checked = 0
    for edge in graph["edges"]:
        texts = [
            op["text"]
            for key in ("_ldraw_", "_tldraw_", "_hldraw_")
            for op in edge.get(key) or []
            if op["op"] == "T" and op["text"] in boxes
        ]
        line = [
            p
            for op in edge.get("_draw_") or []
            if op["op"] in ("B", "b")
            for p in _render._bezier_samples(op["points"], per_segment=64)
        ]
        for label in texts:
            # the box nearest the edge is this edge's (labels may repeat: × 1)
            (a, b), (c, d) = min(
                boxes[label],
                key=lambda box: min(
                    abs(px - (box[0][0] + box[1][0]) / 2) + abs(py - (box[0][1] + box[1][1]) / 2)
                    for px, py in line
                ),
            )
            pad = _render._HALO_PAD  # nor under its halo: the line would show a notch
            inside = [
                (px, py) for px, py in line if a - pad < px < c + pad and b - pad < py < d + pad
            ]
            assert not inside, (label, inside[:3])
            checked += 1
    assert checked
