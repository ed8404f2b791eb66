"""Small datasets made in code (seeded, no downloads) and a mini-batch iterator.

Each generator returns a :class:`Dataset`, a named pair ``(X, y)`` that unpacks as
``X, y = moons(100)``: ``X`` is a list of points (lists of floats), ``y`` a list of
labels. Label conventions:

* two-class datasets use ``y ∈ {−1, +1}`` (ints), the convention of the perceptron,
  Adaline, logistic regression and margin losses: the sign of a score is the class;
* ``K``-class datasets (:func:`spirals`) use class indices ``0..K−1``.

:func:`to_pm1` and :func:`to_01` convert two-class labels between ``{0, 1}`` (for
binary cross-entropy) and ``{−1, +1}``.

The same ``seed`` always gives the same data; generators use their own
``random.Random(seed)`` and never touch Python's global random state.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from . import _checks

__all__ = [
    "Dataset",
    "blobs",
    "logic_gate",
    "xor",
    "moons",
    "circles",
    "spirals",
    "DATASETS",
    "batches",
    "check_dataset",
    "to_pm1",
    "to_01",
]


class Dataset(NamedTuple):
    """Points ``X`` (a list of lists of floats) and their labels ``y``."""

    X: list[list[float]]
    y: list[int]


def _shuffled(points: list[list[float]], labels: list[int], rng: random.Random) -> Dataset:
    order = list(range(len(points)))
    rng.shuffle(order)
    return Dataset([points[i] for i in order], [labels[i] for i in order])


def blobs(n: int = 100, margin: float = 0.5, spread: float = 1.0, seed: int = 0) -> Dataset:
    """Two Gaussian blobs that are linearly separable, labels ±1.

    Points of class ``c ∈ {−1, +1}`` are drawn around ``c · (1.5, 1.5)`` with standard
    deviation ``spread``; any point closer than ``margin`` to the separating line
    ``x₀ + x₁ = 0`` (or on its wrong side) is redrawn, so the classes are separable with
    at least that margin -- the setting in which the perceptron converges.
    """
    n = _checks.count(n, "n", 2)
    margin = _checks.nonnegative(margin, "margin")
    spread = _checks.nonnegative(spread, "spread")
    rng = random.Random(seed)
    points, labels = [], []
    for i in range(n):
        c = 1 if i % 2 == 0 else -1
        while True:
            p = [1.5 * c + rng.gauss(0.0, spread), 1.5 * c + rng.gauss(0.0, spread)]
            # signed distance to the line x0 + x1 = 0, positive on class c's side
            if c * (p[0] + p[1]) / math.sqrt(2.0) >= margin:
                break
        points.append(p)
        labels.append(c)
    return _shuffled(points, labels, rng)


_GATES = {
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "xor": lambda a, b: a != b,
    "nand": lambda a, b: not (a and b),
}


def logic_gate(name: str) -> Dataset:
    """The four points of ``{0, 1}²`` labelled by a logic gate, labels ±1 (+1 = true).

    ``"and"``, ``"or"`` and ``"nand"`` are linearly separable; ``"xor"`` is not -- the
    limit of the perceptron that Minsky and Papert made famous.
    """
    if name not in _GATES:
        raise ValueError(f"logic_gate name must be one of {sorted(_GATES)}, got {name!r}")
    X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    y = [1 if _GATES[name](bool(a), bool(b)) else -1 for a, b in X]
    return Dataset(X, y)


def xor(n: int = 100, noise: float = 0.1, seed: int = 0) -> Dataset:
    """``n`` noisy copies of the XOR points, centred (``{−1, +1}²``), labels ±1:
    +1 where the two coordinates have different signs."""
    n = _checks.count(n, "n")
    noise = _checks.nonnegative(noise, "noise")
    rng = random.Random(seed)
    corners = [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)]
    points, labels = [], []
    for i in range(n):
        a, b = corners[i % 4]
        points.append([a + rng.gauss(0.0, noise), b + rng.gauss(0.0, noise)])
        labels.append(1 if a != b else -1)
    return _shuffled(points, labels, rng)


def moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaved half circles (like scikit-learn's ``make_moons``), labels ±1.

    The upper moon ``(cos t, sin t)`` is class −1 and the lower moon
    ``(1 − cos t, 1/2 − sin t)`` class +1, ``t`` evenly spaced in ``[0, π]``; Gaussian
    noise of standard deviation ``noise`` is added to each coordinate.
    """
    n = _checks.count(n, "n", 2)
    noise = _checks.nonnegative(noise, "noise")
    rng = random.Random(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    points, labels = [], []
    for count, label in ((n_upper, -1), (n_lower, 1)):
        for i in range(count):
            t = math.pi * i / (count - 1) if count > 1 else 0.0
            if label == -1:
                x0, x1 = math.cos(t), math.sin(t)
            else:
                x0, x1 = 1.0 - math.cos(t), 0.5 - math.sin(t)
            points.append([x0 + rng.gauss(0.0, noise), x1 + rng.gauss(0.0, noise)])
            labels.append(label)
    return _shuffled(points, labels, rng)


def circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Dataset:
    """A circle of radius ``factor`` (class +1) inside a circle of radius 1 (class −1),
    with Gaussian noise; not linearly separable."""
    n = _checks.count(n, "n", 2)
    noise = _checks.nonnegative(noise, "noise")
    factor = _checks.nonnegative(factor, "factor")
    if not 0 < factor < 1:
        raise ValueError(f"factor must be between 0 and 1 (inner radius), got {factor!r}")
    rng = random.Random(seed)
    n_outer = n // 2
    points, labels = [], []
    for count, radius, label in ((n_outer, 1.0, -1), (n - n_outer, factor, 1)):
        for i in range(count):
            t = 2.0 * math.pi * i / count
            points.append(
                [
                    radius * math.cos(t) + rng.gauss(0.0, noise),
                    radius * math.sin(t) + rng.gauss(0.0, noise),
                ]
            )
            labels.append(label)
    return _shuffled(points, labels, rng)


def spirals(n_per_class: int = 50, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """``classes`` interleaved spiral arms, the course's spiral classification task;
    labels are class indices ``0..classes−1``.

    Arm ``k`` has points at radius ``r ∈ [0, 1]`` and angle
    ``4r + 2πk/K + noise·N(0, 1)``, at ``(r sin θ, r cos θ)``.
    """
    n_per_class = _checks.count(n_per_class, "n_per_class", 2)
    classes = _checks.count(classes, "classes", 2)
    noise = _checks.nonnegative(noise, "noise")
    rng = random.Random(seed)
    points, labels = [], []
    for k in range(classes):
        for i in range(n_per_class):
            r = i / (n_per_class - 1)
            theta = 4.0 * r + 2.0 * math.pi * k / classes + rng.gauss(0.0, noise)
            points.append([r * math.sin(theta), r * math.cos(theta)])
            labels.append(k)
    return _shuffled(points, labels, rng)


#: Dataset generators by name (for the command line); each takes ``n`` and ``seed``.
DATASETS = {
    "moons": lambda n, seed: moons(n, seed=seed),
    "blobs": lambda n, seed: blobs(n, seed=seed),
    "circles": lambda n, seed: circles(n, seed=seed),
    "xor": lambda n, seed: xor(n, seed=seed),
    "spirals": lambda n, seed: spirals(max(2, n // 3), seed=seed),
    "and": lambda n, seed: logic_gate("and"),
    "or": lambda n, seed: logic_gate("or"),
}


def to_pm1(labels: Sequence[int]) -> list[int]:
    """``{0, 1}`` labels to ``{−1, +1}``: ``y ↦ 2y − 1``."""
    out = []
    for y in labels:
        if y not in (0, 1):
            raise ValueError(f"to_pm1 expects labels 0 or 1, got {y!r}")
        out.append(2 * int(y) - 1)
    return out


def to_01(labels: Sequence[int]) -> list[int]:
    """``{−1, +1}`` labels to ``{0, 1}``: ``y ↦ (y + 1) / 2``."""
    out = []
    for y in labels:
        if y not in (-1, 1):
            raise ValueError(f"to_01 expects labels -1 or +1, got {y!r}")
        out.append((int(y) + 1) // 2)
    return out


def check_dataset(X: Sequence, y: Sequence) -> tuple[list, list]:
    """Return ``(list(X), list(y))`` if they hold the same number (≥ 1) of samples."""
    for name, data in (("X", X), ("y", y)):
        if isinstance(data, (str, bytes)) or not hasattr(data, "__len__"):
            raise TypeError(f"{name} must be a list, got {type(data).__name__}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)} labels")
    if len(X) == 0:
        raise ValueError("the dataset is empty")
    return list(X), list(y)


def batches(
    X: Sequence,
    y: Sequence,
    batch_size: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    rng: random.Random | None = None,
) -> Iterator[tuple[list, list]]:
    """Yield ``(X_batch, y_batch)`` covering the data once (one epoch).

    ``batch_size=None`` gives one full batch (gradient descent), ``1`` one sample at a
    time (SGD), anything else mini-batches; the last batch may be smaller. With
    ``shuffle=True`` the order is a permutation drawn from ``rng`` (or from
    ``random.Random(seed)``): pass one ``rng`` across epochs to get a new order each
    epoch, reproducibly.
    """
    X, y = check_dataset(X, y)
    n = len(X)
    size = n if batch_size is None else _checks.count(batch_size, "batch_size")
    order = list(range(n))
    if shuffle:
        if rng is None:
            rng = random.Random(seed)
        elif not isinstance(rng, random.Random):
            raise TypeError(f"rng must be a random.Random, got {type(rng).__name__}")
        rng.shuffle(order)
    # Arguments are checked above, when batches() is called; the batches are made lazily.
    return _slices(X, y, order, size)


def _slices(X: list, y: list, order: list[int], size: int) -> Iterator[tuple[list, list]]:
    for start in range(0, len(order), size):
        idx = order[start : start + size]
        yield [X[i] for i in idx], [y[i] for i in idx]
