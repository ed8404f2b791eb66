"""Benchmark batched replay (engine.vmap) against the other ways to train on a batch.

The workload: ``MLP(2, [16, 16, 1])`` (ReLU hidden units, 337 parameters) with the
mean hinge loss ``max(0, 1 − y s)`` over ``B`` two-moons points -- the loss and the
gradient of every parameter, one training step without the update -- at ``B`` =
100, 1,000 and 10,000, through:

* **plain** -- Python floats, forward and a hand-written backward pass, one sample
  after another: the floor for any scalar engine written in CPython;
* **replay** -- ``engine.compile``: the whole batch's tape recorded once, rerun as
  straight-line float code (its recording is reported apart; at B = 10,000 the tape
  of 6.4 million entries is not recorded: it would take minutes and gigabytes);
* **eager** -- the engine as a student uses it: build the batch's graph, ``backward()``;
* **vmap** -- ``engine.vmap(..., lift=False)``: one sample's graph recorded once,
  replayed over the batch with one numpy operation per tape entry (recording reported
  apart);
* **lifted** -- ``engine.vmap`` as it runs by default: the recorded tape lifted into
  the lecture's blocks (``engine.lift``: a layer one matrix product), about forty
  numpy calls per step, forward and backward;
* **numpy** -- the same network written with matrix products (``X @ W``), by hand;
* **torch** -- PyTorch float64 tensors and autograd, when ``torch`` is importable.

Before timing, the script checks that all of them agree on the loss and on every
gradient (within 1e-9 relative: they add in different orders). After the table it
prints the lifted step's ratios to the hand-written numpy version and its speed-up
over plain floats, the issue's targets beside them. Times are CPU time
per step (median of repeats), reported as **ns per node-sample**: per op result of
one sample's graph (644 ops) and per sample, so the columns compare across ``B``;
each ratio is to the plain-float floor of the same ``B``. numpy and torch run on
one thread (the variables below are set before either is imported), as the
scalar implementations do.

    python benchmarks/batched.py            # the full run, a few minutes
    python benchmarks/batched.py --quick    # B = 100 and 1,000 only
    python benchmarks/batched.py --skip replay,eager   # without the slowest columns
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plain_mlp import hinge_loss_and_grads  # noqa: E402

from tapegrad import engine  # noqa: E402
from tapegrad.engine import Value  # noqa: E402
from tapegrad.nn import MLP, losses, moons  # noqa: E402

SIZES = (2, 16, 16, 1)
#: At most this many timed steps per implementation and B, within ``--budget``: a
#: step of 0.1 ms gets hundreds (25 made the median of the fast columns drift by 30%
#: between runs on a loaded machine), a plain-float step of 0.5 s a few.
MAX_REPEATS = 1_000


def data(batch: int, seed: int = 0):
    """``batch`` two-moons points and their ±1 labels."""
    X, y = moons(batch, seed=seed)
    return [list(map(float, x)) for x in X], [float(t) for t in y]


def initial_weights(seed: int = 1337):
    """Per layer: a list of (weights, bias) per neuron; uniform(-1, 1), biases 0.1."""
    rng = random.Random(seed)
    return [
        [([rng.uniform(-1, 1) for _ in range(nin)], 0.1) for _ in range(nout)]
        for nin, nout in itertools.pairwise(SIZES)
    ]


def flat(weights) -> list[float]:
    """Every parameter in nn.MLP's order: per neuron, its weights then its bias."""
    return [v for layer in weights for w, b in layer for v in (*w, b)]


def tapegrad_model(weights) -> MLP:
    model = MLP(SIZES[0], list(SIZES[1:]), rng=random.Random(0))
    for p, v in zip(model.parameters(), flat(weights)):
        p.data = v
    return model


def engine_setup(weights, X):
    """The engine's model, its parameters and the batch's inputs as leaf Values."""
    model = tapegrad_model(weights)
    return model, model.parameters(), [[Value(v) for v in x] for x in X]


def mean_hinge(model, inputs, y):
    """The batch's mean hinge loss, as one graph."""
    return losses.mean([losses.hinge(model(x), t) for x, t in zip(inputs, y)])


# -- the implementations: each returns (make_step, result) ------------------------------
# make_step(X, y) prepares (recording, converting data) and returns a step(); a step
# computes the loss and the gradients; result(step_output) gives (loss, gradients).


def plain(weights):
    """Floats and a hand-written backward pass, sample after sample."""

    def make(X, y):
        W = [[list(w) for w, _ in layer] for layer in weights]
        B = [[b for _, b in layer] for layer in weights]

        def step():
            total, gW, gB = hinge_loss_and_grads(W, B, X, y)
            return total * (1.0 / len(X)), [
                v for gl, gb in zip(gW, gB) for gw, b in zip(gl, gb) for v in (*gw, b)
            ]

        return step

    return make, lambda out: out


