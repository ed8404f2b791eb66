"""The blocks view says what the lecture says: costs, subtraction, negation,
division, sums and means as the course writes them; views that do not depend on
``.grad``; line breaks; step sequences; micrograd's own drawing code with pip alone."""

import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from PIL import Image

from tapegrad import engine
from tapegrad.engine import Value

from .test_draw import edges, neuron, nodes


def _functions(g):
    return [a["label"] for a in nodes(g).values() if a.get("class", "").startswith("tg-function")]


def _squares(g):
    return [a["label"] for a in nodes(g).values() if a.get("color") == "#ff3333"]


# -- costs ------------------------------------------------------------------------


def test_a_formula_ends_in_its_function_and_variable_not_in_a_cost():
    x = Value(0.7, label="x")
    y = x * x + x.sin()
    g = engine.draw(y, view="blocks")
    assert not _squares(g)
    assert sorted(_functions(g)) == ["*", "+", "sin"]  # the + is drawn, not hidden


def test_a_loss_from_nn_losses_is_one_red_square_named_after_it():
    from tapegrad.nn import losses

    y_bar = Value(0.2, label="ȳ")
    loss = losses.mse(y_bar, 1.0)
    g = engine.draw(loss, view="blocks", observed=[y_bar])
    assert _squares(g) == ["mse"]
    square = next(k for k, a in nodes(g).items() if a.get("label") == "mse")
    assert not [e for e in edges(g) if e[0] == square]  # no outgoing arrow
    assert [s for s, d, _ in edges(g) if d == square]  # ȳ goes in
    # the ops inside the loss (−, **2) are the square's business
    assert not _functions(g)


def test_a_hand_made_cost_scope_and_costs_argument():
    x = Value(2.0, label="x")
    with engine.cost_scope("C"):
        c = (x - 1.0) ** 2
    assert _squares(engine.draw(c, view="blocks")) == ["C"]
    assert not _squares(engine.draw(c, view="blocks", costs=[]))
    z = x.tanh()
    z.label = "E"
    assert _squares(engine.draw(z, view="blocks", costs=[z])) == ["E\\ntanh"]
    with pytest.raises(TypeError, match="non-empty str"):
        engine.cost_scope("")


def test_a_cost_scope_changes_no_number():
    from tapegrad.nn import losses

    s = Value(0.3)
    assert losses.hinge(s, -1.0).data == pytest.approx(1.3)


# -- subtraction, negation, division ----------------------------------------------


def _legacy_sub(a, b):
    return a + b * -1.0  # how engines without a sub row (micrograd) record a - b


@pytest.mark.parametrize("sub", [lambda a, b: a - b, _legacy_sub], ids=["row", "legacy"])
@pytest.mark.parametrize("view", ["blocks", "values"])
def test_subtraction_is_one_minus_block_with_both_inputs_in_order(sub, view):
    y = Value(1.0, label="y")
    y_bar = Value(0.4, label="ybar")
    c = sub(y, y_bar) ** 2
    g = engine.draw(c, view=view, wrap=False)
    texts = [a["label"] for k, a in nodes(g).items() if k.startswith("f")]
    assert "−" in texts and not any("-1" in t or "* -1" in t for t in texts)
    minus = next(k for k, a in nodes(g).items() if a.get("label") == "−")
    into = [s for s, d, _ in edges(g) if d == minus]
    labels = {k: a["label"] for k, a in nodes(g).items()}
    assert [labels[s].split(" |")[0].strip("{ ") for s in into] == ["y", "ybar"]


@pytest.mark.parametrize(
    "make, text",
    [
        (lambda x: -x, "−"),
        (lambda x: x * -1.0, "−"),
        (lambda x: x - 3.0, "− 3"),
        (lambda x: x + -3.0, "− 3"),
        (lambda x: 3.0 - x, "3 −"),
        (lambda x: x / 2.0, "/ 2"),
        (lambda x: 2.0 / x, "2 /"),
    ],
)
def test_negation_constants_and_division_are_written_as_the_lecture_does(make, text):
    x = Value(1.5, label="x")
    for view in ("blocks", "values"):
        assert [
            a["label"]
            for k, a in nodes(engine.draw(make(x), view=view)).items()
            if k.startswith("f")
        ] == [text]


def test_the_hinge_loss_reads_as_a_subtraction_inside_its_square():
    from tapegrad.nn import losses

    s = Value(0.3, label="s")
    loss = losses.hinge(s, 1.0)
    # inside the square in the values view: no '* -1' anywhere
    g = engine.draw(loss)
    assert "* -1" not in g.source


