"""fit with batched replay (engine.vmap): the same training as building every graph."""

import math
import random

import pytest

from tapegrad import engine
from tapegrad.nn import MLP, Adaline, LogisticRegression, Perceptron, fit, moons, spirals
from tapegrad.nn import train as train_module


def train(batched, make_model, data, **kwargs):
    X, y = data
    model = make_model()
    history = fit(model, X, y, progress=False, batched=batched, **kwargs)
    return history, [p.data for p in model.parameters()]


def relu_mlp():
    return MLP(2, [8, 8, 1], rng=random.Random(1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 5, "batch_size": 10, "optimizer": "adam", "lr": 0.03, "l2": 1e-4},
        {"epochs": 3, "batch_size": None, "lr": 0.1},
        {"epochs": 3, "batch_size": 7, "loss": "perceptron", "shuffle": False},
        {"epochs": 3, "batch_size": 16, "loss": "mse", "l2": 1e-3},
    ],
)
def test_batched_training_equals_building_every_graph_bit_for_bit(kwargs):
    data = moons(60, seed=3)
    batched, params_batched = train(True, relu_mlp, data, lift=False, **kwargs)
    built, params_built = train(False, relu_mlp, data, replay=False, **kwargs)
    assert batched.batched and not built.batched
    assert batched.update_loss == built.update_loss
    assert batched.loss == built.loss and batched.accuracy == built.accuracy
    assert batched.mistakes == built.mistakes
    assert params_batched == params_built


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 1, "batch_size": 10, "optimizer": "adam", "lr": 0.03, "l2": 1e-4},
        {"epochs": 3, "batch_size": None, "lr": 0.1},
        {"epochs": 2, "batch_size": 16, "loss": "mse", "l2": 1e-3},
        {"epochs": 2, "batch_size": 8, "loss": "logistic", "optimizer": "adam"},
    ],
)
def test_lifted_training_by_default_is_building_every_graph_within_1e_12(kwargs):
    data = moons(60, seed=3)
    lifted, params_lifted = train(True, relu_mlp, data, **kwargs)
    built, params_built = train(False, relu_mlp, data, replay=False, **kwargs)
    assert lifted.batched and lifted.accuracy == built.accuracy
    assert close(lifted.update_loss, built.update_loss, rtol=1e-12)
    assert close(params_lifted, params_built, rtol=1e-12)
    assert lifted.update_loss != built.update_loss or params_lifted != params_built


def test_lift_must_be_a_bool():
    with pytest.raises(TypeError, match="lift must be True or False"):
        fit(relu_mlp(), *moons(8), lift=1, progress=False)


def close(a, b, rtol=1e-9):
    return all(math.isclose(x, y, rel_tol=rtol, abs_tol=1e-12) for x, y in zip(a, b))


@pytest.mark.parametrize("loss", ["hinge", "logistic", "bce", "mse", "perceptron"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "sign"])
def test_every_two_class_loss_and_activation_is_batched(loss, activation):
    data = moons(40, seed=0)

    def make():
        return MLP(2, [4, 1], activation=activation, rng=random.Random(2))

    batched, params_batched = train(True, make, data, loss=loss, epochs=3, batch_size=8)
    built, params_built = train(False, make, data, loss=loss, epochs=3, batch_size=8)
    assert batched.batched
    assert close(batched.update_loss, built.update_loss) and close(params_batched, params_built)


def test_cross_entropy_on_three_classes_is_batched_with_one_hot_labels():
    data = spirals(60, seed=1)

    def make():
        return MLP(2, [8, 3], rng=random.Random(0))

    batched, params_batched = train(True, make, data, epochs=3, batch_size=12)
    built, params_built = train(False, make, data, epochs=3, batch_size=12)
    assert batched.batched and batched.accuracy == built.accuracy
    assert close(batched.update_loss, built.update_loss) and close(params_batched, params_built)


@pytest.mark.parametrize("rule", [Perceptron, Adaline, LogisticRegression])
def test_the_classic_rules_are_batched_with_their_own_criteria(rule):
    data = moons(40, seed=2)

    def make():
        return rule(2, init="uniform", rng=random.Random(0))

    batched, params_batched = train(True, make, data, epochs=4, batch_size=10, lr=0.05)
    built, params_built = train(False, make, data, epochs=4, batch_size=10, lr=0.05)
    assert batched.batched
    assert close(batched.update_loss, built.update_loss) and close(params_batched, params_built)


