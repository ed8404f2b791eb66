"""One statement of each op's derivative, three compiled forms that agree.

Every row of ``engine.OPS`` is written once as formulas and compiled to ``fn`` (floats),
``value_grads`` (Value ops, for higher-order gradients), ``array_fn`` (numpy) and, for
plain arithmetic, ``inline`` (replay's templates). These tests check, for every row:

* ``fn`` against PyTorch 2.13.0's float64 results and local derivatives (the golden
  table of ``test_golden.py``), seeded with 1, inf, -inf and nan so masked edges show;
* ``value_grads`` evaluated on Values without history equals ``fn``'s locals bit for
  bit, with a number operand on either side too;
* ``array_fn`` equals ``fn`` bit for bit for the IEEE ops and within
  :data:`ARRAY_ULPS` for the libm ones, on the golden grid and on random points;
* ``inline`` evaluates to ``fn``'s numbers bit for bit;

and that a new unary and a new binary row work everywhere through ``register_op``.
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad.engine import OPS, Value
from tapegrad.engine.formulas import FUNCTIONS, MASKED, ArrayMasked, FormulaError
from tapegrad.engine.ops import Op, register_op, unregister_op
from tapegrad.engine.strategies import op_inputs

from .test_golden import ATOL, GOLDEN, ULPS, agree

SEEDS = [float(s) for s in GOLDEN["seeds"]]
#: ops whose numpy form is the same IEEE operation as the float form: bit for bit.
EXACT = {"add", "sub", "mul", "div", "neg", "relu", "abs", "sign", "sqrt"}
#: numpy's exp/log/tanh/sin/cos/pow are not Python's libm: results within 4 ulp; the
#: derivatives 1 - t² (tanh) and s(1 - s) (sigmoid) inherit that as an absolute error.
ARRAY_ULPS = 4
ARRAY_ATOL = 4 * 2.0**-52

#: Inputs where tapegrad deliberately differs from torch 2.13.0: torch computes
#: sigmoid as 1 / (1 + exp(-x)), whose exp overflows below x = -709.78 and gives 0.0;
#: tapegrad's stable form e^x / (1 + e^x) gives the correctly rounded subnormal.
#: torch's log1p gives 0.0 at -5e-324 (C's log1p: -5e-324), and its expm1 rounds to
#: -1.0 at -37.0 (C's: -0.9999999999999999), so d = expm1 + 1 is 0.0 there, and an
#: upstream inf gives nan (test_golden.py's documented differences check both).
KNOWN_DIFFERENCES = {
    ("sigmoid", (-709.8,)),
    ("sigmoid", (-710.0,)),
    ("log1p", (-5e-324,)),
    ("expm1", (-37.0,)),
}
#: torch computes ``tensor ** 0.5`` (a number exponent) as sqrt and ``** -0.5`` as rsqrt,
#: so pow(-0.0, 0.5) = -0.0 and pow(-inf, 0.5) = nan there (also in d/dx = 1.5 x^0.5),
#: while its tensor ** tensor (and C's pow, and tapegrad's one pow row) gives +0.0 and
#: +inf: at x = -0.0 and -inf these exponents follow the tensor ** tensor semantics.
TORCH_SQRT_SPECIALIZATION = {0.5, -0.5, 1.5}


def ordinal(x: float) -> int:
    (i,) = struct.unpack("<q", struct.pack("<d", x))
    return i if i >= 0 else -(i & 0x7FFF_FFFF_FFFF_FFFF)


def same(a: float, b: float) -> bool:
    """Bit for bit: nan as nan, zeros and infinities by sign, MASKED only as MASKED."""
    if (a is MASKED) != (b is MASKED):
        return False
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def near(a: float, b: float, ulps: int, atol: float = 0.0) -> bool:
    if a != a or b != b or math.isinf(a) or math.isinf(b) or a == 0.0 or b == 0.0:
        return same(float(a), float(b)) or abs(a - b) <= atol
    return abs(ordinal(a) - ordinal(b)) <= ulps or abs(a - b) <= atol


def grid(name: str) -> list[tuple[float, ...]]:
    """The golden table's inputs for a row: special values, kinks and random points."""
    table = GOLDEN["ops"][name]
    return [tuple(float(s) for s in case[: table["arity"]]) for case in table["cases"]]


