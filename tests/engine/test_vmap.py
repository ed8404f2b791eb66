"""Batched replay (engine.vmap): the scalar engine's numbers over a batch, or a refusal.

Every test compares with the scalar engine itself: per-sample losses and gradients
with each sample's own ``backward()``, and the accumulated gradients with
``backward()`` of the batch mean (or sum) -- bit for bit where numpy's operation is
the same IEEE operation, within the stated bound for numpy's libm functions.
"""

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import BatchingError, GraphChangedError, Value
from tapegrad.engine.strategies import expressions
from tapegrad.engine.vmap import EXTREME_SAMPLES
from tapegrad.nn import MLP, losses, moons

from .test_replay import same

#: The rows whose array form is the same IEEE operation as their float form.
EXACT_OPS = ("add", "sub", "mul", "div", "neg", "relu", "abs", "sign", "sqrt")
#: The bound the module docstring states for graphs with numpy's libm functions.
RTOL = 1e-12


def all_same(xs, ys) -> bool:
    return len(xs) == len(ys) and all(same(a, b) for a, b in zip(xs, ys))


def lifted_close(a: float, b: float) -> bool:
    """The lifted program's documented bound: 1e-12 relative, 1e-12 absolute near 0."""
    return same(float(a), float(b)) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def close(a: float, b: float, rtol: float = RTOL) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return same(a, b) or a == b
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300) or a == b


def hinge_of(model):
    return lambda x, y: losses.hinge(model(x), y)


def scalar_batch(model, X, y, loss, reduce="mean"):
    """``backward()`` of the batch mean/sum, built sample by sample, as nn.fit does."""
    model.zero_grad()
    per_sample = [loss(model(x), float(t)) for x, t in zip(X, y)]
    total = losses.mean(per_sample) if reduce == "mean" else sum(per_sample[1:], per_sample[0])
    total.backward()
    return total.data, [v.data for v in per_sample], [p.grad for p in model.parameters()]


# -- exactness ---------------------------------------------------------------------


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_a_relu_mlp_equals_backward_of_the_batch_bit_for_bit(reduce):
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    X, y = moons(1000, seed=1)
    total, per_sample, grads = scalar_batch(model, X, y, losses.hinge, reduce)
    step = engine.vmap(hinge_of(model), model.parameters(), lift=False)
    model.zero_grad()
    out = step(X, y, reduce=reduce)
    assert isinstance(out, np.ndarray) and out.shape == (1000,) and out.dtype == np.float64
    assert all_same(out, per_sample)
    assert same(step.loss, total)
    assert all_same([p.grad for p in model.parameters()], grads)
    assert sum(g != 0.0 for g in grads) > 250  # the test exercises real gradients


@pytest.mark.parametrize("lift", [False, True])
def test_per_sample_gradients_equal_each_samples_own_backward(lift):
    # per entry: bit for bit; lifted: within 1e-12 (a layer's sums re-associate)
    model = MLP(2, [8, 8, 1], rng=random.Random(3))
    X, y = moons(200, seed=2)
    params = model.parameters()
    step = engine.vmap(hinge_of(model), params)
    before = [p.grad for p in params]
    out, grads = step.per_sample_grads(X, y, lift=lift)
    assert [p.grad for p in params] == before  # nothing written
    assert len(grads) == len(params) and all(g.shape == (200,) for g in grads)
    agree = all_same if not lift else lambda a, b: all(map(lifted_close, a, b))
    for k in range(200):
        engine.zero_grad(params)  # no gradient yet: the sum starts at the first term
        loss = losses.hinge(model(X[k]), y[k])
        loss.backward()
        assert agree([out[k]], [loss.data])
        assert agree([g[k] for g in grads], [p.grad for p in params])
    assert sum(g[k] != 0.0 for g in grads) > 20  # real gradients