def eager(weights):
    """The engine as a student uses it: the batch's graph, then backward()."""

    def make(X, y):
        model, params, inputs = engine_setup(weights, X)

        def step():
            model.zero_grad()
            loss = mean_hinge(model, inputs, y)
            loss.backward()
            return loss.data, [p.grad for p in params]

        return step

    return make, lambda out: out


def replay(weights):
    """engine.compile: the batch's tape recorded once, replayed as float code."""

    def make(X, y):
        model, params, inputs = engine_setup(weights, X)
        compiled = engine.compile(lambda: mean_hinge(model, inputs, y), params)

        def step():
            model.zero_grad()
            return compiled(), [p.grad for p in params]

        return step

    return make, lambda out: out


def vmap(weights, lift=False):
    """engine.vmap: one sample's tape, replayed over the batch with numpy, one operation
    per tape entry (``lift=True``: the lifted program, vmap's default)."""

    def make(X, y):
        model = tapegrad_model(weights)
        params = model.parameters()
        step_of = engine.vmap(lambda x, t: losses.hinge(model(x), t), params, lift=lift)
        Xa, ya = np.asarray(X), np.asarray(y)
        step_of.record(Xa, ya)

        def step():
            engine.zero_grad(params)  # (Module.zero_grad walks the modules: slower)
            step_of(Xa, ya)
            return step_of.loss, params  # gradients read after the timing

        return step

    return make, lambda out: (out[0], [p.grad for p in out[1]])


def lifted(weights):
    """engine.vmap as it runs by default: the lifted program (engine.lift)."""
    return vmap(weights, lift=True)


def matrix_result(out):
    """(loss, gradients in nn.MLP's order) from (loss, [(gW (nin, nout), gb (nout,))])."""
    loss, grads = out
    return loss, [v for gW, gb in grads for j in range(len(gb)) for v in (*gW[:, j], gb[j])]


def numpy_matrices(weights):
    """The network with matrix products and a hand-written backward pass."""

    def make(X, y):
        Ws = [np.array([w for w, _ in layer]).T for layer in weights]  # (nin, nout)
        Bs = [np.array([b for _, b in layer]) for layer in weights]
        Xa, ya = np.asarray(X), np.asarray(y)
        n = len(X)

        def step():
            acts, pres, a = [Xa], [], Xa
            for i, (W, b) in enumerate(zip(Ws, Bs)):
                pre = a @ W + b
                pres.append(pre)
                a = pre if i == len(Ws) - 1 else np.maximum(pre, 0.0)
                acts.append(a)
            margin = 1.0 - ya * a[:, 0]
            loss = np.maximum(margin, 0.0).sum() / n
            upstream = np.where(margin > 0.0, -ya / n, 0.0)[:, None]
            grads = [None] * len(Ws)
            for i in range(len(Ws) - 1, -1, -1):
                if i != len(Ws) - 1:
                    upstream = np.where(pres[i] > 0.0, upstream, 0.0)
                grads[i] = (acts[i].T @ upstream, upstream.sum(axis=0))
                upstream = upstream @ Ws[i].T
            return loss, grads

        return step

    return make, matrix_result


def torch_tensors(weights):
    """PyTorch float64 tensors and autograd (one thread)."""
    import torch

    torch.set_num_threads(1)

    def make(X, y):
        Ws = [
            torch.tensor([w for w, _ in layer], dtype=torch.float64).T.contiguous().requires_grad_()
            for layer in weights
        ]
        Bs = [
            torch.tensor([b for _, b in layer], dtype=torch.float64).requires_grad_()
            for layer in weights
        ]
        Xt = torch.tensor(X, dtype=torch.float64)
        yt = torch.tensor(y, dtype=torch.float64)

        def step():
            for p in (*Ws, *Bs):
                p.grad = None
            a = Xt
            for i, (W, b) in enumerate(zip(Ws, Bs)):
                a = a @ W + b
                if i != len(Ws) - 1:
                    a = torch.relu(a)
            loss = torch.relu(1.0 - yt * a[:, 0]).mean()
            loss.backward()
            return loss.item(), [(W.grad.numpy(), b.grad.numpy()) for W, b in zip(Ws, Bs)]

        return step

    return make, matrix_result


def implementations() -> dict:
    impls = {
        "plain": plain,
        "replay": replay,
        "eager": eager,
        "vmap": vmap,
        "lifted": lifted,
        "numpy": numpy_matrices,
    }
    try:
        import torch  # noqa: F401

        impls["torch"] = torch_tensors
    except ImportError:
        pass
    return impls