# -- fn against PyTorch ------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPS))
def test_fn_matches_torch_locals_and_masks(name):
    """``fn``'s result and locals against torch; ``local * seed`` for seeds inf, nan
    is torch's gradient, so a masked edge (0 whatever arrives) must be MASKED here."""
    table, row = GOLDEN["ops"][name], OPS[name]
    n = table["arity"]
    ulps, atol = ULPS.get(name, 0), ATOL.get(name, 0.0)
    bad = []
    for case in table["cases"]:
        values = [float(s) for s in case]
        args, result, grads = tuple(values[:n]), values[n], values[n + 1 :]
        if (name, args) in KNOWN_DIFFERENCES:
            continue
        got = row.fn(*args)
        if not agree(got[0], result, ulps):
            bad.append((args, "result", got[0], result))
        for k, seed in enumerate(SEEDS):
            for i in range(n):
                g = float(got[1 + i] * seed)
                if not agree(g, grads[k * n + i], ulps, atol):
                    bad.append((args, f"d/d{'xy'[i]} seed {seed}", g, grads[k * n + i]))
    assert not bad, bad[:20]


@pytest.mark.parametrize("name", [n for n in OPS if OPS[n].arity == 2])
def test_fn_matches_torch_with_a_number_operand(name):
    """``x op c`` and ``c op x`` (torch's Scalar overloads) use the same formulas."""
    table = GOLDEN["constants"][name]
    ulps, atol = ULPS.get(name, 0), ATOL.get(name, 0.0)
    bad = []
    for side in ("x op c", "c op x"):
        for case in table[side]:
            x, c, result, *grads = (float(s) for s in case)
            args, position = ((x, c), 1) if side == "x op c" else ((c, x), 2)
            negative_zero_or_inf = x == -math.inf or same(x, -0.0)
            if name == "pow" and side == "x op c" and c in TORCH_SQRT_SPECIALIZATION:
                if negative_zero_or_inf:
                    continue
            got = OPS[name].fn(*args)
            if not agree(got[0], result, ulps):
                bad.append((side, args, "result", got[0], result))
            for seed, want in zip(SEEDS, grads):
                g = float(got[position] * seed)
                if not agree(g, want, ulps, atol):
                    bad.append((side, args, seed, g, want))
    assert not bad, bad[:20]


# -- the audit: each correction at its exact input (PyTorch 2.13.0 float64) -------------


def test_div_d_dy_is_minus_x_over_y_over_y():
    # torch: other: -grad * ((self / other) / other); -x/(y*y) leaves the float range.
    div = OPS["div"].fn
    assert div(1e-200, 1e-200) == (1.0, 1e200, -1e200)  # y*y underflows: was -inf
    assert same(div(0.0, 1e-200)[2], -0.0)  # was nan (0 / 0)
    assert div(1e200, 1e200)[2] == -1e-200  # y*y overflows: was -0.0
    assert div(11.0, 1.5)[2] == -(11.0 / 1.5) / 1.5  # last bit differs from -x/(y*y)
    assert div(11.0, 1.5)[2] != -11.0 / (1.5 * 1.5)


def test_signed_zeros_follow_ieee_and_torch():
    assert all(same(a, b) for a, b in zip(OPS["sqrt"].fn(-0.0), (-0.0, -math.inf)))
    assert all(same(a, b) for a, b in zip(OPS["sqrt"].fn(0.0), (0.0, math.inf)))
    relu = OPS["relu"].fn(-0.0)  # torch: clamp_min keeps -0.0, threshold_backward masks
    assert same(relu[0], -0.0) and relu[1] is MASKED
    assert same(OPS["sign"].fn(-0.0)[0], 0.0)  # torch: sign(-0.0) = 0.0
    assert same(OPS["abs"].fn(-0.0)[0], 0.0) and same(OPS["abs"].fn(-0.0)[1], 0.0)
    assert same(OPS["cos"].fn(0.0)[1], -0.0) and same(OPS["cos"].fn(-0.0)[1], 0.0)
    assert same(OPS["log"].fn(-0.0)[1], -math.inf) and same(OPS["log"].fn(-math.inf)[1], -0.0)
    assert same(OPS["tanh"].fn(-0.0)[0], -0.0) and same(OPS["sin"].fn(-0.0)[0], -0.0)
    assert same(OPS["pow"].fn(-0.0, -1.0)[0], -math.inf)
    assert same(OPS["neg"].fn(0.0)[0], -0.0) and same(OPS["mul"].fn(-0.0, 2.0)[0], -0.0)


