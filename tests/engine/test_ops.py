"""Every row of the op table, checked against central differences and PyTorch's
float64 semantics.

The derivative tests are generated from ``engine.OPS``: adding a row adds its test,
with ``@example``s at the edges of its domain and on both sides of its kinks.
"""

import math

import pytest
from hypothesis import example, given

from tapegrad import engine
from tapegrad.engine import OPS, Value
from tapegrad.engine.formulas import MASKED
from tapegrad.engine.strategies import MARGIN, op_inputs

EPS = 1e-6


def close(analytic: float, numeric: float) -> bool:
    """torch.autograd.gradcheck's tolerance: |a - n| <= 1e-5 + 1e-3 |n|."""
    return abs(analytic - numeric) <= 1e-5 + 1e-3 * abs(numeric)


def central_difference(fn, args, i):
    plus, minus = list(args), list(args)
    plus[i] += EPS
    minus[i] -= EPS
    return (fn(*plus)[0] - fn(*minus)[0]) / (2 * EPS)


def edge_examples(row):
    """Inputs at the ends of each input's domain and a margin either side of kinks."""
    points = []
    for lo, hi in row.domain:
        candidates = [lo + MARGIN, hi - MARGIN]
        for k in row.kinks:
            candidates += [k - MARGIN, k + MARGIN]
        points.append([c for c in candidates if lo + MARGIN <= c <= hi - MARGIN])
    mids = [(lo + hi) / 2 + 0.1 for lo, hi in row.domain]
    examples = []
    for i, cands in enumerate(points):
        for c in cands:
            args = list(mids)
            args[i] = c
            examples.append(tuple(args))
    return examples


def make_derivative_test(row):
    def test(args):
        results = row.fn(*args)
        assert len(results) == row.arity + 1
        assert all(type(r) is float or r is MASKED for r in results), results
        for i in range(row.arity):
            numeric = central_difference(row.fn, args, i)
            assert close(results[1 + i], numeric), (row.name, args, i, results[1 + i], numeric)

    test = given(op_inputs(row))(test)
    for args in edge_examples(row):
        test = example(args)(test)
    test.__name__ = f"test_local_derivative_{row.name}"
    test.__doc__ = f"{row.name}: {row.doc} -- checked by central differences."
    return test


for _row in OPS.values():
    globals()[f"test_local_derivative_{_row.name}"] = make_derivative_test(_row)
del _row


@pytest.mark.parametrize("name", list(OPS))
def test_row_is_complete(name):
    row = OPS[name]
    assert row.name == name
    assert row.arity in (1, 2)
    assert len(row.domain) == row.arity
    assert row.label and row.doc and "d/d" in row.doc


@pytest.mark.parametrize("name", [n for n, r in OPS.items() if r.arity == 1])
def test_unary_method_and_function_agree_with_row(name):
    row = OPS[name]
    (x,) = [(lo + hi) / 2 + 0.25 for lo, hi in row.domain]
    out, d = row.fn(x)
    v = Value(x)
    y = getattr(v, name)()
    assert y.data == out and y.parents == (v,) and y.local_grads == (d,) and y.op == name
    y.backward()
    assert v.grad == d
    z = getattr(engine, name)(v)
    assert z.data == out and z.parents == (v,)
    w = getattr(engine, name)(x)  # a plain number gives a leaf holding the result
    assert isinstance(w, Value) and w.data == out and w.is_leaf


@pytest.mark.parametrize("name", [n for n, r in OPS.items() if r.arity == 2])
def test_binary_ops_with_values_and_constants_agree_with_row(name):
    row = OPS[name]
    x, y = 1.7, 0.6
    out, dx, dy = row.fn(x, y)
    a, b = Value(x), Value(y)
    both = getattr(engine, name)(a, b)
    assert both.data == out and both.parents == (a, b) and both.local_grads == (dx, dy)
    left = getattr(engine, name)(a, y)  # constant on the right
    assert left.data == out and left.parents == (a,) and left.local_grads == (dx,)
    assert left.constant == (1, y)
    right = getattr(engine, name)(x, b)  # constant on the left
    assert right.data == out and right.parents == (b,) and right.local_grads == (dy,)
    assert right.constant == (0, x)
    assert getattr(engine, name)(x, y).data == out


def test_operators_with_numbers_on_either_side():
    x = Value(3.0)
    assert (x + 2).data == 5.0 and (2 + x).data == 5.0
    assert (x - 2).data == 1.0 and (2 - x).data == -1.0
    assert (x * 2).data == 6.0 and (2 * x).data == 6.0
    assert (x / 2).data == 1.5 and (6 / x).data == 2.0
    assert (-x).data == -3.0
    assert (x**2).data == 9.0 and (2**x).data == 8.0 and (x ** Value(2.0)).data == 9.0
    for op in (lambda v: 2**v, lambda v: v**2, lambda v: 6 / v, lambda v: 2 - v):
        engine.gradcheck(op, [3.0])