def test_a_sum_is_one_block_and_a_mean_shows_its_one_over_p():
    xs = [Value(float(i), label=f"x{i}") for i in range(4)]
    total = xs[0] + xs[1] + xs[2] + xs[3]
    assert _functions(engine.draw(total, view="blocks")) == ["Σ"]
    from tapegrad.nn import losses

    mean = losses.mean(xs)
    g = engine.draw(mean, view="blocks")
    assert _functions(g) == ["1/4 Σ"]
    into = [nodes(g)[s]["label"] for s, d, _ in edges(g) if nodes(g)[d].get("label") == "1/4 Σ"]
    assert into == ["x0", "x1", "x2", "x3"]  # inputs in order


# -- views computed from the graph, not from .grad ----------------------------------


def test_derivative_network_and_steps_do_not_depend_on_grad():
    z, leaves = neuron()
    options = dict(view="blocks", observed=["x1", "x2"], derivative="all")
    before = engine.draw(z, **options).source  # no backward yet
    assert "dz/dz\\n1.0000" in before and "dz/dx1\\n-1.5000" in before
    z.backward()
    z.backward()  # leaves now hold twice their gradient
    grads = [v.grad for v in leaves]
    assert engine.draw(z, **options).source == before
    assert engine.draw(z, step=4, **options).source == engine.draw(z, step=4, **options).source
    assert [v.grad for v in leaves] == grads  # drawing wrote nothing


@settings(max_examples=20, deadline=None)
@given(st_seed=__import__("hypothesis").strategies.integers(0, 10))
def test_the_step_view_is_the_same_whatever_grad_holds(st_seed):
    z, leaves = neuron()
    first = engine.draw(z, step=st_seed % 9, derivative=True).source
    for v in leaves:
        v.grad = 123.0 + st_seed
    assert engine.draw(z, step=st_seed % 9, derivative=True).source == first
    assert all(v.grad == 123.0 + st_seed for v in leaves)


# -- line breaks --------------------------------------------------------------------


@pytest.mark.parametrize("view", ["values", "blocks"])
def test_line_breaks_in_labels_survive_in_every_view(view):
    x = Value(1.0, label="first\nsecond")
    y = x.exp()
    laid_out = engine.drawing._render.layout(engine.draw(y, view=view).source)
    texts = [
        op["text"] for o in laid_out["objects"] for op in o.get("_ldraw_", []) if op["op"] == "T"
    ]
    assert "first" in texts and "second" in texts and "firstsecond" not in texts


# -- backprop as a sequence -----------------------------------------------------------


def test_save_steps_writes_numbered_files_a_multi_page_pdf_and_a_gif(tmp_path):
    z, leaves = neuron()
    grads = [v.grad for v in leaves]
    files = engine.save_steps(z, tmp_path / "step.png", view="blocks", dpi=80)
    assert [f.name for f in files] == [f"step_{k:02d}.png" for k in range(9)]
    with Image.open(files[0]) as first:
        assert first.size[0] > 200
    dots = engine.save_steps(z, tmp_path / "step.dot")
    assert "step 3 (0–8)" in dots[3].read_text(encoding="utf-8")
    (pdf,) = engine.save_steps(z, tmp_path / "steps.pdf", view="blocks")
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(re.findall(rb"/Type /Page\b", data)) == 9
    assert b"/Subtype /Image" not in data
    (gif,) = engine.save_steps(z, tmp_path / "steps.gif", view="blocks", dpi=60)
    with Image.open(gif) as animation:
        assert animation.n_frames == 9
    assert [v.grad for v in leaves] == grads
    with pytest.raises(ValueError, match="leaf"):
        engine.save_steps(Value(1.0), tmp_path / "x.png")
    with pytest.raises(ValueError, match="extension"):
        engine.save_steps(z, tmp_path / "x.doc")
    with pytest.raises(TypeError, match="every step"):
        engine.save_steps(z, tmp_path / "x.png", step=1)


# -- collapsed MLPs --------------------------------------------------------------------


def test_collapsed_layers_fed_plain_numbers_show_their_input():
    from tapegrad import nn

    model = nn.MLP(2, [3, 1], rng=__import__("random").Random(0))
    out = model([0.5, -1.0])  # plain floats, as nn.data gives them
    g = engine.draw(out, view="blocks", params=model, collapse="layers", wrap=False)
    inputs = [k for k, a in nodes(g).items() if a.get("fillcolor") == "#dddddd"]
    assert [nodes(g)[k]["label"] for k in inputs] == ["x"]
    assert [d for s, d, _ in edges(g) if s == inputs[0]] == ["m0"]


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_collapsed_neurons_are_laid_out_in_order_with_readable_edges(rankdir):
    import random

    from tapegrad import nn

    model = nn.MLP(2, [16, 16, 1], rng=random.Random(0))
    out = model([0.5, -1.0])
    g = engine.draw(out, view="blocks", params=model, collapse="neurons", rankdir=rankdir)
    laid_out = engine.drawing._render.layout(g.source)
    where = {}
    for o in laid_out["objects"]:
        if "pos" in o and o["name"].startswith("m"):
            x, y = map(float, o["pos"].split(","))
            where.setdefault(o["label"].split("\\n")[0], []).append((x, y))
    # the first layer's 16 neurons: 0 first (top to bottom, or left to right)
    first = [where[f"neurons.{i}"][0] for i in range(16)]
    if rankdir == "LR":
        assert [y for _, y in first] == sorted((y for _, y in first), reverse=True)
    else:
        assert [x for x, _ in first] == sorted(x for x, _ in first)
    # 256 edges between the layers are thin and grey, not a black band
    thin = [a for _, _, a in edges(g) if a.get("penwidth") == "0.7"]
    assert len(thin) >= 256 and all(a["color"] == "#8c8c8c" for a in thin)
    # layers, which feed each other, are not forced side by side
    g = engine.draw(out, view="blocks", params=model, collapse="layers", wrap=False)
    assert "rank=same" not in g.source