def test_masked_edges_and_products_with_zero():
    # Selections in torch's backward: relu (x <= 0), sign, pow's d/dx at exponent 0.
    assert OPS["relu"].fn(-2.0)[1] is MASKED and OPS["relu"].fn(0.0)[1] is MASKED
    assert OPS["relu"].fn(math.nan)[1] == 1.0  # threshold_backward passes nan's gradient
    assert all(OPS["sign"].fn(x)[1] is MASKED for x in (-2.0, 0.0, 3.0, math.nan))
    assert OPS["pow"].fn(0.0, 0.0)[1] is MASKED and OPS["pow"].fn(5.0, 0.0)[1] is MASKED
    # Products with 0 in torch (0 * inf = nan): abs at 0, pow's d/dy at x = 0, y >= 0.
    assert OPS["abs"].fn(0.0)[1] is not MASKED and math.isnan(OPS["abs"].fn(0.0)[1] * math.inf)
    dy = OPS["pow"].fn(0.0, 2.0)[2]
    assert dy is not MASKED and same(dy, 0.0) and math.isnan(dy * math.inf)
    assert MASKED * math.inf == 0.0 and math.nan * MASKED == 0.0


def test_exceptional_inputs_give_ieee_values_never_exceptions():
    assert OPS["exp"].fn(1000.0) == (math.inf, math.inf)
    assert OPS["log"].fn(0.0) == (-math.inf, math.inf)
    assert all(math.isnan(v) for v in OPS["log"].fn(-1.0)[:1])
    assert OPS["div"].fn(1.0, 0.0)[:2] == (math.inf, math.inf)
    assert math.isnan(OPS["div"].fn(0.0, 0.0)[0])
    assert OPS["pow"].fn(0.0, -1.0)[0] == math.inf and math.isnan(OPS["pow"].fn(-8.0, 1 / 3)[0])
    assert OPS["pow"].fn(10.0, 400.0)[0] == math.inf
    assert all(math.isnan(v) for v in OPS["sin"].fn(math.inf))
    assert all(math.isnan(v) for v in OPS["sqrt"].fn(-1.0))
    assert OPS["sigmoid"].fn(-1000.0) == (0.0, 0.0) and OPS["sigmoid"].fn(1000.0) == (1.0, 0.0)


# -- value_grads: the derivative as Values -------------------------------------------


def value_locals(row, args, constant=None):
    """value_grads on Values without history (a number at position ``constant``)."""
    inputs = [a if k == constant else Value(a) for k, a in enumerate(args)]
    out = Value(row.fn(*args)[0])
    return row.value_grads(inputs, out)


def as_number(v):
    return v if isinstance(v, float) else v.data


@pytest.mark.parametrize("name", list(OPS))
def test_value_grads_equal_fn_bit_for_bit_on_the_grid(name):
    row = OPS[name]
    for args in grid(name):
        want = row.fn(*args)[1:]
        for constant in [None, *(range(row.arity) if row.arity == 2 else ())]:
            got = value_locals(row, args, constant)
            assert len(got) == row.arity
            for k, (g, w) in enumerate(zip(got, want)):
                if k == constant:
                    continue  # a number operand's derivative is never used
                assert isinstance(g, (Value, float)), (name, args, g)
                assert same(as_number(g), w) and ((g is MASKED) == (w is MASKED)), (
                    name,
                    args,
                    constant,
                    k,
                    g,
                    w,
                )


@pytest.mark.parametrize("name", list(OPS))
def test_value_grads_equal_fn_bit_for_bit_on_random_inputs(name):
    row = OPS[name]

    @given(op_inputs(row))
    def check(args):
        for g, w in zip(value_locals(row, args), row.fn(*args)[1:]):
            assert same(as_number(g), w)

    check()


