"""The three classic rules: closed-form update == one autograd SGD step on the loss,
and the slides' loss formulas checked numerically."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.nn import (
    SGD,
    Adaline,
    LogisticRegression,
    Perceptron,
    accuracy,
    blobs,
    fit,
    logic_gate,
    train_rule,
)

MODELS = [Perceptron, Adaline, LogisticRegression]
reals = st.floats(-3.0, 3.0, allow_nan=False)


@st.composite
def problems(draw):
    nin = draw(st.integers(1, 5))
    weights = draw(st.lists(reals, min_size=nin, max_size=nin))
    bias = draw(reals)
    x = draw(st.lists(reals, min_size=nin, max_size=nin))
    y = draw(st.sampled_from([-1, 1]))
    lr = draw(st.floats(1e-3, 1.0))
    return weights, bias, x, y, lr


def build(cls, weights, bias):
    model = cls(len(weights))
    for w, value in zip(model.w, weights):
        w.data = value
    model.b.data = bias
    return model


def autograd_step(model, x, y, lr):
    model.zero_grad()
    model.loss(x, y).backward()
    for p in model.parameters():
        p.data -= lr * p.grad


def close(a, b):
    return all(abs(p.data - q.data) <= 1e-12 for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("cls", MODELS)
@given(problem=problems())
def test_autograd_step_equals_the_closed_form_rule(cls, problem):
    weights, bias, x, y, lr = problem
    closed, auto = build(cls, weights, bias), build(cls, weights, bias)
    s = bias + sum(w * xi for w, xi in zip(weights, x))
    y_tilde = closed.predict(x)
    error = closed.update(x, y, lr)
    assert error == y - y_tilde
    # the rule, written out: w ← w + η (y − ỹ) x, b ← b + η (y − ỹ)
    expected = [w + lr * (y - y_tilde) * xi for w, xi in zip(weights, x)]
    expected.append(bias + lr * (y - y_tilde))
    assert [p.data for p in closed.parameters()] == pytest.approx(expected, abs=1e-12)
    autograd_step(auto, x, y, lr)
    assert close(closed, auto), (s, closed.parameters(), auto.parameters())


@given(problem=problems())
def test_adaline_accepts_real_labels(problem):
    weights, bias, x, _, lr = problem
    y = 0.37
    closed, auto = build(Adaline, weights, bias), build(Adaline, weights, bias)
    closed.update(x, y, lr)
    autograd_step(auto, x, y, lr)
    assert close(closed, auto)


def test_outputs_are_sign_identity_and_tanh():
    x = [1.0, -2.0]
    for cls, f in (
        (Perceptron, lambda s: math.copysign(1.0, s)),
        (Adaline, lambda s: s),
        (LogisticRegression, math.tanh),
    ):
        model = build(cls, [0.5, 0.25], 0.1)
        s = 0.1 + 0.5 - 0.5
        assert model(x).data == pytest.approx(s)
        assert model.predict(x) == pytest.approx(f(s))
    assert build(Perceptron, [0.0], 0.0).predict([1.0]) == 0.0  # sign(0) = 0


# -- the slides' formulas, checked ---------------------------------------------------


def dL_ds(loss, s, y):
    """∂L/∂s by backprop, and by central differences."""
    sv = Value(s)
    loss(sv, y).backward()
    return sv.grad, engine.numerical_grad(lambda v: loss(v, y), [s])[0]


@pytest.mark.parametrize("s", [-2.3, -0.4, 0.7, 1.9])
@pytest.mark.parametrize("y", [-1, 1])
def test_slide_perceptron_and_adaline_losses_give_the_rule(s, y):
    slide_perceptron = lambda s, y: -(y - s.sign()) * s  # −(y − ỹ) Σ w x, ỹ = sign(s)
    slide_adaline = lambda s, y: 0.5 * (y - s) ** 2  # ½ (y − ỹ)², ỹ = s
    for slide, y_tilde in ((slide_perceptron, math.copysign(1.0, s)), (slide_adaline, s)):
        backprop, numeric = dL_ds(slide, s, y)
        assert backprop == pytest.approx(-(y - y_tilde), abs=1e-12)
        assert numeric == pytest.approx(-(y - y_tilde), abs=1e-6)


@pytest.mark.parametrize("s", [-2.3, -0.4, 0.7, 1.9])
@pytest.mark.parametrize("y", [-1, 1])
def test_slide_logistic_loss_does_not_give_the_rule_but_ours_does(s, y):
    rule = -(y - math.tanh(s))  # what ∂L/∂s must be for w ← w + η (y − tanh s) x
    slide = lambda s, y: -2 * (1 + (-y * s).exp()).log()  # −2 log(1 + exp(−y s))
    backprop, numeric = dL_ds(slide, s, y)
    assert numeric == pytest.approx(backprop, abs=1e-6)
    assert abs(backprop - rule) > 1e-3  # the slide's step goes elsewhere...
    assert backprop * rule < 0  # ...uphill: its sign is flipped
    # With the sign fixed, 2 log(1 + e^{−ys}) is the rule for tanh(s/2), not tanh(s).
    fixed = lambda s, y: 2 * (1 + (-y * s).exp()).log()
    assert dL_ds(fixed, s, y)[0] == pytest.approx(-(y - math.tanh(s / 2)), abs=1e-12)
    # Ours, log(1 + e^{−2ys}), gives exactly the rule.
    ours = LogisticRegression(1).criterion
    backprop, numeric = dL_ds(ours, s, y)
    assert backprop == pytest.approx(rule, abs=1e-12)
    assert numeric == pytest.approx(rule, abs=1e-6)


def test_logistic_loss_does_not_overflow_for_large_scores():
    criterion = LogisticRegression(1).criterion
    for s in (-800.0, 800.0):
        for y in (-1, 1):
            sv = Value(s)
            loss = criterion(sv, y)
            loss.backward()
            # log(1 + e^{−2ys}) is 0 when y s ≫ 0 and −2ys when y s ≪ 0
            assert loss.data == pytest.approx(max(0.0, -2 * y * s), abs=1e-12)
            assert sv.grad == pytest.approx(-(y - math.tanh(s)), abs=1e-12)


# -- training regimes ---------------------------------------------------------------


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("batch_size", [1, 3, None])
def test_train_rule_matches_fit_with_autograd(cls, batch_size):
    X, y = blobs(12, seed=4)
    by_rule = cls(2, init="uniform", rng=random.Random(1))
    by_autograd = cls(2, init="uniform", rng=random.Random(1))
    lr = 0.05
    rule_losses = train_rule(by_rule, X, y, lr=lr, epochs=3, batch_size=batch_size, seed=9)
    history = fit(
        by_autograd,
        X,
        y,
        optimizer=SGD(by_autograd.parameters(), lr=lr),
        epochs=3,
        batch_size=batch_size,
        seed=9,
        progress=False,
    )
    for p, q in zip(by_rule.parameters(), by_autograd.parameters()):
        assert p.data == pytest.approx(q.data, abs=1e-12)
    assert rule_losses == pytest.approx(history.loss, abs=1e-12)


def test_perceptron_separates_separable_data_and_not_xor():
    X, y = blobs(40, seed=0)
    model = Perceptron(2)
    train_rule(model, X, y, lr=0.1, epochs=20)
    assert accuracy(model, X, y) == 1.0
    for gate in ("and", "or"):
        X, y = logic_gate(gate)
        model = Perceptron(2)
        train_rule(model, X, y, lr=0.1, epochs=30)
        assert accuracy(model, X, y) == 1.0
    X, y = logic_gate("xor")
    model = Perceptron(2)
    train_rule(model, X, y, lr=0.1, epochs=50)
    assert accuracy(model, X, y) <= 0.75  # no line separates XOR


def test_config_and_names():
    model = LogisticRegression(3, init="uniform", rng=random.Random(0))
    assert [n for n, _ in model.named_parameters()] == ["w.0", "w.1", "w.2", "b"]
    rebuilt = LogisticRegression(**model.config())
    assert rebuilt.config() == {"nin": 3, "init": "uniform"}
    assert repr(model) == "LogisticRegression(nin=3)"
    assert all(p.data == 0.0 for p in Perceptron(4).parameters())


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: m.update([1.0, 2.0], 0, 0.1), ValueError, "labels must be -1 or \\+1, got 0"),
        (lambda m: m.update([1.0, 2.0], "1", 0.1), TypeError, "label y must be a finite real"),
        (lambda m: m.update([1.0, 2.0], 1, 0.0), ValueError, "lr must be a finite number > 0"),
        (lambda m: m.update([1.0, 2.0], 1, "fast"), TypeError, "lr must be a real number"),
        (lambda m: m.update([1.0], 1, 0.1), ValueError, "expects 2 inputs, got 1"),
        (lambda m: m.loss([1.0, 2.0], 2), ValueError, "labels must be -1 or \\+1"),
        (lambda m: m.predict(3.0), TypeError, "expects a sequence of 2"),
    ],
)
def test_bad_arguments_leave_the_model_untouched(call, error, message):
    model = LogisticRegression(2, init="uniform", rng=random.Random(0))
    before = [p.data for p in model.parameters()]
    with pytest.raises(error, match=message):
        call(model)
    assert [p.data for p in model.parameters()] == before


def test_bad_constructor_and_train_rule_arguments():
    with pytest.raises(ValueError, match="init must be one of"):
        Perceptron(2, init="ones")
    with pytest.raises(TypeError, match="train_rule needs a Perceptron"):
        train_rule(object(), [[1.0]], [1], lr=0.1)
    with pytest.raises(ValueError, match="X has 2 samples but y has 1"):
        train_rule(Perceptron(1), [[1.0], [2.0]], [1], lr=0.1)


@pytest.mark.parametrize("cls", [Perceptron, LogisticRegression])
@pytest.mark.parametrize("last", [([1.0, 2.0], 0), ([1.0], 1), ([1.0, "a"], 1)])
def test_train_rule_refuses_a_bad_last_sample_before_any_update(cls, last):
    # One update per sample: without the check, every sample before the bad one trains.
    X = [[1.0, 0.5], [-1.0, 2.0], [0.5, -0.5], last[0]]
    y = [1, -1, 1, last[1]]
    model = cls(2, init="uniform", rng=random.Random(0))
    before = [p.data for p in model.parameters()]
    with pytest.raises((TypeError, ValueError)):
        train_rule(model, X, y, lr=0.1, batch_size=1, shuffle=False)
    assert [p.data for p in model.parameters()] == before


# -- the README's classic examples: Rosenblatt's start, then mistakes fall -------------


@pytest.mark.parametrize("model", ["perceptron", "adaline", "logreg"])
def test_the_cli_s_classic_models_start_from_zero_weights_and_learn(
    model, tmp_path, monkeypatch, capsys
):
    """Issue 20 item 6: ``tapegrad train --model perceptron --dataset blobs`` started from
    random weights that already separated the blobs, so it learned nothing: --lr 1000 and
    --lr 0.01 saved the same weights and the plot said "no mistakes in any epoch". From
    Rosenblatt's zero weights every rule makes mistakes in epoch 1, none in the last, and
    the learning rate changes what is learned."""
    from tapegrad.nn import serialize
    from tapegrad.nn.cli import main
    from tapegrad.nn.commands import train as train_command

    histories = []

    def recording_fit(*args, **kwargs):
        histories.append(fit(*args, **kwargs))
        return histories[-1]

    monkeypatch.setattr(train_command, "fit", recording_fit)
    saved = {}
    for lr in ("0.01", "0.1"):  # the default, then ten times it
        path = tmp_path / f"{model}-{lr}.json"
        argv = ["train", "--model", model, "--dataset", "blobs", "--lr", lr, "--no-progress"]
        assert main([*argv, "--save", str(path)]) == 0, capsys.readouterr().err
        saved[lr] = [p.data for p in serialize.load(path).parameters()]
        assert serialize.load(path).config()["init"] == "zeros"
    mistakes = histories[0].mistakes
    assert mistakes[0] > 0 and mistakes[-1] == 0, mistakes
    assert saved["0.01"] != saved["0.1"]
    if model == "perceptron":
        # From zero, η only scales the weights: the same line, the same mistakes
        # (every update is η (y − ỹ) x): ten times the rate, ten times the weights.
        assert saved["0.1"] == pytest.approx([10 * w for w in saved["0.01"]], rel=1e-12)
        assert histories[0].mistakes == histories[1].mistakes


@pytest.mark.parametrize("seed", range(5))
def test_a_perceptron_s_mistakes_are_its_updates(seed):
    """A score of exactly 0 is a mistake (sign(0) = 0 is not the label), as it is for the
    rule: so from zero weights the first sample always counts, whatever its label (it
    used not to count when the label was -1, and the plot said "no mistakes")."""
    X, y = blobs(40, margin=0.1, spread=1.5, seed=seed)
    history = fit(
        Perceptron(2),
        X,
        y,
        optimizer="sgd",
        lr=0.1,
        epochs=4,
        batch_size=1,
        shuffle=False,
        progress=False,
    )
    by_rule, updates = Perceptron(2), []
    for _ in range(4):
        updates.append(sum(by_rule.update(xp, yp, 0.1) != 0 for xp, yp in zip(X, y)))
    assert history.mistakes == updates and updates[0] >= 1