@given(st.integers(0, 2**32), st.integers(1, 7))
def test_lifted_per_sample_gradients_equal_the_per_entry_path(seed, batch):
    # random student-written networks (skip connections, shared weights, mixed
    # activations, parameters as constants): lifted within 1e-12 of per entry
    from .test_lift import student_batch

    fn, params, X, Y = student_batch(seed, batch)
    step = engine.vmap(fn, params)
    out, grads = step.per_sample_grads(X, Y)
    assert step._per_sample is not None  # the lifted path ran
    exact_out, exact_grads = engine.vmap(fn, params, lift=False).per_sample_grads(X, Y)
    assert all(map(lifted_close, out, exact_out))
    for g, exact in zip(grads, exact_grads):
        assert g.shape == (batch,) and all(map(lifted_close, g, exact))
    # lift=False on the call runs per entry whatever the step's default
    assert all_same(step.per_sample_grads(X, Y, lift=False)[1][0], exact_grads[0])
    with pytest.raises(TypeError, match="lift must be True, False or None"):
        step.per_sample_grads(X, Y, lift="yes")


def test_gradients_accumulate_onto_existing_grads_as_backward_does():
    model = MLP(2, [4, 1], rng=random.Random(1))
    X, y = moons(50, seed=0)
    params = model.parameters()
    _, _, once = scalar_batch(model, X, y, losses.hinge)
    losses.mean([losses.hinge(model(x), float(t)) for x, t in zip(X, y)]).backward()
    twice = [p.grad for p in params]
    step = engine.vmap(hinge_of(model), params, lift=False)
    model.zero_grad()
    step(X, y)
    assert all_same([p.grad for p in params], once)
    step(X, y)
    assert all_same([p.grad for p in params], twice)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_libm_activations_agree_within_the_stated_bound(activation):
    model = MLP(2, [16, 16, 1], activation=activation, rng=random.Random(2))
    X, y = moons(300, seed=3)
    loss = losses.logistic_loss  # softplus: exp and log too
    total, per_sample, grads = scalar_batch(model, X, y, loss)
    step = engine.vmap(lambda x, t: loss(model(x), t), model.parameters())
    model.zero_grad()
    out = step(X, y)
    assert all(close(a, b) for a, b in zip(out, per_sample))
    assert close(step.loss, total)
    assert all(close(p.grad, g) for p, g in zip(model.parameters(), grads))


def test_every_libm_op_in_one_graph_agrees_within_the_bound():
    w = Value(0.7)

    def fn(x):
        return (
            (x * w).sin()
            + (x - w).cos() * (x * x + 1.0).log()
            + (w * x).exp().tanh()
            + (x / w).sigmoid() ** 1.5
        )

    xs = np.linspace(-2.0, 2.0, 101)
    step = engine.vmap(fn, [w])
    out, (grad,) = step.per_sample_grads(xs)
    for k, x in enumerate(xs):
        w.grad = None
        loss = fn(Value(float(x)))
        loss.backward()
        assert close(out[k], loss.data) and close(grad[k], w.grad)


def test_infinities_and_nan_come_out_as_in_floats_without_warnings():
    import warnings

    xs = [1e300, -1e300, 0.0]
    w = Value(1.0)
    step = engine.vmap(lambda x: (w * x) * 1e300, [w])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's RuntimeWarnings would fail the test
        out, (grad,) = step.per_sample_grads(xs)
        w.grad = None
        step(xs, reduce="sum")  # inf + -inf in the batch sum: nan, silently
    assert list(out[:2]) == [math.inf, -math.inf] and list(grad[:2]) == [math.inf, -math.inf]
    v = Value(1.0)
    per_sample = [(v * x) * 1e300 for x in xs]
    (per_sample[0] + per_sample[1] + per_sample[2]).backward()
    assert math.isnan(v.grad) and same(w.grad, v.grad)


def test_masked_edges_give_zero_not_nan_as_in_the_scalar_engine():
    # relu(-w x) = 0 for x > 0: sqrt's derivative there is inf, the masked edge gives 0
    w = Value(0.5)
    fn = lambda x: (w * -x).relu().sqrt() + (x * 0.0).sign() * (x * 1000.0).exp()
    xs = [1.0, 2.0, -1.0, 0.0, 800.0]
    _, (grad,) = engine.vmap(fn, [w]).per_sample_grads(xs)
    for k, x in enumerate(xs):
        w.grad = None
        fn(Value(x)).backward()
        assert same(grad[k], w.grad)
    assert grad[0] == 0.0 and not math.isnan(grad[4])


@given(expressions(min_inputs=2, max_ops=10, ops=EXACT_OPS), st.data())
def test_random_trees_of_exact_ops_equal_scalar_backward_bit_for_bit(expr, data):
    check_tree(expr, data, same, lift=False)