def test_value_grads_record_a_graph_that_differentiates_again():
    x = Value(0.7)
    out = x.tanh()
    (d,) = OPS["tanh"].value_grads([x], out)  # 1 - tanh² x, as a graph
    d.backward()
    t = math.tanh(0.7)
    assert math.isclose(x.grad, -2 * t * (1 - t * t), rel_tol=1e-12)
    x, y = Value(1.5), Value(0.5)
    dx, dy = OPS["pow"].value_grads([x, y], x**y)
    assert dx.data == 0.5 * 1.5**-0.5 and math.isclose(dy.data, 1.5**0.5 * math.log(1.5))
    masked = OPS["relu"].value_grads([Value(-1.0)], Value(0.0))
    assert masked == (MASKED,) and masked[0] is MASKED
    assert OPS["add"].value_grads([x, 2.0], x + 2.0) == (1.0, 1.0)  # constants: no graph


def test_value_grads_second_order_matches_torch_except_pow_at_a_zero_base():
    """Checked against torch.autograd.grad(create_graph=True) at -2, -0.5, 0.3, 1.7, ±0
    for every unary row and at six points for every binary row: equal except here.
    torch's pow d/dy at x = 0, y >= 0 is grad * where(cond, 0, result * log x); the
    double backward of where sends 0 into the unselected branch, and 0 times log's
    derivative 1/x = inf is nan. tapegrad's where selects the constant 0: d/dy is 0
    with no graph, so its derivatives are 0."""
    x, y = Value(0.0), Value(2.0)
    dx, dy = OPS["pow"].value_grads([x, y], x**y)
    assert dy == 0.0 and not isinstance(dy, Value)
    dx.backward()  # d/dx (y x^(y-1)) = y (y-1) x^(y-2) = 2 at x = 0, y = 2
    assert x.grad == 2.0


# -- array_fn: the derivative over a batch -----------------------------------------


def check_array_against_fn(row, batch):
    columns = [np.array(c, dtype=np.float64) for c in zip(*batch)]
    results = row.array_fn(*columns)
    assert len(results) == row.arity + 1
    exact = row.name in EXACT
    ones = np.ones(len(batch))
    for j, args in enumerate(batch):
        want = row.fn(*args)
        for k, (array, w) in enumerate(zip(results, want)):
            if isinstance(array, ArrayMasked):
                keep = bool(np.broadcast_to(array.keep, ones.shape)[j])
                assert (w is MASKED) == (not keep), (row.name, args, k, w)
                for seed in (1.0, math.inf, math.nan):
                    got, want = float((array * (ones * seed))[j]), float(w * seed)
                    ok = same(got, want) if exact else near(got, want, ARRAY_ULPS)
                    assert ok, (row.name, args, k, seed, got, want)
                continue
            got = float(np.broadcast_to(array, ones.shape)[j])
            if exact:
                assert same(got, float(w)), (row.name, args, k, got, w)
            else:
                atol = ARRAY_ATOL if k > 0 else 0.0
                assert near(got, float(w), ARRAY_ULPS, atol), (row.name, args, k, got, w)
            if w is MASKED:
                assert got == 0.0


@pytest.mark.parametrize("name", list(OPS))
def test_array_fn_agrees_with_fn_on_the_grid(name):
    check_array_against_fn(OPS[name], grid(name))


@pytest.mark.parametrize("name", list(OPS))
def test_array_fn_agrees_with_fn_on_random_inputs(name):
    row = OPS[name]

    @given(st.lists(op_inputs(row), min_size=1, max_size=20))
    def check(batch):
        check_array_against_fn(row, batch)

    check()


def test_array_masked_product_selects_zero_whatever_the_gradient():
    m = ArrayMasked(np.array([True, False, False]), 2.0)
    g = np.array([3.0, math.inf, math.nan])
    assert (m * g).tolist() == [6.0, 0.0, 0.0]
    assert (g * m).tolist() == [6.0, 0.0, 0.0]  # numpy defers to ArrayMasked
    dx = OPS["relu"].array_fn(np.array([-1.0, 2.0, math.nan]))[1]
    got = dx * np.array([math.inf, 5.0, 7.0])
    assert got[0] == 0.0 and got[1] == 5.0 and got[2] == 7.0


def test_array_fn_accepts_plain_numbers_and_keeps_ieee():
    out, dx, dy = OPS["div"].array_fn(np.array([1.0, 0.0, -1.0]), 0.0)
    assert out.tolist()[0] == math.inf and math.isnan(out[1]) and out[2] == -math.inf
    assert dx == math.inf and dy.tolist()[0] == -math.inf and math.isnan(dy[1])
    assert OPS["sigmoid"].array_fn(np.array([-1000.0, 1000.0]))[0].tolist() == [0.0, 1.0]


