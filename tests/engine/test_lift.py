"""Lifting (engine.lift): one sample's tape regrouped into vector instructions.

Two kinds of checks. The program's *shape*: every op entry of the tape stands in
exactly one instruction, a layer's weighted sums are one ``linear`` instruction, and
models written many ways (nn's classes, a student's micrograd-style classes, mixed
activations, the classic models, a skip connection, shared weights) lift as far as
their structure allows. And its *numbers*: the lifted program run over a batch
(:class:`BatchedProgram`) gives every sample's loss and the batch gradient of the
scalar engine's ``backward()``, within 1e-12 relative (sums re-associate).
"""

import importlib
import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.lift import (
    BatchedProgram,
    Instruction,
    LiftError,
    Program,
    Variable,
    column_names,
    lift,
    lift_columns,
    recording_columns,
    usable_name,
)
from tapegrad.engine.strategies import expressions
from tapegrad.nn import MLP, Adaline, Layer, LogisticRegression, Neuron, Perceptron, losses, moons

#: engine.lift is the function; the package's docstring is the module's
lift_module = importlib.import_module("tapegrad.engine.lift")

#: The bound the module docstring states: relative, and absolute near zero.
RTOL = 1e-12


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=RTOL)


def hinge_of(model):
    return lambda x, y: losses.hinge(model(x), y)


def hinge_loss(model):
    return lambda x, y: losses.hinge(model(x), y[0])


def record(fn, nin: int, x0=None):
    """One sample's tape of ``fn(x, y)`` with input leaves; returns (loss, x, y)."""
    rng = random.Random(5)
    x = [Value(rng.uniform(-1, 1) if x0 is None else x0[i]) for i in range(nin)]
    y = [Value(1.0)]
    return fn(x, y), x, y


def lifted(fn, nin: int) -> Program:
    loss, x, y = record(fn, nin)
    return lift(loss, {"x": x, "y": y})


def check_cover(program: Program) -> None:
    """Every op entry is in exactly one instruction; leaves in none."""
    walk = program.walk
    ops = [p for p, parents in enumerate(walk.parents) if parents]
    covered = [p for ins in program.instructions for p in ins.entries]
    assert sorted(covered) == ops


def check_numbers(fn, params, nin: int, batch: int = 6, seed: int = 0) -> None:
    """The lifted program over a batch against each sample's backward() of the mean."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(batch, nin))
    Y = rng.choice([-1.0, 1.0], size=(batch, 1))
    loss, x, y = record(fn, nin, X[0])
    program = lift(loss, {"x": x, "y": y})
    check_cover(program)
    runner = BatchedProgram(program, params)
    out, grads, _ = runner.run([X.T, Y.T], seed=1.0 / batch)
    for p in params:
        p.grad = None
    per_sample = [fn([Value(v) for v in X[k]], [Value(Y[k, 0])]) for k in range(batch)]
    losses.mean(per_sample).backward()
    assert all(close(a, b.data) for a, b in zip(out.tolist(), per_sample))
    assert all(close(a, p.grad) for a, p in zip(grads.tolist(), params))


# -- the program's shape -------------------------------------------------------------


def test_an_mlp_lifts_to_the_lectures_blocks():
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    program = lifted(hinge_loss(model), 2)
    check_cover(program)
    # the module docstring shows this program: keep them equal
    docstring = lift_module.__doc__
    shown = docstring[docstring.index("    # 644 tape") : docstring.index("\n\n(``x``")]
    assert str(program) == "\n".join(line[4:] for line in shown.splitlines())
    assert program.entry_count == 644
    # the loss's four entries stay per entry: one sample's hinge is four scalars
    assert program.lifted_count == 640
    assert program.lifted_fraction == 640 / 644
    assert "99.4% of the entries lifted" in str(program)
    w1 = program.variables["w1"]
    assert (w1.kind, w1.shape, w1.per_sample) == ("parameter", (16, 16), False)
    # w1's elements are the second layer's weights, neuron by neuron
    positions = [program.walk.position(w) for n in model.layers[1].neurons for w in n.w]
    assert w1.entries == tuple(positions)
    s2 = next(i for i in program.instructions if i.output == "s2")
    assert (s2.op, s2.inputs, s2.shape, len(s2.entries)) == (
        "linear",
        ("w1", "z1", "b1"),
        (16,),
        512,
    )


def test_the_representation_is_plain_data():
    program = lifted(hinge_loss(MLP(3, [4, 1], rng=random.Random(1))), 3)
    assert all(isinstance(v, Variable) for v in program.variables.values())
    assert all(isinstance(i, Instruction) for i in program.instructions)
    assert program.inputs == ["x", "y"]
    assert program.variables["x"].kind == "input"
    assert program.output == (program.instructions[-1].output, 0)
    # each instruction reads variables defined before it
    defined = {n for n, v in program.variables.items() if v.kind != "result"}
    for ins in program.instructions:
        assert set(ins.inputs) <= defined
        defined.add(ins.output)
    assert "lifted" in repr(program)


class StudentNeuron:
    """micrograd's Neuron, as a student copies it."""

    def __init__(self, nin, nonlin=True, start_at_zero=False):
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        self.start_at_zero = start_at_zero

    def __call__(self, x):
        if self.start_at_zero:  # sum() from 0, then the bias: 0 + w0 x0 + ... + b
            act = sum(wi * xi for wi, xi in zip(self.w, x)) + self.b
        else:
            act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.tanh() if self.nonlin else act

    def parameters(self):
        return [*self.w, self.b]


