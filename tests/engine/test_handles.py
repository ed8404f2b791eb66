"""A Value made by an op is a handle on its tape entry: what that means for users."""

import gc
import math
import random
import re
import struct
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tests.engine.test_topological_order import random_dag


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def test_a_dropped_intermediate_is_still_in_the_graph():
    x = Value(3.0, label="x")
    y = (x * 2.0).tanh()  # the product's handle is dropped at once
    y.backward()
    product = y.parents[0]
    assert product.op == "mul" and product.data == 6.0
    assert product.grad == 1.0 - math.tanh(6.0) ** 2
    assert engine.topological_order(y) == [x, product, y]


def test_handles_on_one_entry_are_the_same_node():
    x = Value(1.5)
    h = x * 2.0
    z = h.tanh()
    view = z.parents[0]
    assert view == h and hash(view) == hash(h)
    assert len({h, view}) == 1
    assert engine.topological_order(z)[-1] is z  # the root is the caller's own object
    assert h in engine.topological_order(z)


def test_values_compare_as_nodes_not_as_numbers():
    a, b = Value(2.0), Value(2.0)
    assert a != b and a == a
    assert (a == 2.0) is False  # as in micrograd: compare .data for numbers
    assert (a * 1.0) != (a * 1.0)  # two ops, two nodes, even with equal numbers


def test_labels_and_gradients_of_intermediates_live_on_the_tape():
    x = Value(2.0)
    h = x * x
    h.label = "h"
    y = h + 1.0
    assert y.parents[0].label == "h"
    assert h.grad == 0.0
    h.grad = 5.0  # settable before any backward, like any Value
    assert y.parents[0].grad == 5.0
    y.backward()
    assert h.grad == 1.0  # a backward pass starts intermediates again from 0
    assert x.grad == 4.0


def test_leaves_accumulate_and_intermediates_are_recomputed():
    x = Value(0.5)
    y = (x * 3.0).exp()
    y.backward()
    first = x.grad
    y.backward()
    assert x.grad == 2 * first
    assert y.parents[0].grad == math.exp(1.5)  # not doubled


def test_dropping_every_value_frees_the_tape():
    x = Value(1.0)
    y = x
    for _ in range(1000):
        y = (y * 1.0001).tanh()
    tape = weakref.ref(y._tape)
    del y
    assert tape() is None  # freed by reference counting, no collector needed
    assert x.grad == 0.0


def test_a_graph_needs_no_garbage_collector_pass():
    # Building and dropping a large graph leaves nothing for the collector: the
    # tape holds numbers, and dropped handles are freed by reference counting.
    gc.collect()
    before = len(gc.get_objects())
    x = Value(0.3)
    y = x
    for _ in range(20_000):
        y = (y * 1.0001 + 0.001).tanh()
    assert len(gc.get_objects()) - before < 50
    y.backward()
    assert x.grad != 0.0


@given(st.integers(0, 2**32 - 1))
def test_backward_steps_leave_exactly_backward_s_gradients_across_tapes(seed):
    def grads_after(run):
        nodes = random_dag(random.Random(seed), backward_sometimes=True)
        leaves = {id(v): v for v in nodes if v.is_leaf}
        for v in leaves.values():
            v.grad = 0.0
        run(nodes[-1])
        return [bits(v.grad) for v in leaves.values()]

    assert grads_after(lambda r: r.backward()) == grads_after(lambda r: list(r.backward_steps()))


@given(st.integers(0, 2**32 - 1))
def test_replay_equals_backward_bit_for_bit_across_tapes(seed):
    rng = random.Random(seed)
    numbers = [rng.uniform(-1.0, 1.0) for _ in range(3)]

    def loss(xs):
        a = (xs[0] * xs[1]).tanh()
        a.backward()  # retire the tape: what follows starts new ones
        b = (xs[2] * xs[0]).exp() + a
        b.backward()
        return (xs[1] * xs[2] + b * a).sigmoid()

    xs = [Value(v) for v in numbers]
    root = loss(xs)
    assert len({v._tape for v in engine.topological_order(root) if not v.is_leaf}) == 3
    replay = engine.record(root, xs)
    for x in xs:
        x.grad = 0.0
    replay()
    ys = [Value(v) for v in numbers]
    again = loss(ys)
    for y in ys:
        y.grad = 0.0
    again.backward()
    assert [bits(x.grad) for x in xs] == [bits(y.grad) for y in ys]


