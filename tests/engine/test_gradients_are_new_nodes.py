"""A returned gradient is always a new node (issue 18 item 2): never an input, an output,
a node of the graph or a ``grad_outputs`` Value, for every op of the table and every
pass -- as PyTorch returns new tensors. Renaming it or setting its number changes no
other node."""

import math

import pytest

from tapegrad import engine
from tapegrad.engine import OPS, Value
from tapegrad.engine.graph import topological_order

UNARY = [row for row in OPS.values() if row.arity == 1]
BINARY = [row for row in OPS.values() if row.arity == 2]


def middle(interval):
    low, high = interval
    return low + 0.37 * (high - low)


def assert_new(g, *existing):
    """``g`` is a Value distinct from every node of ``existing`` graphs, and changing it
    changes none of them."""
    assert isinstance(g, Value)
    nodes = [n for root in existing for n in topological_order(root)]
    assert all(g is not n and g != n for n in nodes), g
    before = [(n.data, n.label) for n in nodes]
    g.label = "renamed"
    g.data = 12345.0
    assert [(n.data, n.label) for n in nodes] == before


@pytest.mark.parametrize("row", UNARY, ids=lambda r: r.name)
@pytest.mark.parametrize("create_graph", [True, False])
def test_the_gradient_of_every_unary_op_is_a_new_node(row, create_graph):
    x = Value(middle(row.domain[0]), label="x")
    out = getattr(x, row.name)()
    seed = Value(1.5, label="v")
    (g,) = engine.grad(out, [x], create_graph=create_graph)
    assert_new(g, out)
    (gv,) = engine.grad(out, [x], grad_outputs=[seed], create_graph=create_graph)
    assert_new(gv, out, seed)


@pytest.mark.parametrize("row", BINARY, ids=lambda r: r.name)
@pytest.mark.parametrize("create_graph", [True, False])
def test_the_gradients_of_every_binary_op_are_new_nodes(row, create_graph):
    a, b = (Value(middle(d), label=n) for d, n in zip(row.domain, "ab"))
    seed = Value(0.5, label="v")
    for out, inputs in (
        (getattr(a, row.name)(b), [a, b]),
        (getattr(a, row.name)(2.0), [a]),
        (getattr(engine, row.name)(2.0, b), [b]),
    ):
        for grad_outputs in (None, [seed]):
            found = engine.grad(out, inputs, grad_outputs=grad_outputs, create_graph=create_graph)
            for g in found:
                assert_new(g, out, seed)
            assert len({id(g) for g in found}) == len(found)


def test_the_quoted_cases_of_the_issue():
    x, y = Value(2.0, label="x"), Value(3.0, label="y")
    g = engine.grad(x * y, [x], create_graph=True)[0]
    assert g is not y and g.data == 3.0
    g.label = "g"
    g.data = 7.0
    assert y.label == "y" and y.data == 3.0
    v = Value(4.0)
    (h,) = engine.grad(x + y, [x], grad_outputs=[v], create_graph=True)
    assert h is not v and h.data == 4.0
    e = x.exp()
    (d,) = engine.grad(e, [x], create_graph=True)
    assert d is not e and d != e and d.data == e.data == math.exp(2.0)
    # The copy is still the derivative: differentiating it again goes through it.
    (dd,) = engine.grad(d, [x])
    assert dd.data == math.exp(2.0)
    (dy,) = engine.grad(engine.grad(x * y, [x], create_graph=True)[0], [y])
    assert dy.data == 1.0


def test_a_gradient_through_a_shared_node_is_new_for_each_input():
    x = Value(0.3)
    s = x.sin()
    out = s * s
    (g,) = engine.grad(out, [s], create_graph=True)  # 2 s, new
    assert_new(g, out)
    (gx,) = engine.grad(out, [x], create_graph=True)
    assert_new(gx, out)
