"""The shared argument checks: the type and the value named, booleans refused."""

import math

import pytest

from tapegrad.nn import _checks


@pytest.mark.parametrize(
    "check, value, error, message",
    [
        (_checks.count, 0, ValueError, "epochs must be at least 1, got 0"),
        (_checks.count, 2.0, TypeError, "epochs must be an int, got float: 2.0"),
        (_checks.count, True, TypeError, "epochs must be an int, got bool: True"),
        (_checks.real, "1", TypeError, "epochs must be a real number, got str: '1'"),
        (_checks.real, math.inf, ValueError, "epochs must be finite, got inf"),
        (_checks.real, False, TypeError, "got bool"),
        (_checks.nonnegative, -0.5, ValueError, "must be a finite number >= 0, got -0.5"),
        (_checks.nonnegative, math.nan, ValueError, "must be a finite number >= 0, got nan"),
        (_checks.positive, 0.0, ValueError, "must be a finite number > 0, got 0.0"),
        (_checks.positive, None, TypeError, "must be a real number, got NoneType"),
    ],
)
def test_bad_values_are_named(check, value, error, message):
    with pytest.raises(error, match=message):
        check(value, "epochs")


def test_good_values_come_back_as_python_numbers():
    from fractions import Fraction

    assert _checks.count(3, "n") == 3 and type(_checks.count(3, "n")) is int
    assert _checks.count(2, "n", minimum=2) == 2
    assert _checks.real(Fraction(1, 4), "x") == 0.25
    assert _checks.nonnegative(0, "x") == 0.0 and type(_checks.nonnegative(0, "x")) is float
    assert _checks.positive(1e-9, "lr") == 1e-9
