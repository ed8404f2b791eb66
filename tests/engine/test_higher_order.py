"""Higher-order gradients and forward mode: engine.grad, hessian, hvp, jvp, jacobian.

The gradient graphs of ``create_graph=True`` come from the one chain rule run with
each row's ``value_grads``; these tests check them against the float pass (bit for
bit), central differences, PyTorch's Hessians (the golden table), closed forms, and
forward mode against reverse mode (adjointness).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapegrad.engine as engine
from tapegrad.engine import OPS, Value
from tapegrad.engine.autodiff import forward_pass
from tapegrad.engine.strategies import Expression, expressions, op_inputs
from tapegrad.engine.value import apply

from .test_golden import compare_hessians
from .test_op_forms import same


def close(a: float, n: float, atol: float = 1e-5, rtol: float = 1e-3) -> bool:
    """The project's torch-like tolerance: |a - n| <= atol + rtol·|n|."""
    return abs(a - n) <= atol + rtol * abs(n)


def data(values) -> list[float]:
    return [v.data for v in values]


# -- engine.grad: the first order, bit for bit --------------------------------------


def test_grad_returns_values_and_leaves_every_grad_as_it_was():
    x, w = Value(0.5, label="x"), Value(-1.5, label="w")
    s = w * x
    y = s.tanh()
    y.backward()
    before = (x.grad, w.grad, s.grad, y.grad)
    x.grad = 7.0  # a gradient of the user's own
    for create_graph in (False, True):
        dx, dw = engine.grad(y, [x, w], create_graph=create_graph)
        assert (x.grad, w.grad, s.grad, y.grad) == (7.0, before[1], before[2], before[3])
        assert isinstance(dx, Value) and isinstance(dw, Value)
        assert same(dx.data, before[0]) and same(dw.data, before[1])
        assert dx.is_leaf != create_graph  # no history without create_graph


def test_grad_of_an_intermediate_and_with_grad_outputs():
    x = Value(0.3)
    s = x * x
    y = s.sin() + 2.0 * s
    (ds,) = engine.grad(y, s)
    assert ds.data == math.cos(0.09) + 2.0
    a, b = x.exp(), x.tanh()
    (dx,) = engine.grad([a, b], [x], grad_outputs=[2.0, -1.0])
    assert math.isclose(dx.data, 2.0 * math.exp(0.3) - (1 - math.tanh(0.3) ** 2), rel_tol=1e-15)
    (one,) = engine.grad(x, x, grad_outputs=Value(3.0))
    assert one.data == 3.0


@given(expressions(max_inputs=3), st.sampled_from([1.0, -2.5, 0.0]))
def test_create_graph_gradients_equal_the_float_pass_bit_for_bit(expr, seed):
    leaves = [Value(x) for x in expr.inputs]
    out = expr(*leaves)
    out.backward(seed)
    want = [leaf.grad for leaf in leaves]
    for leaf in leaves:
        leaf.grad = None
    floats = engine.grad(out, leaves, grad_outputs=[seed], allow_unused=True)
    values = engine.grad(out, leaves, grad_outputs=[seed], create_graph=True, allow_unused=True)
    for w, f, v in zip(want, floats, values):
        if f is None:  # not reached: backward() leaves it as it was (None reads 0.0)
            assert v is None and w == 0.0
            continue
        assert same(f.data, w) and same(v.data, w)
    assert all(leaf.grad == 0.0 for leaf in leaves)  # still None: not written