@given(expressions(min_inputs=2, max_ops=10), st.data())
def test_random_trees_of_every_op_equal_scalar_backward_within_the_bound(expr, data):
    # libm differences grow through a tree as any rounding does; 1e-9 relative is
    # thousands of times the per-op bound and still catches any wrong derivative
    check_tree(expr, data, lambda a, b: close(a, b, 1e-9) or abs(a - b) < 1e-12)


def check_tree(expr, data, agree, lift=True):
    """The first input is a shared parameter, the others per-sample columns drawn
    near the expression's own inputs. (``lift=False``: the per-entry path, bit for
    bit; the lifted program re-associates sums.)"""
    batch = data.draw(st.integers(1, 6), label="B")
    scales = [
        [data.draw(st.floats(0.9, 1.1), label="scale") for _ in expr.inputs[1:]]
        for _ in range(batch)
    ]
    columns = [[x * s[j] for s in scales] for j, x in enumerate(expr.inputs[1:])]
    w = Value(expr.inputs[0])
    step = engine.vmap(lambda *xs: expr(w, *xs), [w], lift=lift)
    out, (grad,) = step.per_sample_grads(*columns)
    w.grad = None
    total = step(*columns, reduce="sum")
    for p in range(batch):
        w.grad = None
        loss = expr(w, *[Value(c[p]) for c in columns])
        loss.backward()
        assert agree(out[p], loss.data) and agree(total[p], loss.data)
        assert agree(grad[p], w.grad)
    # backward() of the batch sum: the batch in one graph, sample after sample
    per_sample = [expr(w, *[Value(c[p]) for c in columns]) for p in range(batch)]
    batch_sum = per_sample[0]
    for loss in per_sample[1:]:
        batch_sum = batch_sum + loss
    w.grad = None
    batch_sum.backward()
    reference = w.grad
    w.grad = None
    step(*columns, reduce="sum")
    assert agree(w.grad, reference)


# -- what a call returns and reads ----------------------------------------------------


def test_watched_outputs_come_back_per_sample_in_the_functions_nesting():
    model = MLP(2, [4, 3], rng=random.Random(0))
    X = [[0.1, 0.2], [0.3, -0.4]]

    def fn(x, onehot):
        logits = model(x)
        return losses.softmax_cross_entropy(logits, onehot), logits, logits[0]

    step = engine.vmap(fn, model.parameters(), lift=False)  # bit for bit: per entry
    out, logits, first = step(X, [[1, 0, 0], [0, 0, 1]])
    assert logits.shape == (2, 3) and first.shape == (2,)
    with engine.no_grad():
        for k, x in enumerate(X):
            assert [v.data for v in model(x)] == list(logits[k])
            assert out[k] == losses.softmax_cross_entropy(model(x), [0, 2][k]).data


def test_shared_values_are_read_at_each_call_and_only_params_get_gradients():
    w, c = Value(2.0), Value(3.0)
    step = engine.vmap(lambda x: w * x + c, [w])
    assert list(step([1.0, 2.0])) == [5.0, 7.0]
    c.data = 10.0
    assert list(step([1.0, 2.0])) == [12.0, 14.0]
    assert c.grad == 0.0 and w.grad == 1.5 + 1.5


def test_a_function_of_shared_values_only_broadcasts_to_the_batch():
    w = Value(2.0)
    out = engine.vmap(lambda x: w * 3.0, [w])([1.0, 2.0, 3.0], reduce="sum")
    assert list(out) == [6.0, 6.0, 6.0] and w.grad == 9.0


def test_rows_of_numbers_become_lists_of_values_and_numpy_columns_work():
    seen = []

    def fn(x, y):
        seen.append((type(x), len(x), type(y)))
        return x[0] * x[1] + y

    step = engine.vmap(fn, [])
    out = step(np.array([[1, 2], [3, 4]]), np.array([0.5, 0.25]))
    assert list(out) == [2.5, 12.25] and seen[0] == (list, 2, Value)


def test_the_source_is_the_replay_program_on_arrays():
    w = Value(1.0)
    step = engine.vmap(lambda x: (w * x).tanh(), [w])
    assert "not recorded" in repr(step)
    step([1.0])
    assert "_tanh(" in step.source and "def replay" in step.source
    assert "2 tape entries" in repr(step) or "tape entries" in repr(step)