class StudentMLP:
    def __init__(self, nin, nouts, **kwargs):
        sizes = [nin, *nouts]
        self.layers = [
            [StudentNeuron(sizes[i], nonlin=i != len(nouts) - 1, **kwargs) for _ in range(n)]
            for i, n in enumerate(nouts)
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = [n(x) for n in layer]
        return x[0] if len(x) == 1 else x

    def parameters(self):
        return [p for layer in self.layers for n in layer for p in n.parameters()]


@pytest.mark.parametrize("start_at_zero", [False, True])
def test_a_students_own_classes_lift(start_at_zero):
    random.seed(3)
    model = StudentMLP(3, [5, 4, 1], start_at_zero=start_at_zero)
    fn = hinge_loss(model)
    program = lifted(fn, 3)
    linear = [i for i in program.instructions if i.op == "linear"]
    assert [i.shape for i in linear] == [(5,), (4,), (1,)]
    assert [i.op for i in program.instructions[:2]] == ["linear", "tanh"]
    assert program.lifted_fraction > 0.95
    # sum() from 0 adds a constant 0.0, which changes no sum: it is left out
    assert all(i.bias == ("b",) for i in linear)
    check_numbers(fn, model.parameters(), 3)


def test_mixed_activations_lift_per_activation():
    model = MLP(2, [6, 4, 1], activation="tanh", output_activation="sigmoid", rng=random.Random(2))
    model.layers[1].neurons[1]._f = Value.relu  # one relu among the tanh units
    program = lifted(lambda x, y: losses.mse(model(x), y[0]), 2)
    check_cover(program)
    ops = [i.op for i in program.instructions]
    assert ops.count("linear") == 3
    assert {"tanh", "relu", "sigmoid"} <= set(ops)
    # the relu unit reads one element of s2, the tanh units the others: gathers
    assert "gather" in ops
    check_numbers(lambda x, y: losses.mse(model(x), y[0]), model.parameters(), 2)


@pytest.mark.parametrize("classic", [Perceptron, Adaline, LogisticRegression])
def test_the_classic_models_lift(classic):
    model = classic(3, init="uniform", rng=random.Random(4))

    def fn(x, y):
        return model.criterion(model(x), y[0])

    program = lifted(fn, 3)
    assert program.instructions[0].op == "linear"
    assert program.instructions[0].shape == (1,)
    check_numbers(fn, model.parameters(), 3)


def test_a_skip_connection_lifts():
    model = MLP(3, [3, 3, 1], activation="tanh", rng=random.Random(6))
    first, second, last = model.layers

    def fn(x, y):
        h = first(x)
        h = [a + b for a, b in zip(second(h), h)]  # z2 = tanh(w1 z1 + b1) + z1
        return losses.hinge(last(h), y[0])

    program = lifted(fn, 3)
    check_cover(program)
    skip = [i for i in program.instructions if i.op == "add" and i.shape == (3,)]
    assert [i.inputs for i in skip] == [("z2", "z1")]
    assert [i.op for i in program.instructions].count("linear") == 3
    check_numbers(fn, model.parameters(), 3)


def test_shared_weights_lift_and_their_gradients_add():
    model = MLP(2, [4, 1], rng=random.Random(7))
    shared = model.layers[0].neurons[0].w[0]
    model.layers[0].neurons[2].w[0] = shared  # one Value used by two neurons
    params = list(dict.fromkeys(model.parameters()))
    program = lifted(hinge_loss(model), 2)
    w0 = program.variables["w0"]
    assert w0.entries[0] == w0.entries[2 * 2]  # (neuron 0, input 0) and (neuron 2, input 0)
    check_numbers(hinge_loss(model), params, 2)


def test_a_parameter_used_as_a_constant_gets_no_gradient():
    model = MLP(2, [3, 1], rng=random.Random(8))
    frozen = model.layers[0].neurons[1].b
    params = [p for p in model.parameters() if p is not frozen]
    program = lifted(hinge_loss(model), 2)
    runner = BatchedProgram(program, [*params, Value(1.0)])  # one leaf the root does not read
    assert runner.reached == [True] * len(params) + [False]
    check_numbers(hinge_loss(model), params, 2)


def test_what_does_not_group_stays_per_entry():
    w = Value(0.5)

    def fn(x, y):
        a = (x[0] * w).exp()
        b = (x[1] - a).sin()
        return b * y[0]

    program = lifted(fn, 2)
    check_cover(program)
    assert all(len(i.entries) <= 1 for i in program.instructions)
    assert program.lifted_fraction == 0.0
    check_numbers(fn, [w], 2)


def test_isomorphic_entries_group_without_a_layer():
    a, b = Value(0.3), Value(-0.7)

    def fn(x, y):
        # the same op on each element of x: one vector instruction each
        u = [(xi * a).tanh() for xi in x]
        return sum(u[1:], u[0]) * y[0] + b

    program = lifted(fn, 4)
    tanh = [i for i in program.instructions if i.op == "tanh"]
    assert len(tanh) == 1 and tanh[0].shape == (4,)
    check_numbers(fn, [a, b], 4)


def test_a_gather_prints_its_slices():
    layer = Layer(2, 4, rng=random.Random(9))
    out = Neuron(3, nonlin=False, rng=random.Random(10))

    def fn(x, y):
        h = layer(x)
        # the output unit reads an input and part of the layer: a gather
        return losses.hinge(out([h[3], x[0], h[2]]), y[0])

    program = lifted(fn, 2)
    # z1 holds the units the loss reads (2 and 3); the weighted sum's terms are
    # taken in tape order, x[0] first
    assert program.variables["z1"].shape == (2,)
    assert "t0 = [x[0], z1[0:2]]" in str(program)
    check_numbers(fn, [*layer.parameters(), *out.parameters()], 2)


# -- numbers on random models -------------------------------------------------------


@st.composite
def models(draw):
    nin = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    activation = draw(st.sampled_from(["relu", "tanh", "sigmoid", "linear"]))
    model = MLP(
        nin,
        [*sizes, 1],
        activation=activation,
        output_activation=draw(st.sampled_from(["linear", "tanh"])),
        rng=random.Random(draw(st.integers(0, 2**16))),
    )
    for layer in model.layers[:-1]:  # some units with another activation
        for neuron in layer.neurons:
            if draw(st.booleans()):
                neuron._f = draw(st.sampled_from([Value.relu, Value.tanh, Value.sigmoid]))
    loss = draw(st.sampled_from(["hinge", "mse", "logistic_loss"]))
    return nin, model, loss


@given(models(), st.integers(1, 9), st.integers(0, 2**16))
def test_random_models_equal_backward_of_the_batch(drawn, batch, seed):
    nin, model, loss = drawn
    criterion = getattr(losses, loss)

    def fn(x, y):
        return criterion(model(x), y[0])

    check_numbers(fn, model.parameters(), nin, batch=batch, seed=seed)


def test_watched_nodes_and_a_leaf_root():
    w = Value(2.0)
    x = [Value(1.0)]
    s = x[0] * w
    loss = s.relu()
    program = lift(loss, {"x": x}, watch=[s, w])
    runner = BatchedProgram(program, [w])
    out, grads, watched = runner.run([np.array([[1.0, -2.0, 3.0]])])
    assert out.tolist() == [2.0, 0.0, 6.0]
    assert grads.tolist() == [4.0]  # 1 + 3, the relu masks the second sample
    assert [a.tolist() for a in watched] == [[2.0, -4.0, 6.0], [2.0, 2.0, 2.0]]
    # a leaf as the root: a parameter, the same for every sample
    # (x read by no entry: a batched step's own column, as vmap lifts it; lift refuses)
    leaf_program = lift_columns(w, {"x": x})
    with pytest.raises(ValueError, match=r"input x\[0\] .*does not depend on it"):
        lift(w, {"x": x})
    out, grads, _ = BatchedProgram(leaf_program, [w]).run([np.array([[1.0, 2.0]])])
    assert out.tolist() == [2.0, 2.0] and grads.tolist() == [2.0]


def test_gradients_go_to_wrt_in_any_order_twice_or_unreached():
    # the generated code holds the shared leaves in its own order (wrt's first):
    # every way of listing wrt must still get each leaf its own gradient
    a, b, c, outside, unused = Value(2.0), Value(-3.0), Value(0.5), Value(4.0), Value(9.0)
    x = [Value(1.0)]
    loss = (x[0] * a + b) * c + outside * x[0]
    program = lift(loss, {"x": x})
    X = np.array([[1.0, -2.0, 3.0]])
    # d/da = c x, d/db = c, d/dc = a x + b, summed over the batch
    want = {"a": 0.5 * 2.0, "b": 0.5 * 3, "c": 2.0 * 2.0 - 9.0, "outside": 2.0, "unused": 0.0}
    named = {"a": a, "b": b, "c": c, "outside": outside, "unused": unused}
    for names in (["a", "b", "c"], ["c", "unused", "a", "b"], ["b", "a", "b", "c"]):
        runner = BatchedProgram(program, [named[n] for n in names])
        out, grads, _ = runner.run([X])
        assert out.tolist() == [(v * 2.0 - 3.0) * 0.5 + 4.0 * v for v in (1.0, -2.0, 3.0)]
        assert grads.tolist() == [want[n] for n in names]
        assert runner.reached == [n != "unused" for n in names]
        for v in named.values():
            v.grad = None
        runner.add_to_grads(grads)  # a leaf listed twice adds twice
        assert [named[n].grad for n in "abc"] == [want[n] * names.count(n) for n in "abc"]
        assert outside.grad == 0.0 and unused.grad == 0.0
        assert runner.read_parameters().tolist() == [v.data for v in program.shared]
        a.data = 2.5  # a number changed between runs is read anew
        assert runner.run([X])[0].tolist()[0] == (2.5 - 3.0) * 0.5 + 4.0
        a.data = 2.0
        # per sample: one row per wrt leaf, one column per sample
        _, rows, _ = BatchedProgram(program, [named[n] for n in names], per_sample=True).run([X])
        per_sample = {"a": 0.5 * X[0], "b": 0.5 + 0 * X[0], "c": 2.0 * X[0] - 3.0}
        per_sample |= {"outside": X[0], "unused": 0 * X[0]}
        assert rows.shape == (len(names), 3)
        assert rows.tolist() == [per_sample[n].tolist() for n in names]


# -- errors ----------------------------------------------------------------------------


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="per_sample must be True or False"):
        BatchedProgram(lift(Value(1.0) * 2.0), [], per_sample=1)
    x = Value(1.0)
    y = x * 2.0
    with pytest.raises(TypeError, match="needs a Value"):
        lift(1.0)
    with pytest.raises(ValueError, match="must hold leaves"):
        lift(y, {"x": [y]})
    with pytest.raises(TypeError, match="must hold Values"):
        lift(y, {"x": [1.0]})
    with pytest.raises(ValueError, match="listed twice"):
        lift(y, {"x": [x], "y": [x]})
    with pytest.raises(ValueError, match="identifier"):
        lift(y, {"not a name": [x]})
    with pytest.raises(ValueError, match="cannot be watched"):
        lift(y, {"x": [x]}, watch=[Value(3.0)])
    runner = BatchedProgram(lift(y, {"x": [x]}), [])
    with pytest.raises(ValueError, match="shape"):
        runner.run([np.zeros((2, 3))])
    with pytest.raises(ValueError, match="input arrays"):
        runner.run([])