@pytest.mark.parametrize("name", list(OPS))
def test_every_row_gives_the_same_first_order_as_numbers_and_as_values(name):
    """Each row's value_grads reaches the pass (number operands left and right,
    masked edges, the constants 1 and -1) and gives backward()'s float bit for bit,
    seeds inf and nan included (masked edges stay exactly 0)."""
    row = OPS[name]

    @given(op_inputs(row), st.sampled_from([1.0, -0.75, math.inf, math.nan]))
    def check(args, seed):
        forms = [[Value(a) for a in args]]
        if row.arity == 2:
            forms += [[Value(args[0]), args[1]], [args[0], Value(args[1])]]
        for inputs in forms:
            out = apply(row, *inputs)
            leaves = [v for v in inputs if isinstance(v, Value)]
            out.backward(seed)
            want = [leaf.grad for leaf in leaves]
            got = engine.grad(out, leaves, grad_outputs=seed, create_graph=True)
            assert all(same(g.data, w) for g, w in zip(got, want)), (name, args, seed)

    check()


def test_masked_edges_take_no_graph_at_the_first_order_and_select_zero():
    x = Value(-1.0)
    y = x.relu() * Value(math.inf)
    (dx,) = engine.grad(y, [x], create_graph=True)
    assert same(dx.data, 0.0)  # not 0 · inf = nan
    z = Value(0.7).sign() * x
    (d,) = engine.grad(z, [x], create_graph=True)
    assert d.data == 1.0 and not d.is_leaf


# -- errors -----------------------------------------------------------------------


def test_grad_errors_name_the_argument():
    x, y = Value(1.0, label="x"), Value(2.0, label="y")
    z = x * 3.0
    with pytest.raises(ValueError, match=r"inputs\[1\] \('y'\).*allow_unused=True"):
        engine.grad(z, [x, y])
    assert engine.grad(z, [x, y], allow_unused=True)[1] is None
    (_, zero) = engine.grad(z, [x, y], materialize_grads=True)
    assert zero.data == 0.0 and zero.is_leaf
    with pytest.raises(TypeError, match=r"outputs\[0\] must be a Value, got float"):
        engine.grad([1.0], [x])
    with pytest.raises(TypeError, match="inputs must be a Value or a sequence"):
        engine.grad(z, 1.0)
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a Value, got str"):
        engine.grad(z, ["x"])
    with pytest.raises(ValueError, match="inputs is empty"):
        engine.grad(z, [])
    with pytest.raises(ValueError, match="grad_outputs has 2 entries for 1 outputs"):
        engine.grad(z, [x], grad_outputs=[1.0, 2.0])
    with pytest.raises(TypeError, match=r"grad_outputs\[0\] must be a number"):
        engine.grad(z, [x], grad_outputs=["1"])
    with pytest.raises(TypeError, match="create_graph must be True or False"):
        engine.grad(z, [x], create_graph=1)
    with pytest.raises(TypeError, match="allow_unused must be True or False"):
        engine.grad(z, [x], allow_unused="yes")


def test_an_op_with_numeric_local_grads_cannot_be_differentiated_twice():
    x = Value(2.0)
    cube = Value(8.0, (x,), "cube", local_grads=(12.0,))
    assert engine.grad(cube, [x])[0].data == 12.0  # the first order is fine
    with pytest.raises(RuntimeError, match=r"'cube'.*register_op"):
        engine.grad(cube, [x], create_graph=True)
    with pytest.raises(RuntimeError, match="no local_grads"):
        engine.jvp(lambda a: Value(a.data, (a,), "opaque"), [1.0], [1.0])


