"""engine.draw_program: a lifted tape drawn as the lecture's block diagram.

For nn's MLPs it gives draw_model's DOT byte for byte (the same figure, read from the
tape instead of the classes), so a student's own classes draw as nn's do; costs are
red squares by cost scope; what is not a layer draws as blocks named by their op.
"""

import random

import pytest

from tapegrad import engine
from tapegrad.engine import Value
from tapegrad.engine.block_diagram import draw_program
from tapegrad.nn import MLP, Perceptron, losses
from tapegrad.nn.diagram import draw_model

from .test_lift import StudentMLP, StudentNeuron


def lifted_loss(model, nin: int, loss: str):
    x = [Value(0.1 * (i + 1)) for i in range(nin)]
    y = Value(1.0)
    return engine.lift(losses.LOSSES[loss](model(x), y), {"x": x, "y": [y]})


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("loss", ["hinge", "mse"])
@pytest.mark.parametrize("rankdir", ["LR", "BT"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_an_mlps_program_draws_as_draw_model(activation, loss, rankdir, theme):
    model = MLP(2, [5, 3, 1], activation=activation, rng=random.Random(0))
    drawn = engine.draw_program(lifted_loss(model, 2, loss), rankdir=rankdir, theme=theme)
    expected = draw_model(model, loss=loss, rankdir=rankdir, theme=theme)
    assert drawn.source == expected.source


@pytest.mark.parametrize(
    "sizes, loss",
    [
        ([16, 16, 1], None),
        ([16, 16, 1], "hinge"),
        ([16, 16, 1], "mse"),
        ([4, 3], None),
        ([4, 3], "cross_entropy"),
        ([1], "hinge"),
    ],
)
def test_a_students_own_classes_draw_as_nns(sizes, loss):
    random.seed(1)
    student = StudentMLP(3, sizes)  # tanh hidden units, a linear output layer
    ours = MLP(3, sizes, activation="tanh", rng=random.Random(1))
    assert draw_model(student, nin=3, loss=loss).source == draw_model(ours, loss=loss).source


def test_several_costs_and_their_sum():
    model = MLP(2, [3, 1], rng=random.Random(2))
    x, y = [Value(0.3), Value(-0.4)], Value(1.0)
    out = model(x)
    program = engine.lift(losses.hinge(out, y) + losses.mse(out, y), {"x": x, "y": [y]})
    source = draw_program(program, wrap=False).source
    assert 'C [label="C\\nhinge"' in source and 'C1 [label="C\\nmse"' in source
    # the sum of the two costs is a cost too, joined to them by dashed lines
    assert "C -> Cv" in source and "C1 -> Cv" in source and "style=dashed" in source
    assert source.count("-> C ") == 2  # ȳ and y into the hinge


def test_a_hand_written_loss_outside_a_cost_scope_draws_as_blocks():
    w, b = Value(0.5), Value(0.1)
    x, y = [Value(0.3), Value(-0.2)], Value(1.0)
    loss = (1 - y * (x[0] * w + x[1] * b).tanh()).relu()
    source = draw_program(engine.lift(loss, {"x": x, "y": [y]})).source
    assert "#ff3333" not in source and "C\\n" not in source  # no cost square
    assert '"1 − v0"' in source and '"y · z1"' in source  # ops as the program writes them
    assert 'label="ȳ = v2' in source  # the root's vector: nothing says it is a loss
    prediction = (x[0] * w + x[1] * b).tanh()
    with engine.cost_scope("hinge"):  # marked as a loss, it is the cost
        marked = (1 - y * prediction).relu()
    source = draw_program(engine.lift(marked, {"x": x, "y": [y]})).source
    assert 'C [label="C\\nhinge"' in source and 'label="ȳ = z1' in source


def _students_mlp_program(end: str):
    """The newcomer's MLP(2, [4, 4, 1]) (micrograd's classes), lifted from its output,
    its tanh, or its hinge loss."""
    random.seed(17)
    model = StudentMLP(2, [4, 4, 1])
    x, y = [Value(0.3), Value(-0.2)], Value(1.0)
    out = model(x)
    if end == "tanh":
        return engine.lift(out.tanh(), inputs=x)
    if end == "hinge":
        return engine.lift(losses.hinge(out, y), {"x": x, "y": [y]})
    return engine.lift(out, inputs=x)


@pytest.mark.parametrize("end", ["output", "tanh"])
def test_a_model_without_a_loss_draws_no_cost(end):
    source = draw_program(_students_mlp_program(end)).source
    assert "#ff3333" not in source and "C\\n" not in source and "label=C" not in source
    assert 'lin2 [label="w2 z2"' in source  # the output layer is a linear block
    last = "z3" if end == "tanh" else "s3"
    assert f'{last} [label="ȳ = {last}\\n1"' in source and source.count("ȳ") == 1
    if end == "tanh":
        assert "h2 [label=tanh" in source and "s3 -> h2" in source


def test_a_model_with_its_loss_draws_the_cost():
    source = draw_program(_students_mlp_program("hinge")).source
    assert 'C [label="C\\nhinge"' in source
    assert 'lin2 [label="w2 z2"' in source and 's3 [label="ȳ = s3\\n1"' in source
    assert "s3 -> C " in source and "y -> C " in source


def test_outputs_draw_the_model_alone():
    model = MLP(2, [4, 2], rng=random.Random(3))
    x, y = [Value(0.3), Value(-0.2)], [Value(1.0), Value(0.0)]
    out = model(x)
    program = engine.lift(losses.mse(out, y), {"x": x, "y": y})
    source = draw_program(program, outputs=out).source
    assert source == draw_model(model).source
    inner = program.walk.values()[program.instructions[0].entries[0]]  # a product w*x
    with pytest.raises(ValueError, match="output"):
        draw_program(program, outputs=[inner])
    with pytest.raises(TypeError, match="outputs must be Values"):
        draw_program(program, outputs=[1.0])


def test_bad_arguments_are_refused():
    model = MLP(2, [1], rng=random.Random(4))
    program = lifted_loss(model, 2, "hinge")
    with pytest.raises(TypeError, match="lifted program"):
        draw_program(model)
    with pytest.raises(ValueError, match="rankdir"):
        draw_program(program, rankdir="up")
    with pytest.raises(ValueError, match="theme"):
        draw_program(program, theme="pink")


class MicrogradLayer:
    """karpathy/micrograd's nn.py Layer and MLP (its Neuron is test_lift's, with tanh)."""

    def __init__(self, nin, nout, **kwargs):
        self.neurons = [StudentNeuron(nin, **kwargs) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MicrogradMLP:
    def __init__(self, nin, nouts):
        sz = [nin, *nouts]
        self.layers = [
            MicrogradLayer(sz[i], sz[i + 1], nonlin=i != len(nouts) - 1) for i in range(len(nouts))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


@pytest.mark.parametrize("loss", [None, "hinge"])
def test_a_students_micrograd_classes_draw_without_nin(loss, tmp_path):
    from tapegrad.nn.diagram import inferred_nin

    random.seed(7)
    student = MicrogradMLP(3, [4, 4, 1])
    ours = MLP(3, [4, 4, 1], activation="tanh", rng=random.Random(7))  # a linear output
    assert inferred_nin(student) == 3
    assert inferred_nin(student.layers[1]) == 4 and inferred_nin(student.layers[0].neurons[0]) == 3
    drawn = draw_model(student, loss=loss)
    assert drawn.source == draw_model(student, nin=3, loss=loss).source
    assert drawn.source == draw_model(ours, loss=loss).source  # the lecture's block diagram
    # a layer alone, and test_lift's students (layers as plain lists of neurons)
    layer = MicrogradLayer(2, 3, nonlin=False)
    assert draw_model(layer).source == draw_model(MLP(2, [3])).source
    assert inferred_nin(StudentMLP(5, [2, 1])) == 5
    path = tmp_path / "micrograd.png"
    engine.save_graph(drawn, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_model_whose_inputs_cannot_be_told_is_refused_by_name():
    from tapegrad.nn.diagram import inferred_nin

    class Scorer:  # callable, but with no layers, neurons or weights w to read
        def __call__(self, x):
            return x[0] * 2.0

    class Empty:
        def __init__(self):
            self.layers = []

        def __call__(self, x):
            return x[0]

    class Counted(Scorer):
        nin = 2

    for model in (Scorer(), Empty(), lambda x: x[0]):
        assert inferred_nin(model) is None
        with pytest.raises(TypeError, match=f"a {type(model).__name__} takes.*pass nin="):
            draw_model(model)
    assert inferred_nin(Counted()) == 2
    assert draw_model(Counted()).source == draw_model(Counted(), nin=2).source
    assert draw_model(Scorer(), nin=1).source  # nin= still draws it


def test_draw_model_of_other_classes_needs_nin():
    random.seed(5)
    student = StudentMLP(2, [3, 1])
    with pytest.raises(TypeError, match="pass nin="):
        draw_model(object(), nin=2)
    for nin in (0, 2.0, True):
        with pytest.raises(ValueError, match="nin must be"):
            draw_model(student, nin=nin)
    with pytest.raises(ValueError, match="loss must be one of"):
        draw_model(student, nin=2, loss="huber")
    # a loss that is not a name is a TypeError, as for nn's models (the docstring's promise)
    for loss in (3, ["mse"]):
        with pytest.raises(TypeError, match="loss must be the name of a cost"):
            draw_model(student, nin=2, loss=loss)
        with pytest.raises(TypeError, match="loss must be the name of a cost"):
            draw_model(MLP(2, [3, 1]), loss=loss)
    # nn's own models still draw from their classes (nin is not needed)
    assert draw_model(Perceptron(2), nin=2).source == draw_model(Perceptron(2)).source


def test_the_drawing_renders(tmp_path):
    random.seed(6)
    drawing = draw_model(StudentMLP(2, [4, 1]), nin=2, loss="hinge")
    path = tmp_path / "student.png"
    engine.save_graph(drawing, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_vectors_named_like_blocks_keep_their_own_nodes():
    w = Value(0.5)
    C, lin0 = [Value(0.3), Value(0.2)], [Value(-1.0)]
    hidden = (C[0] * w + C[1] * w).tanh()
    with engine.cost_scope("hinge"):
        loss = (hidden * lin0[0]).relu()
    source = draw_program(engine.lift(loss, {"C": C, "lin0": lin0})).source
    assert 'lin0 [label="lin0\\n1"' in source and 'C_ [label="C\\nhinge"' in source
    assert "lin0_ [label=" in source  # the first layer's block
