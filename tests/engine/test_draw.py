"""Drawing graphs: structure of the DOT text per view, scopes and collapse, backprop
steps, the derivative network, and real images through the pip-only ``dot``."""

import io
import math
import os
import re
import subprocess
import sys
import textwrap
from xml.etree import ElementTree

import graphviz
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tapegrad import engine
from tapegrad.engine import Value, _dot, _fonts, _render, drawing
from tapegrad.engine.strategies import expressions

# -- reading DOT text back ----------------------------------------------------------

_NODE = re.compile(r"^\t+(\w+) \[(.*)\]$", re.M)
_EDGE = re.compile(r"^\t+(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)')


def _attrs(text):
    return {k: v[1:-1] if v.startswith('"') else v for k, v in _ATTR.findall(text or "")}


def nodes(g):
    """DOT node id -> attributes (default-attribute lines and a folded drawing's
    invisible points, ``_guide<k>`` and ``_fill<k>_<r>``, excluded)."""
    return {
        m.group(1): _attrs(m.group(2))
        for m in _NODE.finditer(g.source)
        if m.group(1) not in ("node", "edge", "graph") and not m.group(1).startswith("_")
    }


def edges(g):
    return [(m.group(1), m.group(2), _attrs(m.group(3))) for m in _EDGE.finditer(g.source)]


def neuron():
    """micrograd's neuron: z = tanh(x1*w1 + x2*w2 + b), labelled."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    z = (x1 * w1 + x2 * w2 + b).tanh()
    z.label = "z"
    return z, (x1, x2, w1, w2, b)


# -- the values view ------------------------------------------------------------------


def test_values_view_has_one_record_per_value_and_one_op_node_per_op():
    z, _ = neuron()
    z.backward()
    g = engine.draw(z, rankdir="LR", wrap=False)  # (by default a slide's direction: top to bottom)
    assert isinstance(g, graphviz.Digraph)
    n = nodes(g)
    records = {k: a for k, a in n.items() if a.get("shape") == "record"}
    ops = {k: a for k, a in n.items() if k.startswith("f")}
    order = engine.topological_order(z)
    # the unlabelled partial sum x1*w1 + x2*w2 is folded into one Σ, as in every view
    assert len(order) == 10 and len(records) == 9
    assert len(ops) == 4
    assert sorted(a["label"] for a in ops.values()) == ["*", "*", "tanh", "Σ"]
    # each op: one edge per input into the op node, one edge out to its record
    assert len(edges(g)) == sum(len(v.parents) for v in order) - 1 + 4
    assert records["n0"]["label"] == "{ x1 | data 2.0000 | grad -1.5000 }"
    assert records["n9"]["label"] == "{ z | data 0.7071 | grad 1.0000 }"
    assert "rankdir=LR" in g.source


def test_unlabelled_values_are_named_by_their_tape_index():
    x = Value(3.0, label="x")
    y = x * x + 1
    names = [e.name for e in engine.tape(y)]
    labels = [a["label"].split("|")[0].strip("{ ") for a in nodes(engine.draw(y)).values()]
    assert [lab for lab in labels if lab.startswith(("x", "v"))] == names


@pytest.mark.parametrize(
    "build, label",
    [
        (lambda x: x * 2, "* 2"),
        (lambda x: 2 * x, "2 *"),
        (lambda x: x + 0.5, "+ 0.5"),
        (lambda x: x**2, "**2"),
        (lambda x: 2**x, "2**"),
        (lambda x: x - 1, "− 1"),
        (lambda x: x.sigmoid(), "σ"),
    ],
)
def test_constants_are_written_into_the_op_not_drawn_as_values(build, label):
    x = Value(1.5, label="x")
    g = engine.draw(build(x))
    n = nodes(g)
    assert [a["label"] for k, a in n.items() if k.startswith("f")] == [label]
    assert sum(a.get("shape") == "record" for a in n.values()) == 2


def test_a_value_used_twice_has_two_edges_into_its_op():
    x = Value(3.0, label="x")
    g = engine.draw(x * x)
    assert [(s, d) for s, d, _ in edges(g)] == [("n0", "f1"), ("n0", "f1"), ("f1", "n1")]


def test_same_graph_gives_byte_identical_dot_and_no_ids():
    first = engine.draw(neuron()[0], view="blocks", observed=["x1", "x2"]).source
    second = engine.draw(neuron()[0], view="blocks", observed=["x1", "x2"]).source
    assert first == second
    z = neuron()[0]
    assert str(id(z)) not in engine.draw(z).source


def test_labels_with_dot_syntax_are_escaped_and_render():
    x = Value(1.0, label='a{b}|<c> "q" \\ d')
    y = x.exp()
    y.label = "<b>html?</b>"
    g = engine.draw(y)
    # shown literally (never an HTML label) and laid out: the layout has its text
    laid_out = _render.layout(g.source)
    texts = [
        op["text"] for o in laid_out["objects"] for op in o.get("_ldraw_", []) if op["op"] == "T"
    ]
    assert "<b>html?</b>" in texts and any(t.startswith('a{b}|<c> "q" \\') for t in texts)
    svg = g.pipe(format="svg", encoding="utf-8", quiet=True)
    ElementTree.fromstring(svg)  # well-formed
    blocks = engine.draw(y, view="blocks")
    assert len(_render.layout(blocks.source)["objects"]) == 3  # x, exp, its result


def test_non_finite_numbers_are_printed_not_crashed_on():
    x = Value(0.0, label="x")
    y = x.log()
    assert "data -inf" in engine.draw(y).source


@pytest.mark.parametrize("constant, label", [(math.inf, "* inf"), (math.nan, "* nan")])
def test_a_non_finite_constant_is_written_into_its_op(constant, label):
    # x / 0 multiplies by the constant inf; it has no int form to print.
    y = Value(1.0, label="x") * constant
    assert [a["label"] for k, a in nodes(engine.draw(y)).items() if k.startswith("f")] == [label]


# -- the blocks view ------------------------------------------------------------------


def _by_fill(g, colour):
    return [k for k, a in nodes(g).items() if a.get("fillcolor") == colour]


def test_blocks_view_uses_the_course_notation():
    z, _ = neuron()
    g = engine.draw(z, view="blocks", observed=["x1", "x2"], wrap=False)
    n = nodes(g)
    observed = [k for k, a in n.items() if a.get("fillcolor") == "#dddddd"]
    assert sorted(n[k]["label"] for k in observed) == ["x1", "x2"]
    for k in observed:
        assert n[k]["shape"] == "circle" and n[k]["color"] == "#000000" and n[k]["penwidth"] == "3"
    computed = [k for k, a in n.items() if a.get("color") == "#9999ff"]
    assert len(computed) == 4 and all(n[k]["shape"] == "circle" for k in computed)
    functions = [k for k, a in n.items() if a.get("class") == "tg-function"]
    # the sum b + x1*w1 + x2*w2 is one block, and the neuron's tanh is a function
    # followed by its computed variable z -- not a cost
    assert sorted(n[k]["label"] for k in functions) == ["* w1", "* w2", "tanh", "Σ b"]
    assert all(n[k]["color"] == "#6666ff" and n[k]["shape"] == "box" for k in functions)
    assert not [k for k, a in n.items() if a.get("color") == "#ff3333"]
    assert n["n9"]["label"] == "z" and n["n9"]["shape"] == "circle"
    # parameters are implicit: no node for w1, w2, b
    labels = {a.get("label") for a in n.values()}
    assert not labels & {"w1", "w2", "b"}
    for _, _, attrs in edges(g):
        assert attrs["color"] == "#000000" and attrs["penwidth"] == "2.5"


def test_blocks_view_params_argument_accepts_values_or_a_module():
    z, (x1, x2, w1, w2, b) = neuron()

    class Model:
        def parameters(self):
            return [w1, w2, b]

    by_observed = engine.draw(z, view="blocks", observed=[x1, x2]).source
    assert engine.draw(z, view="blocks", params=[w1, w2, b]).source == by_observed
    assert engine.draw(z, view="blocks", params=Model()).source == by_observed


def test_show_params_brings_parameters_in_as_dashed_side_inputs():
    z, _ = neuron()
    g = engine.draw(z, view="blocks", observed=["x1", "x2"], show_params=True)
    n = nodes(g)
    params = [k for k, a in n.items() if a.get("style") == "dashed"]
    assert sorted(n[k]["label"] for k in params) == ["b", "w1", "w2"]
    dashed_edges = [e for e in edges(g) if e[2].get("style") == "dashed"]
    assert sorted(s for s, _, _ in dashed_edges) == sorted(params)


def test_without_observed_or_params_every_leaf_is_observed():
    z, _ = neuron()
    g = engine.draw(z, view="blocks")
    assert len(_by_fill(g, "#dddddd")) == 5


def test_costs_argument_chooses_the_cost_squares():
    z, _ = neuron()
    g = engine.draw(z, view="blocks", costs=[])
    assert not [a for a in nodes(g).values() if a.get("color") == "#ff3333"]
    assert nodes(g)["n9"]["shape"] == "circle"


@pytest.mark.parametrize("rankdir", ["LR", "RL", "TB", "BT"])
def test_function_blocks_are_painted_as_a_d_facing_the_flow_with_arrows_touching(rankdir):
    z, _ = neuron()
    g = engine.draw(z, view="blocks", rankdir=rankdir, show_params=True, derivative=True)
    assert f"rankdir={rankdir}" in g.source
    assert sum(a.get("class") == "tg-function" for a in nodes(g).values()) == 4
    laid_out = _render.layout(g.source)
    objects = {o["_gvid"]: o for o in laid_out["objects"] if "pos" in o}
    shapes = {
        i: _render._d_shape(o, rankdir)
        for i, o in objects.items()
        if _render.D_CLASS in o.get("class", "")
    }
    assert len(shapes) == 8  # 4 functions and their 4 mirrored derivative modules
    flow = {"LR": (1, 0), "RL": (-1, 0), "TB": (0, -1), "BT": (0, 1)}[rankdir]
    for i, shape in shapes.items():
        reverse = _render.REVERSE_CLASS in objects[i]["class"]
        direction = tuple(-d for d in flow) if reverse else flow
        assert (shape.dx, shape.dy) == direction
        # flat on the input side: both corners there are inside; round downstream:
        # both corners there are outside
        a, b = shape.along / 2, shape.across / 2
        assert shape.contains(*shape._to_xy(-a, -b)) and shape.contains(*shape._to_xy(-a, b))
        assert not shape.contains(*shape._to_xy(a, b), slack=0)
        assert not shape.contains(*shape._to_xy(a, -b), slack=0)
        # the label fits between the flat side and the round one
        assert shape.cap > 3
    from matplotlib.figure import Figure

    painter = _render._Painter(Figure().add_subplot(), 1.0, "#ffffff")
    touching = 0
    for edge in laid_out["edges"]:
        for key, end in (("_hdraw_", edge["head"]), ("_tdraw_", edge["tail"])):
            if edge.get(key) and end in shapes:
                ops = _render._arrow_to_d(edge, key, shapes[end], painter, _render._Pen())
                points = next(op["points"] for op in ops if op["op"] in ("P", "p"))
                shape = shapes[end]
                tip = min(points, key=lambda p: math.hypot(p[0] - shape.cx, p[1] - shape.cy))
                assert shape.contains(*tip, slack=1.5), (rankdir, edge["tail"], edge["head"])
                touching += 1
    assert touching >= 8


def test_dark_theme_colours():
    z, _ = neuron()
    g = engine.draw(z, view="blocks", theme="dark", observed=["x1", "x2"], wrap=False)
    n = nodes(g)
    assert 'bgcolor="#000000"' in g.source
    assert n["n0"]["fillcolor"] == "#282828" and n["n0"]["color"] == "#fccde5"
    assert n["n9"]["color"] == "#fdb462" and n["n9"]["style"] == "solid"  # z: orange
    assert all(e[2]["color"] == "#f0f0f0" for e in edges(g))


# -- scopes and collapse --------------------------------------------------------------


def two_layer_net():
    """Two 'layers' of two 'neurons' each, tagged with scopes by hand as nn does."""
    x = [Value(0.5, label="x0"), Value(-1.0, label="x1")]
    weights = [[Value(0.1 * (i + j + 1), label=f"w{j}") for j in range(2)] for i in range(4)]
    params = [w for row in weights for w in row]
    h = x
    with engine.scope("net"):
        for layer in range(2):
            with engine.scope(f"layers.{layer}"):
                outs = []
                for k in range(2):
                    with engine.scope(f"neurons.{k}"):
                        w = weights[2 * layer + k]
                        outs.append((w[0] * h[0] + w[1] * h[1]).tanh())
                h = outs
    loss = (h[0] - h[1]) ** 2
    loss.label = "C"
    return loss, x, params


def _cluster_labels(g):
    return re.findall(r"subgraph (cluster_\d+) \{\n\t+(?:.*?)label=\"?([\w.]+)\"?", g.source)


def test_scopes_become_nested_clusters_labelled_with_their_names():
    loss, _, params = two_layer_net()
    g = engine.draw(loss, view="blocks", params=params, wrap=False)
    labels = [label for _, label in _cluster_labels(g)]
    assert labels == [
        "net",
        "layers.0",
        "neurons.0",
        "neurons.1",
        "layers.1",
        "neurons.0",
        "neurons.1",
    ]


@pytest.mark.parametrize("collapse", [1, "layers", "layer", ["net.layers.0", "net.layers.1"]])
def test_collapse_draws_each_layer_as_one_function_block(collapse):
    loss, x, params = two_layer_net()
    index = {v: i for i, v in enumerate(engine.topological_order(loss))}
    g = engine.draw(loss, view="blocks", params=params, collapse=collapse, wrap=False)
    n = nodes(g)
    blocks = {k: a for k, a in n.items() if k.startswith("m")}
    assert [a["label"] for a in blocks.values()] == [
        "layers.0\\n4 parameters",
        "layers.1\\n4 parameters",
    ]
    assert all(a["class"] == "tg-function" for a in blocks.values())
    e = {(s, d) for s, d, _ in edges(g)}
    # inputs into layer 0, its two outputs one vector z1 of 2 into layer 1 (one
    # arrow, as the lecture draws a layer's output), layer 1's two outputs one
    # vector z2 too (read by a sum that is no cost: not the prediction ȳ)
    assert (f"n{index[x[0]]}", "m0") in e and (f"n{index[x[1]]}", "m0") in e
    assert ("m0", "vm0") in e and ("vm0", "m1") in e and n["vm0"]["label"] == "z1\\n2"
    assert sum(s == "m0" for s, _ in e) == 1 and sum(d == "m1" for _, d in e) == 1
    assert [d for s, d in e if s == "m1"] == ["vm1"] and n["vm1"]["label"] == "z2\\n2"
    assert [label for _, label in _cluster_labels(g)] == ["net"]


def test_collapse_neurons_keeps_layer_clusters():
    loss, _, params = two_layer_net()
    g = engine.draw(loss, view="blocks", params=params, collapse="neurons")
    blocks = [a["label"] for k, a in nodes(g).items() if k.startswith("m")]
    assert blocks == ["neurons.0\\n2 parameters", "neurons.1\\n2 parameters"] * 2
    assert [label for _, label in _cluster_labels(g)] == ["net", "layers.0", "layers.1"]


def test_collapse_true_collapses_outermost_scopes_and_values_view_works_too():
    loss, _, params = two_layer_net()
    g = engine.draw(loss, collapse=True, params=params, show_params=False)
    blocks = [a["label"] for k, a in nodes(g).items() if k.startswith("m")]
    assert blocks == ["net\\n8 parameters"]
    # depth 0 is the same as True, not "no collapse"
    assert engine.draw(loss, collapse=0, params=params, show_params=False).source == g.source


def test_collapse_rejects_bad_selectors():
    loss, _, _ = two_layer_net()
    with pytest.raises(ValueError, match="collapse depth"):
        engine.draw(loss, collapse=-1)
    with pytest.raises(TypeError, match="collapse must be"):
        engine.draw(loss, collapse=1.5)


def test_too_large_graphs_are_refused_with_the_count_and_a_suggestion():
    x = Value(1.0, label="x")
    y = x
    for _ in range(1500):
        y = y * 1.0001
    with pytest.raises(engine.GraphTooLargeError, match=r"1501 values.*collapse="):
        engine.draw(y)
    assert len(nodes(engine.draw(y, max_nodes=None))) == 3001
    for _ in range(1000):
        y = y + x
    # refused from the count of ops alone, before anything is built
    with pytest.raises(engine.GraphTooLargeError, match="has 2500 ops"):
        engine.draw(y)
    with pytest.raises(engine.GraphTooLargeError, match="max_nodes=10"):
        engine.draw(x * 2 + 3 * x + x.exp() * x, max_nodes=10, view="values")


def test_per_sample_costs_inside_modules_are_cost_squares_feeding_the_average():
    """The lecture's average-loss figure: L = (C(y0, G(x0)) + C(y1, G(x1))) / 2."""
    w = Value(0.3, label="w")
    costs, observed = [], []
    for p in range(2):
        x, y = Value(0.5 + p, label=f"x[{p}]"), Value(-1.0 + p, label=f"y[{p}]")
        observed += [x, y]
        with engine.scope("G"):
            y_bar = (w * x).tanh()
        with engine.scope("C"):
            cost = (y_bar - y) ** 2
        costs.append(cost)
    average = (costs[0] + costs[1]) * 0.5
    average.label = "L"
    average.backward()
    options = dict(view="blocks", observed=observed, collapse=True, costs=[*costs, average])
    g = engine.draw(average, **options)
    n = nodes(g)
    squares = [a["label"] for a in n.values() if a.get("color") == "#ff3333"]
    assert squares == ["C", "C", "L\\n1/2 Σ"]  # the 1/P is shown, not hidden in a chain
    cost_ids = [k for k, a in n.items() if a.get("label") == "C"]
    # a cost's output is implicit: what gathers the per-sample costs into the
    # average is joined to them by dashed lines without a head, never an arrow
    for k in cost_ids:
        out = [a for s, _, a in edges(g) if s == k]
        assert out and all(a["style"] == "dashed" and a["arrowhead"] == "none" for a in out)
    root_id = next(k for k, a in n.items() if a.get("label", "").startswith("L"))
    assert not [e for e in edges(g) if e[0] == root_id]
    # the derivative network reaches every gradient node from the seed
    d = engine.draw(average, derivative=True, **options)
    back = {}
    for s, t, a in edges(d):
        if a.get("dir") == "back":
            back.setdefault(t, []).append(s)  # gradient flows from t to s
    reached, todo = set(), ["seed"]
    while todo:
        for nxt in back.get(todo.pop(), []):
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    gradient_nodes = {k for k in nodes(d) if k.startswith("d")}
    assert gradient_nodes and gradient_nodes <= reached
    # edges out of a collapsed module carry no single local derivative
    into_modules = [a for s, t, a in edges(d) if t.startswith("bm") and a.get("dir") == "back"]
    assert into_modules and not [a for a in into_modules if "label" in a]


# -- backprop step by step ------------------------------------------------------------


def test_step_highlights_the_edge_with_upstream_times_local():
    z, _ = neuron()
    g = engine.draw(z, step=0)
    highlighted = [e for e in edges(g) if e[2].get("color") == "#ff7f00"]
    assert len(highlighted) == 1
    src, dst, attrs = highlighted[0]
    assert (src, dst) == ("n8", "f9")
    assert attrs["label"] == "1 × 0.5 = 0.5"
    assert nodes(g)["f9"]["color"] == "#ff7f00"


def test_step_shows_gradients_as_they_are_then_and_marks_finished_nodes():
    z, _ = neuron()
    steps = list(z.backward_steps())
    for k, step in enumerate(steps):
        g = engine.draw(z, step=k)
        n = nodes(g)
        i = engine.topological_order(z).index(step.parent)
        if f"n{i}" in n:  # (the partial sum x1*w1 + x2*w2 is inside the Σ)
            assert f"grad {step.parent_grad:.4f}" in n[f"n{i}"]["label"]
    last = engine.draw(z, step=len(steps) - 1)
    finished = [k for k, a in nodes(last).items() if a.get("fillcolor") == "#e5f5e0"]
    assert len(finished) == 9  # every drawn gradient is final after the last step
    first = engine.draw(z, step=0)
    finished = [k for k, a in nodes(first).items() if a.get("fillcolor") == "#e5f5e0"]
    # the seeded root, and tanh's input, whose only contribution has just arrived
    assert finished == ["n8", "n9"]


@settings(max_examples=25)
@given(expressions(), st.data())
def test_drawing_a_step_never_changes_any_grad(expr, data):
    root = expr(*expr.inputs)
    order = engine.topological_order(root)
    total = sum(len(v.parents) for v in order)
    if total == 0:
        return
    for i, v in enumerate(order):
        v.grad = float(i)
    before = [v.grad for v in order]
    k = data.draw(st.integers(0, total - 1))
    engine.draw(root, step=k, view=data.draw(st.sampled_from(["values", "blocks"])))
    assert [v.grad for v in order] == before


def test_step_arguments_are_checked():
    z, _ = neuron()
    with pytest.raises(ValueError, match="between 0 and 8"):
        engine.draw(z, step=9)
    with pytest.raises(TypeError, match="step must be an int"):
        engine.draw(z, step=True)
    with pytest.raises(ValueError, match="single root"):
        engine.draw([z, z * 2], step=0)


def test_step_inside_a_collapsed_block_highlights_the_block():
    loss, _, params = two_layer_net()
    inside = [
        step.index
        for step in loss.backward_steps()
        if not step.parent.is_leaf
        and step.parent.scope is not None
        and step.parent.scope.path.startswith("net.layers.0")
        and step.node.scope.path.startswith("net.layers.0")
    ]
    g = engine.draw(loss, view="blocks", params=params, collapse="layers", step=inside[0])
    block = nodes(g)["m0"]
    assert block["color"] == "#ff7f00"
    assert re.fullmatch(r"\S+ × \S+ = \S+", block["xlabel"])  # no hidden value named
    assert not [e for e in edges(g) if e[2].get("color") == "#ff7f00"]


# -- the derivative network -----------------------------------------------------------


def test_derivative_network_mirrors_the_graph_seeded_with_one():
    z, _ = neuron()
    z.backward()
    g = engine.draw(z, view="blocks", observed=["x1", "x2"], derivative=True, wrap=False)
    n = nodes(g)
    gradients = [k for k in n if k.startswith("dn")]
    variables = [k for k, a in n.items() if a.get("shape") == "circle"]
    # every variable's gradient but the observed inputs' (x1, x2: data, nothing learns it)
    assert sorted(gradients) == sorted("d" + v for v in variables if v not in ("n0", "n3"))
    assert len([k for k in n if k.startswith("dp")]) == 3  # dz/dw1, dz/dw2, dz/db
    modules = [k for k in n if k.startswith("b")]
    assert len(modules) == 4  # * w1, * w2, Σ b, tanh
    assert all("tg-reverse" in n[k]["class"] for k in modules)  # round side upstream
    assert n["seed"]["label"] == "1"
    back = [e for e in edges(g) if e[2].get("dir") == "back"]
    assert ("dn9", "seed") in [(s, d) for s, d, _ in back]
    assert n["dp1"]["label"] == "dz/dw1\\n1.0000"  # dz/dv2 · x1 = 0.5 · 2
    # one backward edge per forward edge but the inputs', one per parameter, the seed
    drawn = [e for e in edges(g) if e[2].get("style") != "invis"]
    assert len(back) == len(drawn) - len(back) - 2 + 3 + 1
    # the invisible edges that keep the network in the forward order join only its own
    ordering = [(s, d) for s, d, a in edges(g) if a.get("style") == "invis"]
    assert ordering and all(s[0] in "bd" and d[0] in "bd" for s, d in ordering)


def test_derivative_network_in_values_view_and_with_a_step():
    z, _ = neuron()
    g = engine.draw(z, derivative=True, step=0)
    back = [e for e in edges(g) if e[2].get("dir") == "back"]
    assert [(s, d) for s, d, a in back if a.get("color") == "#ff7f00"] == [("dn8", "bf9")]


# -- argument checking ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"view": "graph"}, ValueError, "view must be one of"),
        ({"rankdir": "LEFT"}, ValueError, "rankdir must be one of"),
        ({"theme": "blue"}, ValueError, "theme must be one of"),
        ({"observed": ["nope"]}, ValueError, "no Value labelled 'nope'"),
        ({"observed": [1.0]}, TypeError, "must hold Values or labels"),
        ({"max_nodes": 1.5}, TypeError, "max_nodes"),
        ({"derivative": 1}, TypeError, "derivative must be True, False or 'all'"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, error, message):
    z, _ = neuron()
    with pytest.raises(error, match=message):
        engine.draw(z, **kwargs)


@pytest.mark.parametrize("root", [1.0, "x", [], [1.0]])
def test_draw_refuses_what_is_not_a_value(root):
    with pytest.raises((TypeError, ValueError)):
        engine.draw(root)


def test_several_roots_are_drawn_together():
    x = Value(1.0, label="x")
    a, b = x * 2, x + 1
    g = engine.draw([a, b])
    assert sum(k.startswith("n") for k in nodes(g)) == 3


# -- images ---------------------------------------------------------------------------


def test_save_graph_writes_dot_text_without_any_binary(tmp_path, monkeypatch):
    monkeypatch.setattr(_dot, "find_dot", lambda: None)
    z, _ = neuron()
    for name in ("g.dot", "g.gv"):
        path = engine.save_graph(z, tmp_path / name, view="blocks")
        assert path.read_text(encoding="utf-8") == engine.draw(z, view="blocks").source
    with pytest.raises(engine.DotNotFoundError, match="pip install graphviz-pure"):
        engine.save_graph(z, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_save_graph_writes_real_svg_png_jpeg_and_pdf(tmp_path):
    z, _ = neuron()
    z.backward()
    svg = engine.save_graph(z, tmp_path / "neuron.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and svg.rstrip().endswith("</svg>")
    assert svg.count("<path") > 20  # shapes, arrows and text as outlines
    # same drawing, same bytes: no date or random id in the file
    assert engine.save_graph(z, tmp_path / "again.svg").read_text(encoding="utf-8") == svg
    root = ElementTree.fromstring(svg.encode("utf-8"))  # well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    png = engine.save_graph(z, tmp_path / "neuron.png", view="blocks").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(png)) as image:  # decodes, and is a picture, not a dot
        image.load()
        assert image.size[0] > 400 and image.size[1] > 80
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 10
    jpeg = engine.save_graph(z, tmp_path / "neuron.jpg").read_bytes()
    assert jpeg[:3] == b"\xff\xd8\xff"
    pdf = engine.save_graph(engine.draw(z, theme="dark"), tmp_path / "neuron.pdf").read_bytes()
    assert pdf[:5] == b"%PDF-"
    # a vector PDF with pip alone: drawn with path operators, no raster image inside
    assert b"/Subtype /Image" not in pdf


@pytest.mark.parametrize("dpi", [72, 300])
def test_dpi_and_scale_size_raster_images_for_slides(tmp_path, dpi):
    z, _ = neuron()
    base = engine.save_graph(z, tmp_path / "a.png", view="blocks", dpi=100)
    with Image.open(base) as a:
        w100, h100 = a.size
    other = engine.save_graph(z, tmp_path / "b.png", view="blocks", dpi=dpi)
    with Image.open(other) as b:
        assert abs(b.size[0] - w100 * dpi / 100) <= 2 and abs(b.size[1] - h100 * dpi / 100) <= 2
    big = engine.save_graph(z, tmp_path / "c.png", view="blocks", dpi=100, scale=2)
    with Image.open(big) as c:
        assert abs(c.size[0] - 2 * w100) <= 2
    for bad, error in (
        (0, ValueError),
        (-1, ValueError),
        ("150", TypeError),
        (math.nan, ValueError),
    ):
        with pytest.raises(error, match="dpi"):
            engine.save_graph(z, tmp_path / "d.png", dpi=bad)
        with pytest.raises(error, match="scale"):
            engine.save_graph(z, tmp_path / "d.png", scale=bad)


def test_save_graph_checks_its_arguments(tmp_path):
    z, _ = neuron()
    with pytest.raises(ValueError, match=r"\.svg, \.png"):
        engine.save_graph(z, tmp_path / "g.bmp")
    with pytest.raises(TypeError, match="path must be"):
        engine.save_graph(z, 42)
    with pytest.raises(TypeError, match="drawing options go with a Value"):
        engine.save_graph(engine.draw(z), tmp_path / "g.svg", view="blocks")


def test_inline_display_is_svg():
    z, _ = neuron()
    bundle = engine.draw(z)._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith(("<?xml", "<svg"))


def test_graphviz_pure_is_found_next_to_the_interpreter_when_not_on_path(monkeypatch):
    monkeypatch.setattr(_dot.shutil, "which", lambda name: None)
    found = _dot.find_dot()
    assert found is not None and found[1] == "graphviz-pure"
    assert os.path.basename(found[0]).startswith("graphviz-pure")


def test_a_system_dot_is_preferred(monkeypatch):
    monkeypatch.setattr(_dot.shutil, "which", lambda name: "/opt/gv/dot" if name == "dot" else None)
    assert _dot.find_dot() == ("/opt/gv/dot", "system")


def test_a_dot_the_user_configured_is_kept(monkeypatch):
    from graphviz.backend import dot_command

    monkeypatch.setattr(dot_command, "DOT_BINARY", "/custom/dot")
    assert _dot.find_dot() == ("/custom/dot", "configured")


def test_images_work_from_an_environment_that_is_not_activated(tmp_path):
    """The venv's bin directory is not on PATH, as when a kernel or script runs
    .venv/bin/python directly: the wheel's binary is still found."""
    script = textwrap.dedent(
        f"""
        from tapegrad import engine
        x = engine.Value(2.0, label="x")
        y = (x * x).tanh()
        y.backward()
        engine.save_graph(y, {str(tmp_path / "out.png")!r})
        svg = engine.draw(y).pipe(format="svg", encoding="utf-8", quiet=True)
        assert "<svg" in svg
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PATH")}
    env["PATH"] = "/usr/bin:/bin"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


# -- step sequences for notebooks -----------------------------------------------------


def test_draw_steps_is_a_static_sequence_outside_a_kernel():
    z, _ = neuron()
    steps = engine.draw_steps(z, view="blocks", observed=["x1", "x2"])
    assert len(steps) == 9
    assert isinstance(steps[3], graphviz.Digraph)
    assert steps[-1].source == engine.draw(z, view="blocks", observed=["x1", "x2"], step=8).source
    bundle = steps._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" not in bundle
    html = bundle["text/html"]
    assert html.count("<svg") == 9 and "step 8 (0–8)" in html and "<?xml" not in html
    few = engine.draw_steps(z, max_static=2)._repr_html_()
    assert few.count("<svg") == 2 and "7 more steps" in few


def test_draw_steps_slider_redraws_on_change():
    z, _ = neuron()
    steps = engine.draw_steps(z)
    box = steps.widget()
    slider, caption, picture = box.children
    assert slider.max == 8 and "step 0 (0–8)" in caption.value
    first = picture.value
    slider.value = 5
    assert "step 5 (0–8)" in caption.value and picture.value != first
    for widget in (*box.children, box):  # ipywidgets keeps open widgets in a registry
        widget.close()


def test_draw_steps_arguments_are_checked():
    with pytest.raises(ValueError, match="leaf"):
        engine.draw_steps(Value(1.0))
    z, _ = neuron()
    with pytest.raises(TypeError, match="draw_steps draws every step"):
        engine.draw_steps(z, step=1)
    with pytest.raises(ValueError, match="view must be"):
        engine.draw_steps(z, view="nope")


def test_drawing_module_keeps_graphviz_out_of_the_core():
    code = "import sys, engine; engine.Value(1.0) * 2; assert 'graphviz' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert drawing.DEFAULT_MAX_NODES >= 1000


def test_a_collapse_name_that_matches_nothing_is_an_error():
    x = engine.Value(1.0, label="x")
    with engine.scope("MLP"), engine.scope("layers.0"):
        y = (x * 2.0).tanh()
    with pytest.raises(ValueError, match=r"matches no scope.*MLP\.layers\.0"):
        engine.draw(y, collapse="layres")
    with pytest.raises(ValueError, match="it has no scopes"):
        engine.draw(x * 3.0, collapse=["layers"])
    assert "layers.0" in engine.draw(y, collapse="layers").source


def test_a_drawing_does_not_keep_its_graph_alive():
    import gc
    import weakref

    gc.collect()  # earlier tests' cyclic garbage (a slider's observers) may share the tape
    x = Value(1.0)
    y = (x * 2.0).tanh()
    tape = weakref.ref(y._tape)
    was_enabled = gc.isenabled()
    gc.disable()  # freed by reference counting, without waiting for the collector
    try:
        drawing = engine.draw(y)
        del drawing, y
        assert tape() is None
    finally:
        if was_enabled:
            gc.enable()


# -- every step of one graph is laid out alike ---------------------------------------


def _positions(g):
    laid_out = _render.layout(g.source)
    return {
        o["name"]: tuple(float(v) for v in o["pos"].split(","))
        for o in laid_out["objects"]
        if "pos" in o
    }


@pytest.mark.parametrize(
    "view, options",
    [("values", {}), ("blocks", {"observed": ["x1", "x2"]}), ("blocks", {"derivative": True})],
)
def test_the_steps_of_a_graph_share_one_layout(view, options):
    # A GIF, a multi-page PDF or the slider flips through the steps: nodes must not
    # jump. (Labelling only the current edge moved nodes up to 96 pt between steps,
    # double outlines of finished nodes moved them again.) One step that is drawn as
    # a note beside a folded block may grow the drawing by a line of text.
    z, _ = neuron()
    frames = [_positions(engine.draw(z, view, step=k, **options)) for k in range(9)]
    for frame in frames[1:]:
        assert frame.keys() == frames[0].keys()
        moves = [
            max(abs(a - b) for a, b in zip(frame[n], frames[0][n], strict=True)) for n in frame
        ]
        assert max(moves) <= 8.0


def test_a_step_keeps_the_other_steps_labels_invisible_and_outlines_single():
    z, _ = neuron()
    g = engine.draw(z, "blocks", observed=["x1", "x2"], step=0)
    labelled = [a for _, _, a in edges(g) if "label" in a]
    shown = [a for a in labelled if a.get("fontcolor") != "transparent"]
    assert len(shown) == 1 and len(labelled) > 1  # the step's product, the others reserved
    for attrs in nodes(g).values():
        if attrs.get("peripheries") == "2" and _render.SINGLE_CLASS in attrs.get("class", ""):
            assert attrs.get("tooltip", "").endswith(" 0")  # not finished: painted single
    ops = [
        {"op": "c", "color": "#000000"},
        {"op": "C", "color": "#dddddd"},
        {"op": "E", "rect": [0, 0, 10, 10]},
        {"op": "e", "rect": [0, 0, 14, 14]},
    ]
    painted = _render._outer_outline(ops)
    shapes = [op for op in painted if op["op"] in ("E", "e")]
    assert shapes == [{"op": "E", "rect": [0, 0, 14, 14]}]  # the outer ring, filled


@pytest.mark.parametrize("view", ["values", "blocks"])
def test_labels_are_painted_literally_backslashes_and_dollars_included(view):
    # graphviz-pure hands a DOT "\\" back as two backslashes, and matplotlib reads
    # "$x$" as TeX: both were painted other than the label says
    labels = ["back\\slash", "$x$", "a\\nb", "cost $5"]
    leaves = [Value(float(i + 1), label=text) for i, text in enumerate(labels)]
    out = leaves[0] * leaves[1] * leaves[2] * leaves[3]
    figure = _render.figure(_render.layout(engine.draw(out, view).source))
    painted = [t for t in figure.axes[0].texts if t.get_text().strip()]
    for text in labels:
        assert text in [t.get_text() for t in painted]
    assert not any(t.get_parse_math() for t in painted)


def test_a_step_sequence_shares_one_canvas_with_nodes_in_place(tmp_path):
    # a step of w*w inside a folded block gets a note below it (an xlabel), which
    # grew that frame and moved the whole drawing: every frame now has the first
    # frame's canvas, nodes at the same place on it
    y, yhat, w = Value(1.0, label="y"), Value(0.2, label="yhat"), Value(0.5, label="w")
    out = (y - yhat) ** 2 + 0.1 * w * w
    drawn = [engine.draw(out, "blocks", observed=[y], step=k, wrap=False) for k in range(8)]
    layouts = [_render.layout(g.source) for g in drawn]
    sizes = {tuple(float(v) for v in g["bb"].split(","))[3] for g in layouts}
    assert len(sizes) > 1  # the note does grow a frame
    placed = set()
    for graph in drawing._common_canvas(layouts):
        x0, y0, x1, y1 = (float(v) for v in graph["bb"].split(","))
        where = {
            o["name"]: tuple(round(float(v) - c, 1) for v, c in zip(o["pos"].split(","), (x0, y0)))
            for o in graph["objects"]
            if "pos" in o
        }
        placed.add((round(x1 - x0, 1), round(y1 - y0, 1), tuple(sorted(where.items()))))
    assert len(placed) == 1
    noted = engine.draw(out, "blocks", observed=[y], step=3)
    assert any("xlabel" in a and a.get("fontcolor") == "#ff7f00" for a in nodes(noted).values())
    frames = engine.save_steps(out, tmp_path / "steps.gif", view="blocks", observed=[y])
    with Image.open(frames[0]) as gif:
        assert gif.n_frames == 8


def test_an_edge_label_stays_within_the_room_graphviz_kept_for_it():
    # DejaVu Sans is about 21% wider than the Helvetica Graphviz measures: set at full
    # size, "1 × 0.5 = 0.5" ran into the arrowhead and the block it points at
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    painter = _render._Painter(Figure().add_subplot(), 1.0, "#ffffff")
    ops = [{"op": "F", "size": 11.0, "face": "Helvetica"}]
    text = {"op": "T", "pt": [0, 0], "align": "c", "width": 61.46, "text": "1 × 0.5 = 0.5"}
    factor = painter._shrink([*ops, text], _render._Pen())
    full = painter.measure.get_text_width_height_descent(
        text["text"], FontProperties(family=list(_fonts.BASE), size=11.0), False
    )[0]
    assert full * factor <= 1.05 * 61.46 + 1.0 + 1e-9
    assert factor < 1.0
