"""The program module: a tape written as straight-line code, shared by replay and vmap."""

import numpy as np
import pytest

from tapegrad import engine
from tapegrad.engine import GraphChangedError, ReplayError, Value, graph, program


def test_a_program_on_floats_is_backward_of_its_root():
    x, w, b = Value(0.5), Value(-1.5), Value(0.25)
    root = (x * w + b).tanh()
    walk = graph.walk(root)
    code = program.generate(root, walk, [x, w, b])
    gout = [0.0, 0.0, 0.0]
    value = code.function([0.5, -1.5, 0.25], [-0.0, -0.0, -0.0], gout, [], 1.0)
    root.backward()
    assert value == root.data
    assert gout == [x.grad, w.grad, b.grad]
    assert code.reached == [True, True, True]
    assert code.source.startswith("def replay(x, gin, gout, watched, seed):")


def test_the_same_program_runs_on_arrays_and_watches_nodes():
    x, w = Value(1.0), Value(2.0)
    hidden = x * w
    root = hidden.relu()
    walk = graph.walk(root)
    code = program.generate(root, walk, [w], [walk.position(hidden)], form="array_fn")
    xs = np.array([-1.0, 0.5, 3.0])
    gout, watched = [None], [None]
    value = code.function([xs, 2.0], [0.0], gout, watched, 1.0)
    assert value.tolist() == [0.0, 1.0, 6.0]
    assert watched[0].tolist() == [-2.0, 1.0, 6.0]
    assert gout[0].tolist() == [0.0, 0.5, 3.0]


def test_a_leaf_the_root_does_not_reach_keeps_its_starting_gradient():
    x, unused = Value(3.0), Value(4.0)
    root = x * x
    code = program.generate(root, graph.walk(root), [x, unused])
    gout = [0.0, 0.0]
    code.function([3.0], [1.0, 7.0], gout, [], 1.0)
    assert gout == [7.0, 7.0] and code.reached == [True, False]


def test_signatures_describe_and_first_difference():
    x = Value(1.0)
    a = program.signature(graph.walk((x * 2.0).tanh()))
    b = program.signature(graph.walk((x * 3.0).tanh()))
    assert a[0] is None and program.describe(a[0]) == "a leaf"
    assert program.describe(a[1]) == "mul(v0, 2.0)"
    assert program.first_difference(a, b) == 1
    assert program.first_difference(a, a) is None


def test_an_op_outside_the_table_is_refused_by_name():
    x = Value(2.0)
    mine = Value(4.0, (x,), "square", local_grads=(4.0,))
    walk = graph.walk(mine)
    with pytest.raises(ReplayError, match="'square'"):
        program.generate(mine, walk, [x])
    with pytest.raises(KeyError, match="square at 1"):
        program.check_table_ops(walk, lambda i, op: KeyError(f"{op} at {i}"))


def test_the_errors_are_the_engines():
    assert engine.ReplayError is ReplayError and engine.GraphChangedError is GraphChangedError
    assert issubclass(engine.BatchingError, ReplayError)