def test_an_input_the_root_does_not_depend_on_is_refused_by_name():
    # lifting on would make the leaves the root was computed from parameters (p0)
    w, xs = [Value(0.5), Value(-0.3)], [Value(1.0), Value(2.0)]
    out = (w[0] * xs[0] + w[1] * xs[1]).tanh()
    with pytest.raises(ValueError, match=r"input x\[0\] Value\(data=1.0.*does not depend on it"):
        lift(out, inputs=[Value(1.0)])
    with pytest.raises(ValueError, match=r"input x\[2\] .*label='extra'"):
        lift(out, inputs=[*xs, Value(3.0, label="extra")])
    y = Value(1.0)
    with pytest.raises(ValueError, match=r"input y\[0\] "):
        lift(out, {"x": xs, "y": [y]})  # a label the model's output does not read
    assert lift(out, inputs=xs).variables["x"].entries == tuple(
        lift(out, inputs=xs).walk.position(v) for v in xs
    )


def test_vmap_and_lift_columns_allow_an_argument_fn_does_not_read():
    # the step makes every per-sample leaf itself: an unread column is no user's Value
    w = [Value(0.5), Value(-0.3)]

    def model(x, y):  # y not read at all, x[2] not read
        return (w[0] * x[0] + w[1] * x[1]).tanh()

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=6)
    expected = [math.tanh(0.5 * a - 0.3 * b) for a, b, _ in X]
    for lift_it in (True, False):
        assert engine.vmap(model, w, lift=lift_it)(X, Y).tolist() == (
            pytest.approx(expected, rel=1e-12)
        )
    step = engine.vmap(model, w).record(X, Y)
    columns = recording_columns(step.recording, ["x", "y"])
    program = lift_columns(step.recording.root, columns)
    assert program.variables["x"].entries[2] == -1 and program.variables["y"].entries == (-1,)
    with pytest.raises(ValueError, match="does not depend on it"):
        lift(step.recording.root, columns)  # the public lift refuses them


