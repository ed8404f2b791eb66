"""topological_order: the recursive depth-first postorder, computed without recursion."""

import random

from hypothesis import given
from hypothesis import strategies as st

import engine
from engine import Value
from engine.strategies import expressions


def recursive_order(root):
    """The textbook definition: visit parents in order, then emit the node."""
    order, visited = [], set()

    def visit(node):
        if node in visited:
            return
        visited.add(node)
        for parent in node.parents:
            visit(parent)
        order.append(node)

    visit(root)
    return order


@given(expressions(max_ops=15))
def test_order_is_the_recursive_postorder(expr):
    xs = [Value(v) for v in expr.inputs]
    root = expr(*xs)
    assert engine.topological_order(root) == recursive_order(root)


@given(st.integers(0, 2**32 - 1))
def test_order_is_the_recursive_postorder_on_random_dags(seed):
    # random DAGs mixing leaves, unary, binary and many-parent nodes, with reuse
    rng = random.Random(seed)
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
    root = nodes[-1]
    for node in (root, rng.choice(nodes)):
        assert engine.topological_order(node) == recursive_order(node)
