"""Write ``torch_float64.json``: PyTorch's float64 results, derivatives and Hessians.

Run by hand where ``torch==2.13.0`` is installed (it is not a test and CI never runs
it); ``tests/engine/test_golden.py`` compares tapegrad against the table it writes,
without torch::

    python -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0
    /tmp/torchvenv/bin/python tests/engine/golden/make_golden.py
    /tmp/torchvenv/bin/python tests/engine/golden/make_golden.py --add softplus  # one section

Every expected number comes from torch alone: this script never imports tapegrad.
It holds its own table from op name to torch function (:data:`UNARY`, :data:`BINARY`)
and fails loudly for a name it does not know, so a new engine row needs a line here
and a re-run before ``test_golden.py`` passes.

Every value is computed on 0-dim float64 tensors, one point at a time: a batched
tensor would go through torch's vectorised kernels (SLEEF), whose last bits differ
from the scalar path that a scalar engine is compared with.

What the table holds (floats written with ``repr``, which round-trips exactly and
keeps ``inf``, ``-inf``, ``nan`` and ``-0.0``):

* ``ops``: for every op, a grid of special inputs (+-0.0, subnormals, +-1e-300 ...
  +-1e300, +-inf, nan, the op's kinks and domain edges) and seeded random points;
  binary ops over the grid crossed with itself. Each row is
  ``[inputs..., result, grads for seed 1, grads for seed inf, for -inf, for nan]``:
  the backward pass of the op alone with ``grad_output`` = that seed, so edges where
  PyTorch's backward selects 0 instead of multiplying (relu at x <= 0, sign, pow's
  d/dx at exponent 0) show as 0 where a product would give nan.
* ``constants``: binary ops with a Python number on one side (``x ** 2.0``,
  ``2.0 ** x``, ``1.0 - x``...), where torch's ``pow`` has other overloads.
  Rows are ``[x, c, result, dx for each seed]``.
* ``trees``: seeded random expression graphs (several leaves, shared
  subexpressions, number constants), their values and the leaves' gradients; about
  50 of them also carry their Hessian (``torch.autograd.functional.hessian``).
  Only well-conditioned trees are kept (see :func:`conditioned`), so that tapegrad's
  different but correct rounding stays far inside the test's tolerance. Rows added
  later (:data:`LATER_ROWS`: log1p, expm1) get 40 more trees through them, drawn from
  their own generator, so the first trees stay as drawn.
* ``losses``: softplus, binary_cross_entropy_with_logits and logistic_loss as PyTorch
  computes them (:data:`LOSSES`), value and derivative per logit over the grid, the
  loss edges and random logits, for each label; read by ``tests/nn/test_losses_golden.py``.
* ``softplus``: ``torch.nn.functional.softplus(z, beta, threshold)`` for each pair of
  :data:`SOFTPLUS_PARAMETERS`, value and derivative for every seed, over the losses'
  points and each pair's switch ``threshold / beta``; read by the same test.

Torch's last bits vary between machines (measured: re-run on another machine, some
exp, tanh and sqrt results moved by an ulp): when sections are only added, merge them
into the committed table rather than rewrite it whole: ``--add NAME`` computes only the
section ``NAME`` (:data:`SECTIONS`) and writes it into the committed table, leaving every
other byte as it was.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import torch

TORCH_VERSION = "2.13.0"
OUT = Path(__file__).with_name("torch_float64.json")
F64 = torch.float64
INF = math.inf
NAN = math.nan

#: Upstream gradients each op is seeded with: 1 gives the local derivative; inf,
#: -inf and nan show where PyTorch's backward masks the edge instead of multiplying.
SEEDS = (1.0, INF, -INF, NAN)

UNARY = {
    "neg": torch.neg,
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
    "log1p": torch.log1p,
    "expm1": torch.expm1,
}
#: Rows added after the table's first version draw their random points from their own
#: seeded generator, so the earlier rows', the number operands' and the trees' stay.
LATER_ROWS = ("log1p", "expm1")
BINARY = {
    "add": torch.add,
    "sub": torch.sub,
    "mul": torch.mul,
    "div": torch.div,
    "pow": torch.pow,
}

# -- the grid -----------------------------------------------------------------------

SPECIAL = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    2.2e-308,
    -2.2e-308,
    1e-300,
    -1e-300,
    1e-200,
    -1e-200,
    1e-154,
    -1e-154,
    1e154,
    -1e154,
    1e200,
    -1e200,
    1e300,
    -1e300,
    INF,
    -INF,
    NAN,
]
ORDINARY = [1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0]

#: Kinks, domain edges and overflow thresholds of each unary op, beyond the common grid.
UNARY_EDGES = {
    "neg": [],
    "exp": [
        709.782712893384,
        709.7827128933841,
        710.0,
        -745.1332191019411,
        -745.2,
        -708.4,
        1e-17,
        -1e-17,
        10.0,
        -10.0,
        100.0,
        -100.0,
        1000.0,
        -1000.0,
    ],
    "log": [1.0 - 2.0**-53, 1.0 + 2.0**-52, 1e-17, 10.0, 1e-8, 1e8],
    "tanh": [19.0, 19.1, -19.1, 20.0, -20.0, 1e-8, -1e-8, 0.5493061443340549, 355.0, -355.0],
    "sigmoid": [
        36.7,
        37.0,
        -37.0,
        709.0,
        709.8,
        -709.8,
        710.0,
        -710.0,
        745.0,
        -745.2,
        746.0,
        -746.0,
        800.0,
        -800.0,
        1e-8,
        -1e-8,
        20.0,
        -20.0,
    ],
    "relu": [1e-8, -1e-8],
    "sign": [1e-8, -1e-8],
    "abs": [1e-8, -1e-8],
    "sqrt": [4.0, 1e-8, 1e8, 1.7976931348623157e308],
    "sin": [math.pi / 2, -math.pi / 2, math.pi, -math.pi, 1e22, -1e22, 2.0**53, 1e-8, 1e8],
    "cos": [math.pi / 2, -math.pi / 2, math.pi, -math.pi, 1e22, -1e22, 2.0**53, 1e-8, 1e8],
    "log1p": [-1.0 + 2.0**-53, -1.0 - 2.0**-52, 1e-17, -1e-17, 1e-8, -0.5, 10.0, 1e8, 1e-20],
    "expm1": [709.782712893384, 710.0, -37.0, -40.0, 1e-17, -1e-17, 1e-8, 1e-20, 10.0, -745.2],
}
#: Extra points for binary ops (both operands): pow's exponents and bases of interest.
BINARY_EDGES = {
    "add": [],
    "sub": [],
    "mul": [],
    "div": [],
    "pow": [0.25, -0.25, 1.5, 1.0 / 3.0, 10.0, -10.0],
}

#: Graphs quoted in issue 11 (other engines' bug reports), kept as trees whatever
#: their conditioning: (what it shows, leaves, program).
NAMED_TREES = [
    (
        "relu masks an infinite gradient: (w * -1).relu().sqrt()",
        [0.5],
        [["mul", 0, "-1.0"], ["relu", 1], ["sqrt", 2]],
    ),
    ("log(relu(x)) at x < 0", [-1.0], [["relu", 0], ["log", 1]]),
    ("log(relu(x)) at -0.0", [-0.0], [["relu", 0], ["log", 1]]),
    ("1 / relu(x) at x < 0", [-2.0], [["relu", 0], ["div", "1.0", 1]]),
    ("sqrt(sign(x)) at 0", [0.0], [["sign", 0], ["sqrt", 1]]),
    ("sqrt(sign(x)) at x < 0", [-1.0], [["sign", 0], ["sqrt", 1]]),
    ("(x ** 0) * exp(z), z = 1000", [2.0, 1000.0], [["pow", 0, "0.0"], ["exp", 1], ["mul", 2, 3]]),
    (
        "(x ** y) * exp(z), y = 0, z = 1000",
        [2.0, 0.0, 1000.0],
        [["pow", 0, 1], ["exp", 2], ["mul", 3, 4]],
    ),
    (
        "(x ** y) * exp(z) at x = 0, y = 0",
        [0.0, 0.0, 1000.0],
        [["pow", 0, 1], ["exp", 2], ["mul", 3, 4]],
    ),
    ("sqrt(w * x) at w < 0, x = 0", [-2.0, 0.0], [["mul", 0, 1], ["sqrt", 2]]),
    ("x / y at x = y = 1e-200", [1e-200, 1e-200], [["div", 0, 1]]),
    ("x / y at x = 0, y = 1e-200", [0.0, 1e-200], [["div", 0, 1]]),
    ("x / y at x = y = 1e200", [1e200, 1e200], [["div", 0, 1]]),
    ("x * x at -0.0: two -0.0 contributions", [-0.0], [["mul", 0, 0]]),
]


def unary_grid(name: str) -> list[float]:
    return SPECIAL + ORDINARY + UNARY_EDGES[name]


def binary_grid(name: str) -> list[float]:
    return SPECIAL + ORDINARY + BINARY_EDGES[name]


def random_points(rng: random.Random, n: int) -> list[float]:
    """Half uniform on [-5, 5], half log-uniform magnitudes 1e-20..1e20 with a random sign."""
    pts = []
    for i in range(n):
        if i % 2 == 0:
            pts.append(rng.uniform(-5.0, 5.0))
        else:
            pts.append(rng.choice((1.0, -1.0)) * 10.0 ** rng.uniform(-20.0, 20.0))
    return pts


def random_pow_pairs(rng: random.Random, n: int) -> list[tuple[float, float]]:
    """pow's random points: positive bases mostly (negative bases give nan)."""
    pairs = []
    for i in range(n):
        if i % 3 == 0:
            pairs.append((rng.uniform(-5.0, 5.0), float(rng.randint(-4, 4))))
        else:
            pairs.append((rng.uniform(0.0, 5.0), rng.uniform(-4.0, 4.0)))
    return pairs