@pytest.mark.parametrize("lift", [True, False])
def test_the_step_and_the_lifted_program_count_the_same_tape_entries(lift):
    # the ops of one sample are "tape entries" everywhere; the leaves are counted apart
    model = MLP(2, [4, 1], rng=random.Random(0))
    step = engine.vmap(hinge_of(model), model.parameters(), lift=lift)
    step.record(*moons(10, seed=0))
    loss = losses.hinge(model([Value(0.1), Value(0.2)]), Value(1.0))
    order = engine.topological_order(loss)
    ops = sum(1 for v in order if not v.is_leaf)
    leaves = len(order) - ops  # 2 inputs, the label, 17 parameters
    assert (ops, leaves) == (32, 20)
    shown = repr(step)
    assert shown.startswith(f"<BatchedStep of {ops} tape entries per sample (reading 3 ")
    assert "and 17 shared leaves)" in shown
    assert f"<Recording of {ops} tape entries and {leaves} leaves" in repr(step.recording)
    if lift:
        program = step.lifted.program
        assert program.entry_count == ops
        assert str(program).startswith(f"# {ops} tape entries -> ")
        assert f"lifted into {len(program.instructions)} instructions (" in shown
    else:
        assert "run entry by entry" in shown
    replay = engine.record(loss)
    assert repr(replay).startswith(f"<Replay of {ops} tape entries and {leaves} leaves")


# -- refusals -------------------------------------------------------------------------


def test_control_flow_on_data_is_refused():
    w = Value(1.0)

    def branchy(x):
        return (w * x).tanh() if x.data > 0 else w * x

    with pytest.raises(GraphChangedError, match=r"reads the number of a Value.*`\.data`"):
        engine.vmap(branchy, [w])([1.0, 2.0, -1.0])


def test_a_label_read_as_a_number_is_refused():
    w = Value(1.0)
    with pytest.raises(GraphChangedError, match=r"`\.data`, at .*test_vmap\.py"):
        engine.vmap(lambda x, y: (1.0 - y.data * w * x).relu(), [w])([1.0, 2.0], [1, -1])


def test_a_leaf_made_from_the_samples_numbers_is_refused():
    w = Value(1.0)
    with pytest.raises(GraphChangedError, match=r"`\.data`"):
        engine.vmap(lambda x: w * Value(x.data), [w])([1.0, 2.0, 3.0])


# The re-trace check, the second line of defence: what no read shows (numbers the
# function takes from outside, changing from one trace to the next) is refused too.


def test_a_leaf_made_anew_at_each_trace_is_refused():
    w = Value(1.0)
    traces = itertools.count()
    with pytest.raises(GraphChangedError, match="pass them as a column"):
        engine.vmap(lambda x: w * x * Value(next(traces)), [w])([1.0, 2.0, 3.0])


def test_check_re_traces_a_chosen_sample_on_demand():
    w = Value(1.0)
    plus = [False]  # a switch read from outside: no read of a traced number shows it
    step = engine.vmap(lambda x: w + x if plus[0] else w * x, [w])
    step.check([1.0, 2.0, 3.0])  # records on sample 0, re-traces the others
    plus[0] = True
    with pytest.raises(GraphChangedError, match="on sample 1"):
        step.check([1.0, 20.0])
    with pytest.raises(ValueError, match="index into the batch of 2"):
        step.check([1.0, 2.0], sample=2)
    assert w.grad == 0.0


def test_check_every_re_traces_later_batches():
    w = Value(1.0)
    plus = [False]
    step = engine.vmap(lambda x: w + x if plus[0] else w * x, [w], check_every=1)
    step([1.0, 2.0, 3.0])
    plus[0] = True
    with pytest.raises(GraphChangedError):
        step([1.0, 20.0, 30.0])


def test_a_user_defined_op_without_an_array_form_is_refused():
    w = Value(1.0)

    def fn(x):
        s = w * x
        return Value(8.0, (s,), "cube", local_grads=(12.0,))  # numbers of no traced read

    with pytest.raises(BatchingError, match="no vectorized form"):
        engine.vmap(fn, [w])([1.0, 2.0])


