"""The log1p losses against PyTorch float64 (issue 18 item 3), through the golden table.

``tests/engine/golden/torch_float64.json``'s ``losses`` section holds PyTorch 2.13.0's
value and derivative of softplus, binary_cross_entropy_with_logits and logistic_loss
(see ``LOSSES`` in ``make_golden.py`` for the torch expression of each) over the whole
float range: ±0, subnormals, ±1e-300 ... ±1e300, ±inf, nan, the thresholds where
``1 + e^-|z|`` rounds to 1 or ``e^|z|`` overflows, and random logits. No torch here.

Values within :data:`ULPS` ulps. Derivatives within :data:`ULPS` ulps or
:data:`GRAD_ATOL`: PyTorch's derivative of binary_cross_entropy_with_logits is
``σ(z) − y``, which rounds ``σ(40) = 1 − 4.2e-18`` to 1 and gives 0.0; tapegrad's
graph gives the exact ``−4.2e-18``. Both are within one rounding of a number of size
1, the derivative's scale.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad.engine import Value
from tapegrad.nn import losses

TABLE = json.loads(
    (Path(__file__).parents[1] / "engine" / "golden" / "torch_float64.json").read_text()
)
GOLDEN = TABLE["losses"]
ULPS = 4
GRAD_ATOL = 4 * 2.0**-52


def run(name: str, z: float, y: float) -> tuple[float, float]:
    leaf = Value(z)
    if name == "softplus":  # the table's softplus is -logsigmoid(-z): no threshold
        out = losses.softplus(leaf, threshold=None)
    else:
        out = getattr(losses, name)(leaf, y)
    out.backward()
    return out.data, leaf.grad


def ulps_apart(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return 0.0 if math.isnan(a) and math.isnan(b) else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    if a == b:
        return 0.0
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


def mismatches(name: str, y: float, rows: list[list[str]]) -> list[str]:
    bad = []
    for row in rows:
        z, want, want_grad = float(row[0]), float(row[1]), float(row[2])
        got, grad = run(name, z, y)
        if ulps_apart(got, want) > ULPS:
            bad.append(f"{name}({z!r}, {y!r}) = {got!r}, torch {want!r}")
        close = math.isfinite(want_grad) and abs(grad - want_grad) <= GRAD_ATOL
        if ulps_apart(grad, want_grad) > ULPS and not close:
            bad.append(f"d/dz {name}({z!r}, {y!r}) = {grad!r}, torch {want_grad!r}")
    return bad


LOSS_CASES = [
    (name, float(y), rows)
    for name, table in GOLDEN.items()
    for y, rows in zip(table["labels"], table["cases"])
]


def test_the_table_covers_the_float_range():
    points = {float(row[0]) for _, _, rows in LOSS_CASES for row in rows}
    for z in (0.0, 5e-324, -5e-324, 1e300, -1e300, math.inf, -math.inf, 40.0, -40.0, 800.0):
        assert z in points
    assert any(math.isnan(z) for z in points)
    assert set(GOLDEN) == {"softplus", "binary_cross_entropy_with_logits", "logistic_loss"}


@pytest.mark.parametrize(
    ("call", "want"),
    [
        # issue 18 item 3's quoted inputs and torch float64's values
        (lambda: losses.softplus(-40.0), 4.248354255291589e-18),
        (lambda: losses.softplus(-30.0), 9.357622968839737e-14),
        (lambda: losses.binary_cross_entropy_with_logits(Value(40.0), 1.0), 4.248354255291589e-18),
        (lambda: losses.logistic_loss(Value(20.0), 1.0), 4.248354255291589e-18),
    ],
    ids=["softplus(-40)", "softplus(-30)", "bce_with_logits(40, 1)", "logistic_loss(20, +1)"],
)
def test_the_quoted_inputs_give_torchs_values(call, want):
    assert call().data == want


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_softplus_is_positive_and_softplus_minus_z_is_softplus_of_minus_z(z):
    """softplus(z) > 0 wherever e^z is not below the smallest float, and
    softplus(z) − softplus(−z) = z (log(1 + e^z) − log(1 + e^-z) = z)."""
    out = losses.softplus(z, threshold=None).data
    assert out >= 0.0 and (out > 0.0 or z < -744.0)
    if abs(z) < 1e15:
        minus = losses.softplus(-z, threshold=None).data
        assert math.isclose(out - minus, z, rel_tol=1e-15, abs_tol=1e-15)


# -- softplus(z, beta, threshold): torch.nn.functional.softplus ---------------------------

SOFTPLUS = [
    (float(beta), float(threshold), rows)
    for (beta, threshold), rows in zip(TABLE["softplus"]["parameters"], TABLE["softplus"]["cases"])
]
SEEDS = [float(s) for s in TABLE["seeds"]]


def softplus_mismatches(beta: float, threshold: float, rows: list[list[str]]) -> list[str]:
    """Value and derivative for every seed (1, inf, -inf, nan) within ULPS ulps."""
    bad = []
    for row in rows:
        z, want = float(row[0]), float(row[1])
        for seed, want_grad in zip(SEEDS, (float(g) for g in row[2:])):
            leaf = Value(z)
            out = losses.softplus(leaf, beta, threshold)
            out.backward(seed)
            if ulps_apart(out.data, want) > ULPS:
                bad.append(f"softplus({z!r}, {beta}, {threshold}) = {out.data!r}, torch {want!r}")
            if ulps_apart(leaf.grad, want_grad) > ULPS:
                bad.append(
                    f"d/dz softplus({z!r}, {beta}, {threshold}) seeded {seed} = {leaf.grad!r}, "
                    f"torch {want_grad!r}"
                )
    return bad


#: Every list of rows of both tables, with the check that compares tapegrad with it.
CASES = {
    **{
        f"{name}-y={y}": (functools.partial(mismatches, name, y), rows)
        for name, y, rows in LOSS_CASES
    },
    **{
        f"softplus-beta={b}-threshold={t}": (functools.partial(softplus_mismatches, b, t), rows)
        for b, t, rows in SOFTPLUS
    },
}


@pytest.mark.parametrize("case", CASES)
def test_loss_and_gradient_match_torch_over_the_float_range(case):
    check, rows = CASES[case]
    bad = check(rows)
    assert not bad, f"{len(bad)} mismatches in {len(rows)} rows:\n  " + "\n  ".join(bad[:30])


@given(st.data())
def test_random_rows_of_the_tables(data):
    """A hypothesis sweep over the stored tables: any row of any case, value and derivative."""
    check, rows = CASES[data.draw(st.sampled_from(sorted(CASES)))]
    assert not check([data.draw(st.sampled_from(rows))])


def test_the_softplus_table_covers_the_switch_and_the_overflow():
    pairs = {(b, t) for b, t, _ in SOFTPLUS}
    assert {(1.0, 20.0), (1.0, math.inf), (1.0, 800.0), (0.3, -math.inf)} <= pairs
    for beta, threshold, rows in SOFTPLUS:
        points = {float(row[0]) for row in rows}
        assert {math.inf, -math.inf, 0.0, 800.0, -800.0} <= points
        if math.isfinite(threshold):
            assert math.nextafter(threshold / beta, math.inf) in points


def test_softplus_switches_to_z_itself_exactly_where_torch_does():
    # z where beta z > threshold, bit for bit; the log1p branch up to the switch
    assert losses.softplus(25.0).data == 25.0  # -logsigmoid keeps 1.4e-11 more
    assert losses.softplus(25.0, threshold=None).data == 25.0 + math.log1p(math.exp(-25.0))
    above = math.nextafter(10.0, math.inf)
    assert losses.softplus(above, beta=2.0).data == above
    assert losses.softplus(10.0, beta=2.0).data == math.log1p(math.exp(20.0)) / 2.0
    z = Value(-3.0)
    losses.softplus(z, threshold=-4.0).backward()  # -3 > -4: z itself, gradient 1
    assert z.grad == 1.0
    # the branch not taken adds an exact 0, even where it overflows (e^800 = inf)
    z = Value(800.0)
    out = losses.softplus(z)
    out.backward(math.inf)
    assert (out.data, z.grad) == (800.0, math.inf)


def test_softplus_has_the_same_graph_for_every_z_so_a_batched_step_runs_it():
    from tapegrad import engine

    def ops(z):
        return [e.op for e in engine.tape(losses.softplus(Value(z), 2.0, 5.0))]

    assert ops(-3.0) == ops(0.0) == ops(2.5) == ops(100.0) == ops(math.inf)
    # one sample's tape replayed over samples on both sides of the switch (z = 2.5)
    w = Value(1.5)
    xs = [-4.0, 0.5, 1.6, 1.7, 3.0, 600.0]
    step = engine.vmap(lambda x: losses.softplus(w * x, 2.0, 5.0), [w], lift=False)
    per_sample = step(xs, reduce="sum")
    eager = [losses.softplus(w.data * x, 2.0, 5.0).data for x in xs]
    assert list(per_sample) == eager
    batched_grad, w.grad = w.grad, None
    sum(losses.softplus(w * x, 2.0, 5.0) for x in xs).backward()
    assert batched_grad == w.grad


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"beta": "2"}, TypeError, "softplus: beta must be a real number, got str: '2'"),
        ({"beta": True}, TypeError, "softplus: beta must be a real number, got bool: True"),
        ({"beta": 0.0}, ValueError, "softplus: beta must be a finite number > 0, got 0.0"),
        ({"beta": -1}, ValueError, "softplus: beta must be a finite number > 0, got -1.0"),
        ({"beta": math.inf}, ValueError, "softplus: beta must be a finite number > 0, got inf"),
        ({"threshold": "20"}, TypeError, "softplus: threshold must be a real number, got str"),
        ({"threshold": math.nan}, ValueError, "softplus: threshold must be a number or ±inf"),
    ],
)
def test_softplus_refuses_a_bad_beta_or_threshold(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        losses.softplus(Value(1.0), **kwargs)
