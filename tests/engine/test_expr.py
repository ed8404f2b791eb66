"""Formulas as text: the graph equals the Python expression's, and nothing else parses."""

import ast
import math
import re

import pytest
from hypothesis import given, settings
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
        ("x +", "syntax error at column 4: the formula ends too early"),
        ("tanh(x", "syntax error at column 5: '\\(' was never closed"),
        ("x)", "syntax error at column 2: unmatched '\\)'"),
        ("(x +)", "syntax error at column 5: expected a number"),
        ("x y", "syntax error at column 3: an operator is missing between 'x' and 'y'"),
        ("2x", "'2x' is not a number \\(for a product write 2\\*x\\)"),
        ("010 * x", "a decimal number cannot start with 0"),
        ("", "empty"),
        ("y + x", "unknown name 'y' at column 1"),
        ("x + foo(x)", "unknown function 'foo' at column 5"),
        ("x(2)", "x at column 1 is a variable, not a function: for a product write x\\*"),
        ("x.real", "attribute access at column 2 is not allowed"),
        ("x[0]", "a subscript at column 2"),
        ("[x]", "a list at column 1"),
        ("{x}", "a dict or a set at column 1"),
        ("x < 1", "a comparison at column 3"),
        ("x is x", "a comparison at column 3"),
        ("x // 2", "floor division // at column 3 is not allowed"),
        ("x % 2", "the remainder %"),
        ("x ^ 2", "for a power write \\*\\*"),
        ("not x", "the operator not at column 1"),
        ("x and x", "and/or at column 3"),
        ("x if x else x", "an if-expression at column 3"),
        ("x = 1", "an assignment at column 3"),
        ("(y := x)", "an assignment := at column 4"),
        ("x; x", "a second statement"),
        ("x # comment", "a comment at column 3"),
        ("x \\\n + x", "a backslash at line 1, column 3"),
        ("x €", "the character '€' at column 3"),
        ("x\x00", "the character '\\\\x00' at column 2"),
        ("tanh(x, x)", r"tanh\(\) at column 1 takes 1 argument"),
        ("tanh()", r"tanh\(\) at column 1 takes 1 argument\(s\), got 0"),
        ("tanh(,)", "syntax error at column 6: expected a number"),
        ("tanh(*x)", "unpacking with \\* at column 6"),
        ("pow(x=x, y=2)", r"pow\(\) at column 6 takes no keyword arguments"),
        ("exp", "is an op: call it"),
        ("(lambda: 1)()", "a lambda at column 2"),
        ("(x)(x)", "only the op table's functions can be called at column 4"),
        ("tanh(x)(x)", "only the op table's functions can be called at column 8"),
        ("__import__('os')", "a string at column 12 is not a real number"),
        ("'a' * x", "is not a real number"),
        ("True * x", "True at column 1 is not a real number"),
        ("None", "None at column 1 is not a real number"),
        ("1j * x", "1j at column 1 is not a real number"),
        ("x, x", "a tuple at column 2"),
        ("(x, x)", "a tuple at column 1"),
        ("()", "a tuple \\(\\) at column 1"),
        ("1e999 * x", "too large"),
        ("1" + "0" * 400 + " * x", "too large"),
        ("0x" + "f" * 300 + " * x", "too large"),
        ("2 + 3", "no variables"),
        ("x +\n  (x", "syntax error at line 2, column 3: '\\(' was never closed"),
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
        ({"x": 1.0, "lambda": 1.0}, "Python keyword"),
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


# -- any text: a graph or an ExpressionError, never a crash ------------------------------


def _graph(root: Value) -> list[tuple]:
    """The graph as data: per node, its op, the indices of its parents, the position
    and value of a folded constant, and its value's bits (nan compared as nan)."""
    order = engine.topological_order(root)
    index = {id(v): i for i, v in enumerate(order)}
    return [
        (v.op, tuple(index[id(p)] for p in v.parents), repr(v.constant), repr(v.data), v.label)
        for v in order
    ]


def _python_reference(text: str, values: dict[str, float]):
    """What Python's own parser makes of ``text``: the formula built node by node from
    :mod:`ast` with the same op rows, or None where Python or the language refuses it.
    An oracle for precedence, grouping and number syntax (recursive: small formulas)."""
    from tapegrad.engine.value import apply_op as _value_op

    leaves = {name: Value(number, label=name) for name, number in values.items()}
    binary = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}

    def build(node):
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                raise ExpressionError("not a real number")
            return float(node.value)
        if isinstance(node, ast.Name) and node.id in leaves:
            return leaves[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            return _value_op(binary[type(node.op)], build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return _value_op("neg", build(node.operand))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            return build(node.operand)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in engine.OPS
            and not node.keywords
            and len(node.args) == engine.OPS[node.func.id].arity
            and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            return _value_op(node.func.id, *(build(a) for a in node.args))
        raise ExpressionError("outside the language")

    try:
        root = build(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ExpressionError):
        return None
    return root if isinstance(root, Value) else None


#: Pieces of formulas, in and out of the language, joined with or without spaces so
#: that they also fuse into new tokens ("2" "x" -> "2x", "*" "*" -> "**", "0" "x1" -> hex).
PIECES = (
    "x y 2 0 0.5 1e3 .5 5. 1_0 0x1f 0o7 0b1 1j 007 e "
    "+ - * ** / // % @ ( ) , = . [ ] < == ' not and if else lambda True None "
    "tanh exp pow relu sqrt log sigmoid"
).split()


@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=14), st.lists(st.booleans()))
def test_the_parser_agrees_with_python_s_on_every_small_formula(pieces, spaces):
    """Built exactly as Python's parser groups it when Python's grammar and the language
    both accept it, refused with an ExpressionError when either does not."""
    text = "".join(p + (" " if s else "") for p, s in zip(pieces, spaces + [True] * 14))
    values = {n: v for n, v in (("x", 0.7), ("y", -1.3)) if re.search(rf"\b{n}\b", text)}
    expected = _python_reference(text, values)
    try:
        root, _ = parse_expression(text, values)
    except ExpressionError as e:
        assert "\n" not in str(e)
        assert expected is None, (text, str(e))
        return
    assert expected is not None, text
    assert _graph(root) == _graph(expected), text


