"""engine.to_torch: the lifted program as a torch.nn.Module (needs torch: marker ``torch``).

The module's outputs equal each sample's scalar loss, and its autograd gradients of
the batch mean equal ``backward()``'s within 1e-12 relative, on random models, a
student's own classes, a skip connection, shared weights and frozen Values; the
README's moons MLP trained with ``torch.optim.Adam`` gives ``nn.fit``'s losses within
1e-10; what cannot be exported is refused.
"""

import math
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.value import apply
from tapegrad.nn import MLP, Layer, Neuron, data, fit, losses, moons

from .test_lift import StudentMLP, hinge_loss, models

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

RTOL = 1e-12


def close(a: float, b: float, tol: float = RTOL) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


def columns(nin: int, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2, 2, size=(batch, nin)), rng.choice([-1.0, 1.0], size=(batch, 1))


def check_parity(fn, params, X, Y):
    """The module's outputs and its gradients of the batch mean against the scalar
    engine's per-sample losses and backward() of their mean."""
    params = list(params)
    module = engine.to_torch(fn, params, X, Y)
    out = module(X, Y)
    out.mean().backward()
    for p in params:
        p.grad = None
    per_sample = [fn([Value(v) for v in X[k]], [Value(Y[k, 0])]) for k in range(len(X))]
    losses.mean(per_sample).backward()
    assert out.dtype == torch.float64 and out.shape == (len(X),)
    assert all(close(a, b.data) for a, b in zip(out.tolist(), per_sample))
    grads = {}
    for name, values in module.values.items():
        tensor = getattr(module, name)
        if isinstance(tensor, torch.nn.Parameter):
            assert tensor.dtype == torch.float64
            for v, g in zip(values, tensor.grad.reshape(-1).tolist()):
                grads[id(v)] = grads.get(id(v), 0.0) + g
    for p in params:
        assert close(grads.get(id(p), 0.0), p.grad), (p, grads.get(id(p)), p.grad)
    return module


def test_an_mlp_exports_as_its_layers():
    model = MLP(2, [16, 16, 1], rng=random.Random(0))
    X, Y = columns(2, 7, 0)
    module = check_parity(hinge_loss(model), model.parameters(), X, Y)
    assert isinstance(module, torch.nn.Module)
    shapes = {name: tuple(p.shape) for name, p in module.named_parameters()}
    assert shapes == {
        "w0": (16, 2),
        "b0": (16,),
        "w1": (16, 16),
        "b1": (16,),
        "w2": (1, 16),
        "b2": (1,),
    }
    assert "s1 = F.linear(x, w0, b0)" in module.source
    assert "z1 = torch.relu(s1)" in module.source
    # the weight of neuron i on input j is w0[i, j]
    assert module.w0[3, 1].item() == model.layers[0].neurons[3].w[1].data
    assert "9 instructions" in repr(module)


@given(models(), st.integers(1, 9), st.integers(0, 2**16))
def test_random_models_give_backwards_gradients(drawn, batch, seed):
    """Random MLP shapes, activations (mixed per unit) and losses."""
    nin, model, loss = drawn
    check_parity(
        lambda x, y: getattr(losses, loss)(model(x), y[0]),
        model.parameters(),
        *columns(nin, batch, seed),
    )


@pytest.mark.parametrize("start_at_zero", [False, True])
def test_a_students_own_classes_export(start_at_zero):
    random.seed(3)
    model = StudentMLP(3, [5, 4, 1], start_at_zero=start_at_zero)
    module = check_parity(hinge_loss(model), model.parameters(), *columns(3, 5, 1))
    assert [tuple(p.shape) for p in module.parameters()] == [
        (5, 3),
        (5,),
        (4, 5),
        (4,),
        (1, 4),
        (1,),
    ]


def test_a_skip_connection_and_a_gather_export():
    model = MLP(3, [3, 3, 1], activation="tanh", rng=random.Random(6))
    first, second, last = model.layers
    layer = Layer(3, 4, rng=random.Random(9))
    out = Neuron(3, nonlin=False, rng=random.Random(10))

    def fn(x, y):
        h = first(x)
        h = [a + b for a, b in zip(second(h), h)]
        g = layer(h)
        return losses.hinge(last(h), y[0]) + losses.mse(out([g[3], x[0], g[2]]), y[0])

    module = check_parity(
        fn, [*model.parameters(), *layer.parameters(), *out.parameters()], *columns(3, 6, 2)
    )
    assert "torch.cat((" in module.source or "[:, self._i_" in module.source