@pytest.mark.parametrize(
    "columns, error, message",
    [
        (([1.0, 2.0], [1.0]), ValueError, r"lengths differ: \[2, 1\]"),
        (([[1.0, 2.0], [3.0]], [1.0, 2.0]), ValueError, "ragged"),
        ((["a", "b"], [1.0, 2.0]), TypeError, "real numbers"),
        (([None, 1.0], [1.0, 2.0]), TypeError, "real numbers"),
        (([1.0, 2.0],), TypeError, "takes 2 per-sample argument"),
        (([1.0], [1.0], [1.0]), TypeError, "takes 2 per-sample argument"),
        ((3.0, [1.0]), TypeError, "one entry per sample"),
        (([], []), ValueError, "at least one sample"),
        (([True, False], [1.0, 2.0]), TypeError, "real numbers"),
        (((x for x in [1.0, 2.0]), [1.0, 2.0]), TypeError, "got generator .make it a list"),
    ],
)
def test_bad_columns_are_refused_naming_the_problem(columns, error, message):
    w = Value(1.0)
    step = engine.vmap(lambda x, y: w * x + y, [w])
    with pytest.raises(error, match=message):
        step(*columns)
    assert w.grad == 0.0


def test_optional_and_variable_arguments_take_that_many_columns():
    w = Value(1.0)
    assert list(engine.vmap(lambda x, y=None: w * x, [w])([1.0, 2.0])) == [1.0, 2.0]
    assert list(engine.vmap(lambda *xs: w * xs[-1], [w])([1.0], [3.0])) == [3.0]
    with pytest.raises(TypeError, match="takes 1 to 2 per-sample"):
        engine.vmap(lambda x, y=None: w * x, [w])([1.0], [1.0], [1.0])


def test_bad_reduce_params_and_shapes_are_refused():
    w = Value(1.0)
    step = engine.vmap(lambda x: w * x, [w])
    with pytest.raises(ValueError, match="reduce must be one of 'mean', 'sum'"):
        step([1.0], reduce="max")
    with pytest.raises(TypeError, match="list of Values, got one Value"):
        engine.vmap(lambda x: w * x, w)
    with pytest.raises(ValueError, match="leaves"):
        engine.vmap(lambda x: w * x, [w * 2.0])
    with pytest.raises(TypeError, match="function"):
        engine.vmap(3.0, [w])
    with pytest.raises(TypeError, match="must return a Value"):
        engine.vmap(lambda x: 3.0, [w])([1.0])
    with pytest.raises(ValueError, match="check_every"):
        engine.vmap(lambda x: w * x, [w], check_every=0)
    for wrong_type in ("a", 2.0, True):  # as engine.compile: a wrong type is a TypeError
        with pytest.raises(TypeError, match="check_every"):
            engine.vmap(lambda x: w * x, [w], check_every=wrong_type)
    step([1.0, 2.0])
    with pytest.raises(ValueError, match="per-sample shapes"):
        step([[1.0, 2.0]])


def test_a_branch_taken_by_one_sample_in_the_middle_of_the_batch_is_refused():
    # Sample 3 alone takes the other way: not the first, the middle or the last one,
    # but it holds the smallest number of its column, which is re-traced.
    w = Value(1.0)
    xs = [1.0, 2.0, 3.0, -1.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]

    def branchy(x):
        return (w * x).tanh() if x.data > 0 else w * x

    with pytest.raises(GraphChangedError, match=r"reads the number of a Value.*`\.data`"):
        engine.vmap(branchy, [w])(xs)
    assert w.grad == 0.0


def test_a_label_read_as_a_number_is_refused_whichever_sample_differs():
    # Samples 0, 2 (the middle) and 3 (the last) share the label +1; sample 1 has -1.
    w = Value(1.0)
    step = engine.vmap(lambda x, y: (1.0 - y.data * w * x).relu(), [w])
    with pytest.raises(GraphChangedError, match=r"`\.data`"):
        step([1.0, 2.0, 3.0, 4.0], [1, -1, 1, 1])
    assert w.grad == 0.0


def test_a_sample_with_nan_is_re_traced_too():
    w = Value(1.0)

    def branchy(x):
        return w * x if x.data == x.data else w + x  # a branch on nan

    with pytest.raises(GraphChangedError):
        engine.vmap(branchy, [w])([1.0, math.nan, 2.0, 3.0, 4.0, 5.0])


