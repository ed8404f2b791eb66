"""Backprop: the chain rule one edge at a time, over any graph, any number of times."""

import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.strategies import expressions, floats_between

finite = floats_between(-10.0, 10.0)


@given(finite)
def test_square_gives_exactly_2x(x):
    v = Value(x)
    (v * v).backward()
    assert v.grad == 2 * x


@given(finite)
def test_sum_with_itself_gives_exactly_2(x):
    v = Value(x)
    (v + v).backward()
    assert v.grad == 2.0


@given(finite)
def test_difference_with_itself_gives_exactly_0(x):
    v = Value(x)
    y = v - v
    y.backward()
    assert y.data == 0.0 and v.grad == 0.0


@given(finite, st.integers(1, 200))
def test_n_fold_fan_out_gives_exactly_n(x, n):
    v = Value(x)
    total = v
    for _ in range(n - 1):
        total = total + v
    total.backward()
    assert v.grad == float(n)


@given(expressions())
def test_random_expression_trees_match_central_differences(expr):
    engine.gradcheck(expr, expr.inputs)


@given(expressions(max_ops=12))
def test_backward_steps_leave_the_same_gradients_as_backward(expr):
    leaves_a = [Value(x) for x in expr.inputs]
    out_a = expr(*leaves_a)
    out_a.backward()
    leaves_b = [Value(x) for x in expr.inputs]
    out_b = expr(*leaves_b)
    steps = list(out_b.backward_steps())
    assert [a.grad for a in leaves_a] == [b.grad for b in leaves_b]
    order_a = engine.topological_order(out_a)
    order_b = engine.topological_order(out_b)
    assert [n.grad for n in order_a] == [n.grad for n in order_b]
    edges = sum(len(n.parents) for n in order_b)
    assert len(steps) == edges


def test_backward_steps_record_each_perturbation():
    s = Value(0.5, label="s")
    z = s.tanh()
    z.label = "z"
    c = z * 3.0
    c.label = "c"
    steps = list(c.backward_steps())
    assert [(st.node, st.parent) for st in steps] == [(c, z), (z, s)]
    first, second = steps
    assert first.upstream == 1.0 and first.local == 3.0 and first.contribution == 3.0
    assert second.upstream == 3.0
    assert second.local == 1 - math.tanh(0.5) ** 2
    assert second.parent_grad == s.grad == 3.0 * (1 - math.tanh(0.5) ** 2)
    assert second.explanation.startswith("dc/ds += dc/dz · tanh'(s) = 3 · ")
    assert [st.index for st in steps] == [0, 1]
    # a local derivative is a partial: it never reads like the gradient being updated
    assert first.explanation.startswith("dc/dz += dc/dc · ∂c/∂z = 1 · 3 = 3")


def test_second_backward_does_not_over_count():
    x = Value(2.0)
    h = x * x
    y = h * 3.0
    y.backward()
    assert (x.grad, h.grad, y.grad) == (12.0, 3.0, 1.0)
    y.backward()
    # intermediates show the latest pass; leaves accumulate, as in PyTorch
    assert (h.grad, y.grad) == (3.0, 1.0)
    assert x.grad == 24.0
    engine.zero_grad([x])
    y.backward()
    assert x.grad == 12.0


def test_backward_from_an_intermediate_node():
    x = Value(3.0)
    h = x.tanh()
    y = h * 2.0 + x
    h.backward()
    assert x.grad == 1 - math.tanh(3.0) ** 2
    assert y.grad == 0.0  # downstream of h: untouched


def test_backward_seed_and_bad_seed():
    x = Value(1.5)
    y = x * 4.0
    y.backward(0.5)
    assert x.grad == 2.0
    with pytest.raises(TypeError):
        y.backward("1")


def test_backward_from_a_leaf_accumulates_the_seed():
    x = Value(1.0)
    x.backward()
    x.backward()
    assert x.grad == 2.0


def test_zero_grad_collection_and_bad_items_change_nothing():
    a, b = Value(1.0), Value(2.0)
    a.grad, b.grad = 5.0, 6.0
    with pytest.raises(TypeError, match="float"):
        engine.zero_grad([a, 3.0, b])
    assert (a.grad, b.grad) == (5.0, 6.0)
    engine.zero_grad([a, b])
    assert (a.grad, b.grad) == (0.0, 0.0)
    with pytest.raises(TypeError, match=r"v\.zero_grad\(\)"):
        engine.zero_grad(a)
    a.grad = 1.0
    a.zero_grad()
    assert a.grad == 0.0


def test_topological_order_is_deterministic_and_respects_parents():
    x, w = Value(1.0, label="x"), Value(2.0, label="w")
    s = x * w
    z = s.tanh() + s
    order = engine.topological_order(z)
    assert order == engine.topological_order(z)
    seen = set()
    for node in order:
        assert all(p in seen for p in node.parents)
        seen.add(node)
    assert order[-1] is z and order[:2] == [x, w]
    with pytest.raises(TypeError):
        engine.topological_order(3.0)


def test_a_million_deep_chain_at_the_default_recursion_limit():
    limit = sys.getrecursionlimit()
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0
    assert sys.getrecursionlimit() == limit


def test_a_node_feeding_a_million_others():
    x = Value(2.0)
    outs = [x * 1.0 for _ in range(1_000_000)]
    # sum them pairwise so the graph is wide rather than deep
    while len(outs) > 1:
        outs = [
            outs[i] + outs[i + 1] if i + 1 < len(outs) else outs[i] for i in range(0, len(outs), 2)
        ]
    outs[0].backward()
    assert x.grad == 1_000_000.0


def test_nan_gradient_flows_where_pytorch_gives_nan():
    x = Value(-1.0)
    y = x.sqrt() * 0.0
    y.backward()
    assert math.isnan(x.grad)


@given(expressions(max_ops=12))
def test_backprop_steps_writes_no_grad_and_matches_backward_steps(expr):
    leaves = [Value(x) for x in expr.inputs]
    out = expr(*leaves)
    order = engine.topological_order(out)
    for k, node in enumerate(order):
        node.grad = float(k) + 0.5  # gradients the user has: a view must not touch them
    before = [node.grad for node in order]
    pure = list(engine.backprop_steps(out))
    assert [node.grad for node in order] == before
    for node in order:
        node.grad = 0.0
    written = list(out.backward_steps())
    assert [(s.node, s.parent, s.position) for s in pure] == [
        (s.node, s.parent, s.position) for s in written
    ]
    for a, b in zip(pure, written):  # from zero, both passes do the same arithmetic
        assert repr((a.upstream, a.local, a.contribution)) == repr(
            (b.upstream, b.local, b.contribution)
        )
        # a leaf's .grad starts at 0.0, the view's sum at its first contribution:
        # they differ only in the sign of a zero
        assert a.parent_grad == b.parent_grad or math.isnan(a.parent_grad) == math.isnan(
            b.parent_grad
        )
    assert len(pure) == sum(len(n.parents) for n in order)


def test_backprop_steps_counts_from_zero_whatever_the_leaves_hold():
    x = Value(2.0, label="x")
    x.grad = 100.0
    y = x * x
    steps = list(engine.backprop_steps(y, 2.0))
    assert [s.position for s in steps] == [0, 1]
    assert [s.parent_grad for s in steps] == [4.0, 8.0]
    assert x.grad == 100.0 and y.grad == 0.0
    with pytest.raises(TypeError, match="expects a Value"):
        list(engine.backprop_steps(2.0))
