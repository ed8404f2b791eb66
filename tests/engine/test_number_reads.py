"""A Value reads as its number where Python asks for one, as PyTorch's 0-dim tensors
do (issue 18 items 6 and 7): ordering comparisons, bool, float, int, round, format;
``==`` stays node identity; ``.data`` refuses a non-number; a label may be None. Every
such read goes through ``value.read_number`` (the hook a trace sets)."""

import decimal
import fractions
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad.engine import Value
from tapegrad.engine import value as value_module

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
numbers = st.floats(width=64)  # nan and ±inf included


@given(numbers, numbers)
def test_comparisons_read_the_numbers_as_floats_do(a, b):
    x, y = Value(a), Value(b)
    for got, want in (
        (x < y, a < b),
        (x <= y, a <= b),
        (x > y, a > b),
        (x >= y, a >= b),
        (x < b, a < b),
        (x >= b, a >= b),
        (a < y, a < b),  # a number on the left: Value's reflected comparison
        (a >= y, a >= b),
    ):
        assert type(got) is bool and got == want


@given(numbers)
def test_bool_float_int_round_format_read_the_number(a):
    v = Value(a)
    assert bool(v) is bool(a)
    assert math.copysign(1.0, float(v)) == math.copysign(1.0, a)
    assert float(v) == a or (a != a and float(v) != float(v))
    if math.isfinite(a):
        assert int(v) == int(a)
        assert round(v) == round(a) and round(v, 3) == round(a, 3)
        assert (math.floor(v), math.ceil(v), math.trunc(v)) == (
            math.floor(a),
            math.ceil(a),
            math.trunc(a),
        )
        assert f"{v:.3f}" == f"{a:.3f}" and format(v, "g") == format(a, "g")
    elif a != a:
        with pytest.raises(ValueError):
            int(v)
    else:
        with pytest.raises(OverflowError):
            int(v)


def test_the_student_traps_of_the_issue():
    v = Value(0.0)
    assert not v  # was True: ``if v:`` took the wrong branch
    assert (Value(2.0) > 0) is True and (Value(-1.0) > 0) is False  # was a bare TypeError
    taken = "positive" if Value(-3.0) > 0 else "not positive"
    assert taken == "not positive"
    assert bool((Value(0.5) * 0.0).tanh()) is False  # results read the same way
    assert math.exp(Value(1.0)) == math.e  # float() lets math functions take a Value


def test_equality_stays_node_identity_and_hashing_works():
    a, b = Value(1.0), Value(1.0)
    assert a != b and not (a == 1.0) and a == a
    assert a <= b and a >= b  # numerically equal, different nodes
    assert len({a, b}) == 2
    assert sorted([Value(3.0), Value(1.0), Value(2.0)])[0].data == 1.0
    assert max([Value(3.0), Value(5.0)], key=float).data == 5.0


def test_format_without_a_spec_is_str():
    v = Value(1.5, label="v")
    assert f"{v}" == str(v) == repr(v)
    assert f"{v:>8.2f}" == "    1.50"


def test_comparing_with_something_that_is_not_a_number_names_it():
    with pytest.raises(TypeError, match=r"'<' not supported between a Value and str: '3'"):
        _ = Value(1.0) < "3"
    with pytest.raises(TypeError, match=r"'>=' .* bool"):
        _ = Value(1.0) >= True
    assert Value(1.0) < fractions.Fraction(3, 2) and Value(1.0) < decimal.Decimal("1.5")
    assert Value(1.0) < np.float64(1.5) and np.float64(1.5) > Value(1.0)


@pytest.mark.parametrize(
    "bad", ["3", None, [1.0], Value(2.0), complex(1, 1), np.array([1.0, 2.0]), True]
)
def test_data_refuses_a_non_number_at_assignment_and_keeps_its_number(bad):
    v = Value(1.0)
    with pytest.raises(
        TypeError, match=rf"Value\.data must be a real number.*{type(bad).__name__}"
    ):
        v.data = bad
    assert v.data == 1.0 and type(v.data) is float


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (3, 3.0),
        (fractions.Fraction(1, 4), 0.25),
        (decimal.Decimal("0.5"), 0.5),
        (np.float32(2), 2.0),
    ],
)
def test_data_stores_any_real_number_as_a_float(given, stored):
    v = Value(0.0)
    v.data = given
    assert v.data == stored and type(v.data) is float
    v.data -= 0.5  # the update loop's float assignment
    assert v.data == stored - 0.5


def test_a_label_or_name_of_none_means_no_name():
    v = Value(1.0, label=None)
    assert v.label == "" and v.name == ""
    v.name = "w"
    assert v.label == "w"
    v.name = None  # DeZero: self.name = name, with name=None
    assert v.label == "" and repr(v) == "Value(data=1.0, grad=0.0)"
    y = v * 2.0
    y.label = None
    assert y.label == ""
    with pytest.raises(TypeError, match="label must be a str or None, got int"):
        v.label = 3


def test_every_read_goes_through_the_one_read_point(monkeypatch):
    reads = []
    read_number = value_module.read_number

    def recording(v, how):
        reads.append((v, how))
        return read_number(v, how)

    monkeypatch.setattr(value_module, "read_number", recording)
    x, y = Value(2.0), Value(3.0)
    z = x * y + 1.0  # ops read the numbers internally: not reads of user code
    z.backward()
    repr(z)
    assert reads == []
    assert z.data == 7.0
    float(z)
    int(z)
    bool(z)
    round(z)
    f"{z:.1f}"
    f"{z}"  # str, not a read of the number
    _ = x < y
    _ = z >= 1.0
    hows = [how for _, how in reads]
    assert hows == [".data", "float()", "int()", "bool()", "round()", "format()", "<", "<", ">="]
    assert reads[6][0] is x and reads[7][0] is y  # left, then right


def test_reads_under_a_trace_are_seen_by_engine_trace():
    # engine.trace wraps Value's reading methods while it traces (issue 18 item 1):
    # the eager reads defined here are among them.
    from tapegrad import engine
    from tapegrad.engine import trace

    assert {"__float__", "__int__", "__bool__", "__round__", "__format__"} <= set(trace.READS)
    assert {"__lt__", "__le__", "__gt__", "__ge__"} <= set(trace.READS)
    w = Value(0.5)

    def branchy(x):
        return w * x if x > 0 else w * x * 3.0

    with pytest.raises(engine.TracedReadError, match=r"`v > \.\.\.`"):
        engine.vmap(branchy, [w])([1.0, -1.0, 2.0])
