"""Benchmark tapegrad against micrograd and the plain-float floor, in one run.

    python benchmarks/bench.py           # the full run (a few minutes on 2 cores)
    python benchmarks/bench.py --quick   # a smoke run with small sizes (seconds)

Every workload runs the same computation three ways:

* **tapegrad** -- ``engine.Value`` (and ``nn.MLP`` for the training step);
* **micrograd** -- PyPI ``micrograd==0.1.0`` (the ``bench`` extra). It has only
  ``+ * ** relu``; ``tanh`` is added here in its own closure style;
* **plain** -- Python floats with hand-derived gradients and no graph objects: the
  floor for CPython, what any scalar engine pays on top of the arithmetic.

The three are first checked to agree on values and gradients; then each is timed,
build + backward (+ update for training), with the cyclic garbage collector ON, as
users run it. A *node* is one op result (``x*1.0001`` is one node; leaves and
constants are not nodes). Times are CPU time of this process, medians over
repeats, in ns per node; the implementations take turns within each repeat so that
they share the machine's state. The training step also runs through tape replay
(``engine.compile``: the graph recorded once, then only floats). Memory is measured
with ``tracemalloc`` on a live graph before backward.

micrograd's ``backward`` is recursive: it needs ``sys.setrecursionlimit`` raised
for the deep chains (done here for its timings only); the depth row shows what it
reaches at the default limit.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc

from tapegrad import engine
from tapegrad.engine import Value

try:
    from micrograd.engine import Value as MGValue
except ImportError:  # pragma: no cover - the bench extra is missing
    sys.exit("benchmarks need micrograd: pip install -e '.[bench]'  (micrograd==0.1.0)")

from tapegrad import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plain_mlp import hinge_loss_and_grads

DEFAULT_RECURSION_LIMIT = sys.getrecursionlimit()

# -- micrograd's missing tanh, in micrograd's own closure style ------------------------


def mg_tanh(x: MGValue) -> MGValue:
    t = math.tanh(x.data)
    out = MGValue(t, (x,), "tanh")

    def _backward():
        x.grad += (1 - t * t) * out.grad

    out._backward = _backward
    return out


def tg_tanh(x: Value) -> Value:
    return x.tanh()


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def check(name: str, results: dict[str, tuple[float, list[float]]]) -> None:
    """Every implementation's (value, gradients) must agree with tapegrad's."""
    ref_value, ref_grads = results["tapegrad"]
    for impl, (value, grads) in results.items():
        ok = close(value, ref_value) and len(grads) == len(ref_grads)
        ok = ok and all(close(g, r) for g, r in zip(grads, ref_grads))
        if not ok:
            raise SystemExit(
                f"{name}: {impl} disagrees with tapegrad (value {value} vs {ref_value})"
            )


def timed(fn) -> float:
    """CPU seconds for one call of fn, the garbage collector on, from a clean heap.

    CPU time of this process (``time.process_time``), so that other programs on the
    machine do not count. What fn returns (the graph) is freed after the clock stops:
    build + backward is timed, not freeing (micrograd's graphs are cycles that only
    the garbage collector frees, later).
    """
    gc.collect()
    start = time.process_time()
    result = fn()
    elapsed = time.process_time() - start
    del result
    return elapsed


# -- workload 1: the deep chain x = tanh(x * 1.0001 + 0.001) ----------------------------


# Each returns (value, gradients, the graph); the graph is freed after timing.


def chain_tapegrad(n: int):
    x0 = Value(0.5)
    x = x0
    for _ in range(n):
        x = (x * 1.0001 + 0.001).tanh()
    x.backward()
    return x.data, [x0.grad], x


def chain_micrograd(n: int):
    x0 = MGValue(0.5)
    x = x0
    for _ in range(n):
        x = mg_tanh(x * 1.0001 + 0.001)
    x.backward()
    return x.data, [x0.grad], x


def chain_plain(n: int):
    x = 0.5
    outputs = []
    for _ in range(n):
        x = math.tanh(x * 1.0001 + 0.001)
        outputs.append(x)
    grad = 1.0
    for t in reversed(outputs):
        grad = grad * (1.0 - t * t) * 1.0001  # d tanh(u)/du · du/dx
    return x, [grad], outputs


# -- workload 2: wide, sum of a_i * b_i ---------------------------------------------------


def wide_inputs(n: int) -> tuple[list[float], list[float]]:
    rng = random.Random(2)
    return [rng.uniform(-1, 1) for _ in range(n)], [rng.uniform(-1, 1) for _ in range(n)]


def _wide_graph(value_class):
    """The wide workload for a Value class (tapegrad's or micrograd's): Σ a_i·b_i."""

    def setup(a: list[float], b: list[float]):
        av, bv = [value_class(x) for x in a], [value_class(x) for x in b]

        def run():
            s = sum(x * y for x, y in zip(av, bv))
            s.backward()
            return s

        return run, lambda s: (s.data, [v.grad for v in av] + [v.grad for v in bv])

    return setup


wide_tapegrad = _wide_graph(Value)
wide_micrograd = _wide_graph(MGValue)


def wide_plain(a: list[float], b: list[float]):
    def run():
        s = 0.0
        for x, y in zip(a, b):
            s += x * y
        # d/da_i = b_i, d/db_i = a_i: the backward pass of a sum of products
        grads_a = [y * 1.0 for y in b]
        grads_b = [x * 1.0 for x in a]
        return s, grads_a + grads_b

    return run, lambda r: r


# -- workload 3: micrograd's demo training step ----------------------------------------


def two_moons(n: int = 100, noise: float = 0.1, seed: int = 1):
    """Two interleaving half circles, labels -1 / +1 (sklearn's make_moons, by hand)."""
    rng = random.Random(seed)
    n_outer = n // 2
    X, y = [], []
    for i in range(n):
        if i < n_outer:
            t = math.pi * i / max(n_outer - 1, 1)
            point, label = (math.cos(t), math.sin(t)), -1.0
        else:
            t = math.pi * (i - n_outer) / max(n - n_outer - 1, 1)
            point, label = (1.0 - math.cos(t), 0.5 - math.sin(t)), 1.0
        X.append([point[0] + rng.gauss(0, noise), point[1] + rng.gauss(0, noise)])
        y.append(label)
    return X, y


SIZES = (2, 16, 16, 1)
ALPHA = 1e-4


def initial_weights(seed: int = 1337):
    """Per layer, per neuron: (weights, bias), micrograd's init (uniform, bias 0)."""
    rng = random.Random(seed)
    return [
        [([rng.uniform(-1, 1) for _ in range(nin)], 0.0) for _ in range(nout)]
        for nin, nout in itertools.pairwise(SIZES)
    ]


def margin_loss(model, X, y, wrap):
    """micrograd's demo loss: mean hinge loss on the scores + 1e-4 · Σ p²."""
    inputs = [list(map(wrap, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * score).relu() for yi, score in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def lr_at(k: int) -> float:
    return 1.0 - 0.9 * (k % 100) / 100


class TapegradMLP:
    """nn.MLP(2, [16, 16, 1]) with the shared initial weights."""

    def __init__(self, weights):
        self.model = nn.MLP(SIZES[0], list(SIZES[1:]), rng=random.Random(0))
        for layer, spec in zip(self.model.layers, weights):
            for neuron, (w, b) in zip(layer.neurons, spec):
                for wi, value in zip(neuron.w, w):
                    wi.data = value
                neuron.b.data = b
        self.params = [p for layer in self.model.layers for n in layer.neurons for p in (*n.w, n.b)]

    def loss(self, X, y):
        return margin_loss(self.model, X, y, Value)

    def step(self, X, y, k):
        loss = self.loss(X, y)
        self.model.zero_grad()
        loss.backward()
        lr = lr_at(k)
        for p in self.params:
            p.data -= lr * p.grad
        return loss.data


class ReplayMLP(TapegradMLP):
    """The same model, its loss recorded once and replayed every step."""

    def __init__(self, weights, X, y):
        super().__init__(weights)
        self.compiled = engine.compile(lambda: self.loss(X, y), self.params)

    def step(self, X, y, k):
        self.model.zero_grad()
        loss = self.compiled()
        lr = lr_at(k)
        for p in self.params:
            p.data -= lr * p.grad
        return loss


class MicrogradMLP:
    def __init__(self, weights):
        from micrograd.nn import MLP

        self.model = MLP(SIZES[0], list(SIZES[1:]))
        for layer, spec in zip(self.model.layers, weights):
            for neuron, (w, b) in zip(layer.neurons, spec):
                for wi, value in zip(neuron.w, w):
                    wi.data = value
                neuron.b.data = b
        self.params = self.model.parameters()

    def step(self, X, y, k):
        loss = margin_loss(self.model, X, y, MGValue)
        self.model.zero_grad()
        loss.backward()
        lr = lr_at(k)
        for p in self.params:
            p.data -= lr * p.grad
        return loss.data


class PlainMLP:
    """The same network with floats and a hand-written backward pass."""

    def __init__(self, weights):
        self.W = [[list(w) for w, _ in layer] for layer in weights]
        self.B = [[b for _, b in layer] for layer in weights]

    def loss_and_grads(self, X, y):
        W, B = self.W, self.B
        data_loss, gW, gB = hinge_loss_and_grads(W, B, X, y)
        scale = 1.0 / len(X)
        reg = 0.0
        for layer, glayer, biases, gbiases in zip(W, gW, B, gB):
            for w, gw in zip(layer, glayer):
                for k, wk in enumerate(w):
                    reg += wk * wk
                    gw[k] += ALPHA * 2.0 * wk
            for j, b in enumerate(biases):
                reg += b * b
                gbiases[j] += ALPHA * 2.0 * b
        return data_loss * scale + ALPHA * reg, gW, gB

    def flat(self, gW, gB):
        return [
            g for glayer, gbias in zip(gW, gB) for gw, gb in zip(glayer, gbias) for g in (*gw, gb)
        ]

    def step(self, X, y, k):
        loss, gW, gB = self.loss_and_grads(X, y)
        lr = lr_at(k)
        for layer, glayer in zip(self.W, gW):
            for w, gw in zip(layer, glayer):
                for j, g in enumerate(gw):
                    w[j] -= lr * g
        for biases, gbiases in zip(self.B, gB):
            for j, g in enumerate(gbiases):
                biases[j] -= lr * g
        return loss


# -- memory and depth ------------------------------------------------------------------


def bytes_per_node(build, nodes: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    graph = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del graph
    return (after - before) / nodes


def chain_graph_tapegrad(n: int):
    x = Value(0.5)
    for _ in range(n):
        x = (x * 1.0001 + 0.001).tanh()
    return x


def chain_graph_micrograd(n: int):
    x = MGValue(0.5)
    for _ in range(n):
        x = mg_tanh(x * 1.0001 + 0.001)
    return x


def chain_graph_plain(n: int):
    # what the hand-written backward keeps: every tanh output
    x, outputs = 0.5, []
    for _ in range(n):
        x = math.tanh(x * 1.0001 + 0.001)
        outputs.append(x)
    return outputs


def completes(run) -> bool:
    try:
        run()
    except RecursionError:
        return False
    return True


def largest_micrograd_chain(limit: int) -> int:
    """The largest chain of nodes micrograd backpropagates at the default recursion limit."""

    def run(nodes):
        x = MGValue(0.5)
        for _ in range(nodes):
            x = x * 1.0001
        x.backward()

    low, high = 1, limit
    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
    try:
        while low < high:
            mid = (low + high + 1) // 2
            if completes(lambda mid=mid: run(mid)):
                low = mid
            else:
                high = mid - 1
    finally:
        sys.setrecursionlimit(10**7)
    return low


def tapegrad_chain_completes(nodes: int) -> bool:
    def run():
        x = Value(0.5)
        for _ in range(nodes):
            x = x * 1.0001
        x.backward()

    sys.setrecursionlimit(DEFAULT_RECURSION_LIMIT)
    try:
        return completes(run)
    finally:
        sys.setrecursionlimit(10**7)


# -- the run ---------------------------------------------------------------------------


def median_ns(times: list[float], nodes: int) -> float:
    return statistics.median(times) / nodes * 1e9


def bench_timings(args) -> list[dict]:
    rows = []
    sys.setrecursionlimit(10**7)  # micrograd's recursive topological sort

    for n in args.chains:
        impls = {"tapegrad": chain_tapegrad, "micrograd": chain_micrograd, "plain": chain_plain}
        check(f"chain {n}", {name: f(n)[:2] for name, f in impls.items()})
        times = {name: [] for name in impls}
        for _ in range(args.repeats):
            for name, f in impls.items():
                times[name].append(timed(lambda f=f, n=n: f(n)))
        rows.append(row(f"deep chain, N = {n:,}", 3 * n, times))

    a, b = wide_inputs(args.wide)
    impls = {"tapegrad": wide_tapegrad, "micrograd": wide_micrograd, "plain": wide_plain}
    runs = {name: make(a, b) for name, make in impls.items()}
    check("wide", {name: result(run()) for name, (run, result) in runs.items()})
    times = {name: [] for name in impls}
    for _ in range(args.repeats):
        for name, (run, _) in runs.items():
            times[name].append(timed(run))
    rows.append(row(f"wide: Σ a_i·b_i, N = {args.wide:,}", 2 * args.wide, times))

    X, y = two_moons(100)
    weights = initial_weights()
    tg = TapegradMLP(weights)
    loss = tg.loss(X, y)
    order = engine.topological_order(loss)
    nodes = sum(1 for v in order if not v.is_leaf)
    # agreement: one step's loss and gradients
    loss.backward()
    plain = PlainMLP(weights)
    plain_loss, gW, gB = plain.loss_and_grads(X, y)
    mg = MicrogradMLP(weights)
    mg_loss = margin_loss(mg.model, X, y, MGValue)
    mg_loss.backward()
    replay = ReplayMLP(weights, X, y)
    replay_loss = replay.compiled()
    check(
        "training step",
        {
            "tapegrad": (loss.data, [p.grad for p in tg.params]),
            "micrograd": (mg_loss.data, [p.grad for p in mg.params]),
            "plain": (plain_loss, plain.flat(gW, gB)),
            "replay": (replay_loss, [p.grad for p in replay.params]),
        },
    )
    models = {
        "tapegrad": TapegradMLP(weights),
        "micrograd": MicrogradMLP(weights),
        "plain": PlainMLP(weights),
        "replay": ReplayMLP(weights, X, y),
    }
    times = {name: [] for name in models}
    steps = args.steps
    for r in range(args.repeats):
        for name, model in models.items():

            def loop(model=model, r=r):
                for k in range(steps):
                    model.step(X, y, r * steps + k)

            times[name].append(timed(loop) / steps)
    rows.append(row("training step, MLP(2, [16, 16, 1]), 100 points", nodes, times))
    return rows


def row(name: str, nodes: int, times: dict[str, list[float]]) -> dict:
    ns = {impl: median_ns(t, nodes) for impl, t in times.items()}
    return {"workload": name, "nodes": nodes, "ns": ns}


def bench_memory(args) -> dict[str, float]:
    n = args.memory_nodes // 3
    nodes = 3 * n
    return {
        "tapegrad": bytes_per_node(lambda: chain_graph_tapegrad(n), nodes),
        "micrograd": bytes_per_node(lambda: chain_graph_micrograd(n), nodes),
        "plain": bytes_per_node(lambda: chain_graph_plain(n), nodes),
    }


def bench_depth(args) -> dict[str, str]:
    mg = largest_micrograd_chain(4 * DEFAULT_RECURSION_LIMIT)
    tg = tapegrad_chain_completes(args.depth)
    return {
        "tapegrad": f"≥ {args.depth:,} (completes)" if tg else f"fails at {args.depth:,}",
        "micrograd": f"{mg:,} (RecursionError beyond)",
        "plain": "no graph",
    }


def table(rows: list[dict], memory: dict, depth: dict, memory_nodes: int) -> str:
    lines = [
        "| workload | nodes | plain ns/node | tapegrad ns/node | micrograd ns/node "
        "| tapegrad vs micrograd | tapegrad / plain | replay ns/node | replay / plain |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ns = r["ns"]
        replay = ns.get("replay")
        lines.append(
            f"| {r['workload']} | {r['nodes']:,} | {ns['plain']:,.0f} | {ns['tapegrad']:,.0f} "
            f"| {ns['micrograd']:,.0f} | {ns['micrograd'] / ns['tapegrad']:.1f}× faster "
            f"| {ns['tapegrad'] / ns['plain']:.1f}× "
            + (
                f"| {replay:,.0f} | {replay / ns['plain']:.1f}× |"
                if replay is not None
                else "| | |"
            )
        )
    lines += [
        "",
        f"| memory, live chain of {memory_nodes:,} nodes | plain | tapegrad | micrograd |",
        "|---|---:|---:|---:|",
        f"| bytes per node (tracemalloc) | {memory['plain']:,.0f} | {memory['tapegrad']:,.0f} "
        f"| {memory['micrograd']:,.0f} |",
        f"| deepest chain at the default recursion limit ({DEFAULT_RECURSION_LIMIT}) "
        f"| {depth['plain']} | {depth['tapegrad']} | {depth['micrograd']} |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--repeats", type=int, help="timed repeats per workload (median)")
    args = parser.parse_args(argv)
    if args.quick:
        args.chains, args.wide, args.steps = (2_000, 10_000), 10_000, 1
        args.memory_nodes, args.depth = 30_000, 100_000
        args.repeats = args.repeats or 3
    else:
        args.chains, args.wide, args.steps = (2_000, 100_000), 100_000, 3
        args.memory_nodes, args.depth = 300_000, 1_000_000
        args.repeats = args.repeats or 7
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")

    rows = bench_timings(args)
    memory = bench_memory(args)
    depth = bench_depth(args)
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"gc thresholds {gc.get_threshold()}, medians of {args.repeats} repeats"
        + (" (--quick)" if args.quick else "")
    )
    print()
    print(table(rows, memory, depth, args.memory_nodes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
