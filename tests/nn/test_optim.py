"""Optimizers against their formulas, written out by hand in each test."""

import math

import pytest

from tapegrad.engine import Value
from tapegrad.nn import MLP, SGD, Adam


def quadratic_step(opt, w, target=3.0):
    """loss = (w − target)²; one backward and one optimizer step. ∂loss/∂w = 2(w − target)."""
    opt.zero_grad()
    ((w - target) ** 2).backward()
    opt.step()


def test_plain_sgd_is_w_minus_lr_grad():
    w = Value(1.0)
    opt = SGD([w], lr=0.1)
    quadratic_step(opt, w)
    assert w.data == pytest.approx(1.0 - 0.1 * 2 * (1.0 - 3.0))


def test_sgd_momentum_and_weight_decay_by_hand():
    lr, mu, decay = 0.1, 0.9, 0.01
    w = Value(1.0)
    opt = SGD([w], lr=lr, momentum=mu, weight_decay=decay)
    data, velocity = 1.0, None
    for _ in range(4):
        g = 2 * (data - 3.0) + decay * data
        velocity = g if velocity is None else mu * velocity + g
        data -= lr * velocity
        quadratic_step(opt, w)
        assert w.data == pytest.approx(data, rel=1e-14)


def test_adam_by_hand_on_a_quadratic():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    w = Value(1.0)
    opt = Adam([w], lr=lr, betas=(b1, b2), eps=eps)
    data, m, v = 1.0, 0.0, 0.0
    for t in range(1, 6):
        g = 2 * (data - 3.0)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        data -= lr * m_hat / (math.sqrt(v_hat) + eps)
        quadratic_step(opt, w)
        assert w.data == pytest.approx(data, rel=1e-14)
    assert opt.t == 5
    # The first Adam step has size lr whatever the gradient's scale (m̂/√v̂ = ±1).
    w2 = Value(1.0)
    quadratic_step(Adam([w2], lr=0.01), w2)
    assert w2.data == pytest.approx(1.01, rel=1e-9)


def test_adam_weight_decay_adds_lambda_w_to_the_gradient():
    w = Value(2.0)
    opt = Adam([w], lr=0.1, weight_decay=0.5)
    quadratic_step(opt, w, target=2.0)  # gradient of the loss is 0; decay alone moves w
    g = 0.5 * 2.0
    m_hat, v_hat = (0.1 * g) / 0.1, (0.001 * g * g) / 0.001
    assert w.data == pytest.approx(2.0 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8))


def test_optimizers_take_a_module_and_zero_its_grads():
    model = MLP(2, [3, 1])
    opt = SGD(model, lr=0.1)
    assert opt.params == model.parameters()
    model([1.0, 2.0]).backward()
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_lr_can_be_scheduled_between_steps():
    w = Value(0.0)
    opt = SGD([w], lr=1.0)
    opt.lr = 0.5
    quadratic_step(opt, w)
    assert w.data == pytest.approx(0.5 * 6.0)
    opt.lr = -1.0
    with pytest.raises(ValueError, match="lr must be in"):
        opt.step()


# PyTorch 2.13.0's float64 trajectories of w on loss (w - 3)², from w = 1, written once
# where torch was installed (torch.optim.Adam / SGD, same hyperparameters, one
# zero_grad/backward/step per update) and kept here as exact hex floats, so CI checks
# against PyTorch without installing it.
TORCH_ADAM = [  # Adam(lr=0.1, weight_decay=0.01)
    "0x1.1999999886088p+0",
    "0x1.3328303699a5ap+0",
    "0x1.4ca38f62542f3p+0",
    "0x1.6602d370dcd5fp+0",
    "0x1.7f3c631c6c132p+0",
]
TORCH_SGD_MOMENTUM = [  # SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
    "0x1.6624dd2f1a9fcp+0",
    "0x1.09d7e45803cd1p+1",
    "0x1.6f4d9257e4761p+1",
    "0x1.cd96bd4dcbbe2p+1",
    "0x1.093bbce941893p+2",
]


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda w: Adam([w], lr=0.1, weight_decay=0.01), TORCH_ADAM),
        (lambda w: SGD([w], lr=0.1, momentum=0.9, weight_decay=0.01), TORCH_SGD_MOMENTUM),
    ],
)
def test_trajectory_matches_torch_optim(make, expected):
    w = Value(1.0)
    opt = make(w)
    for want in expected:
        quadratic_step(opt, w)
        assert w.data == float.fromhex(want)  # bit for bit (measured)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: SGD([], lr=0.1), ValueError, "empty list of parameters"),
        (lambda: SGD(Value(1.0), lr=0.1), TypeError, "got a single Value"),
        (lambda: SGD([1.0], lr=0.1), TypeError, "params must be Values, got float"),
        (lambda: SGD(3, lr=0.1), TypeError, "list of Values or a Module, got int"),
        (lambda: SGD([Value(1.0)], lr=0.0), ValueError, "lr must be in \\(0.0, inf\\)"),
        (lambda: SGD([Value(1.0)], lr="big"), TypeError, "lr must be a real number, got str"),
        (lambda: SGD([Value(1.0)], lr=0.1, momentum=1.0), ValueError, "momentum must be in"),
        (lambda: SGD([Value(1.0)], lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
        (lambda: Adam([Value(1.0)], betas=(0.9,)), TypeError, "betas must be a pair"),
        (lambda: Adam([Value(1.0)], betas=(0.9, 1.0)), ValueError, "beta2 must be in"),
        (lambda: Adam([Value(1.0)], eps=0.0), ValueError, "eps must be in"),
    ],
)
def test_bad_hyperparameters(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_duplicate_parameters_are_refused():
    w = Value(1.0)
    with pytest.raises(ValueError, match=r"appears twice.*dict\.fromkeys"):
        SGD([w, w], lr=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: Adam(ps, lr=0.1),
    ],
)
def test_a_gradient_that_is_not_a_number_changes_no_parameter(make):
    params = [Value(1.0), Value(2.0), Value(3.0)]
    opt = make(params)
    params[0].grad = 0.5
    params[1].grad = "0.5"  # user code assigned something odd
    with pytest.raises(TypeError, match=r"parameter 1 .* not a number: str '0.5'; no parameter"):
        opt.step()
    assert [p.data for p in params] == [1.0, 2.0, 3.0]


def test_the_result_of_an_op_is_not_a_parameter():
    w = Value(1.0)
    with pytest.raises(ValueError, match=r"params must be leaves .* op 'mul'"):
        SGD([w, w * 2.0], lr=0.1)


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1), lambda p: Adam(p, lr=0.1)])
def test_zero_grad_means_no_gradient_as_in_pytorch_and_value(make):
    # After zero_grad the next backward starts each sum at its first contribution,
    # exactly as Value.zero_grad does: a -0.0 gradient stays -0.0 (0.0 + -0.0 would be 0.0).
    w, v = Value(2.0), Value(2.0)
    opt = make([w])
    (w * 5.0).backward()
    (v * 5.0).backward()
    opt.zero_grad()
    v.zero_grad()
    assert w.grad == 0.0
    (w * -0.0).backward()
    (v * -0.0).backward()
    assert math.copysign(1.0, w.grad) == math.copysign(1.0, v.grad) == -1.0
