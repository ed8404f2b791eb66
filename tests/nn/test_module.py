"""Module: parameter discovery, names, zero_grad, config, registry, scopes."""

import math
import random

import pytest

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.nn import MLP, Layer, Neuron
from tapegrad.nn.module import MODEL_REGISTRY, Module


class Pair(Module):
    """Two neurons sharing nothing, plus a private Value that is not a parameter."""

    def __init__(self, nin=2):
        self.left = Neuron(nin, rng=random.Random(0))
        self.right = Neuron(nin, rng=random.Random(1))
        self.scale = Value(2.0)
        self._cache = Value(9.0)
        self.note = "not a parameter"

    def forward(self, x):
        return self.scale * (self.left(x) + self.right(x))

    def config(self):
        return {"nin": len(self.left.w)}


def test_named_parameters_follow_attribute_order_and_index():
    model = Pair()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "left.w.0",
        "left.w.1",
        "left.b",
        "right.w.0",
        "right.w.1",
        "right.b",
        "scale",
    ]
    assert model.parameters() == [v for _, v in model.named_parameters()]
    assert model.num_parameters() == 7


def test_mlp_names_read_like_attribute_access():
    model = MLP(3, [4, 2], rng=random.Random(0))
    named = dict(model.named_parameters())
    assert named["layers.0.neurons.3.w.1"] is model.layers[0].neurons[3].w[1]
    assert named["layers.1.neurons.1.b"] is model.layers[1].neurons[1].b
    assert len(named) == model.num_parameters() == 4 * (3 + 1) + 2 * (4 + 1)


def test_nested_lists_and_shared_values_are_named_once():
    class Grid(Module):
        def __init__(self):
            shared = Value(1.0)
            self.w = [[Value(0.0), shared], [shared, Value(3.0)]]

    names = [name for name, _ in Grid().named_parameters()]
    assert names == ["w.0.0", "w.0.1", "w.1.1"]


def test_zero_grad_clears_every_parameter():
    model = MLP(2, [3, 1], rng=random.Random(0))
    model([1.0, -2.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_config_rebuilds_the_same_architecture():
    for model in (
        Neuron(3, activation="tanh"),
        Layer(2, 5, nonlin=False),
        MLP(2, [4, 4, 3], activation="sigmoid", output_activation="tanh"),
        MLP(5, [1]),
    ):
        rebuilt = type(model)(**model.config())
        assert rebuilt.config() == model.config()
        assert [n for n, _ in rebuilt.named_parameters()] == [
            n for n, _ in model.named_parameters()
        ]
        assert repr(rebuilt) == repr(model)


def test_every_subclass_is_registered_by_name():
    for cls in (Neuron, Layer, MLP, Pair):
        assert MODEL_REGISTRY[cls.__name__] is cls


def test_base_module_without_forward_or_config_says_so():
    class Bare(Module):
        pass

    with pytest.raises(NotImplementedError, match="Bare does not define forward"):
        Bare()(1.0)
    with pytest.raises(NotImplementedError, match="Bare does not define config"):
        Bare().config()
    assert repr(Bare()) == "Bare()"


def test_scopes_name_each_op_by_module_path():
    model = MLP(2, [3, 1], rng=random.Random(0))
    out = model([1.0, 2.0])
    paths = {node.scope.path for node in engine.topological_order(out) if node.scope}
    assert "MLP.layers.0.neurons.2" in paths
    assert "MLP.layers.1.neurons.0" in paths
    # The output's own op was made inside the last neuron.
    assert out.scope.path == "MLP.layers.1.neurons.0"
    chain = [s.name for s in out.scope.chain()]
    assert chain == ["MLP", "layers.1", "neurons.0"]
    # Parameters are made outside any call: no scope.
    assert all(p.scope is None for p in model.parameters())


def test_a_child_called_alone_is_scoped_by_its_class_name():
    model = MLP(2, [3, 1], rng=random.Random(0))
    out = model.layers[0]([1.0, 2.0])
    assert out[1].scope.path == "Layer.neurons.1"


def test_custom_module_scopes_children_by_attribute():
    out = Pair()([1.0, 1.0])
    paths = {n.scope.path for n in engine.topological_order(out) if n.scope}
    assert {"Pair", "Pair.left", "Pair.right"} <= paths
    assert engine.current_scope() is None


def test_reassigning_children_renames_their_scopes():
    model = Pair()
    model([1.0, 1.0])
    first = model.left
    model.left, model.right = model.right, model.left
    nodes = engine.topological_order(model([1.0, 1.0]))
    made_by_first = [n for n in nodes if n.scope and n.parents and first.w[0] in n.parents]
    assert made_by_first and all(n.scope.path == "Pair.right" for n in made_by_first)


def test_parameters_held_in_dicts_are_found_and_scoped():
    from tapegrad import engine
    from tapegrad.nn import Module, Neuron

    class TwoHeads(Module):
        def __init__(self):
            self.heads = {"left": Neuron(2, nonlin=False), "right": Neuron(2, nonlin=False)}
            self.extra = {"scale": engine.Value(2.0), "nested": [{"bias": engine.Value(0.5)}]}

        def forward(self, x):
            left = self.heads["left"](x)
            return left * self.extra["scale"] + self.heads["right"](x)

    model = TwoHeads()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        "heads.left.w.0",
        "heads.left.w.1",
        "heads.left.b",
        "heads.right.w.0",
        "heads.right.w.1",
        "heads.right.b",
        "extra.scale",
        "extra.nested.0.bias",
    ]
    out = model([1.0, 2.0])
    scopes = {v.scope.path for v in engine.topological_order(out) if v.scope is not None}
    assert "TwoHeads.heads.left" in scopes and "TwoHeads.heads.right" in scopes


def test_a_called_module_marks_its_parameters_for_the_drawings():
    # Without params=/observed=, the blocks view draws a module's weights inside its
    # blocks (the w of G(x, w)), not as observed inputs (QA: 41 grey circles).
    import random

    from tapegrad.engine import _costs, draw
    from tapegrad.nn import MLP

    random.seed(0)
    model = MLP(3, [4, 4, 1])
    assert not any(_costs.is_parameter(p) for p in model.parameters())
    out = model([1.0, -2.0, 0.5])
    assert all(_costs.is_parameter(p) for p in model.parameters())
    source = draw(out, "blocks", collapse="layers").source
    assert "16 parameters" in source and "20 parameters" in source
    assert source.count('"#dddddd"') == 1  # one observed input, x
    explicit = draw(out, "blocks", collapse="layers", params=model).source
    assert explicit == source


def test_mark_parameters_refuses_non_leaves():
    import pytest

    from tapegrad.engine import Value, mark_parameters

    x = Value(1.0)
    with pytest.raises(TypeError, match="leaf Values"):
        mark_parameters([x, x * 2.0])
    with pytest.raises(TypeError, match="leaf Values"):
        mark_parameters([1.0])


def test_zero_grad_means_no_gradient_as_value_zero_grad_does():
    model = MLP(1, [1], rng=random.Random(0))
    model([1.0]).backward()
    model.zero_grad()
    (model.parameters()[0] * -0.0).backward()
    w = model.parameters()[0]
    assert w.grad == 0.0 and math.copysign(1.0, w.grad) == -1.0  # the sum started at -0.0
