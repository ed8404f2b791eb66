"""Tape replay: the same floats as a fresh backward(), bit for bit, or a clear refusal."""

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import OPS, GraphChangedError, ReplayError, Value
from tapegrad.engine.strategies import expressions, floats_between


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(a: float, b: float) -> bool:
    """Equal bit for bit (so 0.0 and -0.0 differ); any two nans count as equal."""
    return bits(a) == bits(b) or (math.isnan(a) and math.isnan(b))


def fresh(expr, numbers):
    """Value and gradients from building the graph anew and calling backward()."""
    xs = [Value(v) for v in numbers]
    root = expr(*xs)
    root.backward()
    return root.data, [x.grad for x in xs]


@given(expressions(max_ops=12), st.data())
def test_replay_equals_a_fresh_backward_bit_for_bit(expr, data):
    xs = [Value(v) for v in expr.inputs]
    step = engine.compile(lambda: expr(*xs), xs)
    # new numbers for the leaves, anywhere in a moderate range
    new = [data.draw(floats_between(-3.0, 3.0, (0.0,)), label=f"x{i}") for i in range(len(xs))]
    for x, v in zip(xs, new):
        x.data = v
    value = step()
    want_value, want_grads = fresh(expr, new)
    assert same(value, want_value)
    assert all(same(x.grad, g) for x, g in zip(xs, want_grads))


@given(expressions(max_ops=8))
def test_replay_accumulates_into_leaves_like_backward(expr):
    xs = [Value(v) for v in expr.inputs]
    root = expr(*xs)
    replay = engine.record(root, xs)
    replay()
    replay()  # a second call adds again, as a second backward() does
    ys = [Value(v) for v in expr.inputs]
    again = expr(*ys)
    again.backward()
    again.backward()
    assert all(same(x.grad, y.grad) for x, y in zip(xs, ys))


@given(expressions(max_ops=8))
def test_run_is_a_pure_function_of_the_leaf_numbers(expr):
    xs = [Value(v) for v in expr.inputs]
    root = expr(*xs)
    replay = engine.record(root)
    value, grads, _ = replay.run([leaf.data for leaf in replay.leaves])
    root.backward()
    assert same(value, root.data)
    assert all(same(g, leaf.grad) for g, leaf in zip(grads, replay.leaves))
    assert all(x.grad == 0.0 or x in replay.leaves for x in xs)