def test_batched_is_skipped_when_off_too_small_or_not_nns_own():
    data = moons(20, seed=0)
    assert not train(False, relu_mlp, data, epochs=1, batch_size=10)[0].batched
    assert not train(True, relu_mlp, data, epochs=1, batch_size=2)[0].batched
    custom = train(True, relu_mlp, data, epochs=1, loss=lambda out, t: (out - t) ** 2)[0]
    assert not custom.batched

    class Scaled(MLP):  # a user's model: its forward may read .data
        pass

    assert not train(True, lambda: Scaled(2, [2, 1]), data, epochs=1)[0].batched


def test_inputs_that_are_not_rows_of_numbers_fall_back_to_building_graphs():
    X, y = moons(12, seed=0)
    X = [[engine.Value(a), b] for a, b in X]  # Values as inputs: a graph per sample
    assert not train(True, relu_mlp, (X, y), epochs=1)[0].batched


@pytest.mark.parametrize(
    "data, kwargs, error, message",
    [
        (([[0.0, 1.0]] * 8, [1, 0] * 4), {}, ValueError, "-1 or \\+1"),
        (([[0.0, 1.0]] * 8, [0, 5] * 4), {"loss": "cross_entropy"}, ValueError, "class index"),
    ],
)
def test_a_bad_label_raises_before_any_step(data, kwargs, error, message):
    model = MLP(2, [3, 2 if "loss" in kwargs else 1], rng=random.Random(0))
    before = [p.data for p in model.parameters()]
    with pytest.raises(error, match=message):
        fit(model, *data, progress=False, epochs=1, **kwargs)
    assert [p.data for p in model.parameters()] == before


def test_batched_must_be_a_bool():
    with pytest.raises(TypeError, match="batched must be True or False"):
        fit(relu_mlp(), *moons(8), batched="yes", progress=False)


def test_the_safety_check_runs_while_batching(monkeypatch):
    monkeypatch.setattr(train_module, "BATCHED_CHECK_EVERY", 2)
    checks = []
    original = engine.BatchedStep._check
    # the training step's (it has parameters; fit's accuracy step has none)
    monkeypatch.setattr(
        engine.BatchedStep,
        "_check",
        lambda self, *a: (self.params and checks.append(1)) or original(self, *a),
    )
    chosen = []
    samples = engine.BatchedStep._samples_to_check
    monkeypatch.setattr(
        engine.BatchedStep,
        "_samples_to_check",
        lambda self, arrays: (
            (self.params and chosen.extend(samples(self, arrays))) or samples(self, arrays)
        ),
    )
    train(True, relu_mlp, moons(40, seed=0), epochs=2, batch_size=10)
    # at recording: the last, the middle and the extreme samples of the whole dataset
    # (x1, x2 and the label each have a smallest and a largest); then every second step
    assert 2 < len(chosen) <= 2 + 2 * 3
    assert len(checks) == len(chosen) + 8 // 2


@pytest.mark.parametrize("make", [relu_mlp, lambda: MLP(2, [5, 3], rng=random.Random(4))])
def test_accuracy_runs_batched_with_the_same_answer(make, monkeypatch):
    X, y = moons(50, seed=5) if make is relu_mlp else spirals(50, seed=5)
    model = make()
    batched = train_module.accuracy(model, X, y)
    assert train_module._outputs_step(model, X) is not None
    monkeypatch.setattr(train_module, "_outputs_step", lambda *a: None)
    assert train_module.accuracy(model, X, y) == batched


def test_the_train_command_says_when_it_batched_and_no_batched_turns_it_off(capsys):
    from tapegrad.nn.cli import main

    quick = ["train", "--samples", "20", "--epochs", "2", "--no-progress"]
    assert main(quick) == 0
    assert "batched replay)" in capsys.readouterr().out
    assert main([*quick, "--no-batched"]) == 0
    out = capsys.readouterr().out
    assert "time:" in out and "batched" not in out


def test_the_train_command_no_lift_runs_fit_entry_by_entry(capsys, monkeypatch):
    from tapegrad.nn.cli import main
    from tapegrad.nn.commands import train as command

    calls = []

    def fit(*args, **kwargs):
        history = train_module.fit(*args, **kwargs)
        calls.append((kwargs["lift"], history.loss))
        return history

    monkeypatch.setattr(command, "fit", fit)
    quick = ["train", "--samples", "40", "--epochs", "3", "--no-progress", "--batch-size", "8"]
    assert main(quick) == 0
    assert "batched replay)" in capsys.readouterr().out
    assert main([*quick, "--no-lift"]) == 0
    assert "batched replay, entry by entry)" in capsys.readouterr().out
    (lifted, lifted_loss), (exact, exact_loss) = calls
    assert (lifted, exact) == (True, False)
    # the same training: the lifted sums re-associate, so within rounding
    assert lifted_loss == pytest.approx(exact_loss, rel=1e-9)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--no-lift" in capsys.readouterr().out
