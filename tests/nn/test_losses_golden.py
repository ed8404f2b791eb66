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

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad.engine import Value
from tapegrad.nn import losses

GOLDEN = json.loads(
    (Path(__file__).parents[1] / "engine" / "golden" / "torch_float64.json").read_text()
)["losses"]
ULPS = 4
GRAD_ATOL = 4 * 2.0**-52


def run(name: str, z: float, y: float) -> tuple[float, float]:
    leaf = Value(z)
    out = losses.softplus(leaf) if name == "softplus" else getattr(losses, name)(leaf, y)
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


CASES = [
    (name, float(y), rows)
    for name, table in GOLDEN.items()
    for y, rows in zip(table["labels"], table["cases"])
]


@pytest.mark.parametrize(
    ("name", "y", "rows"), CASES, ids=[f"{name}-y={y}" for name, y, _ in CASES]
)
def test_loss_and_gradient_match_torch_over_the_float_range(name, y, rows):
    bad = mismatches(name, y, rows)
    assert not bad, f"{len(bad)} of {len(rows)}:\n  " + "\n  ".join(bad[:30])


def test_the_table_covers_the_float_range():
    points = {float(row[0]) for _, _, rows in CASES for row in rows}
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


@given(st.data())
def test_random_rows_of_the_table(data):
    """A hypothesis sweep over the stored table: any row, any label, value and derivative."""
    name, y, rows = data.draw(st.sampled_from(CASES))
    row = data.draw(st.sampled_from(rows))
    assert not mismatches(name, y, [row])


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_softplus_is_positive_and_softplus_minus_z_is_softplus_of_minus_z(z):
    """softplus(z) > 0 wherever e^z is not below the smallest float, and
    softplus(z) − softplus(−z) = z (log(1 + e^z) − log(1 + e^-z) = z)."""
    out = losses.softplus(z).data
    assert out >= 0.0 and (out > 0.0 or z < -744.0)
    if abs(z) < 1e15:
        assert math.isclose(out - losses.softplus(-z).data, z, rel_tol=1e-15, abs_tol=1e-15)