def test_an_op_made_by_user_code_is_refused():
    x = Value(1.0)
    custom = Value(2.0, (x,), "twice", local_grads=(2.0,))
    with pytest.raises(LiftError, match="twice"):
        lift(custom * x)
    assert issubclass(LiftError, engine.ReplayError)


# -- engine.vmap runs the lifted program by default ---------------------------------------


def test_vmap_lifts_by_default_and_equals_the_per_entry_path():
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    params = model.parameters()
    X, y = moons(500, seed=1)
    per_entry = engine.vmap(hinge_of(model), params, lift=False)
    model.zero_grad()
    exact = per_entry(X, y)
    exact_grads = [p.grad for p in params]
    step = engine.vmap(hinge_of(model), params)
    model.zero_grad()
    out = step(X, y)
    assert per_entry.lifted is None and step.lifted is not None
    assert step.lifted.program.inputs == ["x", "y"]  # the function's argument names
    assert "s2 = w1 z1 + b1" in str(step.lifted.program)
    assert all(close(a, b) for a, b in zip(out.tolist(), exact.tolist()))
    assert all(close(p.grad, g) for p, g in zip(params, exact_grads))
    assert sum(g != 0.0 for g in exact_grads) > 250
    # gradients accumulate onto existing ones, as backward() does
    step(X, y)
    assert all(close(p.grad, 2 * g) for p, g in zip(params, exact_grads))


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_vmap_lifted_watched_outputs_and_reductions(reduce):
    model = MLP(2, [4, 3], activation="tanh", rng=random.Random(0))
    X = [[0.1, 0.2], [0.3, -0.4], [1.0, 0.5]]
    onehot = [[1, 0, 0], [0, 0, 1], [0, 1, 0]]

    def fn(x, label):
        logits = model(x)
        return losses.softmax_cross_entropy(logits, label), logits, logits[0]

    results = []
    for lift_it in (True, False):
        model.zero_grad()
        out, logits, first = engine.vmap(fn, model.parameters(), lift=lift_it)(
            X, onehot, reduce=reduce
        )
        results.append((out, logits, first, [p.grad for p in model.parameters()]))
    (out, logits, first, grads), (out2, logits2, first2, grads2) = results
    assert logits.shape == (3, 3) and first.shape == (3,)
    assert all(close(a, b) for a, b in zip(out.tolist(), out2.tolist()))
    assert all(close(a, b) for a, b in zip(logits.ravel().tolist(), logits2.ravel().tolist()))
    assert all(close(a, b) for a, b in zip(first.tolist(), first2.tolist()))
    assert all(close(a, b) for a, b in zip(grads, grads2))