def test_a_loss_given_its_target_as_a_number_shows_y():
    from tapegrad.nn import losses

    y_bar = Value(0.2, label="ȳ")
    g = engine.draw(losses.mse(y_bar, 1.0), view="blocks", observed=[y_bar])
    square = next(k for k, a in nodes(g).items() if a.get("label") == "mse")
    into = sorted(nodes(g)[s]["label"] for s, d, _ in edges(g) if d == square)
    assert into == ["y", "ȳ"]


def test_folded_edges_in_the_derivative_network_carry_the_chain_product():
    for sub in (lambda a, b: a - b, _legacy_sub):
        x, y = Value(2.0, label="x"), Value(5.0, label="y")
        z = sub(x, y) * 3.0
        z.label = "z"
        g = engine.draw(z, view="blocks", derivative=True)
        labels = {k: a["label"] for k, a in nodes(g).items()}
        back = [(s, a.get("label")) for s, d, a in edges(g) if a.get("dir") == "back"]
        into_y = [lab for s, lab in back if labels[s].startswith("dz/dy")]
        assert into_y == ["× -1"]  # legacy: y -> neg -> add is one edge, 1 · -1


# -- micrograd's own drawing code --------------------------------------------------------

MICROGRAD_DRAW_DOT = textwrap.dedent(
    """
    from graphviz import Digraph

    def trace(root):
        nodes, edges = set(), set()
        def build(v):
            if v not in nodes:
                nodes.add(v)
                for child in v._prev:
                    edges.add((child, v))
                    build(child)
        build(root)
        return nodes, edges

    def draw_dot(root, format='svg', rankdir='LR'):
        nodes, edges = trace(root)
        dot = Digraph(format=format, graph_attr={'rankdir': rankdir})
        for n in nodes:
            dot.node(name=str(id(n)), label="{ data %.4f | grad %.4f }" % (n.data, n.grad),
                     shape='record')
            if n._op:
                dot.node(name=str(id(n)) + n._op, label=n._op)
                dot.edge(str(id(n)) + n._op, str(id(n)))
        for n1, n2 in edges:
            dot.edge(str(id(n1)), str(id(n2)) + n2._op)
        return dot
    """
)


