"""A folded drawing reads like text (issue 20 item 4, its layout): its rows top-down in
the order of the computation, a graph's inputs in the order they were made, each row
opening with the variable the row before hands it, no scope's box holding only a
variable on a row of its own.

Laid out by the ``graphviz-pure`` wheel, and by a system Graphviz ``dot`` too when one
is on ``PATH`` (then both must pass; the wheel always runs). Positions are read from
``dot -Tjson``; a drawing's rows are its ``cluster_row<k>`` subgraphs.
"""

import itertools
import json
import random
import re
import shutil
import subprocess

import pytest

from tapegrad import engine, nn
from tapegrad.engine import Value, _dot
from tapegrad.engine.block_diagram import draw_program
from tapegrad.nn.diagram import draw_model


def _dots() -> list[str]:
    """The graphviz-pure wheel's dot, then a system dot if one is on PATH."""
    pure = [str(p) for p in _dot._pure_candidates() if p.is_file()]
    assert pure, "the graphviz-pure wheel is a test dependency"
    system = shutil.which("dot")
    return pure[:1] + ([system] if system else [])


DOTS = _dots()


def layout(source: str, dot: str) -> dict:
    """The layout of DOT ``source`` by the program ``dot`` (``-Tjson``)."""
    done = subprocess.run(
        [dot, "-Tjson"], input=source.encode("utf-8"), capture_output=True, check=True
    )
    return json.loads(done.stdout)


def positions(source: str, dot: str) -> dict[str, tuple[float, float]]:
    """Each node's centre, in points, laid out by the program ``dot``."""
    return {
        o["name"]: tuple(float(v) for v in o["pos"].split(","))
        for o in layout(source, dot)["objects"]
        if "pos" in o
    }


def rows(source: str) -> list[list[str]]:
    """The nodes written in each row's cluster, first row first (guides, fillers out)."""
    out: list[list[str]] = []
    inside = False
    for line in source.splitlines():
        if re.fullmatch(r"\tsubgraph cluster_row\d+ \{", line):
            out.append([])
            inside = True
        elif line == "\t}":
            inside = False
        elif inside:
            m = re.fullmatch(r"\t\t+(\w+)(?: \[.*)?", line)
            if m and not m.group(1).startswith("_fill"):
                out[-1].append(m.group(1))
    return out


def across(source: str, where: dict) -> dict[str, float]:
    """Each node's place across the flow, growing in reading order: downward when the
    flow is horizontal, rightward when it is vertical."""
    vertical = re.search(r"rankdir=(TB|BT)", source) is not None
    return {n: (x if vertical else -y) for n, (x, y) in where.items()}


def misordered_rows(source: str, dot: str) -> list[int]:
    """The rows not wholly after the row before them, across the flow."""
    place = across(source, positions(source, dot))
    found = rows(source)
    return [
        k + 1
        for k, (upper, lower) in enumerate(itertools.pairwise(found))
        if max(place[n] for n in upper) >= min(place[n] for n in lower)
    ]


def node_ids(source: str, label: str) -> list[str]:
    """The nodes whose label is ``label`` (its first line)."""
    found = []
    for m in re.finditer(r"^\t+(\w+) \[label=(\"[^\"]*\"|\S+)", source, re.M):
        text = m.group(2).strip('"{ ').split("\\n")[0].split(" |")[0]  # a record's first field
        if text == label:
            found.append(m.group(1))
    return found


# -- the graphs ---------------------------------------------------------------------


def neuron_mse():
    """nn.Neuron(2) (relu) and its squared error, inputs x1 and x2 made in that order:
    the graph whose derivative view drew its second row above its first."""
    n = nn.Neuron(2, rng=random.Random(0))
    x = [Value(1.0, label="x1"), Value(-2.0, label="x2")]
    return nn.losses.mse(n(x), Value(1.0, label="y")), n