@pytest.mark.parametrize("lift_it", [True, False])
def test_vmap_refuses_a_tape_that_changes_with_the_data_at_every_call(lift_it):
    w = Value(0.5)
    step = engine.vmap(lambda x: w * x if x.data > 0 else w * x * 3.0, [w], lift=lift_it)
    for _ in range(3):  # a refused recording is not kept: the next call refuses too
        with pytest.raises(engine.GraphChangedError):
            step([1.0, -1.0, 2.0])
    assert w.grad == 0.0


def test_vmap_lift_argument_and_column_names():
    w = Value(2.0)
    with pytest.raises(TypeError, match="lift must be True or False"):
        engine.vmap(lambda x: w * x, [w], lift="yes")
    # names the generated code uses, or no names at all: x0, x1, ...
    step = engine.vmap(lambda theta, *rest: w * theta + rest[0], [w])
    assert step([1.0, 2.0], [3.0, 4.0]).tolist() == [5.0, 8.0]
    assert step.lifted.program.inputs == ["x0", "x1"]
    assert column_names(lambda x, x0: 0, 3) == ["x", "x0", "x2"]
    assert column_names(len, 2) == ["obj", "x1"]
    assert not usable_name("g_x") and not usable_name("class") and usable_name("x")
    # a column of empty rows is an input of no elements
    empty = engine.vmap(lambda x, extra: w * x + len(extra), [w])
    w.grad = None
    assert empty([1.0, 2.0], np.zeros((2, 0))).tolist() == [2.0, 4.0]
    assert w.grad == 1.5