def test_shared_weights_are_one_parameter():
    model = MLP(2, [4, 1], rng=random.Random(7))
    shared = model.layers[0].neurons[0].w[0]
    model.layers[0].neurons[2].w[0] = shared  # one Value used by two neurons
    params = list(dict.fromkeys(model.parameters()))
    module = check_parity(hinge_loss(model), params, *columns(2, 5, 3))
    assert "w0 = flat[self._i_w0]" in module.source
    assert module.values["tied"].count(shared) == 1
    # trained in PyTorch, the tied weight stays one number
    with torch.no_grad():
        module.tied.add_(1.0)
    module.copy_to_values()
    assert model.layers[0].neurons[2].w[0].data == shared.data


def test_values_not_trained_are_buffers():
    model = MLP(2, [3, 1], rng=random.Random(8))
    frozen = model.layers[0].neurons[1].b
    params = [p for p in model.parameters() if p is not frozen]
    module = check_parity(hinge_loss(model), [*params, Value(1.0)], *columns(2, 4, 4))
    assert frozen in module.values["fixed"]
    assert "fixed" in dict(module.named_buffers())
    assert sum(p.numel() for p in module.parameters()) == len(params)


def test_a_parameter_used_as_a_constant_is_a_constant():
    # The constant is read before the trace: a read of w.data inside fn is refused
    # (issue 18 item 1), since the tape would not follow w when it is trained.
    w, v = Value(0.5), Value(-1.5)
    w_now, v_now = w.data, v.data

    def fn(x, y):
        return (x[0] * w + x[1] * w_now + v_now).tanh() * y[0]

    module = check_parity(fn, [w, v], *columns(2, 5, 5))
    assert [name for name, _ in module.named_parameters()] == ["p0"]


def test_reading_a_parameters_number_inside_the_function_is_refused():
    w = Value(0.5)

    def fn(x, y):
        return (x[0] * w + x[1] * w.data).tanh() * y[0]

    with pytest.raises(engine.TracedReadError, match=r"\.data"):
        engine.to_torch(fn, [w], *columns(2, 5, 5))


def test_what_does_not_group_runs_per_entry():
    w = Value(0.5)

    def fn(x, y):
        a = (x[0] * w).exp()
        b = (x[1] - a).sin() ** 2.0 / (abs(x[0]) + 1.0).sqrt()
        return (b * y[0]).sigmoid().log() + a.cos() - (-b).relu() + b.sign()

    module = check_parity(fn, [w], *columns(2, 6, 6))
    assert module.program.lifted_fraction == 0.0
    assert "torch.pow(" in module.source


def test_watched_outputs_come_back_in_fns_nesting():
    model = MLP(2, [3, 2], rng=random.Random(11))

    def fn(x, y):
        out = model(x)
        return losses.mse(out[0], y[0]) + 0.5 * out[1], out, out[1]

    X, Y = columns(2, 5, 7)
    module = engine.to_torch(fn, model.parameters(), X, Y)
    loss, outs, second = module(X, Y)
    assert outs.shape == (5, 2) and second.shape == (5,)
    for k in range(5):
        expected = model([Value(v) for v in X[k]])
        assert [round(a, 12) for a in outs[k].tolist()] == [round(e.data, 12) for e in expected]
        assert close(second[k].item(), expected[1].data)
        assert close(loss[k].item(), (expected[0].data - Y[k, 0]) ** 2 + 0.5 * expected[1].data)


def test_copy_to_values_and_back():
    model = MLP(2, [3, 1], rng=random.Random(12))
    X, Y = columns(2, 4, 8)
    module = engine.to_torch(hinge_loss(model), model.parameters(), X, Y)
    before = [p.data for p in model.parameters()]
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(2.0)
    assert [p.data for p in model.parameters()] == before  # nothing written yet
    module.copy_to_values()
    assert [p.data for p in model.parameters()] == [2.0 * b for b in before]
    for p in model.parameters():
        p.data = 0.25
    module.copy_from_values()
    assert all((p == 0.25).all() for p in module.parameters())
    expected = [hinge_loss(model)([Value(v) for v in X[k]], [Value(Y[k, 0])]) for k in range(4)]
    assert all(close(a, b.data) for a, b in zip(module(X, Y).tolist(), expected))


