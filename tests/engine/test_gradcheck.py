"""Gradient checking as a public API: numerical_grad, gradcheck, jacobian, vjp."""

import math

import pytest
from hypothesis import given

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.strategies import expressions


def test_numerical_grad_of_known_functions():
    g = engine.numerical_grad(lambda x, y: x * y + x.exp(), [1.0, 2.0])
    assert math.isclose(g[0], 2.0 + math.e, rel_tol=1e-8)
    assert math.isclose(g[1], 1.0, rel_tol=1e-8)
    # f may use plain floats and return a number
    assert math.isclose(engine.numerical_grad(lambda x: x * 3.0, [5])[0], 3.0)


def test_gradcheck_report_passes():
    report = engine.gradcheck(lambda a, b: (a * b).tanh() + a**b, [0.5, 1.5])
    assert report.ok and bool(report)
    assert [r.index for r in report.rows] == [0, 1]
    assert all(r.error <= r.tolerance for r in report.rows)
    assert "ok" in str(report).splitlines()[0]


def wrong_square(x):
    """x² with a deliberately wrong local derivative (x instead of 2x)."""
    return Value(x.data**2, (x,), "bad_square", local_grads=(x.data,))


def test_gradcheck_catches_a_wrong_derivative():
    with pytest.raises(engine.GradcheckError) as info:
        engine.gradcheck(wrong_square, [3.0])
    report = info.value.report
    assert not report.ok
    (row,) = report.rows
    assert row.analytic == 3.0 and math.isclose(row.numerical, 6.0, rel_tol=1e-6)
    assert "mismatch" in str(report)
    quiet = engine.gradcheck(wrong_square, [3.0], raise_on_failure=False)
    assert not quiet.ok


def test_gradcheck_bad_arguments():
    f = lambda x: x * x
    with pytest.raises(ValueError, match="eps"):
        engine.gradcheck(f, [1.0], eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        engine.numerical_grad(f, [1.0], eps=-1e-6)
    with pytest.raises(TypeError, match="sequence"):
        engine.gradcheck(f, 1.0)
    with pytest.raises(TypeError):
        engine.gradcheck(f, ["a"])
    with pytest.raises(ValueError, match="atol"):
        engine.gradcheck(f, [1.0], atol=-1)
    with pytest.raises(ValueError, match="atol"):
        engine.gradcheck(f, [1.0], atol=math.nan)
    with pytest.raises(ValueError, match="rtol"):
        engine.gradcheck(f, [1.0], rtol=math.nan)
    with pytest.raises(TypeError, match=r"must return a Value.*got str: 'nope'"):
        engine.gradcheck(lambda x: "nope", [1.0])


@pytest.mark.parametrize("out", [3.0, 0, math.nan, None, [1.0]])
def test_gradcheck_refuses_an_output_that_is_not_a_value(out):
    # A plain number has no graph: the check compared zeros with zeros and passed
    # whatever f computed (issue 18 item 6). PyTorch refuses it too.
    with pytest.raises(TypeError, match=rf"f must return a Value.*got {type(out).__name__}"):
        engine.gradcheck(lambda x: out, [1.0])
    x = engine.Value(0.5)
    with pytest.raises(TypeError, match="no graph"):
        engine.gradcheck(lambda v: v.data * 3.0, [x])
    assert x.data == 0.5 and x.grad == 0.0


def module(x0, x1, x2):
    """A functional module R^3 -> R^2 (a weighted sum and a non-linearity)."""
    s0 = 0.5 * x0 - 1.0 * x1 + 2.0 * x2
    s1 = x0 * x1 + x2
    return [s0.tanh(), s1.sigmoid()]


def test_jacobian_matches_central_differences():
    x = [0.3, -0.7, 0.2]
    J = engine.jacobian(module, x)
    N = engine.numerical_jacobian(module, x)
    assert len(J) == 2 and all(len(row) == 3 for row in J)
    for row_j, row_n in zip(J, N):
        for a, n in zip(row_j, row_n):
            assert abs(a - n) <= 1e-8 + 1e-6 * abs(n)


def test_jacobian_refuses_an_output_that_is_not_a_value_or_a_number():
    # A number is a constant output (a zero row); a str is a mistake, not a zero row.
    assert engine.jacobian(lambda a, b: [1.0, a * b], [2.0, 3.0]) == [[0.0, 0.0], [3.0, 2.0]]
    with pytest.raises(TypeError, match="got str"):
        engine.jacobian(lambda a, b: ["a", a * b], [2.0, 3.0])


def test_vjp_is_the_row_vector_times_the_jacobian():
    # [1 × d_f] = [1 × d_g] · [d_g × d_f], as on the slides
    x = [0.3, -0.7, 0.2]
    v = [2.0, -0.5]
    outs, g = engine.vjp(module, x, v)
    J = engine.jacobian(module, x)
    expected = [sum(v[i] * J[i][j] for i in range(2)) for j in range(3)]
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) for a, b in zip(g, expected))
    assert len(outs) == 2
    with pytest.raises(ValueError, match="2 outputs"):
        engine.vjp(module, x, [1.0])


@given(expressions(max_inputs=4))
def test_jacobian_of_a_scalar_function_is_its_gradient(expr):
    leaves = [Value(x) for x in expr.inputs]
    expr(*leaves).backward()
    (row,) = engine.jacobian(expr, expr.inputs)
    assert row == [leaf.grad for leaf in leaves]


def test_gradcheck_writes_no_grad_not_even_a_zero_for_none():
    # A leaf with no gradient yet keeps none: the next backward pass starts its sum at
    # its first contribution, so a -0.0 stays -0.0 (a 0.0 set and put back made it 0.0).
    def f(x):
        return x * -0.0

    x, w = Value(1.0), Value(3.0)
    w.grad = 7.0
    engine.gradcheck(f, [x])
    engine.gradcheck(lambda x: (w * x).tanh(), [x])
    f(x).backward()
    assert math.copysign(1.0, x.grad) == -1.0
    assert w.grad == 7.0