def test_micrograd_draw_dot_renders_with_pip_alone_once_tapegrad_is_imported(tmp_path):
    """micrograd's trace_graph notebook's draw_dot, as written there, in a fresh
    interpreter with no Graphviz on PATH and no tapegrad drawing call before it."""
    code = MICROGRAD_DRAW_DOT + textwrap.dedent(
        f"""
        import tapegrad.engine as engine
        x = engine.Value(1.0); y = (x * 2 + 1).relu(); y.backward()
        dot = draw_dot(y)
        svg = dot.pipe().decode()
        assert "<svg" in svg, svg[:200]
        dot.render({str(tmp_path / "g")!r})
        print("ok")
        """
    )
    env = {"PATH": "/nonexistent", "HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok" and (tmp_path / "g.svg").exists()


def test_a_step_inside_a_folded_subtraction_lights_up_its_block():
    x, y = Value(2.0, label="x"), Value(5.0, label="y")
    c = _legacy_sub(x, y) ** 2  # recorded as x + (y * -1): two steps inside one '−'
    c.label = "c"
    steps = list(engine.backprop_steps(c))
    for k, step in enumerate(steps):
        g = engine.draw(c, step=k, view="blocks")
        lit = [(s, d) for s, d, a in edges(g) if a.get("color") == "#ff7f00"]
        if (step.node.op, step.parent.label) == ("mul", "y"):
            assert lit  # y -> (the folded '−') is the chain's first step: its edge
        elif step.node.op == "add" and step.parent.op == "mul":
            # the negation's output into the sum: inside the block, no edge lights up
            assert not lit
            minus = next(k for k, a in nodes(g).items() if a.get("label") == "−")
            assert nodes(g)[minus]["color"] == "#ff7f00" and "xlabel" in nodes(g)[minus]


def test_a_drawing_pipes_and_renders_painted_images(tmp_path):
    z, _ = neuron()
    g = engine.draw(z, view="blocks")
    assert g.pipe(format="png")[:4] == b"\x89PNG"
    assert g.pipe(format="pdf")[:5] == b"%PDF-"
    assert "<svg" in g.pipe(format="svg", encoding="utf-8")
    assert g.pipe(format="json")[:1] == b"{"  # anything else is Graphviz's own output
    out = g.render(tmp_path / "neuron", format="png")
    assert out.endswith("neuron.png") and (tmp_path / "neuron").read_text() == g.source
    with Image.open(out) as image:
        assert image.size[0] > 300
    out = g.render(outfile=tmp_path / "n.pdf")
    assert out.endswith("n.pdf") and (tmp_path / "n.pdf").read_bytes()[:5] == b"%PDF-"


def test_a_users_matplotlib_style_does_not_change_a_drawing(tmp_path):
    import matplotlib

    x = Value(2.0, label="x")
    y = (x - 1.0) ** 2
    plain = engine.save_graph(y, tmp_path / "plain.png", view="blocks").read_bytes()
    with matplotlib.rc_context({"path.sketch": (1, 100, 2), "savefig.bbox": "tight"}):
        styled = engine.save_graph(y, tmp_path / "styled.png", view="blocks").read_bytes()
    assert styled == plain


def test_no_text_is_cut_at_the_edge_of_the_picture():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tapegrad.engine import _render

    x = Value(1.5, label="x")
    y = x * x + x.sin()
    g = engine.draw(y, view="blocks", rankdir="BT", step=2)  # a long edge label on the right
    fig = _render.figure(_render.layout(g.source))
    renderer = FigureCanvasAgg(fig).get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    for text in fig.axes[0].texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0, text.get_text()
        assert box.x1 <= width and box.y1 <= height, text.get_text()


def test_costs_given_by_hand_add_to_the_losses_and_an_empty_list_removes_all():
    from tapegrad.nn import losses

    y_bar = Value(0.2, label="ȳ")
    loss = losses.mse(y_bar, 1.0)
    total = loss * 2.0
    total.label = "E"
    assert _squares(engine.draw(total, view="blocks", costs=[total])) == ["mse", "E\\n* 2"]
    assert not _squares(engine.draw(total, view="blocks", costs=[]))


def test_a_regulariser_is_a_cost_and_the_total_loss_too():
    import random

    from tapegrad import nn

    model = nn.MLP(2, [2, 1], rng=random.Random(0))
    data = [([0.5, -1.0], 1), ([1.0, 0.2], -1)]
    per_sample = [nn.losses.hinge(model(x), y) for x, y in data]
    loss = nn.losses.mean(per_sample) + nn.losses.l2(model.parameters(), 1e-4)
    g = engine.draw(loss, view="blocks", params=model, collapse="MLP")
    assert sorted(_squares(g)) == ["+", "1/2 Σ", "hinge", "hinge", "l2"]
    l2 = next(k for k, a in nodes(g).items() if a.get("label") == "l2")
    assert not [s for s, d, _ in edges(g) if d == l2]  # R(w): its parameters are implicit


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_labels_stay_inside_their_shapes(rankdir):
    import random

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from tapegrad import nn
    from tapegrad.engine import _render

    model = nn.MLP(2, [3, 1], rng=random.Random(0))
    x = [Value(0.5, label="x0"), Value(-1.0, label="ȳ−Σ∂")]
    out = model(x)
    out.label = "a long label\nover two lines"
    loss = nn.losses.mse(out, 1.0)
    g = engine.draw(loss, view="blocks", params=model, collapse="neurons", rankdir=rankdir)
    laid_out = _render.layout(g.source)
    fig = _render.figure(laid_out)
    renderer = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    boxes = []
    for o in laid_out["objects"]:
        if "pos" in o:
            cx, cy = map(float, o["pos"].split(","))
            w, h = float(o["width"]) * 36, float(o["height"]) * 36
            boxes.append((cx - w, cy - h, cx + w, cy + h))
    checked = 0
    for text in ax.texts:
        tx, ty = text.get_position()
        (a, b), (c, d) = ax.transData.inverted().transform(
            text.get_window_extent(renderer).get_points()
        )
        for x0, y0, x1, y1 in boxes:
            if x0 <= tx <= x1 and y0 <= ty <= y1:
                assert x0 - 1 <= a and c <= x1 + 1, (text.get_text(), (a, c), (x0, x1))
                assert y0 - 1 <= b and d <= y1 + 1, (text.get_text(), (b, d), (y0, y1))
                checked += 1
    assert checked >= 8
