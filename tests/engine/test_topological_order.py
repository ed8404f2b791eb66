"""topological_order: the tape's order (the order the ops ran), kept to what the
root depends on, with each leaf just before the first op that read it."""

import math
import random
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tapegrad.engine.value as value_module
from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.gradcheck import numerical_grad
from tapegrad.engine.strategies import expressions


def reachable(root):
    """Every Value root depends on, by following parents (the definition)."""
    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.parents)
    return seen


def creation_order(nodes, root):
    """The reference order for a graph built on one tape: the ops in the order they
    ran (``nodes`` lists them so), each leaf just before its first reader."""
    keep = reachable(root)
    order, emitted = [], set()
    for node in nodes:
        if node not in keep or node.is_leaf:
            continue
        for parent in node.parents:
            if parent.is_leaf and parent not in emitted:
                emitted.add(parent)
                order.append(parent)
        order.append(node)
    return order or [root]


def assert_topological(order, root):
    position = {node: k for k, node in enumerate(order)}
    assert len(position) == len(order), "a node appears twice"
    assert set(order) == reachable(root)
    assert order[-1] is root
    for node in order:
        for parent in node.parents:
            assert position[parent] < position[node]


def random_dag(rng, *, backward_sometimes=False):
    """Random DAGs mixing leaves, unary, binary and many-parent nodes, with reuse.
    With ``backward_sometimes``, backward() runs now and then mid-build, so later
    ops start new tapes and mix results of several tapes."""
    nodes = [Value(rng.uniform(-1, 1)) for _ in range(rng.randint(1, 4))]
    for _ in range(rng.randint(1, 30)):
        kind = rng.random()
        a, b = rng.choice(nodes), rng.choice(nodes)
        if kind < 0.3:
            nodes.append(a.tanh())
        elif kind < 0.5:
            nodes.append(a * 2.0)
        elif kind < 0.85:
            nodes.append(a * b if rng.random() < 0.5 else a + b)
        elif kind < 0.95:
            parents = [rng.choice(nodes) for _ in range(rng.randint(3, 5))]
            nodes.append(Value(1.0, parents, "f", local_grads=[1.0] * len(parents)))
        else:
            nodes.append(Value(rng.uniform(-1, 1)))  # a new leaf
        if backward_sometimes and rng.random() < 0.15:
            rng.choice(nodes).backward()
    return nodes


@given(st.integers(0, 2**32 - 1))
def test_order_is_creation_order_on_one_tape(seed):
    rng = random.Random(seed)
    nodes = random_dag(rng)
    root = nodes[-1]
    for node in (root, rng.choice(nodes)):
        order = engine.topological_order(node)
        assert order == creation_order(nodes, node)
        assert_topological(order, node)


@given(st.integers(0, 2**32 - 1))
def test_order_is_topological_across_tapes(seed):
    rng = random.Random(seed)
    nodes = random_dag(rng, backward_sometimes=True)
    for node in (nodes[-1], rng.choice(nodes)):
        assert_topological(engine.topological_order(node), node)


@given(expressions(max_ops=15))
def test_order_of_random_expressions_is_topological(expr):
    xs = [Value(v) for v in expr.inputs]
    root = expr(*xs)
    assert_topological(engine.topological_order(root), root)


def test_leaf_comes_before_its_first_reader():
    x, w, b = Value(1.0), Value(2.0), Value(3.0)
    h = x * w
    y = b + h
    assert engine.topological_order(y) == [x, w, h, b, y]


@given(st.integers(0, 2**32 - 1))
def test_gradients_through_several_tapes_match_central_differences(seed):
    # Results of older tapes feed newer ones; backward() must carry gradients across.
    rng = random.Random(seed)
    values = [rng.uniform(0.5, 1.5) for _ in range(3)]

    def build(*xs):
        a = (xs[0] * xs[1]).tanh()
        a.backward()  # retires the tape: the next leaf-only op starts a new one
        b = xs[2] * xs[0] + a  # on the new tape, reading a from the old one
        b.backward()
        c = (xs[1] * xs[2]).exp()  # a third tape
        return (c * b + a * 2.0).tanh()

    xs = [Value(v) for v in values]
    root = build(*xs)
    assert len({v._tape for v in engine.topological_order(root) if not v.is_leaf}) == 3
    for x in xs:
        x.grad = 0.0
    root.backward()
    expected = numerical_grad(build, values)
    for x, e in zip(xs, expected):
        assert math.isclose(x.grad, e, rel_tol=1e-6, abs_tol=1e-9)


