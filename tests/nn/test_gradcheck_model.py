"""Gradient checking a model: ``engine.gradcheck(loss_fn, model.parameters())``.

gradcheck uses the leaf Values it is given (moving their ``.data`` for the central
differences and putting it back), so a loss built from the model's own parameters is
checked; before, it made fresh leaves the loss never read, and reported an analytic 0
for every parameter.
"""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.nn import ACTIVATIONS, MLP, average_loss, hinge, moons, mse, softmax_cross_entropy


def _state(model):
    return [(p.data, p.grad) for p in model.parameters()]


@pytest.mark.parametrize("output_activation", ["linear", "tanh", "sigmoid"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@settings(max_examples=10)
@given(seed=st.integers(0, 10_000))
def test_gradcheck_of_an_mlp_with_every_activation(activation, output_activation, seed):
    rng = random.Random(seed)
    model = MLP(2, [4, 3, 1], activation=activation, output_activation=output_activation, rng=rng)
    for p in model.parameters():  # non-zero biases, so no unit sits exactly on a kink
        p.data = rng.uniform(-1, 1)
    X, y = moons(6, seed=seed)
    model.zero_grad()
    before = _state(model)
    report = engine.gradcheck(lambda *_: average_loss(mse, model, X, y), model.parameters())
    assert report.ok, str(report)
    assert len(report.rows) == model.num_parameters()
    # the analytic column is the model's gradient, not the zeros of unused fresh leaves
    assert any(row.analytic != 0.0 for row in report.rows)
    loss = average_loss(mse, model, X, y)
    model.zero_grad()
    loss.backward()
    expected = [p.grad for p in model.parameters()]
    model.zero_grad()
    assert [row.analytic for row in report.rows] == pytest.approx(expected, rel=1e-12, abs=0)
    # the check changed no weight and no gradient
    assert _state(model) == before


def test_the_check_leaves_existing_gradients_and_data_as_they_were():
    model = MLP(2, [3, 1], activation="tanh", rng=random.Random(0))
    X, y = moons(5, seed=1)
    average_loss(hinge, model, X, y).backward()  # the user's own gradients
    before = _state(model)
    engine.gradcheck(lambda *_: average_loss(hinge, model, X, y), model.parameters())
    assert _state(model) == before


def test_a_wrong_derivative_inside_a_model_is_caught_and_named_by_its_row():
    model = MLP(2, [3, 1], activation="tanh", rng=random.Random(0))
    X, y = moons(4, seed=0)

    def wrong_square(v):  # d(v²)/dv given as v instead of 2v
        return Value(v.data**2, (v,), "bad_square", local_grads=(v.data,))

    def loss(*_):
        return average_loss(lambda s, t: wrong_square(s - t), model, X, y)

    with pytest.raises(engine.GradcheckError) as info:
        engine.gradcheck(loss, model.parameters())
    assert not info.value.report.ok
    assert "mismatch" in str(info.value)


def test_multiclass_model_with_softmax_cross_entropy():
    model = MLP(2, [4, 3], activation="relu", rng=random.Random(2))
    for p in model.parameters():
        p.data += 0.1
    X = [[0.3, -0.7], [1.2, 0.4], [-0.5, 0.9]]
    y = [0, 2, 1]
    report = engine.gradcheck(
        lambda *_: average_loss(softmax_cross_entropy, model, X, y), model.parameters()
    )
    assert report.ok and any(row.analytic != 0.0 for row in report.rows)


def test_numbers_and_op_results_are_still_copied_into_fresh_leaves():
    x = Value(1.5)
    y = x * 2.0  # an op result: its number is checked, the graph above it is not
    report = engine.gradcheck(lambda a, b: a * b.tanh(), [x, y])
    assert report.ok
    assert report.rows[1].analytic == pytest.approx(1.5 * (1 - math.tanh(3.0) ** 2))
    assert x.grad == 0.0 and x.data == 1.5


def test_numerical_grad_jacobian_and_vjp_use_given_leaves_in_place():
    w = [Value(0.5), Value(-1.0)]
    f = lambda *_: (w[0] * w[1]).tanh()  # reads the leaves, not its arguments
    expected = [-1.0 * (1 - math.tanh(-0.5) ** 2), 0.5 * (1 - math.tanh(-0.5) ** 2)]
    assert engine.numerical_grad(f, w) == pytest.approx(expected, rel=1e-6)
    assert engine.jacobian(lambda *_: [f(), w[0] * 3.0], w)[0] == pytest.approx(expected)
    assert engine.numerical_jacobian(lambda *_: [f()], w)[0] == pytest.approx(expected, rel=1e-6)
    assert engine.vjp(lambda *_: [f()], w, [2.0])[1] == pytest.approx([2 * e for e in expected])
    assert [(v.data, v.grad) for v in w] == [(0.5, 0.0), (-1.0, 0.0)]