def test_numpy_is_imported_only_when_array_fn_is_first_used():
    code = textwrap.dedent(
        """
        import sys
        import tapegrad.engine as engine
        assert "numpy" not in sys.modules, "import tapegrad.engine imported numpy"
        x = engine.Value(0.5)
        (x * x).tanh().backward()
        assert "numpy" not in sys.modules
        engine.OPS["tanh"].array_fn([0.5])
        assert "numpy" in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- inline: replay's templates ------------------------------------------------------


def test_inline_templates_are_the_plain_arithmetic_rows():
    assert {n for n, r in OPS.items() if r.inline is not None} == {"add", "sub", "mul", "neg"}
    assert OPS["mul"].inline == ("{0} * {1}", ("{1}", "{0}"))
    assert OPS["sub"].inline == ("{0} - {1}", ("1.0", "-1.0"))


@pytest.mark.parametrize("name", [n for n, r in OPS.items() if r.inline is not None])
def test_inline_templates_compute_fn_bit_for_bit(name):
    row = OPS[name]
    forward, local_templates = row.inline
    for args in grid(name):
        names = [f"a{k}" for k in range(row.arity)]
        env = dict(zip(names, args))
        want = row.fn(*args)
        assert same(eval(forward.format(*names), {}, env), want[0])
        for template, w in zip(local_templates, want[1:]):
            assert same(eval(template.format(*names), {}, env), w)


# -- the formula language and registration ----------------------------------------------


def test_every_row_keeps_its_formulas_and_functions_have_rows():
    for row in OPS.values():
        assert isinstance(row.forward, str) and len(row.derivatives) == row.arity
        assert "def " in row.fn.source
    assert set(FUNCTIONS) <= set(OPS)  # a function's Value form is the row of its name


@pytest.mark.parametrize(
    ("forward", "derivatives", "message"),
    [
        ("x ** 2", ("2.0 * x",), "operator Pow"),
        ("foo(x)", ("1.0",), "the call foo"),
        ("x + z", ("1.0",), "the name 'z'"),
        ("tanh(x)", ("1.0 - out * out", "1.0"), "1 formula"),
        ("x +", ("1.0",), "not an expression"),
        ("x > 0", ("1.0",), "outside the formula language"),
        ("x.real", ("1.0",), "x.real"),
        ("exp(x)", ("'one'",), "constant 'one'"),
        ("MASKED", ("1.0",), "MASKED is a derivative"),
    ],
)
def test_formulas_outside_the_language_are_refused_by_name(forward, derivatives, message):
    with pytest.raises(FormulaError, match=message):
        Op("bad", 1, forward, derivatives, "bad", "bad;  d/dx = ?")


def test_register_op_refuses_bad_rows_and_changes_nothing():
    before = dict(OPS)
    with pytest.raises(TypeError, match="expects an Op"):
        register_op("tanh")
    with pytest.raises(ValueError, match="already in the table"):
        register_op(Op("tanh", 1, "tanh(x)", ("1.0 - out * out",), "t", "t;  d/dx = 1"))
    with pytest.raises(ValueError, match=r"needs operators=\(\) or \(forward, reflected\)"):
        register_op(
            Op(
                "avg",
                2,
                forward="0.5 * (x + y)",
                derivatives=("0.5", "0.5"),
                label="avg",
                doc="avg;  d/dx = 1/2",
                operators=("__matmul__",),
            )
        )
    with pytest.raises(ValueError, match="belongs to op 'mul'"):
        register_op(
            Op(
                "avg",
                2,
                "0.5 * (x + y)",
                ("0.5", "0.5"),
                "avg",
                "avg",
                operators=("__mul__", "__rmul__"),
            )
        )
    with pytest.raises(ValueError, match=r"taken by Value\.backward"):
        register_op(Op("backward", 1, "x", ("1.0",), "b", "b;  d/dx = 1"))
    with pytest.raises(KeyError, match="no op"):
        unregister_op("no_such_op")
    assert OPS == before


REGISTRATION = textwrap.dedent(
    """
    import math
    import pickle
    from hypothesis import given, settings
    from tapegrad import engine
    from tapegrad.engine import OPS, Value, gradcheck
    from tapegrad.engine.ops import Op, register_op, unregister_op
    from tapegrad.engine.strategies import expressions

    softplus = register_op(Op(
        "softplus", 1, "log(1.0 + exp(x))", ("sigmoid(x)",), "softplus",
        "log(1 + e^x);  d/dx = σ(x)", ((-4.0, 4.0),),
    ))
    hypot = register_op(Op(
        "hypot", 2, "sqrt(x * x + y * y)", ("x / out", "y / out"), "hypot",
        "√(x² + y²);  d/dx = x / out,  d/dy = y / out", ((0.5, 3.0), (0.5, 3.0)),
        operators=("__matmul__", "__rmatmul__"),
    ))

    # A binary row needs no operator: it is a method by its name, either side a number.
    avg = register_op(Op(
        "avg", 2, forward="0.5 * (x + y)", derivatives=("0.5", "0.5"), label="avg",
        doc="(x + y) / 2;  d/dx = 1/2,  d/dy = 1/2", domain=((-2.0, 2.0), (-2.0, 2.0)),
    ))
    u, v = Value(1.0), Value(3.0)
    m = u.avg(v)
    assert m.data == 2.0 and m.op == "avg" and u.avg(5).data == 3.0
    assert engine.avg(5.0, v).data == 4.0 and engine.avg(5.0, v).constant == (0, 5.0)
    (m * engine.avg(2.0, u)).backward()
    assert (u.grad, v.grad) == (0.5 * 1.5 + 2.0 * 0.5, 0.5 * 1.5), (u.grad, v.grad)

    # Value methods, operators, functional forms, number operands on either side.
    x, y = Value(0.7, label="x"), Value(1.3, label="y")
    assert x.softplus().data == math.log(1.0 + math.exp(0.7))
    assert (x @ y).data == math.sqrt(0.7 * 0.7 + 1.3 * 1.3) == engine.hypot(x, y).data
    assert x.hypot(y).data == (x @ y).data and Value.hypot is Value.__matmul__
    assert (x @ 2.0).data == engine.hypot(0.7, 2.0).data == (2.0 @ Value(0.7)).data
    assert engine.softplus(x).op == "softplus"

    # Derivatives: central differences, first and second order (value_grads).
    f = lambda a, b: (a @ b).softplus() * engine.hypot(a, 2.0)
    gradcheck(f, [0.7, 1.3])
    gradcheck(lambda a: (2.0 @ a).softplus(), [0.4])
    a = Value(0.3)
    (d,) = softplus.value_grads([a], a.softplus())
    d.backward()  # d/da sigmoid(a) = s (1 - s)
    s = 1 / (1 + math.exp(-0.3))
    assert abs(a.grad - s * (1 - s)) < 1e-15
    assert softplus.array_fn([0.3])[0][0] == softplus.fn(0.3)[0]

    # Random expression trees over the new rows (the strategies draw them).
    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(expressions(ops=("softplus", "hypot", "mul", "tanh")))
    def trees(expr):
        gradcheck(expr, list(expr.inputs))
    trees()

    # Replay reruns the new rows and gives backward()'s gradients.
    p, q = Value(0.7), Value(1.3)
    step = engine.compile(lambda: (p @ q).softplus() * (q @ 0.5), [p, q])
    step()
    compiled = (p.grad, q.grad)
    p.grad = q.grad = 0.0
    ((p @ q).softplus() * (q @ 0.5)).backward()
    assert compiled == (p.grad, q.grad), (compiled, p.grad, q.grad)

    # Drawing shows the ops by their labels; parse_expression calls them by name.
    loss = (x @ y).softplus()
    source = engine.draw(loss).source
    assert "softplus" in source and "hypot" in source, source
    root, leaves = engine.parse_expression("softplus(hypot(x, 2) * x)", {"x": 0.5})
    assert root.op == "mul" or root.op == "softplus"
    assert pickle.loads(pickle.dumps(hypot)) is hypot

    # unregister_op takes the row out of the table again.
    assert unregister_op("hypot") is hypot and "hypot" not in OPS
    print("ok")
    """
)


def test_a_new_unary_and_binary_row_work_everywhere_with_no_other_edit():
    """Registered in a fresh interpreter, so this process's table stays as it was."""
    done = subprocess.run(
        [sys.executable, "-c", REGISTRATION], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