def test_a_graph_survives_pickling_and_deep_copies():
    import copy
    import pickle

    x = Value(0.7, label="x")
    y = (x * 2.0).tanh()
    y.label = "y"
    engine.topological_order(y)  # fills the cache of views (weak references)
    for clone in (pickle.loads(pickle.dumps(y)), copy.deepcopy(y)):
        assert clone.data == y.data and clone.label == "y"
        clone.backward()
        leaf = engine.topological_order(clone)[0]
        assert leaf.label == "x" and leaf is not x
        assert leaf.grad == 2.0 * (1.0 - math.tanh(1.4) ** 2)
    assert x.grad == 0.0  # the original graph is untouched


def test_threads_building_graphs_at_once_get_their_own_entries_right(monkeypatch):
    # Leaf-only ops of every thread go on the same current tape, so an entry's index
    # must be read after its own append: a thread switch can come right after a
    # call returns (len() here), and another thread may append then. A len() that
    # yields to the other threads once it has its answer makes that switch happen
    # every time.
    import builtins
    import threading
    import time

    import tapegrad.engine.value as value_module

    def work(seed, out):
        rng = random.Random(seed)
        xs = [Value(rng.uniform(-1, 1)) for _ in range(3)]
        acc = xs[0] * 0.0
        for _ in range(40):
            acc = acc + (xs[0] * xs[1] + xs[2] * 0.5).tanh() * xs[0]
        acc.backward()
        out[seed] = [x.grad for x in xs]

    alone: dict = {}
    for seed in range(4):
        work(seed, alone)

    def switching_len(obj):
        n = builtins.len(obj)
        time.sleep(0)  # let the other threads run, as a switch after the call would
        return n

    monkeypatch.setattr(value_module, "len", switching_len, raising=False)
    together: dict = {}
    threads = [threading.Thread(target=work, args=(seed, together)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert together == alone


def test_a_graph_spanning_several_tapes_draws_like_one_built_on_one_tape():
    def build(split):
        x, w = Value(0.5, label="x"), Value(-1.5, label="w")
        a = (x * w).tanh()
        if split:
            a.backward()  # later leaf-only ops start a new tape
            x.grad = w.grad = 0.0
        b = (w * 2.0 + a).exp()
        root = b * a
        root.backward()
        return root

    one, two = build(False), build(True)
    assert len({v._tape for v in engine.topological_order(two) if not v.is_leaf}) == 2

    # Tape order differs (the new tape's entries come last), so compare what is drawn:
    # the same values, gradients and edges.
    def drawn(root):
        source = engine.draw(root).source
        return sorted(line.strip() for line in source.splitlines() if "->" not in line), sum(
            "->" in line for line in source.splitlines()
        )

    nodes_one, edges_one = drawn(one)
    nodes_two, edges_two = drawn(two)
    assert edges_one == edges_two
    values = lambda nodes: sorted(re.findall(r"data [-0-9.e]+ \| grad [-0-9.e]+", "".join(nodes)))
    assert values(nodes_one) == values(nodes_two) and len(values(nodes_one)) == 8


@pytest.mark.parametrize("first_backward_before_building_l2", [True, False])
def test_a_backward_pass_leaves_the_gradients_of_other_graphs_alone(
    first_backward_before_building_l2,
):
    a, b = Value(2.0), Value(3.0)
    x = a * b
    l1 = x * 3.0
    if first_backward_before_building_l2:
        l1.backward()
    l2 = (a + b) * 2.0  # on the same tape as l1, or on the next one
    if not first_backward_before_building_l2:
        l1.backward()
    l2.backward()
    assert (x.grad, l1.grad) == (3.0, 1.0)  # x and l1 are not in l2's graph
    assert l2.grad == 1.0 and l2.parents[0].grad == 2.0


def test_drawing_a_backprop_step_changes_no_gradient():
    a, b = Value(1.0), Value(2.0)
    x = a * b
    l1 = x * 3.0
    l2 = x + b
    l1.backward()
    before = (l1.grad, x.grad, a.grad, b.grad, l2.grad)
    engine.draw(l2, step=0)
    assert (l1.grad, x.grad, a.grad, b.grad, l2.grad) == before