# -- torch evaluation ---------------------------------------------------------------


def enc(x: float) -> str:
    """Exact text for a float: ``repr`` round-trips and keeps inf, nan and -0.0."""
    return repr(float(x))


def scalar(x: float, grad: bool = False) -> torch.Tensor:
    return torch.tensor(x, dtype=F64, requires_grad=grad)


def op_row(fn, args: list[float], differentiable: list[bool]) -> list[str]:
    """Evaluate ``fn`` at ``args`` and backprop each seed; the row of the table."""
    row = [enc(a) for a in args]
    result = None
    grads: list[str] = []
    for seed in SEEDS:
        tensors = [scalar(a, True) if d else a for a, d in zip(args, differentiable)]
        out = fn(*tensors)
        if out.dtype != F64 or out.dim() != 0:
            raise RuntimeError(f"{fn} gave {out.dtype} of shape {tuple(out.shape)}")
        out.backward(scalar(seed))
        value = out.item()
        if result is None:
            result = value
        elif enc(value) != enc(result):
            raise RuntimeError(f"{fn}{tuple(args)} is not deterministic")
        for t, d in zip(tensors, differentiable):
            if d:
                if t.grad is None:
                    raise RuntimeError(f"{fn}{tuple(args)}: torch gave no gradient")
                grads.append(enc(t.grad.item()))
    return [*row, enc(result), *grads]


