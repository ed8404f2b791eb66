"""A corpus of generated code and its numbers, to prove a change keeps every byte.

    python benchmarks/source_corpus.py out.json             # write the manifest
    python benchmarks/source_corpus.py --compare a.json b.json

The engine writes Python source in three places: the formula compiler (each op row's
``fn``, ``value_grads``, ``array_fn``, inline templates and ``Value`` methods), the
program generator of replay and batched replay (``engine.compile``/``engine.record``,
``engine.vmap`` with ``lift=False``) and the lifted program (``engine.vmap``'s
default). This script records the sha256 of every such source over a fixed corpus --
every row of the table, rows made here to reach every construct of the formula
language, formulas, models and losses -- and of the numbers the code computes
(``float.hex`` of results and gradients, at ordinary and special inputs), so that a
restructure of any of them can be shown to change nothing: run it before and after,
then ``--compare`` (it exits 1 when any entry differs or is missing).

Deterministic: fixed seeds and order, the public API only (and the compiler module's
public functions). The manifest format and ``--compare`` are ``dot_corpus.py``'s.
"""

from __future__ import annotations

import itertools
import math
import random
import sys

from dot_corpus import Corpus, command

from tapegrad import engine, nn
from tapegrad.engine import OPS, Op, Value
from tapegrad.engine.formulas import method_source

# Inputs where formulas branch or misbehave: signed zeros, kinks, domain edges,
# overflow, inf and nan, and a few ordinary numbers.
SPECIALS = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -2.5,
    3.0,
    1e-300,
    5e-324,
    -1e-8,
    40.0,
    -40.0,
    710.0,
    -745.5,
    1e308,
    math.inf,
    -math.inf,
    math.nan,
)

# Rows made here only to reach the formula language's constructs the table may not
# use: not/and/or in conditions, nested where with a shared branch (the array form
# merges it), mask, division by a name and by an expression, sigmoid on an
# expression (no fast template), abs/sign expanded, out in a derivative.
EXTRA_ROWS = (
    Op(
        name="corpus_where",
        arity=2,
        forward="where(not (x > y), x * y, where(x < 0.0 or y == 1.0, x - y, 2.0))",
        derivatives=("mask(x > 0.0 and y > 0.0, y)", "mask(not x < 0.0 or y != y, x)"),
        label="w",
        doc="corpus row: selections",
    ),
    Op(
        name="corpus_nested",
        arity=1,
        forward="where(x > 1.0, where(x < 3.0, x * x, -x), -x)",
        derivatives=("where(x > 1.0, where(x < 3.0, 2.0 * x, -1.0), -1.0)",),
        label="n",
        doc="corpus row: a nested where sharing its other branch",
    ),
    Op(
        name="corpus_calls",
        arity=2,
        forward="sigmoid(x * y) + log(1.0 + x * x) / y + abs(x) * sign(y) + pow(x, 2.0)",
        derivatives=(
            "out * y / (1.0 + exp(-x)) + sqrt(x * x + 1.0) - sin(x) * cos(y)",
            "tanh(x + y) + log1p(x * x) - expm1(-y) / (x - y)",
        ),
        label="c",
        doc="corpus row: calls on expressions and divisions",
    ),
)

FORMULAS = (
    ("tanh(x1*w1 + x2*w2 + b)", {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813}),
    ("x - y / (x + 2)", {"x": 1.5, "y": -0.5}),
    ("-x**2 + 2**y - x**3 + x**0.5", {"x": 1.5, "y": -0.5}),
    ("exp(x) * log(y) + sqrt(y) - sigmoid(x*y)", {"x": 0.3, "y": 2.0}),
    ("relu(x) + sigmoid(y) - abs(x*y) + sign(y)", {"x": -0.4, "y": 1.3}),
    ("sin(x)*cos(x) / (1 + x*x)", {"x": 0.7}),
    ("3 - x + x / 4 - 2 / x + x*x*x", {"x": 1.25}),
    ("(a + b + c + d) / 4 * (a - d)", {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}),
)


def _hex(numbers) -> str:
    return " ".join(float(v).hex() for v in numbers)