def test_a_full_tape_is_continued_on_a_new_one(monkeypatch):
    # Leaf-only ops start a new tape once the current one is full; a sum over
    # both tapes still backpropagates exactly like one built on a single tape.
    rng = random.Random(3)
    a = [Value(rng.uniform(-1, 1)) for _ in range(50)]
    b = [Value(rng.uniform(-1, 1)) for _ in range(50)]
    one = sum(x * y for x, y in zip(a, b))
    one.backward()
    expected = [v.grad for v in a + b]
    for v in a + b:
        v.grad = 0.0
    monkeypatch.setattr(value_module, "_TAPE_CAP", 8 * 10)
    split = sum(x * y for x, y in zip(a, b))
    tapes = {v._tape for v in engine.topological_order(split) if not v.is_leaf}
    assert len(tapes) > 5
    assert split.data == pytest.approx(one.data)
    split.backward()
    assert [v.grad for v in a + b] == pytest.approx(expected)


def test_the_current_tape_is_freed_with_its_values():
    x = Value(2.0)
    y = x * 3.0
    tape = weakref.ref(y._tape)
    del y
    assert tape() is None  # freed by reference counting: nothing else held it
    z = x * 3.0
    assert len(z._tape.entries) == value_module._W  # a fresh tape


def test_backward_retires_the_tape_and_later_ops_refer_to_its_results():
    x = Value(2.0)
    y = x * 3.0
    assert (x * 4.0)._tape is y._tape  # ops share the current tape
    y.backward()
    assert (x * 4.0)._tape is not y._tape  # a new step starts a new tape
    z = y * 2.0
    assert z._tape is not y._tape  # even an op on y: y is read like a leaf
    assert z.parents == (y,)
    size = len(y._tape.entries)
    z.backward()
    assert len(y._tape.entries) == size  # nothing was added to y's tape
    assert x.grad == 3.0 + 6.0  # y.backward(), then z.backward() through y


def test_a_kept_result_does_not_collect_every_later_step():
    # A result made once and kept (a constant, a normalised input) is read by every
    # training step; each step's graph must still be freed with its loss.
    scale = Value(2.0) * Value(3.0)
    w = Value(0.5)
    tapes, sizes = [], []
    for step in range(50):
        x = Value(float(step % 7))
        loss = ((x * scale) * w - 1.0) ** 2
        loss.backward()
        tapes.append(weakref.ref(loss._tape))
        sizes.append(len(scale._tape.entries))
        w.grad = 0.0
    # The first step shared scale's tape (it was still the current one); after
    # that, scale's tape takes nothing more.
    assert sizes == [sizes[0]] * 50
    del loss, x
    assert all(t() is None for t in tapes[1:])  # every later step's tape was freed


def test_a_chain_of_many_tapes_walks_and_backpropagates():
    # A running total kept as a Value: every step's tape refers to the previous one.
    w, x = Value(0.5), Value(2.0)
    total = 0.0
    for _ in range(2000):
        loss = (w * x - 1.0) ** 2
        loss.backward()
        total = total + loss
    order = engine.topological_order(total)
    assert len({v._tape for v in order if not v.is_leaf}) > 2000
    assert_topological(order, total)
    w.grad = 0.0
    total.backward()
    assert w.grad == pytest.approx(2000 * 2 * (0.5 * 2.0 - 1.0) * 2.0)


def test_copies_of_a_graph_mix_with_the_original():
    import copy
    import pickle

    for clone in (copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v))):
        a, b = Value(1.5), Value(-2.0)
        x = a * b
        x2 = clone(x)
        y = x * x2
        z = x2 * y
        z.backward()
        assert z.grad == 1.0
        # z = x · x2², and the copy x2 has leaves of its own: dz/da = x2² · b
        assert a.grad == x2.data**2 * b.data == -18.0
        assert_topological(engine.topological_order(z), z)