def const_left(fn, name):
    """``c op x`` with the number ``c`` on the left, as torch evaluates it.

    ``pow`` has its own overload for a number base (``torch.pow(2.0, x)`` is what
    ``2.0 ** x`` calls). For the others the number is a constant 0-dim tensor: the
    op itself, true division included (PyTorch's ``c / x`` *operator* computes
    ``x.reciprocal() * c`` instead, which rounds differently; tapegrad's ``c / x``
    is the division row).
    """
    if name == "pow":
        return lambda x, c: torch.pow(c, x)
    return lambda x, c: fn(scalar(c), x)


def const_right(fn, name):
    """``x op c`` with the number ``c`` on the right (``x ** 2.0`` is ``pow.Tensor_Scalar``)."""
    return lambda x, c: fn(x, c)


# -- losses ------------------------------------------------------------------------

#: The losses of ``nn/losses.py`` written with log1p (issue 18 item 3), each as PyTorch
#: float64 computes it, as a function of the logit or score ``z`` and the label ``y``.
#: softplus is ``-logsigmoid(-z)``: ``F.softplus``'s default ``threshold=20`` returns
#: ``z`` itself above 20 (tapegrad keeps the ``log1p(e^-z)`` term, see its docstring).
#: logistic_loss is ``log(1 + e^(-2 y s))`` = ``-logsigmoid(2 y s)``.
LOSSES = {
    "softplus": (lambda z, y: -torch.nn.functional.logsigmoid(-z), [0.0]),
    "binary_cross_entropy_with_logits": (
        lambda z, y: torch.nn.functional.binary_cross_entropy_with_logits(z, scalar(y)),
        [0.0, 1.0, 0.25, 0.7],
    ),
    "logistic_loss": (
        lambda z, y: -torch.nn.functional.logsigmoid(2.0 * y * z),
        [-1.0, 1.0],
    ),
}
#: Logits beyond the common grid: where 1 + e^-|z| rounds to 1 (|z| > 36.7), where
#: F.softplus switches (20), where e^|z| overflows (709.78) and e^-|z| underflows.
LOSS_EDGES = [
    20.0,
    -20.0,
    30.0,
    -30.0,
    37.0,
    -37.0,
    40.0,
    -40.0,
    100.0,
    -100.0,
    1e-8,
    -1e-8,
    709.8,
    -709.8,
    745.2,
    -745.2,
    800.0,
    -800.0,
    1e20,
    -1e20,
]


