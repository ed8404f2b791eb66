"""``y.backward(create_graph=True)`` as PyTorch and DeZero (steps 33-36) use it: ``.grad``
holds a Value with its graph, which is differentiated again (issue 21 item 6)."""

import math

import pytest

from tapegrad import engine
from tapegrad.engine import Value


def test_plain_backward_keeps_floats_and_create_graph_gives_values():
    x = Value(2.0)
    (x**3).backward()
    assert type(x.grad) is float and x.grad == 12.0
    x.cleargrad()
    (x**3).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 12.0
    assert not x.grad.is_leaf  # it has a graph: 3 x²


def newton(f, x0, steps):
    """Newton's method on f'(x) = 0 with the second derivative, DeZero step 33."""
    x = Value(x0)
    path = [x.data]
    for _ in range(steps):
        y = f(x)
        x.cleargrad()
        y.backward(create_graph=True)
        gx = x.grad
        x.cleargrad()
        gx.backward()
        gx2 = x.grad
        x.data -= gx.data / gx2.data if isinstance(gx2, Value) else gx.data / gx2
        path.append(x.data)
    return path


def test_newtons_method_with_the_second_derivative():
    # DeZero step 33: y = x⁴ - 2x², from x = 2 to the minimum at x = 1.
    path = newton(lambda x: x**4 - 2 * x**2, 2.0, 7)
    expected = [2.0, 1.4545454545454546, 1.1510467893775467, 1.0253259289766978,
                1.0009084519430513, 1.0000012353089454, 1.000000000002289, 1.0]  # fmt: skip
    assert path == pytest.approx(expected, rel=1e-14, abs=1e-15)
    assert path[-1] == 1.0


def test_sin_fourth_derivative_by_repeated_backward():
    x = Value(1.0)
    y = x.sin()
    derivatives = []
    for _ in range(4):
        x.cleargrad()
        y.backward(create_graph=True)
        y = x.grad
        derivatives.append(y.data)
    c, s = math.cos(1.0), math.sin(1.0)
    assert derivatives == pytest.approx([c, -s, -c, s], abs=1e-15)


def test_tanh_higher_derivatives_dezero_style():
    # DeZero step 35: gx = x.grad; x.cleargrad(); gx.backward(create_graph=True).
    x = Value(0.5)
    y = x.tanh()
    x.cleargrad()
    y.backward(create_graph=True)
    found = []
    for _ in range(5):
        gx = x.grad
        found.append(gx.data)
        x.cleargrad()
        gx.backward(create_graph=True)
    t = math.tanh(0.5)
    s = 1 - t * t  # sech²
    expected = [
        s,
        -2 * t * s,
        2 * s * (3 * t * t - 1),
        -8 * t * s * (3 * t * t - 2),  # d⁴/dx⁴ tanh
        8 * s * (15 * t**4 - 15 * t * t + 2),
    ]
    assert found == pytest.approx(expected, rel=1e-12)


def test_the_higher_derivatives_agree_with_engine_grad():
    x = Value(0.7)
    y = (x * x.sin()).exp()
    (g1,) = engine.grad(y, [x], create_graph=True)
    (g2,) = engine.grad(g1, [x])
    x.cleargrad()
    y.backward(create_graph=True)
    gx = x.grad
    assert gx.data == g1.data
    x.cleargrad()
    gx.backward()
    assert x.grad == g2.data


def test_leaf_gradients_accumulate_as_old_plus_new():
    x = Value(3.0)
    (x * x).backward(create_graph=True)  # 2x
    (x * x * x).backward(create_graph=True)  # + 3x²
    gx = x.grad
    assert isinstance(gx, Value) and gx.data == 6.0 + 27.0
    x.cleargrad()
    gx.backward()  # d/dx (2x + 3x²) = 2 + 6x
    assert x.grad == 20.0


def test_the_grad_is_a_new_node_and_works_under_no_grad():
    x, w = Value(2.0), Value(5.0)
    y = x * w
    with engine.no_grad():
        y.backward(create_graph=True)  # recorded anyway, as PyTorch
    assert isinstance(x.grad, Value) and x.grad is not w and x.grad != w
    x.grad.label = "gx"
    assert w.label == "" and w.data == 5.0
    x.cleargrad()
    assert x.grad == 0.0
    w.cleargrad()
    gx = engine.grad(x * w, [x], create_graph=True)[0]
    gx.backward()
    assert w.grad == 1.0


def test_bad_flags_are_refused():
    with pytest.raises(TypeError, match="create_graph must be True or False"):
        Value(1.0).backward(create_graph="yes")