def rows(corpus: Corpus) -> None:
    """Every row's compiled sources, and its numbers at the special inputs."""
    import numpy as np

    for row in (*OPS.values(), *EXTRA_ROWS):
        key = f"row/{row.name}"
        corpus.put(f"{key}/fn", row.fn.source)
        corpus.put(f"{key}/value_grads", row.value_grads.source)
        corpus.put(f"{key}/array_fn", row.array_fn.source)
        corpus.put(f"{key}/inline", repr(row.inline))
        corpus.put(f"{key}/methods", method_source(row.name, row.arity, row.doc, row.operators))
        grid = list(itertools.product(SPECIALS, repeat=row.arity))
        corpus.put(f"{key}/fn_numbers", "\n".join(_hex(row.fn(*args)) for args in grid))
        columns = [[args[k] for args in grid] for k in range(row.arity)]
        arrays = row.array_fn(*(np.array(c) for c in columns))
        # a local derivative may be a float or ArrayMasked: times ones, an array
        ones = np.ones(len(grid))
        corpus.put(f"{key}/array_numbers", "\n".join(_hex(a * ones) for a in arrays))
        for i, args in enumerate(grid[:: max(1, len(grid) // 40)]):
            leaves = [Value(v) for v in args]
            grads = row.value_grads(leaves, Value(row.fn(*args)[0]))
            numbers = [g.data if isinstance(g, Value) else g for g in grads]
            corpus.put(f"{key}/value_grads/{i}", _hex(numbers))


def _record(corpus: Corpus, key: str, root: Value, leaves: list[Value]) -> None:
    compiled = engine.record(root, leaves)
    corpus.put(f"{key}/source", compiled.source)
    value, grads, _ = compiled.run([leaf.data for leaf in compiled.leaves])
    corpus.put(f"{key}/numbers", _hex([value, *grads]))


def replays(corpus: Corpus) -> None:
    """``engine.record``'s source and numbers: each row, formulas, an MLP's loss."""
    for row in OPS.values():
        leaves = [Value(v) for v in (0.75, -1.25)[: row.arity]]
        root = getattr(leaves[0], row.name)(*leaves[1:])
        root = (root * leaves[0] + 1.0).tanh()
        _record(corpus, f"record/{row.name}", root, leaves)
    for i, (text, at) in enumerate(FORMULAS):
        root, named = engine.parse_expression(text, at)
        _record(corpus, f"record/formula{i}", root, [named[n] for n in sorted(named)])
    model = nn.MLP(2, [4, 4, 1], activation="tanh", rng=random.Random(0))
    rng = random.Random(1)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(5)]
    y = [rng.choice((-1.0, 1.0)) for _ in range(5)]
    loss = nn.average_loss(nn.hinge, model, X, y)
    _record(corpus, "record/mlp_hinge", loss, list(model.parameters()))


def batched(corpus: Corpus) -> None:
    """``engine.vmap``'s programs (entry by entry and lifted) and their numbers."""
    import numpy as np

    rng = random.Random(2)
    X = np.array([[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(16)])
    y = np.array([rng.choice((-1.0, 1.0)) for _ in range(16)])
    cases = {
        "mlp_relu_hinge": (nn.MLP(2, [6, 6, 1], activation="relu", rng=random.Random(3)), nn.hinge),
        "mlp_tanh_mse": (nn.MLP(2, [5, 1], activation="tanh", rng=random.Random(4)), nn.mse),
        "mlp_sigmoid_mse": (
            nn.MLP(2, [5, 1], output_activation="sigmoid", rng=random.Random(5)),
            nn.mse,
        ),
    }
    for (name, (model, loss)), lift in itertools.product(cases.items(), (False, True)):
        step = engine.vmap(
            lambda x, t, model=model, loss=loss: loss(model(x), t), model.parameters(), lift=lift
        )
        model.zero_grad()
        losses = step(X, y)
        key = f"vmap/{name}/{'lifted' if lift else 'entries'}"
        corpus.put(f"{key}/source", step.source)
        if step.lifted is not None:
            corpus.put(f"{key}/lifted_source", step.lifted.source)
        grads = [p.grad for p in model.parameters()]
        corpus.put(f"{key}/numbers", _hex([*np.ravel(losses), step.loss, *grads]))


def build(images: bool = False) -> Corpus:
    """The manifest (``images`` is for ``dot_corpus.command``: there are none here)."""
    corpus = Corpus()
    rows(corpus)
    replays(corpus)
    batched(corpus)
    return corpus


def main(argv: list[str] | None = None) -> int:
    return command(argv, __doc__, build)


if __name__ == "__main__":
    sys.exit(main())
