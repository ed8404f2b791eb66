"""The node: construction, conversion, identity, repr and micrograd compatibility."""

import decimal
import fractions
import math
import re

import numpy as np
import pytest
from hypothesis import given

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.strategies import floats_between


@pytest.mark.parametrize(
    "data, expected",
    [
        (2, 2.0),
        (2.5, 2.5),
        (-0.0, -0.0),
        (fractions.Fraction(1, 4), 0.25),
        (decimal.Decimal("1.5"), 1.5),
        (np.float64(3.25), 3.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (math.inf, math.inf),
    ],
    ids=lambda v: type(v).__name__,
)
def test_data_is_always_a_python_float(data, expected):
    v = Value(data)
    assert type(v.data) is float
    assert v.data == expected
    assert v.grad == 0.0 and type(v.grad) is float


@pytest.mark.parametrize(
    "bad",
    ["1.0", None, 1 + 2j, True, False, [1.0], (1.0,), {"a": 1}, np.bool_(True), object()],
    ids=lambda v: type(v).__name__,
)
def test_bad_data_types_raise_type_error_naming_the_type(bad):
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_a_value_is_not_accepted_as_data():
    with pytest.raises(TypeError, match=r"value\.data"):
        Value(Value(1.0))


def test_huge_int_raises_value_error():
    with pytest.raises(ValueError, match="too large for a float64"):
        Value(10**400)


def test_builtin_abs_is_the_abs_op():
    x = Value(-2.0)
    y = abs(x)
    assert y.data == 2.0 and y.op == "abs" and y.parents == (x,)


def test_bad_operand_types_raise():
    x = Value(1.0)
    for bad in ("2", None, [1.0], True):
        with pytest.raises(TypeError):
            x + bad
        with pytest.raises(TypeError):
            bad * x
    with pytest.raises(TypeError, match="label"):
        Value(1.0, label=3)


def test_micrograd_constructor_and_names():
    a = Value(2.0, label="a")
    b = Value(-3.0, (), "", "b")
    c = a * b
    assert c._op == "*" and (a + b)._op == "+" and a.tanh()._op == "tanh"
    assert (a**2)._op == "**2"
    assert set(c._prev) == {a, b}
    with pytest.raises(AttributeError):
        c._prev = ()
    with pytest.raises(AttributeError):
        c._op = "+"


def test_micrograd_style_user_op_needs_local_grads():
    x = Value(0.5)
    blind = Value(math.exp(x.data), (x,), "myexp")
    with pytest.raises(RuntimeError, match="local_grads"):
        blind.backward()
    y = Value(math.exp(x.data), (x,), "myexp", local_grads=(math.exp(x.data),))
    y.backward()
    assert x.grad == math.exp(0.5)
    with pytest.raises(ValueError, match="local_grads has 2 entries for 1 children"):
        Value(1.0, (x,), "f", local_grads=(1.0, 2.0))
    with pytest.raises(TypeError, match="Values"):
        Value(1.0, (1.0,), "f")


def test_parents_are_ordered_with_duplicates():
    x = Value(3.0)
    y = x * x
    assert y.parents == (x, x)
    assert y.local_grads == (3.0, 3.0)
    assert y._prev == (x,)  # micrograd's view: distinct children
    assert x.is_leaf and not y.is_leaf


def test_constants_are_not_nodes():
    x = Value(3.0)
    y = 2.0 * x
    assert y.parents == (x,) and y.constant == (0, 2.0)
    z = x - 1
    assert z.parents == (x,) and z.constant == (1, 1.0) and z.op == "sub"


def test_identity_equality_and_hashing():
    a, b = Value(1.0), Value(1.0)
    assert a != b and a == a
    assert len({a, b}) == 2
    assert hash(a) != hash(b)


def test_user_attributes_on_leaves_and_op_results():
    # karpathy's newer micrograd keeps optimizer state and a colour on parameters;
    # DeZero names op results. Issue 10 changed this: Values used to refuse them.
    p = Value(1.0)
    p.m, p.v, p.color = 0.0, 0.0, "red"
    z = p * 2.0
    z.name = "z"
    assert (p.m, p.v, p.color, z.name) == (0.0, 0.0, "red", "z")
    assert engine.topological_order(z)[-1].name == "z"  # the walk returns the held object
    z.backward()
    assert p.grad == 2.0 and z.name == "z"
    with pytest.raises(AttributeError):
        getattr(Value(1.0), "anything")  # noqa: B009  (an attribute never set is an error)
    with pytest.raises(AttributeError, match="local derivatives"):
        z._backward = lambda: None  # micrograd's closures get a pointer, not a silent store


def test_micrograd_op_strings_for_every_micrograd_op():
    # micrograd's engine has + * ** relu; its lecture version adds tanh and exp
    x, y = Value(2.0), Value(3.0)
    assert (x + y)._op == "+" and (x + 1)._op == "+" and (1 + x)._op == "+"
    assert (x * y)._op == "*" and (x * 2)._op == "*" and (2 * x)._op == "*"
    assert (x**2)._op == "**2" and (x**-1)._op == "**-1" and (x**0.5)._op == "**0.5"
    assert x.relu()._op == "ReLU"
    assert x.tanh()._op == "tanh" and x.exp()._op == "exp"
    assert x._op == ""


@pytest.mark.parametrize(
    "number",
    [np.float64(3.0), np.float32(3.0), np.int64(3), np.array(3.0), np.array(3, dtype=np.int32)],
    ids=lambda v: f"{type(v).__name__}-{v.dtype}",
)
def test_numpy_scalars_and_0d_arrays_on_either_side_and_in_the_constructor(number):
    x = Value(2.0)
    assert Value(number).data == 3.0 and type(Value(number).data) is float
    for out, want in [
        (x + number, 5.0),
        (number + x, 5.0),
        (x - number, -1.0),
        (number - x, 1.0),
        (x * number, 6.0),
        (number * x, 6.0),
        (x / number, 2.0 / 3.0),
        (number / x, 1.5),
        (x**number, 8.0),
        (number**x, 9.0),
    ]:
        assert type(out) is Value and type(out.data) is float and out.data == want
        assert type(out.constant[1]) is float
    (x * number + number * x).backward()
    assert x.grad == 6.0


@pytest.mark.parametrize(
    "array", [np.array([1.0, 2.0]), np.zeros((2, 3)), np.array([1.0])], ids=lambda a: str(a.shape)
)
def test_numpy_arrays_of_one_or_more_dimensions_are_refused_naming_the_shape(array):
    x = Value(2.0)
    shape = re.escape(str(array.shape))
    for attempt in (lambda: Value(array), lambda: x + array, lambda: array + x, lambda: x**array):
        with pytest.raises(TypeError, match=f"numpy array of shape {shape}"):
            attempt()


def test_numpy_0d_arrays_that_are_not_real_numbers_are_refused():
    for bad in (np.array(True), np.array(1 + 2j), np.array("3")):
        with pytest.raises(TypeError, match="ndarray"):
            Value(bad)


def test_repr():
    assert repr(Value(2.0)) == "Value(data=2.0, grad=0.0)"
    assert repr(Value(2.0, label="x")) == "Value(data=2.0, grad=0.0, label='x')"


def test_no_grad_records_nothing():
    x = Value(2.0)
    with engine.no_grad():
        assert not engine.is_grad_enabled()
        y = x * x + 1
        with engine.enable_grad():
            z = x * 3
    assert engine.is_grad_enabled()
    assert y.is_leaf and y.data == 5.0
    assert z.parents == (x,)
    y.backward()
    assert x.grad == 0.0  # nothing flowed back through the unrecorded op


def test_no_grad_restores_state_after_an_exception():
    with pytest.raises(ZeroDivisionError), engine.no_grad():
        _ = 1 / 0
    assert engine.is_grad_enabled()


def test_scope_tags_every_new_value_with_one_shared_object():
    x = Value(1.0)
    with engine.scope("mlp") as outer:
        a = x * 2
        with engine.scope("layer0") as inner:
            b = a + 1
            c = b.tanh()
            w = Value(0.3)
        d = c * a
    e = d + 1
    assert x.scope is None and e.scope is None
    assert a.scope is outer and d.scope is outer
    assert b.scope is inner and c.scope is inner and w.scope is inner
    assert inner.path == "mlp.layer0" and inner.parent is outer and inner.depth == 1
    assert [s.name for s in inner.chain()] == ["mlp", "layer0"]
    assert engine.current_scope() is None
    with pytest.raises(TypeError):
        with engine.scope(""):
            pass


def test_detect_anomaly_names_the_op_and_inputs():
    x = Value(0.0, label="x")
    with engine.detect_anomaly():
        ok = (x + 1).log()
        assert ok.data == 0.0
        with pytest.raises(engine.AnomalyError, match=r"op 'log'.*x=0.0"):
            x.log()
    assert x.log().data == -math.inf  # off again: IEEE results, no error


def test_detect_anomaly_reports_where_nonfinite_first_appears():
    big = Value(1000.0, label="big")
    with engine.detect_anomaly(), pytest.raises(engine.AnomalyError, match="exp"):
        big.exp()
    inf = Value(math.inf, label="given")
    with engine.detect_anomaly():
        assert (inf + 1).data == math.inf  # the input was already inf: not this op's fault


def test_set_detect_anomaly_flag():
    engine.set_detect_anomaly(True)
    try:
        assert engine.is_anomaly_enabled()
        with pytest.raises(engine.AnomalyError, match="sqrt"):
            Value(-1.0, label="neg").sqrt()
    finally:
        engine.set_detect_anomaly(False)
    assert not engine.is_anomaly_enabled()
    with pytest.raises(TypeError):
        engine.set_detect_anomaly("yes")


def test_anomaly_reports_nonfinite_local_derivative():
    with engine.detect_anomaly(), pytest.raises(engine.AnomalyError, match="local derivative"):
        Value(0.0).sqrt()  # sqrt(0) = 0 is fine, d/dx = inf is not


def test_micrograd_sanity_check():
    # micrograd's test_sanity_check; expected numbers are PyTorch's (float64).
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.data == -20.0
    assert x.grad == 46.0


def test_micrograd_more_ops():
    # micrograd's test_more_ops; expected numbers are PyTorch's (float64).
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert abs(g.data - 24.70408163265306) < 1e-12
    assert abs(a.grad - 138.83381924198252) < 1e-10
    assert abs(b.grad - 645.5772594752186) < 1e-10


def test_one_scope_object_may_be_entered_again_inside_itself():
    s = engine.scope("block")
    with s as outer:
        with s as inner:
            assert inner.path == "block.block"
        assert engine.current_scope() is outer
    assert engine.current_scope() is None
    assert (Value(1.0) * 2.0).scope is None


def test_anomaly_catches_division_by_zero_and_user_ops():
    x = Value(1.0, label="one")
    with engine.detect_anomaly():
        with pytest.raises(
            engine.AnomalyError, match=r"op .div. produced a non-finite result: result=inf"
        ):
            x / 0
        with pytest.raises(engine.AnomalyError, match=r"'myop' .* non-finite local derivative"):
            Value(1.0, (x,), "myop", local_grads=(math.inf,))
        with pytest.raises(engine.AnomalyError, match=r"'myop' .* non-finite result"):
            Value(math.nan, (x,), "myop", local_grads=(1.0,))
    assert (x / 0).data == math.inf  # without detection: IEEE, as PyTorch


def test_a_gradient_set_to_none_counts_as_zero():
    p = Value(2.0)
    p.grad = None  # PyTorch's way of clearing a gradient
    assert p.grad == 0.0
    (p * 3.0).backward()
    assert p.grad == 3.0


@pytest.mark.parametrize("seed", [None, "1", True, Value(1.0)])
def test_a_bad_backward_seed_is_named_as_such(seed):
    with pytest.raises(TypeError, match=r"backward\(grad=...\) expects a real number"):
        (Value(1.0) * 2.0).backward(seed)


def test_micrograd_style_closures_get_a_pointer_to_local_grads():
    out = Value(1.0) * 2.0
    with pytest.raises(AttributeError, match=r"local_grads=\(d data/d x"):
        out._backward = lambda: None
    with pytest.raises(AttributeError, match="not _backward closures"):
        out._backward()


@given(floats_between(-1e6, 1e6), floats_between(-1e6, 1e6, (0.0,)))
def test_division_is_true_division_as_in_pytorch(a, b):
    # One op, not x * y**-1 (micrograd's way), so 49 / 49 is exactly 1.0.
    assert (Value(a) / Value(b)).data == a / b
    assert (Value(a) / b).data == a / b
    assert (a / Value(b)).data == a / b
    q = Value(a) / Value(b)
    assert q.op == "div" and q.local_grads == (1.0 / b, -(a / b) / b)  # PyTorch's formula
    assert (Value(49.0) / Value(49.0)).data == 1.0


def test_name_is_the_label_and_every_handle_sees_it():
    # DeZero names op results (z.name = "z") and reads the names by walking the graph.
    x = Value(2.0)
    x.name = "x"
    y = x * x
    y.name = "y"
    z = y + x
    assert [p.name for p in z._prev] == ["y", "x"]
    assert y.label == "y" and x.label == "x"
    with pytest.raises(TypeError, match="label must be a str"):
        z.name = 3


def test_user_attributes_on_leaves_and_results():
    # karpathy's newer micrograd keeps optimizer state on parameters.
    p = Value(1.0)
    p.m, p.v, p.color = 0.0, 0.0, "red"
    assert (p.m, p.v, p.color) == (0.0, 0.0, "red")
    q = p * 2.0
    q.note = "kept on this handle"
    assert q.note == "kept on this handle"


def test_a_leaf_without_gradient_reads_zero_and_keeps_the_first_contributions_sign():
    import copy
    import pickle

    from tapegrad.engine.wengert import NO_GRAD

    x, y = Value(0.0), Value(-0.0)
    assert x.grad == 0.0 and math.copysign(1.0, x.grad) == 1.0  # reads as micrograd's 0.0
    for clone in (copy.deepcopy(x), pickle.loads(pickle.dumps(x)), copy.copy(x)):
        assert clone._g is NO_GRAD and math.copysign(1.0, clone.grad) == 1.0
    (x * y).backward()  # d/dx = y = -0.0: PyTorch's first contribution, sign kept
    assert math.copysign(1.0, x.grad) == -1.0
    x.grad = None  # PyTorch's "no gradient yet"
    assert x._g is NO_GRAD and x.grad == 0.0
    x.zero_grad()
    assert x._g is NO_GRAD