def test_the_module_moves_between_devices_and_takes_tensors():
    model = MLP(2, [3, 1], rng=random.Random(13))
    X, Y = columns(2, 4, 9)
    module = engine.to_torch(hinge_loss(model), model.parameters(), X, Y)
    module = module.to(torch.device("cpu"))
    a = module(torch.tensor(X), torch.tensor(Y))
    b = module(X.tolist(), Y[:, 0].tolist())  # one number per sample: a column of numbers
    assert torch.equal(a, b)


def test_every_tensor_moves_with_the_module():
    """On PyTorch's meta device (shapes only, no numbers) forward and backward run only
    if every parameter, buffer, index and constant moved with ``.to``."""
    model = MLP(3, [3, 3, 1], activation="tanh", rng=random.Random(6))
    first, second, last = model.layers
    layer = Layer(3, 4, rng=random.Random(9))
    out = Neuron(3, nonlin=False, rng=random.Random(10))

    def fn(x, y):  # a gather from two vectors, a skip connection, constants
        h = first(x)
        h = [a + b for a, b in zip(second(h), h)]
        g = layer(h)
        return losses.hinge(last(h), y[0]) + losses.mse(out([g[3], x[0], g[2]]), y[0])

    params = [*model.parameters(), *layer.parameters(), *out.parameters()]
    module = engine.to_torch(fn, params, *columns(3, 4, 18)).to("meta")
    assert "gather" in [i.op for i in module.program.instructions]
    meta = [torch.empty(shape, dtype=torch.float64, device="meta") for shape in ((4, 3), (4, 1))]
    result = module(*meta)
    assert result.device.type == "meta" and result.shape == (4,)
    result.mean().backward()
    assert all(p.grad.device.type == "meta" for p in module.parameters())


def test_bad_columns_are_refused():
    model = MLP(2, [3, 1], rng=random.Random(14))
    X, Y = columns(2, 4, 10)
    module = engine.to_torch(hinge_loss(model), model.parameters(), X, Y)
    with pytest.raises(TypeError, match="takes 2 column"):
        module(X)
    with pytest.raises(ValueError, match="column 'x' must have one row of 2"):
        module(X[:, :1], Y)
    with pytest.raises(ValueError, match="one entry per sample"):
        module(X, Y[:3])
    with pytest.raises(TypeError, match="column 'x' must hold real numbers"):
        module([["a", "b"]], Y[:1])
    # float32 data has lost tapegrad's precision already: refused, not converted
    for low in (torch.tensor(X, dtype=torch.float32), X.astype(np.float32)):
        with pytest.raises(TypeError, match=r"float32 numbers.*float64"):
            module(low, Y)
    assert module(torch.tensor(X), torch.tensor(Y, dtype=torch.int64)).dtype == torch.float64


def test_an_argument_fn_does_not_read_is_taken_and_ignored():
    # to_torch lifts its own per-sample leaves: an unread column is not refused as
    # engine.lift refuses a Value the root does not depend on
    w = [Value(0.5), Value(-0.3)]

    def model(x, y):
        return (w[0] * x[0] + w[1] * x[1]).tanh()

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=5)
    module = engine.to_torch(model, w, X, Y)
    expected = [math.tanh(0.5 * a - 0.3 * b) for a, b, _ in X]
    assert module(X, Y).tolist() == pytest.approx(expected, rel=1e-12)


def test_a_tape_that_changes_with_the_data_is_refused():
    w = Value(0.5)

    def fn(x, y):
        return (x[0] * w).relu() if x[0].data > 0 else x[0] * w * y[0]

    X, Y = columns(1, 8, 11)
    with pytest.raises(engine.GraphChangedError):
        engine.to_torch(fn, [w], X, Y)


@pytest.fixture
def added_rows():
    """Two rows added with register_op (removed again after the test): a smooth one and
    one whose derivative is masked (a selection, as relu's)."""
    rows = [
        engine.Op("cube", 1, "x * x * x", ("3.0 * x * x",), "cube", "x³;  d/dx = 3x²"),
        engine.Op(
            "hinge_at",
            2,
            "where(x > y, x - y, 0.0)",
            ("mask(x > y, 1.0)", "mask(x > y, -1.0)"),
            "hinge_at",
            "max(0, x - y);  d/dx = 1, d/dy = -1 where x > y, else 0",
            operators=("__hinge_at__", "__rhinge_at__"),
        ),
    ]
    for row in rows:
        engine.ops.register_op(row)
    yield rows
    for row in rows:
        engine.ops.unregister_op(row.name)


