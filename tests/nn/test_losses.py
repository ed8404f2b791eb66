"""Losses: values by hand, gradients against central differences, bad inputs."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.nn import (
    adaline_loss,
    average_loss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    hinge,
    l2,
    log_sum_exp,
    logistic_loss,
    mean,
    mse,
    perceptron_criterion,
    perceptron_rule_loss,
    softmax,
    softmax_cross_entropy,
    softplus,
)

scores = st.floats(-6.0, 6.0).filter(lambda s: abs(s) > 1e-3 and abs(abs(s) - 1) > 1e-3)
labels = st.sampled_from([-1, 1])


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def check_grad(f, inputs):
    engine.gradcheck(f, inputs, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize(
    "loss, expected",
    [
        (hinge, lambda s, y: max(0.0, 1 - y * s)),
        (perceptron_criterion, lambda s, y: max(0.0, -y * s)),
        (perceptron_rule_loss, lambda s, y: -(y - math.copysign(1, s)) * s),
        (adaline_loss, lambda s, y: 0.5 * (y - s) ** 2),
        (logistic_loss, lambda s, y: math.log1p(math.exp(-2 * y * s))),
        (binary_cross_entropy_with_logits, lambda s, y: math.log1p(math.exp(-s)) + (1 - y) * s),
    ],
)
@given(s=scores, y=labels)
def test_margin_losses_values_and_gradients(loss, expected, s, y):
    if loss is binary_cross_entropy_with_logits:
        y = (y + 1) // 2  # labels 0/1
    assert loss(Value(s), y).data == pytest.approx(expected(s, y), rel=1e-12, abs=1e-12)
    check_grad(lambda v: loss(v, y), [s])


def test_hand_values():
    assert hinge(Value(0.25), 1).data == 0.75
    assert hinge(Value(2.0), 1).data == 0.0
    assert hinge(Value(0.5), -1, margin=2.0).data == 2.5
    assert perceptron_criterion(Value(-0.5), 1).data == 0.5
    assert perceptron_rule_loss(Value(-0.5), 1).data == 1.0  # twice the criterion
    assert logistic_loss(Value(0.0), 1).data == pytest.approx(math.log(2))
    assert mse(Value(3.0), 1.0).data == 4.0
    assert mse([Value(1.0), Value(2.0)], [0.0, 4.0]).data == 2.5
    assert l2([Value(1.0), Value(-2.0)], 0.5).data == 2.5
    assert mean([Value(1.0), Value(2.0), Value(6.0)]).data == 3.0
    assert softplus(0.0).data == pytest.approx(math.log(2))


def test_binary_cross_entropy_from_probabilities():
    for p, y in ((0.8, 1), (0.8, 0), (0.3, 0.25)):
        expected = -(y * math.log(p) + (1 - y) * math.log(1 - p))
        assert binary_cross_entropy(Value(p), y).data == pytest.approx(expected)
        check_grad(lambda v, y=y: binary_cross_entropy(v, y), [p])
    # clipped at 0 and 1: finite, with the gradient kept
    edge = Value(0.0)
    out = binary_cross_entropy(edge, 1)
    out.backward()
    assert math.isfinite(out.data) and edge.grad == pytest.approx(-1e12)
    assert math.isfinite(binary_cross_entropy(Value(1.0), 0).data)


def test_bce_with_logits_matches_bce_of_sigmoid_and_is_stable():
    for z in (-3.0, 0.4, 5.0):
        for y in (0, 1):
            direct = binary_cross_entropy(Value(z).sigmoid(), y).data
            assert binary_cross_entropy_with_logits(Value(z), y).data == pytest.approx(direct)
    big = binary_cross_entropy_with_logits(Value(1000.0), 0)
    assert big.data == pytest.approx(1000.0)
    assert binary_cross_entropy_with_logits(Value(-1000.0), 0).data == 0.0


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=5), st.data())
def test_softmax_cross_entropy_values_and_gradients(logits, data):
    target = data.draw(st.integers(0, len(logits) - 1))
    exps = [math.exp(v) for v in logits]
    expected = -math.log(exps[target] / sum(exps))
    vs = [Value(v) for v in logits]
    loss = softmax_cross_entropy(vs, target)
    assert loss.data == pytest.approx(expected, rel=1e-12, abs=1e-12)
    loss.backward()
    # ∂L/∂v_k = softmax_k − [k = t]
    for k, v in enumerate(vs):
        assert v.grad == pytest.approx(exps[k] / sum(exps) - (k == target), abs=1e-12)
    check_grad(lambda *v: softmax_cross_entropy(list(v), target), logits)


def test_log_sum_exp_and_softmax_are_stable():
    big = [Value(1000.0), Value(1000.0)]
    assert log_sum_exp(big).data == pytest.approx(1000.0 + math.log(2))
    assert [p.data for p in softmax(big)] == [0.5, 0.5]
    assert softmax_cross_entropy([Value(-1000.0), Value(1000.0)], 0).data == pytest.approx(2000.0)
    assert sum(p.data for p in softmax([0.1, 2.0, -3.0])) == pytest.approx(1.0)


def test_average_loss_is_the_mean_of_per_sample_losses():
    def model(x):
        return Value(2.0) * x[0]

    X, y = [[1.0], [-1.0], [0.25]], [1, 1, -1]
    total = average_loss(hinge, model, X, y)
    expected = (max(0, 1 - 2) + max(0, 1 + 2) + max(0, 1 + 0.5)) / 3
    assert total.data == pytest.approx(expected)


def test_average_loss_gives_a_loss_of_ones_own_the_labels_as_given():
    # A micrograd-style loss tests its label with == and indexes with a class index:
    # as a Value label, y == 1 would be node identity (always False) and z[k] a TypeError.
    received = []

    def squared_to_target(out, t):
        received.append(t)
        return (out - 1.0) ** 2 if t == 1 else (out + 1.0) ** 2

    def model(x):
        return Value(0.5) * x[0]

    X, y = [[1.0], [-2.0], [4.0]], [1, -1, 1.0]
    total = average_loss(squared_to_target, model, X, y)
    assert received == y and [type(t) for t in received] == [int, int, float]
    expected = ((0.5 - 1) ** 2 + (-1.0 + 1) ** 2 + (2.0 - 1) ** 2) / 3
    assert total.data == pytest.approx(expected)
    # a hand-written cross-entropy over a list of logits: the class index stays an int
    logits = [Value(0.1), Value(2.0), Value(-1.0)]

    def nll(z, k):
        return -(z[k].exp() / sum(zi.exp() for zi in z)).log()

    total = average_loss(nll, lambda x: logits, [[0.0], [0.0]], [1, 2])
    assert total.data == pytest.approx((nll(logits, 1).data + nll(logits, 2).data) / 2, rel=1e-15)
    # Values given are passed as they are
    label = Value(1.0)
    average_loss(lambda out, t: received.append(t) or out, model, [[1.0]], [label])
    assert received[-1] is label


def test_average_loss_names_the_labels_of_this_modules_losses():
    seen = []
    for loss in (mse, hinge, logistic_loss, binary_cross_entropy_with_logits, adaline_loss):
        total = average_loss(loss, lambda x: x[0] * 2.0, [[0.5], [-1.5]], [1, -1])
        seen.append(sorted(v.label for v in engine.topological_order(total) if v.is_leaf))
    assert all(labels == ["x[0]", "x[1]", "y[0]", "y[1]"] for labels in seen), seen
    # a class index stays an int for softmax_cross_entropy
    total = average_loss(softmax_cross_entropy, lambda x: [x[0], -x[0]], [[0.5]], [1])
    assert total.data == pytest.approx(softmax_cross_entropy([Value(0.5), Value(-0.5)], 1).data)


def test_l2_gradient_is_2_alpha_w():
    w = [Value(0.5), Value(-3.0)]
    l2(w, 1e-2).backward()
    assert [p.grad for p in w] == pytest.approx([1e-2, -6e-2])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: hinge(Value(1.0), 0), ValueError, "label y must be -1 or \\+1"),
        (lambda: logistic_loss(Value(1.0), 2), ValueError, "label y must be -1 or \\+1"),
        (lambda: perceptron_criterion("s", 1), TypeError, "score must be a Value or a real"),
        (lambda: adaline_loss(Value(1.0), math.nan), ValueError, "must be finite"),
        (lambda: adaline_loss(Value(1.0), None), TypeError, "label y must be a real number"),
        (lambda: binary_cross_entropy(Value(0.5), 2), ValueError, "label y in \\[0, 1\\]"),
        (lambda: binary_cross_entropy(Value(1.5), 1), ValueError, "probability p in \\[0, 1\\]"),
        (lambda: binary_cross_entropy_with_logits(Value(0.5), -0.5), ValueError, "y in \\[0, 1\\]"),
        (
            lambda: binary_cross_entropy_with_logits(Value(0.5), 2),
            ValueError,
            "\\(or -1, read as 0",
        ),
        (lambda: binary_cross_entropy(Value(0.5), -2), ValueError, "label y in \\[0, 1\\]"),
        (lambda: softmax_cross_entropy([Value(1.0)], 1), ValueError, "not a class index 0..0"),
        (lambda: softmax_cross_entropy([Value(1.0)], 0.0), TypeError, "class index \\(int\\)"),
        (lambda: softmax_cross_entropy([], 0), ValueError, "empty list"),
        (lambda: softmax_cross_entropy(Value(1.0), 0), TypeError, "expects a list"),
        (lambda: log_sum_exp([math.inf]), ValueError, "finite inputs"),
        # not the largest, but not finite: these gave nan silently
        (lambda: log_sum_exp([1.0, math.nan]), ValueError, "got nan at position 1"),
        (lambda: log_sum_exp([-math.inf, 1.0]), ValueError, "got -inf at position 0"),
        (lambda: softmax([2.0, -math.inf]), ValueError, "finite inputs"),
        (
            lambda: softmax_cross_entropy([Value(1.0), Value(-math.inf)], 0),
            ValueError,
            "finite inputs",
        ),
        (lambda: mse([Value(1.0)], [1.0, 2.0]), ValueError, "1 predictions but 2 targets"),
        (lambda: mse([Value(1.0)], 1.0), TypeError, "target must be a list"),
        (lambda: l2([], 1.0), ValueError, "empty list"),
        (lambda: average_loss(hinge, abs, [[1.0]], []), ValueError, "1 inputs but 0 labels"),
    ],
)
def test_bad_inputs(call, error, message):
    with pytest.raises(error, match=message):
        call()


@given(z=st.floats(-30, 30), p=st.floats(0.001, 0.999))
def test_bce_reads_minus_one_as_zero_so_plus_minus_one_labels_work(z, p):
    # the two-class datasets label their classes -1/+1; +1 means class 1 either way
    for loss, x in ((binary_cross_entropy_with_logits, z), (binary_cross_entropy, p)):
        assert loss(Value(x), -1).data == loss(Value(x), 0).data
        assert loss(Value(x), 1).data == loss(Value(x), 1.0).data
    # with ±1 labels, BCE of the logit z is the logistic loss softplus(−y z)
    for y in (-1, 1):
        expected = math.log1p(math.exp(-abs(z))) + max(-y * z, 0.0)
        assert binary_cross_entropy_with_logits(Value(z), y).data == pytest.approx(expected)