def loss_cases() -> dict[str, dict]:
    """Every loss of :data:`LOSSES` at every label over the grid and random logits."""
    points = SPECIAL + ORDINARY + LOSS_EDGES + random_points(random.Random("losses"), 300)
    out = {}
    for name, (fn, labels) in LOSSES.items():
        out[name] = {
            "columns": "z, result, dz for each seed; one list per label",
            "labels": [enc(y) for y in labels],
            "cases": [
                [op_row(lambda z, y=y, fn=fn: fn(z, y), [z], [True]) for z in points]
                for y in labels
            ],
        }
    return out


#: ``(beta, threshold)`` pairs of ``F.softplus``: PyTorch's defaults, other betas, a
#: threshold below 0, at 0 and at ±inf (never and always switched), and one above the
#: overflow of ``e^{βz}`` (709.78 / β), where PyTorch's value is inf below the switch.
SOFTPLUS_PARAMETERS = [
    (1.0, 20.0),
    (2.0, 20.0),
    (0.5, 20.0),
    (10.0, 20.0),
    (0.1, 30.0),
    (1.0, 5.0),
    (3.0, 1.0),
    (1.0, 0.0),
    (1.0, -2.0),
    (1.0, INF),
    (0.3, -INF),
    (1.0, 800.0),
]


def softplus_cases() -> dict:
    """``F.softplus(z, beta, threshold)`` for every pair of :data:`SOFTPLUS_PARAMETERS`."""
    points = SPECIAL + ORDINARY + LOSS_EDGES + random_points(random.Random("softplus"), 100)
    cases = []
    for beta, threshold in SOFTPLUS_PARAMETERS:
        switch = threshold / beta  # z = switch is the last z of the log1p branch
        edges = [math.nextafter(switch, -INF), switch, math.nextafter(switch, INF)]
        pair = points + [z for z in edges if math.isfinite(z)]

        def fn(z, beta=beta, threshold=threshold):
            return torch.nn.functional.softplus(z, beta=beta, threshold=threshold)

        cases.append([op_row(fn, [z], [True]) for z in pair])
    return {
        "columns": "z, result, dz for each seed; one list per (beta, threshold)",
        "parameters": [[enc(b), enc(t)] for b, t in SOFTPLUS_PARAMETERS],
        "cases": cases,
    }


#: The sections ``--add`` can write into the committed table on their own.
SECTIONS = {"softplus": softplus_cases}


# -- random expression trees ---------------------------------------------------------

ALL_OPS = {**UNARY, **BINARY}
TREE_OPS = sorted(set(ALL_OPS) - set(LATER_ROWS))  # the first 300 trees' ops
TREE_CONSTANTS = [2.0, 3.0, 0.5, -1.0, 1.0, 0.0, -2.0, 1.5, 10.0]
SPECIAL_LEAVES = [0.0, -0.0, 1e-200, -1e-200, 1e200, -1e200, 1e-320, INF, -INF, 1.0, -1.0]