def views(root, params):
    """Every view of one graph: values, blocks, their derivative networks, steps."""
    total = len(list(engine.backprop_steps(root)))
    for view in ("values", "blocks"):
        yield view, engine.draw(root, view, params=params)
        yield f"{view}/derivative", engine.draw(root, view, params=params, derivative=True)
        for k in sorted({0, total // 2, total - 1}):
            yield f"{view}/step{k}", engine.draw(root, view, params=params, step=k)
        yield (
            f"{view}/step/derivative",
            engine.draw(root, view, params=params, step=total // 2, derivative=True),
        )


# -- the tests ----------------------------------------------------------------------


@pytest.mark.parametrize("dot", DOTS)
def test_every_view_of_a_neuron_reads_its_rows_and_inputs_in_order(dot):
    root, neuron = neuron_mse()
    folded = 0
    for name, g in views(root, neuron):
        source = g.source
        if "newrank=true" not in source:
            continue
        folded += 1
        assert misordered_rows(source, dot) == [], name
        # x1 was made before x2: it comes first across the flow, on the first row
        place = across(source, positions(source, dot))
        (x1,), (x2,) = node_ids(source, "x1") or [None], node_ids(source, "x2") or [None]
        assert place[x1] < place[x2], name
        assert x1 in rows(source)[0] and x2 in rows(source)[0], name
        # the derivative network in the same order (its invisible edges, inside a
        # row's cluster now, written the way round that keeps it)
        pairs = (("dmse/dw0", "dmse/dw1"), ("dmse/db", "dmse/dv2"), ("dmse/dv2", "dmse/dv7"))
        for before, after in pairs:
            if node_ids(source, before):
                (b,), (a,) = node_ids(source, before), node_ids(source, after)
                assert place[b] < place[a], (name, before, after)
    assert folded >= 6  # the blocks view and its steps fold, derivative or not


@pytest.mark.parametrize("dot", DOTS)
def test_model_diagrams_read_their_rows_in_order(dot):
    model = nn.MLP(2, [16, 16, 1], activation="tanh", rng=random.Random(0))
    mlp = nn.MLP(2, [4, 4, 1], activation="tanh", rng=random.Random(0))
    x = [Value(0.5), Value(-0.5)]
    made = [
        draw_model(model, wrap=3),
        draw_model(model, loss="mse", wrap=2),
        draw_program(engine.lift(mlp(x), {"x": x})),
    ]
    for g in made:
        assert len(rows(g.source)) >= 2
        assert misordered_rows(g.source, dot) == []


@pytest.mark.parametrize("dot", DOTS)
def test_each_row_opens_with_the_variable_the_row_before_hands_it(dot):
    # draw_program of MLP(2, [4, 4, 1]) with tanh: the third row's z2 was drawn right
    # of ȳ, with an arrow back to `w2 z2`; rows opened with tanh, an op
    mlp = nn.MLP(2, [4, 4, 1], activation="tanh", rng=random.Random(0))
    x = [Value(0.5), Value(-0.5)]
    source = draw_program(engine.lift(mlp(x), {"x": x})).source
    where = positions(source, dot)
    found = rows(source)
    assert len(found) == 3
    for k, row in enumerate(found):
        first = min(row, key=lambda n: where[n][0])  # the leftmost
        assert re.search(rf"^\t+{first} \[.*shape=circle", source, re.M), (k, first)
        if k:  # ... fed by the row before
            assert re.search(rf"\t{first} -> \w+ \[.*dir=back", source), (k, first)
    # and the variables read in order, each right of the one before or on a later row
    chain = ["x = z0", "s1", "z1", "s2", "z2", "ȳ = s3"]
    ids = [node_ids(source, label)[0] for label in chain]
    for before, after in itertools.pairwise(ids):
        (x0, y0), (x1, y1) = where[before], where[after]
        assert y1 < y0 - 36 or (abs(y1 - y0) <= 36 and x1 > x0), (before, after)


def scoped_chain():
    """x, then a scope ``A`` of two ops, then three ops outside it: balanced, two rows
    would cut right after A's last op and open the second row with A's output alone
    in A's box."""
    x = Value(0.3, label="x")
    with engine.scope("A"):
        a = (x * 2.0).tanh()
    b = ((a + 1.0).exp() * 0.5).tanh()
    b.label = "out"
    return b


def test_no_row_opens_with_an_op_or_a_box_holding_only_a_variable():
    root = scoped_chain()
    for view in ("values", "blocks"):
        for extra in ({}, {"derivative": True}, {"step": 2}):
            for n_rows in (2, 3):
                source = engine.draw(root, view, wrap=n_rows, **extra).source
                assert len(rows(source)) >= 2, (view, extra)
                boxes = re.findall(r"subgraph cluster_\d+_\d+ \{\n((?:\t\t\t.*\n)+)", source)
                for box in boxes:
                    shapes = re.findall(r"shape=(\w+)", box)
                    ops = [s for s in shapes if s not in ("circle", "record")]
                    assert ops, (view, extra, n_rows, box)
                # every arrow into a later row enters a variable there (drawn turned
                # round: written from that variable, dir=back)
                for m in re.finditer(r"\t(\w+) -> (\w+) \[(.*)\]", source):
                    if "dir=back" in m.group(3) and "#31a354" not in m.group(3):
                        head = m.group(1)
                        assert re.search(rf"^\t+{head} \[.*shape=(circle|record)", source, re.M), (
                            view,
                            extra,
                            n_rows,
                            head,
                        )


def chain30():
    """30 ops one after another (tanh, * 1.1, + 0.1, ...), as QA drew it."""
    v = Value(0.3, label="x")
    for i in range(30):
        v = v.tanh() if i % 3 == 0 else v * 1.1 if i % 3 == 1 else v + 0.1
    v.label = "out"
    return v


@pytest.mark.parametrize("dot", DOTS)
def test_a_long_chain_is_folded_onto_rows_not_drawn_as_a_tall_portrait(dot):
    # folded into columns by default, a 30-op chain came out 0.48:1 to 0.67:1
    root = chain30()
    for view in ("values", "blocks"):
        for extra in ({}, {"step": 5}, {"derivative": True}):
            source = engine.draw(root, view, **extra).source
            assert "rankdir=LR" in source and len(rows(source)) >= 2, (view, extra)
            box = [float(v) for v in layout(source, dot)["bb"].split(",")]
            assert 1 <= (box[2] - box[0]) / (box[3] - box[1]) <= 3, (view, extra)


@pytest.mark.parametrize("dot", DOTS)
def test_flowing_vertically_a_scopes_label_is_in_the_corner_its_output_leaves_by(dot):
    # labels sat where a layer's inputs come in, crossed by their arrows
    model = nn.MLP(2, [4, 4, 3], activation="tanh", rng=random.Random(0))
    x = [Value(0.5, label="x1"), Value(-1.0, label="x2")]
    source = engine.draw(nn.losses.softmax_cross_entropy(model(x), 1), "blocks").source
    assert "rankdir=BT" in source
    clusters = [o for o in layout(source, dot)["objects"] if o["name"].startswith("cluster_")]
    assert len(clusters) == 1 + 3 + 11  # MLP, its layers, their neurons
    for cluster in clusters:
        x0, _, x1, y1 = (float(v) for v in cluster["bb"].split(","))
        x, y = (float(v) for v in cluster["lp"].split(","))
        assert y > y1 - 24 and x > (x0 + x1) / 2, cluster["name"]  # top, right half