def nodes_per_sample() -> int:
    """The op results of one sample's graph (leaves and numbers are not nodes)."""
    model = tapegrad_model(initial_weights())
    loss = losses.hinge(model([Value(0.1), Value(0.2)]), Value(1.0))
    return sum(1 for v in engine.topological_order(loss) if not v.is_leaf)


def agree(results: dict) -> None:
    """Exit naming the first implementation that disagrees with plain floats."""
    loss, grads = results["plain"]
    for name, (other_loss, other_grads) in results.items():
        pairs = [(loss, other_loss), *zip(grads, other_grads)]
        if len(other_grads) != len(grads) or not all(
            math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs
        ):
            sys.exit(f"{name} disagrees with plain floats on the loss or a gradient")


def run_all(batch: int, names=None) -> dict:
    """Every implementation's (loss, gradients) on one batch (for the agreement check)."""
    X, y = data(batch)
    weights = initial_weights()
    out = {}
    for name, impl in implementations().items():
        if names is not None and name not in names:
            continue
        make, result = impl(weights)
        out[name] = result(make(X, y)())
    return out


def cpu_time(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(make, X, y, budget: float) -> tuple[float, float]:
    """(seconds to prepare, median seconds per step) within about ``budget`` seconds."""
    gc.collect()
    prepared = []
    setup = cpu_time(lambda: prepared.append(make(X, y)))
    step = prepared[0]
    times = [cpu_time(step)]
    while sum(times) < budget and len(times) < MAX_REPEATS:
        times.append(cpu_time(step))
    return setup, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="B = 100 and 1,000 only")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per timing")
    parser.add_argument(
        "--skip",
        default="",
        help="implementations not to time, comma-separated (plain, lifted and numpy are "
        "always timed: the ratios need them)",
    )
    args = parser.parse_args()
    batches = (100, 1_000) if args.quick else (100, 1_000, 10_000)
    nodes = nodes_per_sample()
    impls = implementations()
    skip = {name for name in args.skip.split(",") if name}
    needed = {"plain", "lifted", "numpy"}
    if skip - set(impls) or skip & needed:
        optional = ", ".join(n for n in impls if n not in needed)
        parser.error(f"--skip takes names among {optional}, got {args.skip!r}")
    impls = {name: impl for name, impl in impls.items() if name not in skip}
    print(
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.machine()}, one thread; "
        f"{nodes} nodes per sample; CPU time per step (median)"
    )
    agree(run_all(20))
    weights = initial_weights()
    rows = []
    for batch in batches:
        X, y = data(batch)
        agree(run_all(batch, names=[n for n in impls if n not in ("replay", "eager")]))
        per = {}
        setups = {}
        for name, impl in impls.items():
            if name == "replay" and batch > 1_000:
                continue  # a 6.4-million-entry tape: minutes and gigabytes to record
            make, _ = impl(weights)
            setups[name], per[name] = measure(make, X, y, args.budget)
            print(
                f"B={batch:>6,} {name:>7}: {per[name] * 1e3:10.2f} ms per step "
                f"({setups[name]:.3f} s to prepare)",
                file=sys.stderr,
            )
        rows.append((batch, per, setups))
    names = list(impls)
    print()
    print("| B | " + " | ".join(f"{n} ns/node-sample" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for batch, per, _ in rows:
        cells = []
        for n in names:
            if n not in per:
                cells.append("not run")
                continue
            ns = per[n] / (nodes * batch) * 1e9
            ratio = per[n] / per["plain"]
            cells.append(f"{ns:,.1f} ({ratio:.3g}×)")
        print(f"| {batch:,} | " + " | ".join(cells) + " |")
    print()
    print("(×: time relative to plain floats at the same B; below 1 is faster.)")
    print()
    print("| B | lifted | numpy | lifted / numpy | target | plain / lifted | target |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for batch, per, _ in rows:
        within = 3.0 if batch < 1_000 else 1.5
        speedup = per["plain"] / per["lifted"]
        print(
            f"| {batch:,} | {per['lifted'] * 1e3:.3f} ms | {per['numpy'] * 1e3:.3f} ms "
            f"| {per['lifted'] / per['numpy']:.2f}x | <= {within}x | {speedup:,.0f}x "
            f"| {'>= 100x' if batch >= 10_000 else '-'} |"
        )
    for batch, _, setups in rows:
        recorded = ", ".join(
            f"{n} {setups[n]:.3f} s" for n in ("vmap", "lifted", "replay") if n in setups
        )
        print(f"B = {batch:,}: recording {recorded}")


if __name__ == "__main__":
    main()
