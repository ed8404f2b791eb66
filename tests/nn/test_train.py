"""fit and accuracy: the three regimes, histories, defaults, and argument errors."""

import math
import random

import pytest

from tapegrad.engine import Value
from tapegrad.nn import (
    MLP,
    SGD,
    Adaline,
    Adam,
    History,
    Perceptron,
    accuracy,
    blobs,
    fit,
    moons,
    spirals,
)
from tapegrad.nn import train as train_module


def small_mlp(nout=1, seed=0):
    return MLP(2, [6, nout], rng=random.Random(seed))


@pytest.mark.parametrize("batch_size, steps", [(None, 1), (1, 16), (5, 4)])
def test_batch_size_sets_the_number_of_steps_per_epoch(batch_size, steps, monkeypatch):
    X, y = moons(16, seed=0)
    model = small_mlp()
    opt = SGD(model, lr=0.05)
    calls = []
    original = opt.step
    monkeypatch.setattr(opt, "step", lambda: (calls.append(1), original()))
    history = fit(model, X, y, optimizer=opt, epochs=2, batch_size=batch_size, progress=False)
    assert len(calls) == 2 * steps
    assert history.epochs == 2 and len(history.accuracy) == 2


def test_full_batch_step_is_gradient_descent_on_the_average_loss():
    X, y = moons(8, seed=1)
    a, b = small_mlp(), small_mlp()
    fit(a, X, y, optimizer=SGD(a, lr=0.1), epochs=1, batch_size=None, l2=1e-3, progress=False)
    # by hand: the slides' 𝓛(S, w) = 1/P Σ L + α Σ w², then w ← w − η ∂𝓛/∂w
    from tapegrad.nn import hinge, l2, mean

    loss = mean([hinge(b(x), t) for x, t in zip(X, y)]) + l2(b.parameters(), 1e-3)
    b.zero_grad()
    loss.backward()
    for p in b.parameters():
        p.data -= 0.1 * p.grad
    assert [p.data for p in a.parameters()] == pytest.approx([p.data for p in b.parameters()])


def test_training_an_mlp_on_moons_fits():
    X, y = moons(40, seed=0)
    model = MLP(2, [8, 8, 1], rng=random.Random(0))
    history = fit(model, X, y, optimizer="adam", lr=0.05, epochs=30, batch_size=8, progress=False)
    assert history.loss[-1] < history.loss[0] / 5
    assert accuracy(model, X, y) >= 0.95


def test_multiclass_uses_softmax_cross_entropy_by_default():
    X, y = spirals(8, classes=3, seed=0)
    model = MLP(2, [8, 3], rng=random.Random(0))
    history = fit(model, X, y, optimizer=Adam(model, lr=0.05), epochs=10, progress=False)
    assert history.loss[-1] < history.loss[0]
    assert 0.0 <= accuracy(model, X, y) <= 1.0


