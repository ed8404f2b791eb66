"""Formulas as text: the graph equals the Python expression's, and nothing else parses."""

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.expr import ExpressionError, parse_expression


def test_the_neuron_matches_the_python_expression():
    values = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}
    root, leaves = parse_expression("tanh(x1*w1 + x2*w2 + b)", values)
    assert list(leaves) == list(values)
    assert all(leaves[k].label == k and leaves[k].data == v for k, v in values.items())
    x1, x2, w1, w2, b = (Value(v) for v in values.values())
    expected = (x1 * w1 + x2 * w2 + b).tanh()
    assert root.data == expected.data
    assert [e.node.op for e in engine.tape(root)] == [e.node.op for e in engine.tape(expected)]
    root.backward()
    expected.backward()
    assert [leaves[k].grad for k in values] == [v.grad for v in (x1, x2, w1, w2, b)]


def test_a_variable_used_twice_is_one_leaf():
    root, leaves = parse_expression("x*x", {"x": 3.0})
    assert root.parents == (leaves["x"], leaves["x"])
    root.backward()
    assert leaves["x"].grad == 6.0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x - 1", 2.0),
        ("-x", -3.0),
        ("+x", 3.0),
        ("x / 2", 1.5),
        ("2 / x", 2 / 3),
        ("x ** 2", 9.0),
        ("2 ** x", 8.0),
        ("pow(x, 2)", 9.0),
        ("exp(0) * x", 3.0),
        ("x * (1 + 1e-1)", 3.0 * 1.1),
        ("sigmoid(x) + relu(-x) + abs(x) + sqrt(x) + sin(x) + cos(x) + log(x) + sign(x)", None),
    ],
)
def test_operators_and_every_op_of_the_table(text, expected):
    root, _ = parse_expression(text, {"x": 3.0})
    if expected is None:
        x = 3.0
        expected = (
            (1 / (1 + math.exp(-x)) + 0 + x + math.sqrt(x) + math.sin(x) + math.cos(x))
            + math.log(x)
            + 1
        )
    assert root.data == pytest.approx(expected, rel=1e-12)


def test_numbers_alone_fold_into_constants():
    root, _ = parse_expression("x * (2 * 3) + 1 / 0 * 0 + 0", {"x": 1.0})
    assert math.isnan(root.data)  # inf * 0, as IEEE and PyTorch say
    root, _ = parse_expression("x * (2 * 3)", {"x": 1.0})
    assert root.constant == (1, 6.0) and len(engine.tape(root)) == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("x +", "syntax error"),
        ("tanh(x", "syntax error at column"),
        ("", "empty"),
        ("y + x", "unknown name 'y' at column 1"),
        ("x + foo(x)", "unknown function 'foo' at column 5"),
        ("x.real", "attribute access at column 1 is not allowed"),
        ("x[0]", "a subscript at column 1"),
        ("x < 1", "a comparison"),
        ("x // 2", "operator FloorDiv at column 1 is not allowed"),
        ("tanh(x, x)", r"tanh\(\) at column 1 takes 1 argument"),
        ("pow(x=x, y=2)", "keyword"),
        ("exp", "is an op: call it"),
        ("(lambda: 1)()", "only the op table's functions"),
        ("__import__('os')", "unknown function '__import__'"),
        ("'a' * x", "is not a real number"),
        ("True * x", "is not a real number"),
        ("1e999 * x", "too large"),
        ("1" + "0" * 400 + " * x", "too large"),
        ("2 + 3", "no variables"),
    ],
)
def test_everything_else_is_refused_with_a_pointed_message(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, {"x": 1.0})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"x": 1.0, "z": 2.0}, "z given a value but not used"),
        ({"x": "1"}, "must be a number"),
        ({"x": True}, "must be a number"),
        ({"x": 10**400}, "too large for a float"),
        ({"x": 1.0, "tanh": 1.0}, "name of an op"),
        ({"x": 1.0, "not a name": 1.0}, "not a variable name"),
    ],
)
def test_bad_bindings_are_refused(values, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression("x + 1", values)


def test_argument_types_are_checked():
    with pytest.raises(TypeError, match="must be a str"):
        parse_expression(b"x", {"x": 1.0})
    with pytest.raises(TypeError, match="dict"):
        parse_expression("x", [("x", 1.0)])


@given(st.floats(-5, 5), st.floats(-5, 5))
def test_parsed_and_python_graphs_give_the_same_gradients(a, b):
    root, leaves = parse_expression("tanh(a * b + a) - b / (1 + a * a)", {"a": a, "b": b})
    va, vb = Value(a), Value(b)
    expected = (va * vb + va).tanh() - vb / (1 + va * va)
    root.backward()
    expected.backward()
    assert root.data == expected.data
    assert (leaves["a"].grad, leaves["b"].grad) == (va.grad, vb.grad)


def test_a_formula_too_deep_for_python_s_parser_is_a_clear_error():
    deep = "*".join(["x"] * 5000)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse_expression(deep, {"x": 1.0})


def test_numbers_are_combined_by_the_op_rows_as_values_are():
    # 49/49 is the division row's 1.0 (micrograd's x * y**-1 gives 0.9999999999999999).
    root, _ = parse_expression("x + 49/49", {"x": 1.0})
    assert root.data == 2.0 and root.data == (Value(1.0) + Value(49.0) / Value(49.0)).data
    root, _ = parse_expression("x * (1/0) + x * (-1/0)", {"x": 1.0})
    assert math.isnan(root.data)  # inf - inf: IEEE, never ZeroDivisionError
    root, _ = parse_expression("x + 0 ** -1", {"x": 1.0})
    assert root.data == math.inf
    root, _ = parse_expression("x * -(0)", {"x": 2.0})  # neg row: -0.0, as -Value(0.0)
    assert math.copysign(1.0, root.data) == -1.0
    root, _ = parse_expression("x * sqrt(-0.0)", {"x": 1.0})
    assert math.copysign(1.0, root.data) == -1.0


def number_formulas(depth: int = 3):
    """Formula text over literals and every op of the table (no variables)."""
    literal = st.sampled_from(["0", "0.5", "49", "3", "1e-200", "1e200", "7.25", "0.1"])

    def extend(inner):
        unary = [name for name, row in engine.OPS.items() if row.arity == 1]
        return st.one_of(
            st.builds(lambda a, o, b: f"({a} {o} {b})", inner, st.sampled_from("+-*/"), inner),
            st.builds(lambda a, b: f"({a} ** {b})", inner, st.sampled_from(["2", "0.5", "-1"])),
            st.builds(lambda f, a: f"{f}({a})", st.sampled_from(unary), inner),
            st.builds(lambda a: f"(-{a})", inner),
        )

    return st.recursive(literal, extend, max_leaves=2**depth)


@given(number_formulas())
def test_constant_folding_equals_the_same_formula_on_values(text):
    """A formula's numbers are folded by the op rows: the result equals, bit for bit,
    the same formula where every number is a Value (so every op is a Value op)."""
    root, _ = parse_expression(f"x + ({text})", {"x": 0.0})
    literals = {}

    def as_value(match):
        name = f"c{len(literals)}"
        literals[name] = float(match.group(0))
        return name

    on_values = re.sub(r"(?<![\w.])\d+(\.\d+)?(e-?\d+)?", as_value, text)
    expected, _ = parse_expression(f"x + ({on_values})", {"x": 0.0, **literals})
    a, b = root.data, expected.data
    assert (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b)), (
        text,
        a,
        b,
    )
