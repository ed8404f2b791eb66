"""The public hypothesis strategies: domains, margins and shared subexpressions."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapegrad.engine import OPS
from tapegrad.engine.strategies import MARGIN, expressions, floats_between, op_inputs


@pytest.mark.parametrize("name", list(OPS))
def test_op_inputs_stay_in_domain_and_away_from_kinks(name):
    row = OPS[name]

    @given(op_inputs(row))
    def check(args):
        assert len(args) == row.arity
        for x, (lo, hi) in zip(args, row.domain):
            assert lo < x < hi
            assert all(abs(x - k) >= MARGIN for k in row.kinks)

    check()


@given(floats_between(-1.0, 1.0, kinks=(0.0, 0.5)))
def test_floats_between_keeps_the_margin(x):
    assert -1.0 < x < 1.0 and abs(x) >= MARGIN and abs(x - 0.5) >= MARGIN


def shares_a_subexpression(expr):
    uses = {}
    for _, operands in expr.program:
        for kind, i in operands:
            if kind == "reg" and i >= len(expr.inputs):
                uses[i] = uses.get(i, 0) + 1
    return any(n >= 2 for n in uses.values())


def test_expressions_cover_every_op_and_often_share_subexpressions():
    seen, sizes, diamonds = set(), [], []

    @settings(max_examples=300)
    @given(expressions())
    def collect(expr):
        seen.update(op for op, _ in expr.program)
        sizes.append(len(expr.program))
        diamonds.append(shares_a_subexpression(expr))
        assert repr(expr).startswith("Expression(inputs = ")

    collect()
    assert seen == set(OPS)
    assert sum(diamonds) >= 0.2 * len(diamonds)
    assert max(sizes) >= 8


@given(st.data())
def test_expressions_restricted_to_some_ops(data):
    expr = data.draw(expressions(ops=("add", "tanh")))
    assert all(op in ("add", "tanh", "mul") for op, _ in expr.program)


@given(st.data())
def test_unknown_op_is_refused(data):
    with pytest.raises(ValueError, match="unknown op"):
        data.draw(expressions(ops=("nope",)))