def test_random_expression_trees_lift_within_the_bound():
    # every op of the table, random sharing: the lifted vmap against the per-entry one
    @given(expressions(min_inputs=2, max_ops=12), st.data())
    def check(expr, data):
        batch = data.draw(st.integers(1, 5))
        columns = [
            [x * data.draw(st.floats(0.9, 1.1)) for _ in range(batch)] for x in expr.inputs[1:]
        ]
        w = Value(expr.inputs[0])
        results = []
        for lift_it in (True, False):
            w.grad = None
            out = engine.vmap(lambda *xs: expr(w, *xs), [w], lift=lift_it)(*columns)
            results.append((out.tolist(), w.grad))
        (out, grad), (out2, grad2) = results
        agree = lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (a != a and b != b)
        assert all(agree(a, b) for a, b in zip(out, out2)) and agree(grad, grad2)

    check()


def test_a_masked_product_is_zero_whatever_arrives():
    from tapegrad.engine.formulas import ArrayMasked
    from tapegrad.engine.lift.batched import _product

    keep = np.array([[True, False, False, True]])
    g = np.array([[2.0, math.inf, math.nan, -3.0]])
    np_errors = np.seterr(all="ignore")  # as in BatchedProgram.run
    for local in (1.0, np.array([[0.5, 0.5, 0.5, 0.5]])):
        masked = ArrayMasked(keep, local)
        assert _product(masked, g).tolist() == (masked * g).tolist()
        assert _product(masked, g).tolist()[0][1:3] == [0.0, 0.0]
    finite = np.array([[2.0, 5.0, -1.0, -3.0]])
    assert _product(ArrayMasked(keep, 1.0), finite).tolist() == [[2.0, 0.0, 0.0, -3.0]]
    assert _product(2.0, finite).tolist() == (2.0 * finite).tolist()
    np.seterr(**np_errors)


