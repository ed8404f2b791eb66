"""Every view of a graph of up to about 40 nodes fits a 16:9 slide (issue 20 item 4).

A corpus of graphs -- micrograd's neuron, its squared error, ``nn`` modules, small
MLPs, the classic units, energies, chains of 10 to 40 ops -- is drawn in every view
(values, blocks, the derivative network, every backprop step, the saved step
sequence, ``nn.diagram.draw_model``, ``draw_program``, ``tapegrad graph``), laid out
by the Graphviz at hand (a system ``dot``, else the ``graphviz-pure`` wheel) and
measured as tapegrad paints it: at most 3 times as wide as high by default, at least
a third as wide as high when a vertical direction is forced. Then the options that
force a direction and a number of rows are honoured.
"""

import contextlib
import io
import itertools
import random
import re

import graphviz
import pytest

from tapegrad import engine, nn
from tapegrad.engine import Value, _render
from tapegrad.engine.block_diagram import draw_program
from tapegrad.engine.drawing import fit
from tapegrad.nn import cli
from tapegrad.nn.diagram import draw_model

from . import test_draw, test_draw_rows
from .test_lift import StudentMLP

# -- the corpus ---------------------------------------------------------------------


def neuron():
    """micrograd's neuron, labelled, after backward()."""
    z, (x1, x2, *_) = test_draw.neuron()
    z.parents[0].label = "s"
    z.backward()
    return z, {"observed": [x1, x2]}


def neuron_cost():
    """The neuron's squared error, computed in a cost scope."""
    z, options = neuron()
    with engine.cost_scope("C"):
        c = (z - 1.0) ** 2
    c.label = "c"
    return c, options


def neuron_module():
    n = nn.Neuron(3, activation="tanh", rng=random.Random(2))
    out = n([Value(0.5, label="x0"), Value(-1.0, label="x1"), Value(2.0, label="x2")])
    return out, {"params": n}


def mlp_loss(sizes, collapse=None):
    def make():
        model = nn.MLP(2, list(sizes), activation="tanh", rng=random.Random(0))
        loss = nn.mse(model([0.5, -0.25]), 1.0)
        loss.backward()
        return loss, {"params": model, **({"collapse": collapse} if collapse else {})}

    return make


def classic(cls):
    def make():
        model = cls(2, init="uniform", rng=random.Random(4))
        return model.loss([0.5, -1.5], 1.0), {"params": model}

    return make


def hopfield_energy():
    net = nn.Hopfield(3)
    net.store([[1, -1, 1]])
    return net.energy([1, 1, -1]), {}


def chain(n_ops, with_params=False):
    """``n_ops`` ops one after another: tanh, times a weight (or 1.1), plus 0.1, ...;
    every fifth value labelled."""

    def make():
        v = Value(0.3, label="x")
        params = []
        for i in range(n_ops):
            if i % 3 == 0:
                v = v.tanh()
            elif i % 3 == 1:
                if with_params:
                    w = Value(0.9, label=f"w{i}")
                    params.append(w)
                    v = v * w
                else:
                    v = v * 1.1
            else:
                v = v + 0.1
            if i % 5 == 4:
                v.label = f"h{i}"
        v.label = "out"
        v.backward()
        return v, ({"params": params} if with_params else {})

    return make


GRAPHS = {
    "neuron": neuron,
    "neuron_cost": neuron_cost,
    "neuron_module": neuron_module,
    "mlp_2_3_1": mlp_loss((3, 1)),
    "mlp_2_3_1_collapsed": mlp_loss((3, 1), collapse=1),
    "mlp_2_4_4_1_collapsed": mlp_loss((4, 4, 1), collapse=1),
    "perceptron": classic(nn.Perceptron),
    "adaline": classic(nn.Adaline),
    "logistic": classic(nn.LogisticRegression),
    "hopfield_energy": hopfield_energy,
    "chain10": chain(10),
    "chain20_params": chain(20, with_params=True),
    "chain40": chain(40),
}

#: Graphs whose every backprop step is drawn (the others: the first, a middle and
#: the last step).
EVERY_STEP = ("neuron_cost", "chain10")

MODELS = {
    "mlp_2_16_16_1": lambda: nn.MLP(2, [16, 16, 1], activation="tanh", rng=random.Random(0)),
    "mlp_3_4_4_4_1": lambda: nn.MLP(3, [4, 4, 4, 1], activation="relu", rng=random.Random(0)),
    "mlp_2_3_1": lambda: nn.MLP(2, [3, 1], rng=random.Random(0)),
    "layer": lambda: nn.Layer(4, 3, rng=random.Random(0)),
    "neuron": lambda: nn.Neuron(5, activation="tanh", rng=random.Random(0)),
    "perceptron": lambda: nn.Perceptron(2),
    "adaline": lambda: nn.Adaline(3),
    "logistic": lambda: nn.LogisticRegression(2),
    "hopfield": lambda: nn.Hopfield(4),
}