def test_a_registered_row_exports_through_its_numpy_form(added_rows):
    model = MLP(2, [3, 1], activation="tanh", rng=random.Random(15))

    def fn(x, y):
        h = [v.cube() for v in x]  # one elementwise instruction of the new row
        out = model(h)
        hinge_at = engine.OPS["hinge_at"]
        return apply(hinge_at, out, y[0] * 0.5) + apply(hinge_at, out * y[0], x[0])

    module = check_parity(fn, model.parameters(), *columns(2, 6, 14))
    assert "RowFunction.apply(OPS['cube'], x)" in module.source
    assert "RowFunction.apply(OPS['hinge_at']" in module.source


def test_the_readme_moons_mlp_trains_the_same_in_pytorch():
    """``fit(model, X, y, optimizer="adam", lr=0.03, epochs=30, batch_size=10,
    l2=1e-4)`` (README, and ``tapegrad train``'s defaults) against the same loop in
    PyTorch with ``torch.optim.Adam``: the same batches, the same losses within 1e-10."""
    X, y = moons(100, seed=0)
    ours, theirs = (MLP(2, [8, 8, 1], rng=random.Random(0)) for _ in range(2))
    history = fit(
        ours, X, y, optimizer="adam", lr=0.03, epochs=30, batch_size=10, l2=1e-4, progress=False
    )

    module = engine.to_torch(lambda x, y: losses.hinge(theirs(x), y), theirs.parameters(), X, y)
    opt = torch.optim.Adam(module.parameters(), lr=0.03)
    rng = random.Random(0)
    update_loss = []
    for _ in range(30):
        for xb, yb in data.batches(X, y, 10, shuffle=True, rng=rng):
            opt.zero_grad()
            l2 = sum((p * p).sum() for p in module.parameters())
            loss = module(xb, yb).mean() + 1e-4 * l2
            loss.backward()
            opt.step()
            update_loss.append(loss.item())
    assert len(update_loss) == len(history.update_loss) == 300
    assert max(abs(a - b) for a, b in zip(update_loss, history.update_loss)) <= 1e-10
    module.copy_to_values()
    assert all(
        abs(a.data - b.data) <= 1e-10 for a, b in zip(ours.parameters(), theirs.parameters())
    )


def test_the_benchmarks_two_implementations_agree():
    """benchmarks/torch_export.py refuses to time an export that disagrees with the
    hand-written PyTorch model; run that check on a small batch (no timing here)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "torch_export.py"
    spec = importlib.util.spec_from_file_location("torch_export", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    X, y = moons(20, seed=1)
    model = MLP(2, [16, 16, 1], rng=random.Random(1))
    bench.agree(bench.exported(model, X, y), bench.hand_written(model, X, y))
    other = MLP(2, [16, 16, 1], rng=random.Random(2))
    with pytest.raises(SystemExit, match="disagree"):
        bench.agree(bench.exported(other, X, y), bench.hand_written(model, X, y))


def test_inputs_named_like_the_generated_code_are_renamed():
    w = Value(0.5)

    def fn(self, torch, *rest):  # names the forward code uses for itself
        return (self[0] * w).tanh() * torch[0]

    X, Y = columns(1, 4, 13)
    module = engine.to_torch(fn, [w], X, Y)
    assert module.program.inputs == ["x0", "x1"]
    expected = [fn([Value(X[k, 0])], [Value(Y[k, 0])]).data for k in range(4)]
    assert all(close(a, b) for a, b in zip(module(X, Y).tolist(), expected))
    # names the lifted program keeps for itself (engine.lift.RESERVED, g_ and d_) are
    # renamed too: they made lift() raise ValueError before
    module = engine.to_torch(lambda seed, g_y: fn(seed, g_y), [w], X, Y)
    assert module.program.inputs == ["x0", "x1"]
    assert all(close(a, b) for a, b in zip(module(X, Y).tolist(), expected))


def test_shared_results_broadcasts_and_a_root_shared_by_every_sample():
    w, v = Value(0.7), Value(-0.3)
    h = (w * 2.0).tanh()  # computed outside fn from a parameter: the same for every sample

    def fn(x, y):
        copies = [x[0].relu() for _ in range(3)]  # three entries of one op on one input
        return sum((c * h for c in copies), v) * y[0] + x[1] * w

    module = check_parity(fn, [w, v], *columns(2, 5, 16))
    assert module.program.lifted_fraction > 0.0

    def constant(x, y):  # a loss that reads no sample: every sample gets the same number
        return (w * v).exp()

    X, Y = columns(2, 3, 17)
    out = engine.to_torch(constant, [w, v], X, Y)(X, Y)
    assert out.tolist() == [math.exp(w.data * v.data)] * 3