def flat_formulas(operands):
    """``a op b op c ...`` with signs, without parentheses: precedence and grouping decide."""
    term = st.tuples(st.sampled_from(["", "", "-", "+", "- -", "-+"]), operands)
    operators = st.lists(st.sampled_from(["+", "-", "*", "/", "**", " ** "]), min_size=4)
    return st.builds(
        lambda terms, ops: "".join(
            f"{op}{sign}{a}" for op, (sign, a) in zip(["", *ops], terms, strict=False)
        ),
        st.lists(term, min_size=1, max_size=4),
        operators,
    )


def valid_formulas():
    atoms = st.sampled_from(["x", "y", "2", "0.5", "1e-3", "3.", "1_0", "0x1f", ".5"])
    unary = [name for name, row in engine.OPS.items() if row.arity == 1]

    def extend(inner):
        return flat_formulas(
            st.one_of(
                atoms,
                inner.map(lambda t: f"({t})"),
                st.builds(lambda f, a: f"{f}({a})", st.sampled_from(unary), inner),
                st.builds(lambda a, b: f"pow({a}, {b})", inner, inner),
            )
        )

    return st.recursive(flat_formulas(atoms), extend, max_leaves=10)


@given(valid_formulas())
def test_precedence_and_grouping_are_python_s(text):
    """Signs, + - * / and ** in any mix: the graph Python's parser gives, node for node."""
    values = {n: v for n, v in (("x", 0.7), ("y", -1.3)) if re.search(rf"\b{n}\b", text)}
    expected = _python_reference(text, values)
    if expected is None:  # numbers only
        with pytest.raises(ExpressionError, match="no variables"):
            parse_expression(text, values)
        return
    root, _ = parse_expression(text, values)
    assert _graph(root) == _graph(expected), text


@given(st.text(max_size=40))
def test_any_text_is_a_graph_or_an_expression_error(text):
    try:
        root, _ = parse_expression(text, {"x": 1.0})
    except ExpressionError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert isinstance(root, Value)


@settings(max_examples=30)
@given(st.lists(st.sampled_from(["-", "+", "(", "tanh(", "x**", "x*"]), min_size=1, max_size=20))
def test_deep_nesting_of_every_kind_is_built(prefixes):
    """Unary signs, parentheses, calls, products and ** chains nested 3,000 deep (past
    Python's limits of 200 parentheses and 1,000 frames): one node per op."""
    prefix = "".join(prefixes) * (3000 // len(prefixes))
    closing = ")" * (prefix.count("("))
    root, _ = parse_expression(prefix + "x" + closing, {"x": 1.0})
    ops = sum(1 for v in engine.topological_order(root) if not v.is_leaf)
    pattern = r"-|tanh\(|x\*\*|x\*(?!\*)"  # the prefixes that add one op each
    assert ops == len(re.findall(pattern, prefix))
    if set(prefixes) <= {"-", "+", "("}:
        assert root.data == (-1.0) ** prefix.count("-")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("-" * 100_000 + "x", 2.0),  # an even number of minus signs: x itself
        ("**".join(["x"] * 5000), math.inf),  # 2**2**2**2**2 is already 2**65536
        ("(" * 100_000 + "x" + ")" * 100_000, 2.0),
        ("tanh(" * 10_000 + "x" + ")" * 10_000, None),
        ("x" + " + x" * 100_000, 2.0 * 100_001),
        ("x * 0." + "0" * 100_000 + "1", 0.0),
        ("x * 1" + "0" * 300 + "e-300", 2.0),
    ],
    ids=[
        "100k unary minus",
        "5000 ** chain",
        "100k parentheses",
        "10k calls",
        "100k sum",
        "100k-digit tiny literal",
        "exact big literal",
    ],
)
def test_the_issue_s_deep_formulas_give_their_graph(text, expected):
    root, leaves = parse_expression(text, {"x": 2.0})
    if expected is not None:
        assert root.data == expected
    root.backward()  # backward is iterative too
    assert math.isfinite(leaves["x"].grad) or expected == math.inf


@pytest.mark.parametrize(
    "text, message",
    [
        ("1" * 100_000 + " * x", "the number at column 1 is too large for a float"),
        ("0x" + "f" * 100_000 + " * x", "too large for a float"),
        ("not " * 100_000 + "x", "the operator not at column 1"),
        ("lambda: " * 10_000 + "x", "a lambda at column 1"),
        ("[" * 100_000 + "]" * 100_000, "a list at column 1"),
        ("x" + "(" * 100_000 + "x" + ")" * 100_000, "x at column 1 is a variable, not a"),
        ("(x)" + "(x)" * 100_000, "only the op table's functions can be called at column 4"),
        ("tanh(" * 100_000 + "x", r"column 500000: '\(' was never closed"),
    ],
)
def test_huge_refused_formulas_are_one_line_errors(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_expression(text, {"x": 1.0})