def test_the_extreme_samples_re_traced_are_bounded():
    w = Value(1.0)
    seen = []

    def f(*xs):
        seen.append(len(seen))  # one more trace
        total = w * xs[0]
        for x in xs[1:]:
            total = total + x
        return total

    columns = [np.arange(100.0) * (1 if k % 2 else -1) + k for k in range(40)]
    engine.vmap(f, [w]).record(*columns)
    # the recording, the last and the middle sample, and at most EXTREME_SAMPLES more
    assert len(seen) <= 3 + EXTREME_SAMPLES


def test_detect_anomaly_names_the_op_whichever_sample_makes_the_nan():
    # Only sample 2 takes log of a negative number: the batch would give nan silently.
    w = Value(1.0)
    step = engine.vmap(lambda x: (w * x).log(), [w])
    step([1.0, 2.0, 3.0, 4.0])  # recorded outside anomaly mode
    with engine.detect_anomaly(), pytest.raises(engine.AnomalyError, match="op 'log'"):
        step([1.0, 2.0, -3.0, 4.0, 5.0])
    assert w.grad == 0.25 * (1.0 + 1.0 + 1.0 + 1.0)  # unchanged by the refused call
    with engine.detect_anomaly(), pytest.raises(engine.AnomalyError):
        step.per_sample_grads([1.0, 2.0, -3.0, 4.0, 5.0])
    with engine.detect_anomaly():
        assert all_same(step([1.0, math.e]), [0.0, 1.0])


def test_a_gradient_graph_through_a_selection_is_refused_not_replayed_wrong():
    # grad(relu(w0 x0 + w1 x1), x0) with create_graph=True is a graph of the branch
    # each sample's numbers chose (w0 where relu passes, 0 where it masks): replayed,
    # the recorded branch would be used for every sample. Sample 2 (0.5, 1.0) is
    # masked; no re-traced sample (first, middle, last, extremes) is.
    w0, w1 = Value(1.0), Value(-1.0)

    def penalty(x0, x1):
        (g0,) = engine.grad((w0 * x0 + w1 * x1).relu(), [x0], create_graph=True)
        return g0 * w0

    X = np.array([[1.0, 0.0], [5.0, 0.0], [0.5, 1.0], [2.0, 1.0], [3.0, 1.0], [-1.0, -2.0]])
    X = np.vstack([X, [[6.0, 2.0]]])
    with pytest.raises(BatchingError, match="create_graph=True through an op whose derivative"):
        engine.vmap(penalty, [w0, w1])(X[:, 0], X[:, 1])
    assert w0.grad == 0.0
    with pytest.raises(engine.ReplayError, match=r"engine\.compile cannot replay"):
        engine.compile(lambda: penalty(Value(1.0), Value(0.0)), [w0, w1])


def test_a_gradient_graph_of_smooth_ops_and_number_powers_is_batched():
    w = Value(0.7)

    def penalty(x):
        (g,) = engine.grad((w * x).tanh() + (w * x) ** 2, [x], create_graph=True)
        return g * g

    xs = [0.5, -1.0, 2.0, 0.0]
    out = engine.vmap(penalty, [w])(xs)
    w.grad = None
    per_sample = [penalty(Value(x)) for x in xs]
    losses.mean(per_sample).backward()
    assert all(close(a, b.data) for a, b in zip(out, per_sample))
    scalar = w.grad
    w.grad = None
    engine.vmap(penalty, [w])(xs)
    assert close(w.grad, scalar)


def test_a_column_of_empty_rows_gives_the_function_empty_lists():
    w = Value(2.0)
    step = engine.vmap(lambda x, extra: w * x + len(extra), [w])
    assert all_same(step([1.0, 2.0], np.zeros((2, 0))), [2.0, 4.0])
    assert w.grad == 1.5


