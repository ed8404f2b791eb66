"""Argument checks shared by ``nn``: a wrong type is a ``TypeError`` and a wrong value a
``ValueError``, each naming the argument and what it got (``epochs must be at least 1,
got 0``). Booleans are refused where a number is expected."""

from __future__ import annotations

import math
import numbers
import random
from typing import Any


def count(value: object, name: str, minimum: int = 1) -> int:
    """An int of at least ``minimum`` (a number of epochs, units, samples...)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def real(value: object, name: str) -> float:
    """A finite real number, as a float."""
    x = _real_type(value, name)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def nonnegative(value: object, name: str) -> float:
    """A finite real number ``>= 0`` (a regularization strength, a noise level)."""
    x = _real_type(value, name)
    if not (math.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return x


def positive(value: object, name: str) -> float:
    """A finite real number ``> 0`` (a learning rate)."""
    x = _real_type(value, name)
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {x!r}")
    return x


def ordered(value: object, name: str) -> float:
    """A real number that compares with every number: ``±inf`` allowed, ``nan`` not (a
    threshold)."""
    x = _real_type(value, name)
    if math.isnan(x):
        raise ValueError(f"{name} must be a number or ±inf, got nan")
    return x


def random_source(rng: object) -> Any:
    """``rng`` if it is a ``random.Random``; for None the ``random`` module itself (the
    global generator, as micrograd uses: ``random.seed()`` controls it)."""
    if rng is None:
        return random
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random or None, got {type(rng).__name__}")
    return rng


def _real_type(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    return float(value)
