"""The chain rule is written once (engine/backprop.py): backward(), the step views and
replay's generated code are the same arithmetic, so they agree bit for bit."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.strategies import expressions

from .test_replay import bits, same


def by_backward(expr, numbers, seed):
    xs = [Value(v) for v in numbers]
    expr(*xs).backward(seed)
    return [x.grad for x in xs]


def by_backward_steps(expr, numbers, seed):
    xs = [Value(v) for v in numbers]
    for _ in expr(*xs).backward_steps(seed):
        pass
    return [x.grad for x in xs]


def by_backprop_steps(expr, numbers, seed):
    """The pure view's last running gradient of each leaf (nothing written)."""
    xs = [Value(v) for v in numbers]
    latest = {}
    for step in engine.backprop_steps(expr(*xs), seed):
        latest[id(step.parent)] = step.parent_grad
    assert all(x.grad == 0.0 for x in xs)
    return [latest.get(id(x), 0.0) for x in xs]


def by_gradients(expr, numbers, seed):
    xs = [Value(v) for v in numbers]
    grads = engine.backprop.gradients([expr(*xs)], xs, [seed])
    return [0.0 if g is None else g for g in grads]


def by_replay(expr, numbers, seed):
    xs = [Value(v) for v in numbers]
    replay = engine.record(expr(*xs), xs)
    _, grads, _ = replay.run([leaf.data for leaf in replay.leaves], seed=seed)
    return [g if reached else 0.0 for g, reached in zip(grads, replay._reached_flags)]


PASSES = [by_backward_steps, by_backprop_steps, by_gradients, by_replay]

# zeros of both signs, infinities and nan make the sign of zero and masked edges matter
SEEDS = st.sampled_from([1.0, -1.0, 0.5, -0.0, 0.0, math.inf, -math.inf, math.nan])


@pytest.mark.parametrize("other", PASSES, ids=lambda f: f.__name__)
@given(expr=expressions(max_ops=12), seed=SEEDS)
def test_every_pass_equals_backward_bit_for_bit(other, expr, seed):
    want = by_backward(expr, expr.inputs, seed)
    got = other(expr, expr.inputs, seed)
    assert all(same(g, w) for g, w in zip(got, want)), (got, want)


@given(expr=expressions(max_ops=12), seed=SEEDS)
def test_the_steps_are_the_edges_backward_walks(expr, seed):
    xs = [Value(v) for v in expr.inputs]
    root = expr(*xs)
    order = engine.topological_order(root)
    steps = list(engine.backprop_steps(root, seed))
    assert len(steps) == sum(len(node.parents) for node in order)
    for step in steps:  # each step is local * upstream, added to the parent's sum
        assert same(step.contribution, step.local * step.upstream)
        assert step.node.parents[step.position] == step.parent


MASKED_CASES = [
    # (function of w, w): a masked edge (relu at <= 0, sign, pow at exponent 0) meets
    # an infinite or nan gradient from above; PyTorch selects 0 there
    (lambda w: (w * -1.0).relu().sqrt(), 0.5),
    (lambda w: (w * -1.0).relu().log(), 0.5),
    (lambda w: 1.0 / (w * -1.0).relu(), 0.5),
    (lambda w: w.sign().sqrt(), -0.0),
    (lambda w: (w**0.0) * Value(1000.0).exp(), 2.0),
]


@pytest.mark.parametrize("case", range(len(MASKED_CASES)))
def test_masked_edges_contribute_exactly_zero_in_every_pass(case):
    expr, w0 = MASKED_CASES[case]
    want = by_backward(expr, [w0], 1.0)
    assert want == [0.0] and not math.isnan(want[0])
    for other in PASSES:
        assert other(expr, [w0], 1.0) == [0.0], other.__name__


def test_replay_does_not_fold_a_masked_local_into_a_product_with_zero():
    # the masked local derivative is read at run time from the row's fn: the code
    # names it, never writes 0.0 * g
    w = Value(0.5)
    replay = engine.record((w * -1.0).relu().sqrt(), [w])
    assert "0.0 *" not in replay.source and "_relu(" in replay.source
    assert replay() == 0.0 and w.grad == 0.0


def test_a_node_built_without_local_grads_is_named_when_backward_reaches_it():
    x = Value(0.5)
    blind = Value(2.0, (x, x, x), "triple")  # no local_grads: more than two inputs, too
    y = blind * 3.0
    for run in (
        lambda: y.backward(),
        lambda: list(engine.backprop_steps(y)),
        lambda: list(y.backward_steps()),
    ):
        with pytest.raises(RuntimeError, match=r"_op='triple'.*local_grads"):
            run()
    assert blind.local_grads == (math.nan,) * 3 or all(math.isnan(g) for g in blind.local_grads)
    (x * 2.0).backward()  # a pass that does not reach it is unaffected
    assert x.grad == 2.0


def test_a_user_op_with_many_inputs_backpropagates_each_in_order():
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    s = Value(6.0, (a, b, c, a), "sum4", local_grads=(1.0, 2.0, 3.0, 4.0))
    s.backward()
    assert (a.grad, b.grad, c.grad) == (5.0, 2.0, 3.0)
    steps = list(engine.backprop_steps(s))
    assert [st.position for st in steps] == [0, 1, 2, 3]
    assert [st.parent_grad for st in steps] == [1.0, 2.0, 3.0, 5.0]


def test_a_first_contribution_of_minus_zero_stays_minus_zero_as_in_pytorch():
    # PyTorch stores the first gradient that reaches a node as it is; later ones add
    x = Value(1.0)
    y = x * -0.0
    y.backward()
    assert bits(x.grad) == bits(-0.0)
    y.backward()  # then the sum: -0.0 + -0.0
    assert bits(x.grad) == bits(-0.0)
    x.zero_grad()  # "no gradient yet" again (reads 0.0)
    assert bits(x.grad) == bits(0.0)
    x.grad = 0.0  # an explicit zero starts the sum: 0.0 + -0.0 is 0.0
    y.backward()
    assert bits(x.grad) == bits(0.0)