def test_functions_errors():
    f = lambda a, b: a * b
    with pytest.raises(ValueError, match="mode must be 'reverse' or 'forward', got 'sideways'"):
        engine.jacobian(f, [1.0, 2.0], mode="sideways")
    with pytest.raises(ValueError, match="tangents has 1 entries but there are 2 inputs"):
        engine.jvp(f, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="v has 3 entries but there are 2 inputs"):
        engine.hvp(f, [1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="single scalar, got 2 outputs"):
        engine.hessian(lambda a, b: [a, b], [1.0, 2.0])
    with pytest.raises(TypeError, match="sequence of numbers"):
        engine.hessian(f, 1.0)
    with pytest.raises(TypeError, match="got str"):
        engine.jvp(lambda a: "a", [1.0], [1.0])
    x = Value(1.0)
    with pytest.raises(TypeError, match=r"forward_pass: inputs\[0\] must be a Value"):
        forward_pass([x * 2.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="2 tangents for 1 inputs"):
        forward_pass([x * 2.0], [x], [1.0, 2.0])


# -- second order -----------------------------------------------------------------


def numerical_hessian(expr: Expression, eps: float = 1e-6) -> list[list[float]]:
    """Central differences of the gradient:
    H[i][j] ≈ (g_i(x + eps e_j) - g_i(x - eps e_j)) / 2eps."""
    n = len(expr.inputs)

    def gradient(xs):
        leaves = [Value(x) for x in xs]
        found = engine.grad(expr(*leaves), leaves, materialize_grads=True)
        return [g.data for g in found]

    columns = []
    for j in range(n):
        hi, lo = list(expr.inputs), list(expr.inputs)
        hi[j] += eps
        lo[j] -= eps
        columns.append([(a - b) / (2 * eps) for a, b in zip(gradient(hi), gradient(lo))])
    return [[columns[j][i] for j in range(n)] for i in range(n)]


@given(expressions(max_inputs=3, max_ops=8))
def test_hessians_of_random_trees_match_central_differences_of_the_gradient(expr):
    H = engine.hessian(expr, expr.inputs)
    N = numerical_hessian(expr)
    for row_h, row_n in zip(H, N):
        for h, n in zip(row_h, row_n):
            assert close(h, n), (expr, H, N)


def test_hessians_match_pytorchs_in_the_golden_table_up_to_the_sign_of_zeros():
    """Every Hessian entry of the golden trees equals PyTorch's (finite values within
    test_golden.TREE_RTOL; nan, infinities and masked edges exactly: ``x ** y`` at
    ``y = 0`` next to ``exp(1000)`` gives PyTorch's nan) except the *sign of an exact
    zero* in 3 entries of 2 trees (both with sigmoids on a path masked by relu or
    sign). PyTorch differentiates its hand-written backward formulas
    (``sigmoid_backward``'s double backward is one product, ``grad · gg · (1 -
    2·out)``); tapegrad differentiates the row's one formula ``out · (1 - out)`` as a
    graph, so a zero can arrive as ``+0.0 + -0.0`` = +0.0 where PyTorch multiplies
    signed zeros (traced by hand for the first tree). Writing second derivatives per
    row to match would break the rule of one derivative per op."""
    with pytest.raises(AssertionError) as failure:
        compare_hessians(engine.hessian)
    lines = [line for line in str(failure.value).splitlines() if line.startswith("  Hessian")]
    assert str(failure.value).startswith("3 mismatches with PyTorch in 101 Hessians")
    for line in lines:
        got, want = re.search(r": \[\d\]\[\d\] (\S+), torch (\S+)$", line).groups()
        assert {got, want} == {"0.0", "-0.0"}, line


@given(expressions(max_inputs=3, max_ops=8), st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_hvp_is_the_hessian_times_v(expr, v):
    v = v[: len(expr.inputs)]
    H = engine.hessian(expr, expr.inputs)
    value, Hv = engine.hvp(expr, expr.inputs, v)
    assert value == expr(*expr.inputs).data
    # H's entries carry rounding from cancellations at the scale of the gradient's
    # terms (x + sqrt(x·x) has H = 0 computed as -1e-16), so the bound is absolute.
    size = sum(abs(vj) for vj in v) * (1.0 + max(abs(h) for row in H for h in row))
    for row, got in zip(H, Hv):
        want = sum(h * vj for h, vj in zip(row, v))
        assert abs(got - want) <= 1e-9 * size


@pytest.mark.parametrize("x", [-2.0, -0.5, 0.0, 0.3, 1.7])
def test_third_derivatives_of_tanh_sigmoid_and_exp_match_closed_forms(x):
    t, s = math.tanh(x), 1.0 / (1.0 + math.exp(-x))
    closed = {
        "tanh": -2.0 * (1.0 - t * t) * (1.0 - 3.0 * t * t),
        "sigmoid": s * (1.0 - s) * (1.0 - 6.0 * s + 6.0 * s * s),
        "exp": math.exp(x),
    }
    for name, want in closed.items():
        v = Value(x)
        d = getattr(v, name)()
        for _ in range(3):
            (d,) = engine.grad(d, [v], create_graph=True)
        assert math.isclose(d.data, want, rel_tol=1e-13, abs_tol=1e-15), (name, d.data, want)


def test_masked_edges_at_second_order_as_pytorch():
    # relu at x <= 0 masks at every order: relu(x)² has zero derivatives there.
    for x in (-1.0, 0.0):
        assert engine.hessian(lambda a: a.relu() * a.relu(), [x]) == [[0.0]]
    # sqrt(relu(-w)) at w = 0.5: PyTorch's double backward gives -0.0 (not nan):
    # the selection masks the nan coming back through 1/(2·sqrt(0)) a second time.
    (row,) = engine.hessian(lambda w: (w * -1.0).relu().sqrt(), [0.5])
    assert same(row[0], -0.0)
    # (x ** y) · exp(1000) at y = 0: d/dx is a masked edge; differentiated again,
    # PyTorch's where passes 0 into y·x^(y-1)·inf: nan, as here.
    H = engine.hessian(lambda x, y, z: (x**y) * z.exp(), [2.0, 0.0, 1000.0])
    assert all(math.isnan(h) for h in H[0])
    # a number exponent 0 is PyTorch's ``if exponent == 0: zeros``: no graph, exact 0.
    assert engine.hessian(lambda x, z: (x**0.0) * z.exp(), [2.0, 1000.0])[0] == [0.0, 0.0]
    # sign: zero derivatives at every order
    assert engine.hessian(lambda a: a.sign() * a * a, [0.5]) == [[2.0]]


# -- forward mode -----------------------------------------------------------------


def outputs_of(expr: Expression):
    """A function R^n -> R^m: every register of ``expr``'s program, as outputs."""
    prefixes = [Expression(expr.inputs, expr.program[: k + 1]) for k in range(len(expr.program))]

    def f(*xs):
        return [prefix(*xs) for prefix in prefixes]

    return f


vectors = st.lists(st.floats(-2.0, 2.0), min_size=12, max_size=12)


@given(expressions(max_inputs=4, max_ops=6), vectors, vectors)
def test_adjointness_u_dot_Jv_equals_uJ_dot_v(expr, u, v):
    f = outputs_of(expr)
    n, m = len(expr.inputs), len(expr.program)
    u, v = u[:m], v[:n]
    outs_f, Jv = engine.jvp(f, expr.inputs, v)
    outs_r, uJ = engine.vjp(f, expr.inputs, u)
    assert outs_f == outs_r
    left = sum(a * b for a, b in zip(u, Jv))
    right = sum(a * b for a, b in zip(uJ, v))
    J = engine.jacobian(f, expr.inputs)
    scale = sum(abs(u[i] * J[i][j] * v[j]) for i in range(m) for j in range(n))
    assert abs(left - right) <= 1e-12 * scale + 1e-300


@given(expressions(max_inputs=4, max_ops=6))
def test_forward_and_reverse_jacobians_agree_and_jvp_gives_columns(expr):
    f = outputs_of(expr)
    reverse = engine.jacobian(f, expr.inputs)
    forward = engine.jacobian(f, expr.inputs, mode="forward")
    for row_r, row_f in zip(reverse, forward):
        for r, fw in zip(row_r, row_f):
            assert abs(r - fw) <= 1e-12 * max(1.0, abs(r))
    numerical = engine.numerical_jacobian(f, expr.inputs)
    for row_f, row_n in zip(forward, numerical):
        assert all(close(a, b) for a, b in zip(row_f, row_n))
    for j in range(len(expr.inputs)):
        e = [0.0] * len(expr.inputs)
        e[j] = 1.0
        _, column = engine.jvp(f, expr.inputs, e)
        assert column == [row[j] for row in forward]


def test_forward_mode_across_tapes_from_intermediates_and_deep_chains():
    x = Value(0.4)
    s = x * 3.0
    s.backward()  # retires the tape: what follows is recorded on a newer one
    y = s.tanh() + x
    (tangent,) = forward_pass([y], [x], [1.0])
    (g,) = engine.grad(y, [x])
    assert math.isclose(tangent, g.data, rel_tol=1e-15)
    (ds,) = forward_pass([y], [s], [1.0])  # s moves alone: its input held
    assert ds == 1.0 - math.tanh(s.data) ** 2
    assert forward_pass([y, 5.0 * Value(1.0)], [x], [2.0])[1] == 0.0
    z = x
    for _ in range(20_000):
        z = z * 1.0001
    (dz,) = forward_pass([z], [x], [1.0])
    assert math.isclose(dz, 1.0001**20_000, rel_tol=1e-9)


def test_forward_mode_with_outputs_on_two_tapes_and_a_leaf_output():
    # a is early on the older tape; the newer tape reads b, later on it
    x, lone = Value(1.5), Value(2.0)
    a = x * 2.0
    b = a.tanh() * 3.0
    b.backward()
    c = b * 5.0
    found = forward_pass([a, c, x, lone], [x], [1.0])
    expected = [engine.grad(o, [x], allow_unused=True)[0] for o in (a, c, x, lone)]
    want = [0.0 if g is None else g.data for g in expected]
    assert all(math.isclose(f, e, rel_tol=1e-15) for f, e in zip(found, want, strict=True))
    assert want[2:] == [1.0, 0.0]  # the input itself moves at rate 1; the lone leaf not


def test_jacobian_modes_count_one_pass_per_output_or_per_input():
    # wide (3 inputs, 1 output) and tall (1 input, 3 outputs): both modes agree
    wide = lambda a, b, c: a * b + c.exp()
    tall = lambda a: [a.sin(), a * a, a.exp()]
    for f, xs in ((wide, [0.1, 0.2, 0.3]), (tall, [0.4])):
        assert engine.jacobian(f, xs) == engine.jacobian(f, xs, mode="forward")
    assert engine.jacobian(tall, [0.4], mode="forward") == [
        [math.cos(0.4)],
        [0.8],
        [math.exp(0.4)],
    ]


# -- gradients that are graphs -----------------------------------------------------


def test_the_graph_of_a_gradient_draws_and_steps_like_any_graph():
    x, w = Value(0.5, label="x"), Value(-1.5, label="w")
    y = (w * x).tanh()
    (dx,) = engine.grad(y, [x], create_graph=True)
    order = engine.topological_order(dx)
    assert x in order and w in order and len(order) > 4
    steps = list(engine.backprop_steps(dx))
    d2x, dxdw = engine.grad(dx, [x, w])
    last = {}
    for step in steps:
        last[step.parent] = step.parent_grad
    assert same(last[x], d2x.data) and same(last[w], dxdw.data)
    assert x.grad == 0.0  # backprop_steps writes nothing
    list(dx.backward_steps())  # the writing view: leaves what backward() leaves
    assert same(x.grad, d2x.data) and same(w.grad, dxdw.data)
    dot = engine.draw(dx).source
    assert "tanh" in dot


def test_create_graph_records_inside_no_grad_as_pytorch():
    x = Value(0.3)
    y = x.sin()
    with engine.no_grad():
        (dy,) = engine.grad(y, [x], create_graph=True)
    assert not dy.is_leaf
    assert math.isclose(engine.grad(dy, [x])[0].data, -math.sin(0.3), rel_tol=1e-15)


def test_higher_orders_of_a_polynomial_are_exact():
    x = Value(1.5)
    d = x**4
    values = []
    for _ in range(5):
        (d,) = engine.grad(d, [x], create_graph=True, materialize_grads=True)
        values.append(d.data)
    assert values == [4 * 1.5**3, 12 * 1.5**2, 24 * 1.5, 24.0, 0.0]


def test_the_docs_example_runs_and_means_what_it_says():
    page = (Path(__file__).resolve().parents[2] / "docs" / "engine.md").read_text(encoding="utf-8")
    section = page.split("## Higher-order gradients and forward mode", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    names: dict = {}
    exec(compile(code, "docs/engine.md", "exec"), names)
    t = math.tanh(0.5)
    # y = x tanh x: y'' = 2 tanh'(x) + x tanh''(x) = 2(1 - t²) - 2x t (1 - t²)
    assert math.isclose(names["d2y_dx2"].data, 2 * (1 - t * t) * (1 - 0.5 * t), rel_tol=1e-14)
    H = names["H"]
    assert H[0][1] == H[1][0] or math.isclose(H[0][1], H[1][0], rel_tol=1e-14)
    assert names["Hv"] == [H[0][0], H[1][0]]
    assert names["Jt"] == [row[0] for row in names["J"]]


def test_a_gradient_with_a_masked_edge_draws_pickles_and_differentiates_again():
    import pickle

    r, x = Value(-1.0, label="r"), Value(0.5, label="x")
    (dr,) = engine.grad(r.relu() * x, [r], create_graph=True)
    assert dr.op == "masked_zero" and same(dr.data, 0.0)
    assert "masked" in engine.draw(dr).source
    copy = pickle.loads(pickle.dumps(dr))
    assert copy.op == "masked_zero" and copy.data == 0.0
    (dx,) = engine.grad(dr, [x])  # masked again: an exact 0 reaches x
    assert same(dx.data, 0.0)


def test_second_derivatives_with_a_number_on_either_side():
    x = 0.7
    cases = [
        (lambda a: 2.0**a, math.log(2.0) ** 2 * 2.0**x),
        (lambda a: 3.0 / a, 6.0 / x**3),
        (lambda a: 2.0 - a * a, -2.0),
        (lambda a: a**3.0, 6.0 * x),
        (lambda a: (a - 5.0) / 2.0, 0.0),
    ]
    for f, want in cases:
        ((h,),) = engine.hessian(f, [x])
        assert math.isclose(h, want, rel_tol=1e-14, abs_tol=1e-300), (h, want)


def test_unused_input_error_says_when_the_outputs_have_no_graph():
    x = Value(2.0)
    with engine.no_grad():
        y = x * x
    with pytest.raises(ValueError, match=r"inputs\[0\].*no graph at all.*no_grad"):
        engine.grad(y, [x])
    (third,) = engine.grad(
        engine.grad(engine.grad(x * x * x, [x], create_graph=True)[0], [x], create_graph=True)[0],
        [x],
        create_graph=True,
    )
    assert third.data == 6.0 and third.is_leaf  # d³(x³)/dx³ depends on no Value
    with pytest.raises(ValueError, match="no graph at all"):
        engine.grad(third, [x])
    assert engine.grad(third, [x], allow_unused=True) == (None,)


@pytest.mark.parametrize(
    "f, reverse",
    [
        # torch 2.13.0: reverse (autograd.grad) and forward (torch.func.jvp) at x = 0.5
        (lambda w: (w * -1.0).relu().sqrt(), -0.0),
        (lambda w: 1 / (w * -1.0).relu(), -0.0),
        (lambda w: (w * -1.0).sign().sqrt(), -0.0),
        (lambda w: (w**0) * Value(1000.0).exp(), 0.0),
    ],
)
def test_a_masked_edge_before_an_infinite_derivative_forward_gives_nan_as_pytorch(f, reverse):
    assert same(engine.jacobian(f, [0.5], mode="reverse")[0][0], reverse)
    assert math.isnan(engine.jacobian(f, [0.5], mode="forward")[0][0])
    assert math.isnan(engine.jvp(f, [0.5], [1.0])[1][0])