# -- PyTorch float64 semantics (values checked against torch 2.13, float64) -------------


def test_exp_overflows_to_inf():
    y = engine.exp(Value(1000.0))
    assert y.data == math.inf and y.local_grads == (math.inf,)


def test_log_at_zero_and_below():
    z = Value(0.0)
    y = z.log()
    assert y.data == -math.inf and y.local_grads == (math.inf,)
    n = Value(-1.0).log()
    assert math.isnan(n.data) and n.local_grads == (-1.0,)


def test_negative_base_fractional_exponent_is_nan_not_complex():
    y = Value(-8.0) ** (1 / 3)
    assert type(y.data) is float and math.isnan(y.data)
    y2 = Value(-8.0) ** Value(1 / 3)
    assert type(y2.data) is float and math.isnan(y2.data)
    assert (Value(-2.0) ** 3).data == -8.0  # integer exponents are fine


def test_pow_overflow_and_poles():
    assert (Value(10.0) ** 400).data == math.inf
    assert (Value(-10.0) ** 401).data == -math.inf
    assert (Value(0.0) ** -1).data == math.inf
    assert (Value(-0.0) ** -1).data == -math.inf
    assert (Value(0.0) ** -2).data == math.inf


def test_zero_to_the_zero():
    x, y = Value(0.0), Value(0.0)
    z = x**y
    assert z.data == 1.0
    assert z.local_grads == (0.0, 0.0)  # PyTorch's convention at 0**0
    z.backward()
    assert x.grad == 0.0 and y.grad == 0.0
    assert (Value(0.0) ** 0).local_grads == (0.0,)


def test_division_by_zero_is_ieee():
    assert (Value(1.0) / 0.0).data == math.inf
    assert (Value(-1.0) / 0.0).data == -math.inf
    assert math.isnan((Value(0.0) / 0.0).data)
    assert (1.0 / Value(0.0)).data == math.inf
    assert (Value(1.0) / Value(0.0)).data == math.inf


def test_sigmoid_is_stable_at_both_ends():
    lo = Value(-1000.0)
    y = lo.sigmoid()
    assert y.data == 0.0 and y.local_grads == (0.0,)
    y.backward()
    assert lo.grad == 0.0 and math.isfinite(lo.grad)
    hi = Value(1000.0).sigmoid()
    assert hi.data == 1.0 and hi.local_grads == (0.0,)
    assert Value(0.0).sigmoid().data == 0.5
    # symmetric: σ(-x) = 1 - σ(x)
    for x in (-30.0, -3.0, 0.5, 12.0):
        assert math.isclose(engine.sigmoid(-x).data, 1 - engine.sigmoid(x).data, abs_tol=1e-15)


def test_kinks_follow_pytorch():
    assert Value(0.0).relu().local_grads == (0.0,)
    assert Value(0.0).abs().local_grads == (0.0,)
    assert Value(0.0).sign().data == 0.0
    for x in (-2.0, 0.0, 3.0):
        assert Value(x).sign().local_grads == (0.0,)
    assert Value(-0.0).abs().data == 0.0
    assert Value(0.0).sqrt().local_grads == (math.inf,)
    assert math.isnan(Value(-1.0).sqrt().data)


def test_nan_and_inf_propagate():
    nan = Value(math.nan)
    for name, row in OPS.items():
        args = [math.nan] * row.arity
        if name == "sign":
            assert row.fn(*args) == (0.0, 0.0)  # PyTorch: sign(nan) = 0
        else:
            assert math.isnan(row.fn(*args)[0]), name
    assert Value(math.nan).abs().local_grads == (0.0,)  # PyTorch's abs backward at nan
    assert Value(math.nan).relu().local_grads == (1.0,)  # PyTorch's relu backward at nan
    assert math.isnan((nan * 2).data) and math.isnan((nan + 1).data)
    assert math.isnan((Value(math.inf) * 0).data)
    assert (Value(math.inf) + 1).data == math.inf
    assert Value(math.inf).tanh().data == 1.0
    assert math.isnan(Value(math.inf).sin().data)  # never a Python ValueError
    assert Value(-math.inf).exp().data == 0.0
    assert Value(math.inf).relu().data == math.inf


def test_results_are_always_python_floats():
    for name, row in OPS.items():
        for x in (-2.0, 0.0, 0.5, 3.0, math.inf, -math.inf):
            args = [x] * row.arity
            assert all(type(r) is float or r is MASKED for r in row.fn(*args)), (name, x)