def test_classic_models_train_with_their_own_loss():
    X, y = blobs(20, seed=0)
    model = Perceptron(2)
    history = fit(model, X, y, lr=0.1, epochs=5, batch_size=1, progress=False)
    assert history.accuracy[-1] == 1.0 and accuracy(model, X, y) == 1.0
    regression = Adaline(1)
    fit(regression, [[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0], lr=0.1, epochs=300, progress=False)
    assert regression.w[0].data == pytest.approx(2.0, abs=1e-3)
    assert regression.b.data == pytest.approx(1.0, abs=1e-3)


def test_fit_is_reproducible_from_its_seed():
    X, y = moons(20, seed=2)
    runs = []
    for _ in range(2):
        model = small_mlp(seed=5)
        runs.append(fit(model, X, y, epochs=3, batch_size=4, seed=11, progress=False).loss)
    assert runs[0] == runs[1]


def test_lr_schedule_sets_the_rate_each_epoch():
    X, y = moons(10, seed=0)
    model = small_mlp()
    opt = SGD(model, lr=1.0)
    seen = []
    fit(
        model,
        X,
        y,
        optimizer=opt,
        epochs=3,
        lr_schedule=lambda e: seen.append(e) or 0.1 / (e + 1),
        progress=False,
    )
    assert seen == [0, 1, 2] and opt.lr == pytest.approx(0.1 / 3)


def test_history_and_accuracy():
    history = History([0.5, 0.25], [0.75, 1.0], 1.5)
    assert repr(history) == "History(2 epochs: loss 0.5 -> 0.25, accuracy 100.0%, 1.50 s)"
    assert repr(History()) == "History(no epochs)"

    def classifier(x):
        return [Value(x[0]), Value(-x[0])]

    assert accuracy(classifier, [[1.0], [-1.0], [2.0]], [0, 1, 1]) == pytest.approx(2 / 3)
    assert accuracy(lambda x: Value(x[0]), [[1.0], [-1.0]], [1, 1]) == 0.5
    assert accuracy(lambda x: Value(x[0]), [[1.0], [-1.0]], [1, 0]) == 1.0  # 0/1 labels too


def test_no_progress_bar_when_not_on_a_terminal(capsys):
    X, y = moons(6, seed=0)
    fit(small_mlp(), X, y, epochs=2, progress=True)
    assert capsys.readouterr().err == ""
    assert train_module._show_progress(False) is False


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"loss": "l1"}, ValueError, "unknown loss 'l1'"),
        ({"loss": 3}, TypeError, "loss must be a name"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be an Optimizer or one of"),
        ({"epochs": 0}, ValueError, "epochs must be at least 1"),
        ({"epochs": 2.0}, TypeError, "epochs must be an int"),
        ({"l2": -1.0}, ValueError, "l2 must be a finite number >= 0"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"lr_schedule": 0.1}, TypeError, "lr_schedule must be a function"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    X, y = moons(6, seed=0)
    model = small_mlp()
    before = [p.data for p in model.parameters()]
    with pytest.raises(error, match=message):
        fit(model, X, y, progress=False, **kwargs)
    assert [p.data for p in model.parameters()] == before


@pytest.mark.parametrize(
    "last, error, message",
    [
        (([1.0], 1), ValueError, "expects 2 inputs, got 1"),
        (([1.0, "a"], 1), TypeError, "got str"),
        (([1.0, 2.0], "a"), TypeError, "label y must be a real number"),
        (([1.0, 2.0], 0), ValueError, "label y must be -1 or \\+1"),
    ],
)
def test_a_bad_last_sample_is_refused_before_any_step(last, error, message):
    # Without the check the first batches would train and leave the model half-changed.
    X, y = moons(6, seed=0)
    X, y = [*X[:-1], last[0]], [*y[:-1], last[1]]
    model = small_mlp()
    before = [p.data for p in model.parameters()]
    with pytest.raises(error, match=message):
        fit(model, X, y, batch_size=1, shuffle=False, progress=False)
    assert [p.data for p in model.parameters()] == before
    assert all(p.grad == 0.0 for p in model.parameters())


def test_lr_with_a_built_optimizer_and_non_models_are_refused():
    X, y = moons(6, seed=0)
    model = small_mlp()
    with pytest.raises(ValueError, match="pass lr to the optimizer"):
        fit(model, X, y, optimizer=SGD(model, lr=0.1), lr=0.5, progress=False)
    with pytest.raises(TypeError, match="needs a model with parameters"):
        fit(abs, X, y, progress=False)


def test_shuffle_must_be_a_bool():
    from tapegrad.nn import MLP, fit, moons

    X, y = moons(8, seed=0)
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        fit(MLP(2, [2, 1]), X, y, shuffle="no", progress=False)


# -- per-update history ----------------------------------------------------------


@pytest.mark.parametrize("batch_size, per_epoch", [(None, 1), (1, 12), (5, 3)])
@pytest.mark.parametrize("replay", [False, True])
def test_history_records_every_update(batch_size, per_epoch, replay):
    X, y = moons(12, seed=1)
    epochs = 21  # enough for fit to replay a full batch or an unshuffled one
    history = fit(
        small_mlp(),
        X,
        y,
        optimizer="sgd",
        lr=0.05,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=False,
        progress=False,
        replay=replay,
    )
    assert history.updates == epochs * per_epoch == len(history.samples_seen)
    assert history.dataset_size == 12
    assert history.samples_seen[per_epoch - 1] == 12  # one epoch = every sample once
    assert history.samples_seen[-1] == 12 * epochs
    sizes = (
        [12] if batch_size is None else [min(batch_size, 12 - i) for i in range(0, 12, batch_size)]
    )
    # the epoch's loss is the sample-weighted mean of its updates' losses
    for e in range(epochs):
        chunk = history.update_loss[e * per_epoch : (e + 1) * per_epoch]
        weighted = sum(loss * n for loss, n in zip(chunk, sizes)) / 12
        assert weighted == pytest.approx(history.loss[e], rel=1e-12)
    assert history.parameters == []  # only on request


def test_full_batch_update_loss_is_the_average_loss_before_the_step():
    X, y = blobs(10, seed=0)
    model = Adaline(2)
    history = fit(model, X, y, optimizer="sgd", lr=0.05, epochs=3, batch_size=None, progress=False)
    again = Adaline(2)
    expected = []
    for _ in range(3):
        loss = sum(again.criterion(again(x), t).data for x, t in zip(X, y)) / len(X)
        expected.append(loss)
        again.zero_grad()
        for x, t in zip(X, y):
            (again.criterion(again(x), t) * (1 / len(X))).backward()
        for p in again.parameters():
            p.data -= 0.05 * p.grad
    assert history.update_loss == pytest.approx(expected, rel=1e-12)


def test_record_parameters_gives_the_path_before_each_update_and_at_the_end():
    X, y = blobs(8, seed=2)
    model = Perceptron(2, init="uniform", rng=random.Random(0))
    start = [p.data for p in model.parameters()]
    history = fit(
        model,
        X,
        y,
        optimizer="sgd",
        lr=0.1,
        epochs=2,
        batch_size=1,
        progress=False,
        record_parameters=True,
    )
    assert len(history.parameters) == history.updates + 1 == 17
    assert history.parameters[0] == start
    assert history.parameters[-1] == [p.data for p in model.parameters()]
    # a perceptron changes only on a mistake: the steps that moved it are the mistakes
    moved = sum(a != b for a, b in zip(history.parameters, history.parameters[1:]))
    assert moved == sum(history.mistakes)


@pytest.mark.parametrize("batched", [True, False])
def test_history_accuracy_is_accuracy_after_each_epoch(batched):
    # one definition (issue 20 item 8): History, accuracy(), the bar and the CLI agree
    X, y = moons(20, seed=0)
    model = small_mlp()
    history = fit(
        model, X, y, epochs=3, batch_size=4, progress=False, batched=batched, record_parameters=True
    )
    assert history.accuracy[-1] == accuracy(model, X, y)
    again = small_mlp()
    for e in range(3):
        after_epoch = history.parameters[(e + 1) * 5]  # 5 steps per epoch
        for p, number in zip(again.parameters(), after_epoch):
            p.data = number
        assert history.accuracy[e] == accuracy(again, X, y)
    # mistakes are counted during the epoch, each batch before its step
    assert all(0 <= m <= 20 for m in history.mistakes)


def test_record_parameters_must_be_a_bool():
    X, y = moons(4, seed=0)
    with pytest.raises(TypeError, match="record_parameters must be True or False, got 1"):
        fit(small_mlp(), X, y, record_parameters=1, progress=False)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("batched", [True, False])
def test_fit_refuses_a_non_finite_feature_before_any_step(bad, batched):
    random.seed(0)
    model = MLP(2, [3, 1])
    before = [p.data for p in model.parameters()]
    X = [[1.0, 2.0], [0.0, bad], [1.0, 1.0], [2.0, 2.0]]
    with pytest.raises(ValueError, match=r"sample X\[1\] has a non-finite feature 1"):
        fit(model, X, [1, -1, 1, -1], epochs=1, batch_size=4, batched=batched)
    assert [p.data for p in model.parameters()] == before


# -- one table of defaults ----------------------------------------------------------


@pytest.mark.parametrize("name, make", [("sgd", SGD), ("adam", Adam)])
def test_an_optimizer_built_by_name_takes_its_rate_from_the_shared_table(name, make):
    X, y = moons(12, seed=3)
    by_name, built = small_mlp(), small_mlp()
    fit(by_name, X, y, optimizer=name, epochs=2, batch_size=4, progress=False)
    rate = train_module.LEARNING_RATES[name]
    fit(built, X, y, optimizer=make(built, lr=rate), epochs=2, batch_size=4, progress=False)
    assert [p.data for p in by_name.parameters()] == [p.data for p in built.parameters()]
    assert train_module.LEARNING_RATES == {"sgd": 0.1, "adam": 0.03}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_command_line_reads_the_same_table(capsys, optimizer):
    from tapegrad.nn.cli import main

    args = ["train", "--optimizer", optimizer, "--epochs", "1", "--samples", "8"]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{optimizer} lr={train_module.LEARNING_RATES[optimizer]:g}," in out


def test_history_the_progress_bar_and_the_command_print_one_format():
    # QA 6 item 18: four significant digits for a loss, one decimal percent for an
    # accuracy, everywhere (a small loss does not read 0.0000)
    from tapegrad.nn.train import format_accuracy, format_loss

    assert format_loss(0.017536) == "0.01754" and format_loss(3.2e-05) == "3.2e-05"
    assert format_accuracy(0.98) == "98.0%"
    history = History([0.7651, 0.017536], [0.5, 0.98], 1.0)
    assert history.summary() == "2 epochs: loss 0.7651 -> 0.01754, accuracy 98.0%"
    assert repr(history) == "History(2 epochs: loss 0.7651 -> 0.01754, accuracy 98.0%, 1.00 s)"
    assert History().summary() == "no epochs"