@given(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_inlined_add_and_mul_match_their_rows_bit_for_bit(a, b):
    x, y = Value(a), Value(b)
    for name, build in (("add", lambda: x + y), ("mul", lambda: x * y)):
        out, dx, dy = OPS[name].fn(a, b)
        value, (gx, gy), _ = engine.record(build()).run([a, b], seed=1.0)
        assert same(value, out)
        if math.isfinite(dx) and math.isfinite(dy):
            assert same(gx, dx) and same(gy, dy)


@pytest.mark.parametrize("name", ["relu", "abs", "sign"])
def test_kinked_ops_are_re_evaluated_on_replay(name):
    x = Value(2.0)
    step = engine.compile(lambda: getattr(x, name)() * x, [x])
    x.data = -3.0
    x.grad = 0.0
    value = step()
    want_value, (want_grad,) = fresh(lambda v: getattr(v, name)() * v, [-3.0])
    assert value == want_value and x.grad == want_grad


def test_constants_are_replayed_exactly_including_non_finite_ones():
    x = Value(0.5)
    step = engine.compile(lambda: (x * math.inf).tanh() + 2.0**x - 1.5 / x, [x])
    x.data = 0.25
    value = step()
    want_value, (want_grad,) = fresh(lambda v: (v * math.inf).tanh() + 2.0**v - 1.5 / v, [0.25])
    assert same(value, want_value) and same(x.grad, want_grad)  # inf · 0 makes a nan


def test_a_loop_of_training_steps_matches_eager_training():
    def model(w, b, xs):
        return [((w * x + b).tanh() - t) ** 2 for x, t in xs]

    data = [(0.5, 0.2), (-1.0, -0.7), (2.0, 0.9)]
    w1, b1 = Value(0.1), Value(0.0)
    w2, b2 = Value(0.1), Value(0.0)
    step = engine.compile(lambda: sum(model(w1, b1, data)), [w1, b1])
    for _ in range(20):
        for p in (w1, b1, w2, b2):
            p.grad = 0.0
        loss1 = step()
        loss2 = sum(model(w2, b2, data))
        loss2.backward()
        assert loss1 == loss2.data and w1.grad == w2.grad and b1.grad == b2.grad
        for p in (w1, b1, w2, b2):
            p.data -= 0.3 * p.grad


def test_watched_values_come_back_in_the_same_nesting():
    x = Value(1.5)

    def fn():
        a, b = x * 2.0, x.tanh()
        return a + b, [a, (b,)], a

    value, outputs, a = engine.compile(fn, [x])()
    assert value == 3.0 + math.tanh(1.5)
    assert outputs == [3.0, (math.tanh(1.5),)] and a == 3.0


def test_source_is_straight_line_code_over_the_tape():
    x = Value(0.3, label="x")
    source = engine.record((x * x).tanh()).source
    assert "v2, d2_0 = _tanh((v0 * v0))" in source  # a value read once is written in place
    # backward's own pass run on names: each edge one product, each sum one line
    assert "g0 = d2_0 * seed" in source
    assert "g1 = gin[0] + v0 * g0" in source and "g1 = g1 + v0 * g0" in source
    shared = engine.record((x * 2.0 + x * 3.0).tanh()).source
    # x * 2.0 and x * 3.0 pass on the add's gradient unchanged: no line of their own
    assert "g1 = gin[0] + 3.0 * g0" in shared and "g1 = g1 + 2.0 * g0" in shared
    assert shared.count(" = ") == shared.count("\n") - 2  # no other lines


def test_long_sums_are_split_into_lines():
    xs = [Value(float(i)) for i in range(200)]
    replay = engine.record(sum(x * x for x in xs), xs)
    assert max(line.count("(") for line in replay.source.splitlines()) <= 2 * 32
    value, grads, _ = replay.run([x.data for x in xs])
    assert value == sum(float(i) * i for i in range(200)) and grads == [2.0 * i for i in range(200)]


def test_a_branch_on_a_traced_number_is_refused_when_recorded():
    x = Value(1.0)

    def branchy():
        return x * x if x.data > 0 else x.tanh()

    with pytest.raises(engine.TracedReadError, match=r"`\.data`, at .*test_replay\.py:\d+"):
        engine.compile(branchy, [x])
    with pytest.raises(engine.TracedReadError, match=r"if x\.data > 0 else"):  # the line
        engine.compile(branchy, [x])


# The re-trace check, the second line of defence: a graph that changes with numbers
# the reads do not show (captured from outside the function) is refused.


def test_a_graph_that_changes_between_calls_is_refused():
    x = Value(1.0)
    square = [True]  # a switch the function reads from outside, not a traced number

    def branchy():
        return x * x if square[0] else x.tanh()

    step = engine.compile(branchy, [x], check_every=1)
    step()
    step()  # second call re-traces: same branch, fine
    square[0] = False
    with pytest.raises(GraphChangedError, match="tape entry v1 was mul"):
        step()
    with pytest.raises(GraphChangedError, match="depends on the numbers"):
        step.check()


def test_a_constant_that_changes_between_calls_is_refused():
    x = Value(2.0)
    shift = [2.0]
    step = engine.compile(lambda: (x - shift[0]).exp(), [x])
    shift[0] = 3.0
    with pytest.raises(GraphChangedError, match="constant"):
        step.check()


def test_a_different_number_of_ops_is_refused():
    x = Value(2.0)
    cube = [False]
    step = engine.compile(lambda: x * x * x if cube[0] else x * x, [x], check_every=2)
    cube[0] = True
    step()  # the first call is not checked (it replays the recording)
    with pytest.raises(GraphChangedError, match="entries"):
        step()


def test_new_leaves_from_changing_numbers_are_refused():
    numbers = [1.0]
    w = Value(0.5)
    step = engine.compile(lambda: w * Value(numbers[0]), [w])
    numbers[0] = 4.0
    with pytest.raises(GraphChangedError, match="creates its inputs anew"):
        step.check()


def test_ops_outside_the_table_cannot_be_replayed():
    x = Value(0.5)
    custom = Value(math.exp(0.5), (x,), "myexp", local_grads=(math.exp(0.5),))
    with pytest.raises(ReplayError, match="myexp"):
        engine.record(custom * 2.0)


def test_bad_arguments_are_refused():
    x = Value(1.0)
    y = x * 2.0
    with pytest.raises(TypeError, match="function"):
        engine.compile(3)
    with pytest.raises(ValueError, match="check_every"):
        engine.compile(lambda: y, check_every=0)
    for wrong_type in ("a", 2.0, True):
        with pytest.raises(TypeError, match="check_every"):
            engine.compile(lambda: y, check_every=wrong_type)
    with pytest.raises(TypeError, match="must return a Value"):
        engine.compile(lambda: 1.0)
    with pytest.raises(TypeError, match="wrt must hold Values"):
        engine.record(y, [1.0])
    with pytest.raises(ValueError, match="leaves"):
        engine.record(y, [y])
    with pytest.raises(TypeError, match="records a Value"):
        engine.record(2.0)
    with pytest.raises(ValueError, match="expected 1 leaf values"):
        engine.record(y).run([])
    with pytest.raises(ValueError, match="not part of the graph"):
        engine.compile(lambda: (y, Value(3.0)))


def test_a_wrt_leaf_outside_the_graph_keeps_its_gradient():
    x, unused = Value(1.0), Value(5.0)
    unused.grad = 7.0
    engine.record(x * 3.0, [x, unused])()
    assert x.grad == 3.0 and unused.grad == 7.0


@given(
    expressions(max_ops=30, ops=("add", "mul", "tanh", "relu", "abs", "sign", "exp")),
    st.data(),
)
def test_signed_zeros_and_long_sums_replay_bit_for_bit(expr, data):
    # zeros of both signs make -0.0 gradients: sharing and inlining must keep them
    numbers = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -2.0])
    new = [data.draw(numbers, label=f"x{i}") for i in range(len(expr.inputs))]
    xs = [Value(v) for v in expr.inputs]
    step = engine.compile(lambda: expr(*xs) * -0.0 + expr(*xs), xs)
    for x, v in zip(xs, new):
        x.data, x.grad = v, -0.0  # a -0.0 start keeps the sign of zero contributions
    value = step()
    ys = [Value(v) for v in new]
    for y in ys:
        y.grad = -0.0
    root = expr(*ys) * -0.0 + expr(*ys)
    root.backward()
    assert same(value, root.data)
    assert all(same(x.grad, y.grad) for x, y in zip(xs, ys))


def test_detect_anomaly_re_traces_a_replayed_step_and_names_the_op():
    w = Value(1.0)
    step = engine.compile(lambda: (w * 2.0).log(), [w])
    assert step() == math.log(2.0)
    w.data, w.grad = -1.0, None
    with engine.detect_anomaly(), pytest.raises(engine.AnomalyError, match="op 'log'"):
        step()  # replayed alone it gives nan silently
    assert w.grad == 0.0
    w.data = 0.5
    with engine.detect_anomaly():
        assert step() == 0.0 and w.grad == 2.0


def test_a_leaf_listed_twice_in_wrt_is_refused():
    # Its gradient would be added twice; the optimizers refuse it too (QA).
    w, x = Value(0.5), Value(2.0)
    with pytest.raises(ValueError, match="appears twice in wrt"):
        engine.compile(lambda: w * x, [w, w])
