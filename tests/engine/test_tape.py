"""The tape: a Wengert list of the recorded operations, printable and replayable."""

from hypothesis import given

from tapegrad import engine
from tapegrad.engine import OPS, Value
from tapegrad.engine.strategies import expressions


def neuron():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.5, label="b")
    s = x1 * w1 + x2 * w2 + b
    s.label = "s"
    z = s.tanh()
    z.label = "z"
    return z, (x1, x2, w1, w2, b)


def test_entries_in_execution_order_with_input_indices():
    z, _ = neuron()
    t = engine.tape(z)
    assert [e.name for e in t] == ["x1", "w1", "v2", "x2", "w2", "v5", "v6", "b", "s", "z"]
    assert t[2].op is OPS["mul"] and t[2].inputs == (0, 1)
    assert t[-1].op is OPS["tanh"] and t[-1].inputs == (8,)
    assert t[-1].value == z.data and t[-1].local_grads == z.local_grads
    assert [e.name for e in t.leaves] == ["x1", "w1", "x2", "w2", "b"]
    assert len(t) == 10
    for e in t:
        assert all(i < e.index for i in e.inputs)


def test_printed_table():
    z, _ = neuron()
    text = str(engine.tape(z))
    lines = text.splitlines()
    assert lines[0].split() == ["#", "name", "op", "inputs", "value", "local", "derivatives"]
    assert "tanh" in lines[-1] and "s" in lines[-1]
    assert any("mul" in line and "x1, w1" in line for line in lines)
    html = engine.tape(z)._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 11


def test_constants_appear_in_place():
    x = Value(3.0, label="x")
    y = 2.0**x - 1
    t = engine.tape(y)
    rows = t.rows()
    assert rows[1][3] == "2, x"  # the constant on the left of **
    assert rows[2][3] == "v1, 1"


def replay(t, leaf_values):
    """Evaluate a tape forward with new leaf values, using only the entries."""
    values = []
    for e in t:
        if e.is_leaf:
            values.append(leaf_values.get(e.index, e.value))
            continue
        args = [values[i] for i in e.inputs]
        if e.constant is not None:
            args.insert(e.constant[0], e.constant[1])
        values.append(e.op.fn(*args)[0])
    return values[-1]


@given(expressions())
def test_each_entry_carries_enough_to_replay_it(expr):
    leaves = [Value(x) for x in expr.inputs]
    out = expr(*leaves)
    t = engine.tape(out)
    assert replay(t, {}) == out.data
    # with new leaf values, replaying the entries equals building the graph afresh
    new_inputs = [x * 1.01 for x in expr.inputs]
    new_value = {leaf: x for leaf, x in zip(leaves, new_inputs)}
    shifted = {e.index: new_value[e.node] for e in t.leaves}
    assert replay(t, shifted) == expr(*new_inputs).data
