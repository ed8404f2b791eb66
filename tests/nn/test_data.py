"""Datasets: seeded, the promised shapes and labels, and the mini-batch iterator."""

import math
import random

import pytest

from tapegrad.nn import (
    DATASETS,
    batches,
    blobs,
    circles,
    logic_gate,
    moons,
    spirals,
    to_01,
    to_pm1,
    xor,
)


@pytest.mark.parametrize("make", [blobs, moons, circles, xor])
def test_two_class_sets_are_seeded_and_labelled_pm1(make):
    X, y = make(41, seed=3)
    assert len(X) == len(y) == 41
    assert set(y) == {-1, 1}
    assert all(len(p) == 2 and all(isinstance(c, float) for c in p) for p in X)
    assert make(41, seed=3) == (X, y)
    assert make(41, seed=4) != (X, y)


def test_generators_leave_the_global_random_state_alone():
    state = random.getstate()
    moons(10)
    spirals(5)
    assert random.getstate() == state


def test_blobs_are_separable_with_the_margin():
    X, y = blobs(200, margin=0.5, seed=1)
    assert all(label * (a + b) / math.sqrt(2) >= 0.5 for (a, b), label in zip(X, y))


def test_moons_without_noise_lie_on_the_two_half_circles():
    X, y = moons(20, noise=0.0)
    for (a, b), label in zip(X, y):
        if label == -1:
            assert math.hypot(a, b) == pytest.approx(1.0) and b >= -1e-12
        else:
            assert math.hypot(a - 1, b - 0.5) == pytest.approx(1.0) and b <= 0.5 + 1e-12


def test_circles_without_noise_have_two_radii():
    X, y = circles(30, noise=0.0, factor=0.3)
    for (a, b), label in zip(X, y):
        assert math.hypot(a, b) == pytest.approx(1.0 if label == -1 else 0.3)


def test_spirals_have_k_classes_of_equal_size():
    X, y = spirals(20, classes=4, seed=0)
    assert len(X) == 80
    assert sorted(set(y)) == [0, 1, 2, 3]
    assert all(y.count(k) == 20 for k in range(4))
    assert all(math.hypot(*p) <= 1.0 + 1e-12 for p in X)


def test_logic_gates():
    assert logic_gate("and").y == [-1, -1, -1, 1]
    assert logic_gate("or").y == [-1, 1, 1, 1]
    assert logic_gate("xor").y == [-1, 1, 1, -1]
    assert logic_gate("and").X == [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    X, y = xor(8, noise=0.0)
    assert all((a * b < 0) == (label == 1) for (a, b), label in zip(X, y))


def test_label_conversions():
    assert to_pm1([0, 1, 1]) == [-1, 1, 1]
    assert to_01([-1, 1]) == [0, 1]
    with pytest.raises(ValueError, match="labels 0 or 1, got 2"):
        to_pm1([2])
    with pytest.raises(ValueError, match="labels -1 or \\+1, got 0"):
        to_01([0])


def test_every_named_dataset_builds():
    for name, make in DATASETS.items():
        X, y = make(12, 0)
        assert len(X) == len(y) >= 4, name


@pytest.mark.parametrize("batch_size, sizes", [(None, [10]), (1, [1] * 10), (4, [4, 4, 2])])
def test_batches_cover_the_data_once(batch_size, sizes):
    X = [[float(i)] for i in range(10)]
    y = list(range(10))
    got = list(batches(X, y, batch_size, seed=0))
    assert [len(xb) for xb, _ in got] == sizes
    seen = [label for _, yb in got for label in yb]
    assert sorted(seen) == y
    assert all(xb[i][0] == yb[i] for xb, yb in got for i in range(len(xb)))  # pairs kept


def test_batches_shuffle_reproducibly_and_differently_per_epoch():
    X, y = [[float(i)] for i in range(20)], list(range(20))
    first = [yb for _, yb in batches(X, y, 5, seed=1)]
    assert first == [yb for _, yb in batches(X, y, 5, seed=1)]
    in_order = [yb for _, yb in batches(X, y, 5, shuffle=False)]
    assert in_order == [y[i : i + 5] for i in (0, 5, 10, 15)]
    rng = random.Random(2)
    epoch1 = [yb for _, yb in batches(X, y, 5, rng=rng)]
    epoch2 = [yb for _, yb in batches(X, y, 5, rng=rng)]
    assert epoch1 != epoch2


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: moons(1), ValueError, "n must be at least 2"),
        (lambda: moons(10.0), TypeError, "n must be an int, got float"),
        (lambda: moons(10, noise=-1), ValueError, "noise must be a finite number >= 0"),
        (lambda: circles(10, factor=1.5), ValueError, "factor must be between 0 and 1"),
        (lambda: spirals(10, classes=1), ValueError, "classes must be at least 2"),
        (lambda: logic_gate("nor"), ValueError, "logic_gate name must be one of"),
        (lambda: batches([[1.0]], [1, 2], 1), ValueError, "X has 1 samples but y has 2"),
        (lambda: batches([], [], 1), ValueError, "empty"),
        (lambda: batches([[1.0]], [1], 0), ValueError, "batch_size must be at least 1"),
        (lambda: batches("ab", [1, 2], 1), TypeError, "X must be a list, got str"),
        (lambda: batches([[1.0]], [1], 1, rng=3), TypeError, "rng must be a random.Random"),
    ],
)
def test_bad_arguments_fail_at_the_call(call, error, message):
    with pytest.raises(error, match=message):
        call()
