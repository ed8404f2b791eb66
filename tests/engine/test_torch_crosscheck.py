"""Optional cross-check of every op against PyTorch's float64 autograd.

Runs only where torch is installed (``pip install -e '.[test,torch]'``); the main
suite pins the same semantics with hard-coded values in ``test_ops.py``.
"""

import math

import pytest

from tapegrad.engine import OPS, Value

torch = pytest.importorskip("torch")

POINTS = [-1000.0, -3.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 1000.0, math.inf, -math.inf]
POINTS_WITH_NAN = [*POINTS, math.nan]
TORCH = {
    "add": torch.add,
    "mul": torch.mul,
    "div": torch.div,
    "pow": torch.pow,
    "exp": torch.exp,
    "log": torch.log,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "sign": torch.sign,
    "abs": torch.abs,
    "sqrt": torch.sqrt,
    "sin": torch.sin,
    "cos": torch.cos,
}


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))


def torch_result(name, args):
    ts = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in args]
    out = TORCH[name](*ts)
    out.backward()
    return [out.item()] + [t.grad.item() for t in ts]


def test_every_op_has_a_torch_twin():
    assert set(TORCH) == set(OPS)


@pytest.mark.parametrize("name", [n for n, r in OPS.items() if r.arity == 1])
@pytest.mark.parametrize("x", POINTS_WITH_NAN)
def test_unary_value_and_derivative_match_torch(name, x):
    ours = list(OPS[name].fn(x))
    theirs = torch_result(name, [x])
    assert all(same(a, b) for a, b in zip(ours, theirs)), (name, x, ours, theirs)


@pytest.mark.parametrize("name", [n for n, r in OPS.items() if r.arity == 2])
def test_binary_value_and_derivatives_match_torch(name):
    mismatches = []
    for x in POINTS:
        for y in POINTS:
            ours = list(OPS[name].fn(x, y))
            theirs = torch_result(name, [x, y])
            if not all(same(a, b) for a, b in zip(ours, theirs)):
                mismatches.append((x, y, ours, theirs))
    assert not mismatches, mismatches[:10]


def test_a_graph_matches_torch():
    a, b = Value(-4.0), Value(2.0)
    ta = torch.tensor(-4.0, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    results = []
    for x, y, lib in ((a, b, None), (ta, tb, torch)):
        c = (x * y + y**3).tanh() + (x / y).sigmoid() * (y - x).relu() + (x * x).sqrt().log()
        c.backward()
        results.append(c.data if lib is None else c.item())
    assert same(results[0], results[1])
    assert same(a.grad, ta.grad.item()) and same(b.grad, tb.grad.item())