def test_a_shared_result_of_ops_made_outside_is_recomputed_and_close_to_backward():
    w = Value(1.5)
    h = (w * 2.0).tanh()
    xs = [1.0, 2.0, 3.0]
    out = engine.vmap(lambda x: h * x, [w])(xs)
    batched = w.grad
    w.grad = None
    losses.mean([h * x for x in xs]).backward()
    assert all(close(a, h.data * x) for a, x in zip(out, xs))
    assert close(batched, w.grad)  # within rounding: summed per sample, not at h
    w.data = 0.2  # recomputed from the leaf's current number, as engine.compile does
    assert close(engine.vmap(lambda x: h * x, [w])([1.0])[0], math.tanh(0.4))


def test_a_gradient_graph_through_sign_selectors_is_batched():
    # softmax cross-entropy's max is selected by relu(sign(v - m)): relu's derivative is
    # chosen by the number, but sign passes an exact 0 whatever it is, so the
    # gradient's graph is the same for every sample and is batched.
    w = [Value(0.7), Value(-0.4), Value(0.2)]

    def penalty(x, y):
        logits = [(wk * x).tanh() for wk in w]
        (g,) = engine.grad(losses.softmax_cross_entropy(logits, y), [x], create_graph=True)
        return g * g

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=30), np.eye(3)[rng.integers(0, 3, 30)]
    out = engine.vmap(penalty, w)(X, Y)
    batched = [p.grad for p in w]
    for p in w:
        p.grad = None
    per_sample = [penalty(Value(a), [Value(float(t)) for t in row]) for a, row in zip(X, Y)]
    losses.mean(per_sample).backward()
    assert all(close(a, b.data) for a, b in zip(out, per_sample))
    assert all(close(a, p.grad, 1e-9) for a, p in zip(batched, w))


def test_a_parameter_listed_twice_is_refused():
    # Its gradient would be added twice; the optimizers refuse it too (QA).
    w = Value(0.5)
    with pytest.raises(ValueError, match=r"appears twice in params.*dict\.fromkeys"):
        engine.vmap(lambda x: w * x, [w, w])


def test_the_recording_shows_one_samples_tape_and_which_leaves_are_per_sample():
    w = Value(2.0)
    step = engine.vmap(lambda x, y: ((w * x[1] + x[0]).tanh() - y, x[0]), [w])
    assert not hasattr(step, "recording")
    step.record([[1.0, 2.0], [3.0, 4.0]], [0.5, 0.25])
    rec = step.recording
    assert rec.where == ((0, 0), (0, 1), (1, 0))
    leaves = rec.walk.leaves()
    assert [rec.sources[j] for j in range(len(leaves))] == [
        -1 if leaf is w else rec.inputs.index(leaf) for leaf in leaves
    ]
    assert rec.walk.items[rec.watch[0]] is rec.inputs[0]
    assert rec.root.data == math.tanh(2.0 * 2.0 + 1.0) - 0.5
    assert rec.nesting == [None] and rec.checks == ()


def test_per_sample_grads_checks_every_sample_and_runs_per_entry_past_the_loss():
    # a number the function checks but the loss does not read: the lifted program
    # computes it too, unless the tape goes on past the loss (then per entry); every
    # path checks every sample and gives the per-entry numbers within the bound
    from tapegrad.engine import trace

    w = Value(0.5)

    def checked_before(x, y):  # the checked number first: the loss ends the tape
        trace.require(y * 2.0, lambda n: n > -10.0, lambda n: f"too small: {n}")
        return (x * w).tanh()

    def checked_after(x, y):  # the loss first: the checked number comes after it
        loss = (x * w).tanh()
        trace.require(y * 2.0, lambda n: n > -10.0, lambda n: f"too small: {n}")
        return loss

    xs, ys = [0.5, -1.0, 2.0], [1.0, 2.0, 3.0]
    for fn, lifts in ((checked_before, True), (checked_after, False)):
        step = engine.vmap(fn, [w])
        out, (grad,) = step.per_sample_grads(xs, ys)
        assert (step.lifted is not None, step._per_sample is not None) == (lifts, lifts)
        assert ("run entry by entry" in repr(step)) == (not lifts)
        exact_out, (exact,) = engine.vmap(fn, [w], lift=False).per_sample_grads(xs, ys)
        assert all(map(lifted_close, out, exact_out)) and all(map(lifted_close, grad, exact))
        # the check holds on every sample, lifted or not, before anything is returned
        with pytest.raises(ValueError, match="too small"):
            step.per_sample_grads(xs, [1.0, -20.0, 0.0])