def apply_op(name: str, operands: list):
    """Apply op ``name`` in torch to tensors and Python numbers (numbers are constants)."""
    if name in UNARY:
        (x,) = operands
        return UNARY[name](x)
    if name not in BINARY:
        raise KeyError(f"make_golden.py has no torch function for op {name!r}")
    x, y = operands
    fn = BINARY[name]
    if isinstance(x, float):
        return const_left(fn, name)(y, x)
    if isinstance(y, float):
        return const_right(fn, name)(x, y)
    return fn(x, y)


def evaluate(program, leaves, perturb=None):
    """Run a tree program in torch. ``perturb[i]`` multiplies node i by (1 + it)."""
    nodes = list(leaves)
    for k, (name, *refs) in enumerate(program):
        operands = [nodes[r] if isinstance(r, int) else float(r) for r in refs]
        out = apply_op(name, operands)
        if perturb is not None:
            out = out * (1.0 + perturb[k])
        nodes.append(out)
    return nodes[-1]


def make_tree(rng: random.Random, special: bool, ops: list[str] = TREE_OPS):
    """A random program: several leaves, shared subexpressions, number constants.

    Each op reads the newest node or any earlier one (so nodes are shared); at the
    end every node nothing read yet is folded into the output with + or *, so every
    leaf matters. ``special`` trees start from special leaf values and may produce
    inf or nan; ordinary trees reject ops whose result is not finite or huge.
    """
    n_leaves = rng.randint(1, 4)
    if special:
        leaves = [
            rng.choice(SPECIAL_LEAVES) if rng.random() < 0.6 else rng.uniform(-3, 3)
            for _ in range(n_leaves)
        ]
    else:
        leaves = [rng.uniform(-3.0, 3.0) for _ in range(n_leaves)]
    values = [scalar(v) for v in leaves]
    program: list[list] = []
    used = [False] * n_leaves
    n_ops = rng.randint(2, 10)
    attempts = 0
    while len(program) < n_ops and attempts < 200:
        attempts += 1
        name = rng.choice(ops)
        first = len(values) - 1 if rng.random() < 0.5 else rng.randrange(len(values))
        if name in UNARY:
            refs = [first]
        else:
            r = rng.random()
            if r < 0.2:
                refs = [first, enc(rng.choice(TREE_CONSTANTS))]
            elif r < 0.3:
                refs = [enc(rng.choice(TREE_CONSTANTS)), first]
            else:
                refs = [first, rng.randrange(len(values))]
                if rng.random() < 0.5:
                    refs.reverse()
        operands = [values[r] if isinstance(r, int) else float(r) for r in refs]
        out = apply_op(name, operands)
        v = out.item()
        if not special and not (math.isfinite(v) and abs(v) < 1e6):
            continue
        program.append([name, *refs])
        values.append(out)
        used.append(False)
        for r in refs:
            if isinstance(r, int):
                used[r] = True
    # fold every unread node into the output
    loose = [i for i, u in enumerate(used) if not u and i != len(values) - 1]
    for i in loose:
        program.append([rng.choice(("add", "mul")), len(values) - 1, i])
        values.append(apply_op(program[-1][0], [values[-1], values[i]]))
    return leaves, program


def tree_grads(program, leaves, perturb=None):
    xs = [scalar(v, True) for v in leaves]
    out = evaluate(program, xs, perturb)
    if not out.requires_grad:  # a constant tree
        return out.item(), [0.0] * len(xs)
    out.backward()
    return out.item(), [0.0 if x.grad is None else x.grad.item() for x in xs]


def tree_hessian(program, leaves, perturb=None):
    xs = tuple(scalar(v) for v in leaves)
    h = torch.autograd.functional.hessian(lambda *a: evaluate(program, a, perturb), xs)
    return [[h[i][j].item() for j in range(len(xs))] for i in range(len(xs))]