FORMULAS = [
    ("tanh(x1*w1 + x2*w2 + b)", ["x1=2", "x2=0", "w1=-3", "w2=1", "b=6.8814"]),
    ("(y - sigmoid(w2*tanh(w1*x + b1) + b2))**2", ["x=1", "w1=0.5", "b1=0", "w2=2", "b2=1", "y=1"]),
    ("exp(-x**2/2) / sqrt(2*3.14159) * (1 + x + x**2/2 + x**3/6)", ["x=0.5"]),
]


def _steps(root):
    total = len(list(engine.backprop_steps(root)))
    return total


def drawings(vertical=None):
    """``(name, drawing)`` for every view of every graph of the corpus; ``vertical``:
    the direction forced on every drawing (None: the default, chosen to fit)."""

    def forced(view):
        if vertical is None:
            return {}
        return {"rankdir": vertical if vertical != "view" else {"values": "TB"}.get(view, "BT")}

    for name, make in GRAPHS.items():
        root, options = make()
        for view in ("values", "blocks"):
            o = {**options, **forced(view)}
            if view == "values":
                o.pop("collapse", None)
            yield f"{name}/{view}", engine.draw(root, view, **o)
            yield f"{name}/{view}/derivative", engine.draw(root, view, derivative=True, **o)
            total = _steps(root)
            ks = range(total) if name in EVERY_STEP else sorted({0, total // 2, total - 1})
            for k in ks:
                yield f"{name}/{view}/step{k}", engine.draw(root, view, step=k, **o)
            k = total // 2
            yield (
                f"{name}/{view}/step{k}/derivative",
                engine.draw(root, view, step=k, derivative=True, **o),
            )
    for name, make in MODELS.items():
        yield f"draw_model/{name}", draw_model(make(), **forced("blocks"))
        if not name.startswith("hopfield"):
            yield f"draw_model/{name}/mse", draw_model(make(), loss="mse", **forced("blocks"))
    student = StudentMLP(3, [4, 4, 1])
    yield "draw_model/student", draw_model(student, nin=3, loss="mse", **forced("blocks"))
    model = nn.MLP(2, [3, 3, 1], rng=random.Random(1))
    x = [Value(0.5), Value(-0.5)]
    program = engine.lift(model(x), {"x": x})
    yield "draw_program/mlp_2_3_3_1", draw_program(program, **forced("blocks"))
    for i, (text, at) in enumerate(FORMULAS):
        for view in ("values", "blocks"):
            direction = forced(view).get("rankdir")
            extra = ["--rankdir", direction] if direction else []
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert cli.main(["graph", text, "--at", *at, "--view", view, *extra]) == 0
            yield f"cli/{i}/{view}", graphviz.Source(out.getvalue())


def aspect(source: str) -> float:
    """Width : height of the picture tapegrad paints from DOT ``source``."""
    return _painted_size(_render.layout(source))


def _painted_size(layout: dict) -> float:
    x0, y0, x1, y1 = (float(v) for v in layout["bb"].split(","))
    return (x1 - x0 + 2 * _render._PAD) / (y1 - y0 + 2 * _render._PAD)


def step_sequences(tmp_path, vertical=None):
    """``(name, aspect)`` of the common canvas of every saved step sequence."""
    for name in ("neuron_cost", "chain10", "mlp_2_3_1"):
        root, options = GRAPHS[name]()
        for view in ("values", "blocks"):
            direction = {"rankdir": "TB" if view == "values" else "BT"} if vertical else {}
            o = {**options, **direction}
            paths = engine.save_steps(root, tmp_path / f"{name}_{view}.dot", view=view, **o)
            layouts = [_render.layout(p.read_text(encoding="utf-8")) for p in paths]
            canvas = engine.drawing.common_canvas(layouts)[0]
            yield f"save_steps/{name}/{view}", _painted_size(canvas)


# -- the tests ---------------------------------------------------------------------


def test_every_view_of_the_corpus_fits_a_slide_by_default(tmp_path):
    too_wide = {}
    for name, g in drawings():
        ratio = aspect(g.source)
        if not ratio <= fit.MAX_ASPECT:
            too_wide[name] = round(ratio, 2)
    for name, ratio in step_sequences(tmp_path):
        if not ratio <= fit.MAX_ASPECT:
            too_wide[name] = round(ratio, 2)
    assert not too_wide


def test_forced_vertical_drawings_are_folded_into_columns(tmp_path):
    too_tall = {}
    for name, g in drawings(vertical="view"):
        assert re.search(r"rankdir=(TB|BT)", g.source), name
        ratio = aspect(g.source)
        if not ratio >= 1 / fit.MAX_ASPECT:
            too_tall[name] = round(ratio, 2)
    for name, ratio in step_sequences(tmp_path, vertical=True):
        if not ratio >= 1 / fit.MAX_ASPECT:
            too_tall[name] = round(ratio, 2)
    assert not too_tall


def test_a_forced_direction_is_honoured_by_every_entry_point(tmp_path):
    root, options = neuron_cost()
    model = nn.MLP(2, [3, 1], rng=random.Random(0))
    x = [Value(0.5), Value(-0.5)]
    program = engine.lift(model(x), {"x": x})
    text, at = FORMULAS[0]
    for rankdir in ("LR", "RL", "TB", "BT"):
        made = [
            engine.draw(root, "values", rankdir=rankdir),
            engine.draw(root, "blocks", rankdir=rankdir, derivative=True, **options),
            engine.draw(root, "blocks", rankdir=rankdir, step=3, **options),
            draw_model(model, loss="mse", rankdir=rankdir),
            draw_program(program, rankdir=rankdir),
        ]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli.main(["graph", text, "--at", *at, "--rankdir", rankdir]) == 0
        made.append(graphviz.Source(out.getvalue()))
        paths = engine.save_steps(root, tmp_path / f"{rankdir}.dot", rankdir=rankdir, **options)
        made += [graphviz.Source(p.read_text(encoding="utf-8")) for p in paths]
        for g in made:
            assert re.search(r"rankdir=(\w+)", g.source).group(1) == rankdir


def _bands(source: str) -> list[set[str]]:
    """The elements of each rank=same group of a folded drawing's DOT."""
    groups = re.findall(r"\{\n\t\trank=same\n((?:\t\t\w+\n)+)", source)
    return [set(re.findall(r"\w+", g)) for g in groups]


def test_wrap_folds_onto_as_many_rows_as_asked_or_none():
    root, options = neuron()
    unfolded = engine.draw(root, "blocks", wrap=False, **options)
    assert "newrank" not in unfolded.source and aspect(unfolded.source) > 3
    assert engine.draw(root, "blocks", wrap=1, **options).source == unfolded.source
    folded = engine.draw(root, "blocks", **options)  # by default: two rows
    assert "newrank=true" in folded.source
    assert folded.source == engine.draw(root, "blocks", wrap=2, **options).source
    assert engine.draw(root, "blocks", wrap=True, **options).source == folded.source
    three = engine.draw(root, "blocks", wrap=3, **options)
    assert three.source != folded.source and "newrank=true" in three.source
    # the second row starts again on the left, below the first: s (n8) is on the
    # rank of x1 (n0), under it, and the arrow Σ b -> s is written turned round
    assert {"n0", "n3", "n8"} in _bands(folded.source)
    assert re.search(r"\tn8 -> f8 \[.*dir=back", folded.source)
    where = {
        o["name"]: [float(v) for v in o["pos"].split(",")]
        for o in _render.layout(folded.source)["objects"]
        if "pos" in o
    }
    assert where["n8"][1] < min(where["n0"][1], where["n3"][1])  # below x1 and x2
    assert where["n8"][0] < where["f8"][0]  # left of Σ b, which ends the first row
    # nn.diagram and draw_program take the same option
    model = nn.MLP(2, [16, 16, 1], activation="tanh", rng=random.Random(0))
    assert "newrank" not in draw_model(model, wrap=False).source
    assert len(re.findall(r"-> \w+ \[.*dir=back", draw_model(model, wrap=3).source)) == 2


@pytest.mark.parametrize(
    "wrap, error", [(0, ValueError), (-2, ValueError), ("2", TypeError), (1.5, TypeError)]
)
def test_a_bad_wrap_is_refused_by_name(wrap, error):
    root, _ = neuron()
    with pytest.raises(error, match="wrap"):
        engine.draw(root, wrap=wrap)
    with pytest.raises(error, match="wrap"):
        draw_model(nn.MLP(2, [3, 1], rng=random.Random(0)), wrap=wrap)
    x = [Value(0.5)]
    with pytest.raises(error, match="wrap"):
        draw_program(engine.lift(x[0].tanh(), {"x": x}), wrap=wrap)


def _reads_in_order(source: str, labels: list[str]) -> list[str]:
    """The elements of ``labels`` (each named by the first line of its label) that,
    laid out from ``source``, do not follow the one before as text reads: below it
    (its centre more than half an inch lower), or to its right on about the same row
    (its centre within an inch: a cost sits level with one of its two inputs)."""
    where = {}
    for o in _render.layout(source)["objects"]:
        if "pos" in o:
            where[str(o.get("label", "")).split("\\n")[0].split("\n")[0]] = [
                float(v) for v in o["pos"].split(",")
            ]
    wrong = []
    for before, after in itertools.pairwise(labels):
        (x0, y0), (x1, y1) = where[before], where[after]
        below, right_on_row = y1 < y0 - 36, abs(y1 - y0) <= 72 and x1 > x0
        if not (below or right_on_row):
            wrong.append(after)
    return wrong


@pytest.mark.parametrize("extra", [{}, {"step": 4}, {"step": 9}])
def test_a_folded_drawing_of_collapsed_layers_reads_top_down_left_to_right(extra):
    # the MLP's cluster spans both rows: written as one cluster, graphviz-pure laid it
    # out as one block and the second row's z2 came out left of the first row's end
    model = nn.MLP(2, [16, 16, 1], rng=random.Random(0))
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2")]
    loss = nn.losses.mse(model(x), 1.0)
    d = engine.draw(loss, "blocks", params=model.parameters(), collapse="layers", **extra)
    assert "newrank=true" in d.source  # folded
    # the MLP's scope is one cluster per row, each labelled with its name
    clusters = re.findall(r"subgraph cluster_\d+_(\d+) \{\n\t+.*label=(\w+)", d.source)
    assert clusters == [("0", "MLP"), ("1", "MLP")]
    chain = ["layers.0", "z1", "layers.1", "z2", "layers.2", "ȳ", "mse"]
    assert _reads_in_order(d.source, chain) == []
    assert aspect(d.source) <= fit.MAX_ASPECT
    # every step's note (11-point text, about 6 points a character) inside the canvas
    layout = _render.layout(d.source)
    x0, y0, x1, y1 = (float(v) for v in layout["bb"].split(","))
    for edge in layout.get("edges", []):
        if edge.get("label") and edge.get("lp"):
            x, y = (float(v) for v in edge["lp"].split(","))
            half = 3.0 * len(edge["label"])
            assert x0 <= x - half and x + half <= x1 and y0 <= y - 7 and y + 7 <= y1, edge


def _estimate_errors(monkeypatch, dot: str) -> list[float]:
    """|estimated / laid-out aspect - 1| of every drawing of the corpus made from a
    Scene, as :func:`fit.choose_wrap` estimates it (refined, folded as drawn), laid
    out by the program ``dot``."""
    from tapegrad.engine.drawing import entry

    made = []
    emit = entry.emit

    def recording(scene, rankdir, t, wrap):
        made.append((scene, rankdir, wrap))
        return emit(scene, rankdir, t, wrap)

    monkeypatch.setattr(entry, "emit", recording)
    errors = []
    for _, g in drawings():
        if not made:
            continue  # a model diagram or the command line's
        scene, rankdir, wrap = made.pop()
        width, height = fit.estimated_size(scene, rankdir, wrap=wrap, refined=True)
        where = test_draw_rows.layout(g.source, dot)
        x0, y0, x1, y1 = (float(v) for v in where["bb"].split(","))
        laid_out = (x1 - x0 + 2 * _render._PAD) / (y1 - y0 + 2 * _render._PAD)
        errors.append(abs(width / height / laid_out - 1))
    return errors


@pytest.mark.parametrize("dot", test_draw_rows.DOTS)
def test_the_size_estimate_is_close_to_the_layout(monkeypatch, dot):
    # the median error of the estimated aspect ratio was 16% under graphviz-pure
    # (clusters' labels counted once, not once per row and per sibling; labels
    # between ranks and edges passing ranks not counted): 12.5% now (more of the
    # corpus folded left to right, which errs more); a system dot
    # 2.43 draws text wider than the estimate's metrics (the wheel's): 11% before, 16% now
    errors = sorted(_estimate_errors(monkeypatch, dot))
    median = errors[len(errors) // 2]
    assert median <= (0.13 if "graphviz-pure" in dot else 0.18)
    assert sum(e <= 0.25 for e in errors) >= 0.8 * len(errors)
