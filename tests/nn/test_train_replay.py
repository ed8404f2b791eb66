"""fit with replay: the same training, bit for bit, as building every graph.

(``batched=False``: batched replay, tests/nn/test_train_batched.py, would come first.)"""

import random

import pytest

from tapegrad import engine
from tapegrad.nn import MLP, fit, moons
from tapegrad.nn import train as train_module


def train(replay, **kwargs):
    X, y = moons(12, seed=3)
    model = MLP(2, [4, 1], rng=random.Random(1))
    history = fit(model, X, y, lr=0.2, progress=False, replay=replay, batched=False, **kwargs)
    return history, [p.data for p in model.parameters()]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 30, "shuffle": False, "l2": 1e-4},
        {"epochs": 30, "shuffle": False, "batch_size": 4, "loss": "mse"},
    ],
)
def test_replayed_training_equals_building_every_graph(kwargs, monkeypatch):
    compiled = []
    original = engine.compile
    monkeypatch.setattr(engine, "compile", lambda *a, **k: compiled.append(1) or original(*a, **k))
    replayed, params_replayed = train(True, **kwargs)
    assert compiled  # replay was used
    built, params_built = train(False, **kwargs)
    assert replayed.loss == built.loss and replayed.accuracy == built.accuracy
    assert params_replayed == params_built


def test_replay_is_skipped_when_batches_change_or_the_loss_reads_numbers(monkeypatch):
    monkeypatch.setattr(engine, "compile", lambda *a, **k: pytest.fail("replayed"))
    train(True, epochs=30, batch_size=4)  # shuffled mini-batches differ every epoch
    train(True, epochs=30, shuffle=False, loss="logistic")  # not in the replay list
    train(True, epochs=3, shuffle=False)  # too few epochs to pay for recording


def test_the_safety_check_runs_while_replaying(monkeypatch):
    monkeypatch.setattr(train_module, "REPLAY_CHECK_EVERY", 2)
    checks = []
    original = engine.CompiledStep.check
    monkeypatch.setattr(
        engine.CompiledStep, "check", lambda self: checks.append(1) or original(self)
    )
    train(True, epochs=30, shuffle=False)
    assert len(checks) == 15