def student_network(rng: random.Random):
    """A random student-written network: per neuron, its own order of the terms, an
    optional bias, its own activation; some weights shared with earlier ones; maybe a
    skip connection around each layer of the same width. Returns (fn, params)."""
    params: list = []

    def parameter():
        v = Value(rng.uniform(-1, 1))
        params.append(v)
        return v

    sizes = [rng.randint(1, 4)] + [rng.randint(1, 4) for _ in range(rng.randint(1, 3))] + [1]
    layers = []
    for nin, nout in itertools.pairwise(sizes):
        layer = []
        for _ in range(nout):
            w = [parameter() for _ in range(nin)]
            if rng.random() < 0.2:
                w[0] = rng.choice(params)  # one Value used by two neurons
            bias = parameter() if rng.random() < 0.8 else None
            activation = rng.choice(["relu", "tanh", "sigmoid", None])
            layer.append((w, bias, activation, rng.random() < 0.5))
        layers.append(layer)
    skip = rng.random() < 0.5

    def fn(x, y):
        h = list(x)
        for layer in layers:
            out = []
            for w, bias, activation, reverse in layer:
                terms = [wi * hi for wi, hi in zip(w, h)]
                terms = terms[::-1] if reverse else terms
                s = sum(terms[1:], terms[0]) if bias is None else sum(terms, bias)
                out.append(getattr(s, activation)() if activation else s)
            h = [o + a for o, a in zip(out, h)] if skip and len(out) == len(h) else out
        return (1 + -y[0] * h[0]).relu() + 0.5 * h[0] * h[0]

    return fn, sizes[0], list(dict.fromkeys(params))


def student_batch(seed: int, batch: int):
    """A random :func:`student_network` and a batch for it: (fn, params, X, Y)."""
    rng = random.Random(seed)
    fn, nin, params = student_network(rng)
    X = np.array([[rng.uniform(-2, 2) for _ in range(nin)] for _ in range(batch)])
    Y = np.array([[rng.choice([-1.0, 1.0])] for _ in range(batch)])
    return fn, params, X, Y


@given(st.integers(0, 2**32), st.integers(1, 7))
def test_random_student_networks_lift_within_the_bound(seed, batch):
    fn, params, X, Y = student_batch(seed, batch)
    results = []
    for lift_it in (True, False):
        for p in params:
            p.grad = None
        out = engine.vmap(fn, params, lift=lift_it)(X, Y)
        results.append((out.tolist(), [p.grad for p in params]))
    (out, grads), (exact_out, exact_grads) = results
    assert all(close(a, b) for a, b in zip(out, exact_out))
    assert all(close(a, b) for a, b in zip(grads, exact_grads))


