"""Neuron, Layer, MLP: micrograd's behaviour, exactly, plus activations and errors."""

import math
import random

import pytest

# micrograd==0.1.0 is a test dependency: these tests pin our behaviour to its.
from micrograd import nn as micrograd_nn
from micrograd.engine import Value as MicrogradValue

from tapegrad.engine import Value
from tapegrad.nn import MLP, Layer, Neuron, hinge, l2, mean, moons


def demo_loss(model, value_type, X, y):
    """micrograd's demo.ipynb loss, verbatim apart from names: SVM max-margin + L2."""
    inputs = [list(map(value_type, xrow)) for xrow in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    alpha = 1e-4
    reg_loss = alpha * sum(p * p for p in model.parameters())
    total_loss = data_loss + reg_loss
    accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
    return total_loss, sum(accuracy) / len(accuracy)


def test_seed_1337_gives_micrograds_exact_weights():
    random.seed(1337)
    theirs = micrograd_nn.MLP(2, [16, 16, 1])
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    assert len(ours.parameters()) == len(theirs.parameters()) == 337
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]


def test_micrograd_demo_training_loop_runs_unchanged_with_the_same_losses():
    X, y = moons(24, noise=0.1, seed=3)
    random.seed(1337)
    theirs = micrograd_nn.MLP(2, [16, 16, 1])
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    for k in range(3):
        for model, value_type in ((theirs, MicrogradValue), (ours, Value)):
            total_loss, acc = demo_loss(model, value_type, X, y)
            model.zero_grad()
            total_loss.backward()
            learning_rate = 1.0 - 0.9 * k / 100
            for p in model.parameters():
                p.data -= learning_rate * p.grad
            model.last = (total_loss.data, acc)
        # Same ops in the same order; only the order in which backprop sums a node's
        # gradient contributions may differ (micrograd keeps parents in a set).
        assert ours.last[1] == theirs.last[1]
        assert ours.last[0] == pytest.approx(theirs.last[0], rel=1e-12, abs=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert p.data == pytest.approx(q.data, rel=1e-10, abs=1e-12)


def test_library_losses_reproduce_the_demo_loss_bit_for_bit():
    X, y = moons(10, seed=1)
    model = MLP(2, [4, 1], rng=random.Random(2))
    expected, _ = demo_loss(model, Value, X, y)
    scores = [model(x) for x in X]
    ours = mean([hinge(s, t) for s, t in zip(scores, y)]) + l2(model.parameters(), 1e-4)
    assert ours.data == pytest.approx(expected.data, rel=1e-15)


def test_rng_draws_the_same_weights_as_seeding_the_global_generator():
    random.seed(7)
    global_model = MLP(3, [5, 2])
    private = MLP(3, [5, 2], rng=random.Random(7))
    assert [p.data for p in private.parameters()] == [p.data for p in global_model.parameters()]
    state = random.getstate()
    MLP(3, [5, 2], rng=random.Random(0))
    assert random.getstate() == state  # a private rng leaves the global one alone


def test_init_order_is_w_in_order_then_bias_zero():
    rng = random.Random(5)
    expected = [rng.uniform(-1, 1) for _ in range(3)]
    n = Neuron(3, rng=random.Random(5))
    assert [w.data for w in n.w] == expected
    assert n.b.data == 0.0


def test_defaults_are_relu_hidden_and_linear_output():
    model = MLP(2, [3, 3, 1])
    assert [layer.neurons[0].nonlin for layer in model.layers] == [True, True, False]
    assert repr(model.layers[0].neurons[0]) == "ReLUNeuron(2)"
    assert repr(model.layers[2].neurons[0]) == "LinearNeuron(3)"
    assert repr(model) == "MLP(2 -> 3 relu -> 3 relu -> 1 linear; 25 parameters)"
    assert Neuron(2, nonlin=False).activation == "linear"


@pytest.mark.parametrize(
    "activation, f",
    [
        ("relu", lambda s: max(0.0, s)),
        ("tanh", math.tanh),
        ("sigmoid", lambda s: 1 / (1 + math.exp(-s))),
        ("sign", lambda s: float((s > 0) - (s < 0))),
        ("linear", lambda s: s),
    ],
)
def test_neuron_computes_f_of_the_weighted_sum(activation, f):
    n = Neuron(3, activation=activation, rng=random.Random(1))
    n.b.data = 0.25
    x = [0.5, -1.5, 2.0]
    s = 0.25 + sum(w.data * xi for w, xi in zip(n.w, x))
    assert n(x).data == pytest.approx(f(s), abs=1e-15)


def test_call_conventions():
    layer = Layer(2, 3, rng=random.Random(0))
    assert isinstance(layer([1.0, 2.0]), list) and len(layer([1.0, 2.0])) == 3
    single = Layer(2, 1, rng=random.Random(0))
    assert isinstance(single([1.0, 2.0]), Value)
    model = MLP(2, [3, 1], rng=random.Random(0))
    assert isinstance(model([Value(1.0), 2]), Value)  # numbers and Values mix
    assert isinstance(MLP(2, [3, 2])([1.0, 2.0]), list)
    # a one-unit hidden layer feeds the next layer, not a crash
    assert isinstance(MLP(2, [1, 1], rng=random.Random(0))([1.0, 2.0]), Value)


def test_gradients_reach_the_inputs_and_weights():
    n = Neuron(2, activation="tanh", rng=random.Random(0))
    x = [Value(0.3), Value(-0.7)]
    out = n(x)
    out.backward()
    d = 1 - out.data**2
    assert x[0].grad == pytest.approx(d * n.w[0].data)
    assert n.w[1].grad == pytest.approx(d * -0.7)
    assert n.b.grad == pytest.approx(d)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        ([1.0], ValueError, "expects 2 inputs, got 1"),
        ([1.0, 2.0, 3.0], ValueError, "expects 2 inputs, got 3"),
        (1.0, TypeError, "expects a sequence of 2 numbers or Values, got float"),
        ("ab", TypeError, "got str"),
        ([1.0, "x"], TypeError, "expects numbers or Values as inputs, got str"),
        ([1.0, True], TypeError, "got bool"),
        (Value(1.0), TypeError, "got Value"),
        # A dict would feed its keys and a set its own order: wrong inputs, silently.
        ({0: 1.0, 1: 2.0}, TypeError, "got dict"),
        ({2.0, 1.0}, TypeError, "got set"),
    ],
)
def test_bad_inputs_are_refused(bad, error, message):
    for module in (Neuron(2), Layer(2, 3), MLP(2, [3, 1])):
        with pytest.raises(error, match=message):
            module(bad)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: Neuron(0), ValueError, "nin must be at least 1, got 0"),
        (lambda: Neuron(2.5), TypeError, "nin must be an int, got float"),
        (lambda: Neuron(True), TypeError, "got bool"),
        (lambda: Neuron(2, activation="gelu"), ValueError, "activation must be one of"),
        (lambda: Neuron(2, nonlin=False, activation="tanh"), ValueError, "contradicts"),
        (lambda: Neuron(2, nonlin=1), TypeError, "nonlin must be a bool"),
        (lambda: Neuron(2, rng=42), TypeError, "rng must be a random.Random"),
        (lambda: Layer(2, 0), ValueError, "nout must be at least 1, got 0"),
        (lambda: MLP(2, []), ValueError, "at least one layer"),
        (lambda: MLP(2, 16), TypeError, "nouts must be a list"),
        (lambda: MLP(2, [4, -1]), ValueError, "each layer size"),
        (lambda: MLP(2, [4], output_activation="soft"), ValueError, "activation must be"),
    ],
)
def test_bad_constructor_arguments(build, error, message):
    with pytest.raises(error, match=message):
        build()