def same_class(a: float, b: float) -> bool:
    """Same float up to rounding: equal specials (inf sign, nan, zero sign), or both finite."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b) or a == 0.0 or b == 0.0:
        return enc(a) == enc(b)
    return True


#: Relative spread a kept tree's results may show when every intermediate result is
#: perturbed by a few ulp; test_golden.py allows 100 times this.
CONDITION_RTOL = 1e-13


def conditioned(compute, program, leaves, rng: random.Random, runs: int = 6) -> bool:
    """True if ``compute`` gives the same specials and nearly the same finite values when
    each op's result is multiplied by ``1 + d`` with ``|d| <= 4 * 2**-53`` -- a stand-in
    for an engine that rounds differently (another libm, another formula order)."""
    base = flatten(compute(program, leaves))
    for _ in range(runs):
        d = [rng.uniform(-4.0, 4.0) * 2.0**-53 for _ in program]
        other = flatten(compute(program, leaves, d))
        for a, b in zip(base, other):
            if not same_class(a, b):
                return False
            if math.isfinite(a) and a != 0.0 and abs(a - b) > CONDITION_RTOL * abs(a):
                return False
    return True


def flatten(x) -> list[float]:
    if isinstance(x, (list, tuple)):
        return [y for item in x for y in flatten(item)]
    return [float(x)]


# -- writing --------------------------------------------------------------------------


def dump(obj, indent: int = 0) -> str:
    """JSON with one table row per line: lists of scalars stay on one line."""
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad}  {json.dumps(k)}: {dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(obj, list) and any(isinstance(v, (list, dict)) for v in obj):
        items = [f"{pad}  {dump(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(obj, separators=(",", ":"))


def engine_row_names() -> set[str] | None:
    """The names of the engine's op rows, read from ``engine/ops.py`` without installing
    tapegrad (the file is loaded on its own; only ``OPS``' keys are used). None if it
    cannot be loaded that way."""
    import importlib.util

    path = Path(__file__).resolve().parents[3] / "engine" / "ops.py"
    spec = importlib.util.spec_from_file_location("_tapegrad_ops_names", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        return set(module.OPS)
    except Exception as e:  # e.g. a relative import: test_golden.py still checks
        print(f"note: could not read the op names from {path}: {e!r}")
        return None
    finally:
        del sys.modules[spec.name]


def add_section(name: str) -> None:
    """Compute the section ``name`` alone and write it into the committed table."""
    if name not in SECTIONS:
        sys.exit(f"--add takes one of {', '.join(SECTIONS)}, got {name!r}")
    table = json.loads(OUT.read_text())
    table[name] = SECTIONS[name]()
    OUT.write_text(dump(table) + "\n")
    print(f"wrote section {name!r} into {OUT}; {OUT.stat().st_size} bytes")


def main(argv: list[str] | None = None) -> None:
    """Write the whole table; ``argv`` ``["--add", NAME]``: only the section ``NAME``."""
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        sys.exit(f"make_golden.py needs torch=={TORCH_VERSION}, found {torch.__version__}")
    torch.set_default_dtype(F64)
    if argv:
        if len(argv) != 2 or argv[0] != "--add":
            sys.exit("usage: make_golden.py [--add SECTION]")
        add_section(argv[1])
        return
    rows = engine_row_names()
    if rows is not None and rows - set(ALL_OPS):
        sys.exit(
            f"engine rows without a torch function here: {sorted(rows - set(ALL_OPS))}; "
            "add them to UNARY or BINARY"
        )
    rng = random.Random(20261129)

    ops: dict[str, dict] = {}
    for name, fn in UNARY.items():
        op_rng = random.Random(name) if name in LATER_ROWS else rng
        points = unary_grid(name) + random_points(op_rng, 300)
        ops[name] = {
            "arity": 1,
            "columns": "x, result, dx for each seed",
            "cases": [op_row(fn, [x], [True]) for x in points],
        }
    for name, fn in BINARY.items():
        grid = binary_grid(name)
        pairs = [(x, y) for x in grid for y in grid]
        if name == "pow":
            pairs += random_pow_pairs(rng, 300)
        else:
            xs, ys = random_points(rng, 300), random_points(rng, 300)
            pairs += list(zip(xs, ys))
        ops[name] = {
            "arity": 2,
            "columns": "x, y, result, dx and dy for each seed",
            "cases": [op_row(fn, [x, y], [True, True]) for x, y in pairs],
        }

    constants: dict[str, dict] = {}
    for name, fn in BINARY.items():
        grid = binary_grid(name)
        right, left = const_right(fn, name), const_left(fn, name)
        constants[name] = {
            "columns": "x, c, result, dx for each seed",
            "x op c": [op_row(right, [x, c], [True, False]) for x in grid for c in grid],
            "c op x": [op_row(left, [x, c], [True, False]) for x in grid for c in grid],
        }

    trees = []
    n_special = n_rejected = 0
    tree_rng = random.Random(11)
    while len(trees) < 300:
        special = len(trees) % 5 == 4
        leaves, program = make_tree(tree_rng, special)
        if not conditioned(tree_grads, program, leaves, tree_rng):
            n_rejected += 1
            continue
        out, grads = tree_grads(program, leaves)
        n_special += special
        trees.append(
            {
                "leaves": [enc(v) for v in leaves],
                "program": program,
                "result": enc(out),
                "grad": [enc(g) for g in grads],
            }
        )
    # Hessians: 50 of ordinary trees (finite), up to 10 of special-leaf trees (inf,
    # nan and masked edges at second order), then the named trees'.
    n_hessians = n_special_hessians = 0
    for n, tree in enumerate(trees):
        leaves = [float(v) for v in tree["leaves"]]
        special = n % 5 == 4  # as make_tree was told above
        if len(leaves) < 2 or (n_special_hessians if special else n_hessians) == (
            10 if special else 50
        ):
            continue
        if not conditioned(tree_hessian, tree["program"], leaves, tree_rng):
            continue
        h = tree_hessian(tree["program"], leaves)
        if not special and not all(math.isfinite(v) for v in flatten(h)):
            continue
        tree["hessian"] = [[enc(v) for v in row] for row in h]
        if special:
            n_special_hessians += 1
        else:
            n_hessians += 1

    # Trees through the rows added later (LATER_ROWS), from their own generator so the
    # first 300 stay as drawn: 40 that use one of them, each with its Hessian if
    # well-conditioned.
    later_rng = random.Random("later rows")
    n_later = 0
    while n_later < 40:
        leaves, program = make_tree(later_rng, n_later % 5 == 4, sorted(ALL_OPS))
        if not any(instr[0] in LATER_ROWS for instr in program):
            continue
        if not conditioned(tree_grads, program, leaves, later_rng):
            n_rejected += 1
            continue
        out, grads = tree_grads(program, leaves)
        tree = {
            "leaves": [enc(v) for v in leaves],
            "program": program,
            "result": enc(out),
            "grad": [enc(g) for g in grads],
        }
        finite = all(math.isfinite(v) for v in leaves)
        if finite and len(leaves) >= 2 and conditioned(tree_hessian, program, leaves, later_rng):
            h = tree_hessian(program, leaves)
            if all(math.isfinite(v) for v in flatten(h)):
                tree["hessian"] = [[enc(v) for v in row] for row in h]
                n_hessians += 1
        trees.append(tree)
        n_later += 1

    for note, leaves, program in NAMED_TREES:
        out, grads = tree_grads(program, leaves)
        if not conditioned(tree_grads, program, leaves, tree_rng):
            sys.exit(f"named tree {note!r} is ill-conditioned")
        trees.append(
            {
                "note": note,
                "leaves": [enc(v) for v in leaves],
                "program": program,
                "result": enc(out),
                "grad": [enc(g) for g in grads],
                "hessian": [[enc(v) for v in row] for row in tree_hessian(program, leaves)],
            }
        )
        n_hessians += 1

    table = {
        "about": "PyTorch float64 results and derivatives; written by make_golden.py, "
        "read by tests/engine/test_golden.py. Floats are Python repr strings.",
        "torch": torch.__version__,
        "seeds": [enc(s) for s in SEEDS],
        "condition_rtol": CONDITION_RTOL,
        "ops": ops,
        "constants": constants,
        "trees": trees,
        "losses": loss_cases(),
        "softplus": softplus_cases(),
    }
    OUT.write_text(dump(table) + "\n")
    n_cases = sum(len(o["cases"]) for o in ops.values())
    n_const = sum(len(c["x op c"]) + len(c["c op x"]) for c in constants.values())
    print(
        f"wrote {OUT}: {n_cases} op cases, {n_const} number-operand cases, "
        f"{len(trees)} trees ({n_special} from special leaves, {n_rejected} ill-conditioned "
        f"rejected), {len(NAMED_TREES)} named trees, {n_hessians} Hessians "
        f"(and {n_special_hessians} of special-leaf trees); {OUT.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