def test_the_branchless_where_is_numpys_where_bit_for_bit():
    from tapegrad.engine.lift.batched import _BLEND_FROM, _where

    rng = np.random.default_rng(0)
    special = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -1.5]
    for size in (3, _BLEND_FROM, 3 * _BLEND_FROM + 1):
        x = rng.normal(size=(2, size))
        x.flat[: len(special)] = special
        for keep in (x < 0.0, x >= 0.0, np.zeros_like(x, dtype=bool), np.ones_like(x, dtype=bool)):
            for a, b in ((0.0, x), (x, 0.0), (-0.0, x), (x, -0.0), (x, 2.0 * x), (1.0, x)):
                got, want = _where(keep, a, b), np.where(keep, a, b)
                assert got.shape == want.shape and got.dtype == want.dtype
                assert np.array_equal(got.view(np.int64), want.view(np.int64))


def test_a_relus_backward_selection_is_the_masked_product_bit_for_bit():
    # the generated code writes a unit derivative masked by a comparison as
    # _masked_unless(c, g); it must give _product(ArrayMasked(not c, 1.0), g)'s bits
    from tapegrad.engine.formulas import ArrayMasked
    from tapegrad.engine.lift.batched import _BLEND_FROM, _masked_unless, _product

    rng = np.random.default_rng(1)
    special = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, -1.5]
    np_errors = np.seterr(all="ignore")
    for size in (3, _BLEND_FROM, 3 * _BLEND_FROM + 1):
        g = rng.normal(size=(2, size))
        g.flat[: len(special)] = special
        x = rng.normal(size=(2, size))
        for masked in (x <= 0.0, x[:, :1] <= 0.0, np.ones_like(x, dtype=bool), True, False):
            want = _product(ArrayMasked(np.logical_not(masked), 1.0), g)
            got = _masked_unless(masked, g)
            assert got.shape == want.shape
            assert np.array_equal(got.view(np.int64), want.view(np.int64))
    np.seterr(**np_errors)
    # and the code of a relu uses it, with the forward's comparison
    model = MLP(2, [3, 1], rng=random.Random(0))
    runner = BatchedProgram(lifted(hinge_loss(model), 2), model.parameters())
    assert "_masked_unless((s1 <= 0.0), g_z1)" in runner.source
    assert "logical_not" not in runner.source
    # the forward selects on x < 0 alone: (x <= 0) and (x < 0) is (x < 0)
    assert "z1 = _where((s1 < 0.0), 0.0, s1)" in runner.source
    assert "logical_and" not in runner.source


def test_nan_inf_and_signed_zeros_lift_as_the_per_entry_path_gives_them():
    # B large enough that the lifted program selects by bit masks (engine.lift.batched
    # _where), special values where relu, abs and sign branch, and an inf gradient
    # arriving at masked relu edges (the masked contribution must stay 0, not nan)
    from tapegrad.engine.lift.batched import _BLEND_FROM

    w, v = Value(1.5), Value(-0.5)
    special = [math.nan, math.inf, -math.inf, -0.0, 0.0, -1.0, 2.0]
    rng = random.Random(3)
    xs = special * 10 + [rng.uniform(-2, 2) for _ in range(_BLEND_FROM)]
    ys = [math.inf if rng.random() < 0.05 else rng.uniform(-1, 1) for _ in xs]

    def fn(x, y):
        return (x * w).relu() * y + (x * v).abs() + (x + v).sign() * w + (y * v).relu()

    results = []
    for lift_it in (True, False):
        w.grad = v.grad = None
        out = engine.vmap(fn, [w, v], lift=lift_it)(xs, ys, reduce="sum")
        results.append((out.tolist(), [w.grad, v.grad]))
    (out, grads), (out2, grads2) = results
    same = lambda a, b: (
        (a != a and b != b) or (a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    )
    assert all(same(a, b) for a, b in zip(out, out2))  # elementwise: the same IEEE ops
    assert all(same(a, b) or math.isclose(a, b, rel_tol=1e-12) for a, b in zip(grads, grads2))

    # masked edges only: the inf gradients never reach w
    w.grad = None
    masked_x = [-1.0] * 1100
    step = engine.vmap(lambda x, y: (x * w).relu() * y, [w])
    step(masked_x, [math.inf] * 1100, reduce="sum")
    assert w.grad == 0.0
