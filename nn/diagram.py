"""The traditional neural net as the lecture draws it: a model-level block diagram.

Lecture 1 ("Block diagram of a traditional neural net") draws a network as a chain
of two kinds of block acting on whole vectors::

    linear blocks       s_{k+1} = w_k z_k          (D-shaped block "w_k z_k")
    non-linear blocks   z_k = h(s_k)               (D-shaped block "h", e.g. relu)

with ``z_0 = x`` observed and the last variable the prediction ``ȳ``. Each variable
is one circle for a whole layer, its size written under its name. The bias of each
layer is part of ``w_k`` (a weight on a constant input 1), as on the slide.

:func:`draw_model` draws that figure for an :class:`~tapegrad.nn.MLP` (one linear and
one non-linear block per layer; a linear output layer has no non-linear block) and
for the classic linear units of :mod:`tapegrad.nn.classic`, each with its own
non-linearity: the perceptron's ``sign``, none for Adaline (``ȳ = s``) and ``tanh``
for logistic regression. ``loss=`` adds the cost ``C(y, ȳ)`` as a red square with the
observed target ``y``. Unlike :func:`tapegrad.engine.draw` it needs no forward pass:
it reads the model's structure. Any other model -- a student's own micrograd-style
``Neuron``/``Layer``/``MLP`` classes -- draws the same way from its tape: given
``nin=``, it is called once on ``nin`` input Values, its tape lifted into vector
blocks (:func:`tapegrad.engine.lift`) and drawn by
:func:`tapegrad.engine.block_diagram.draw_program`.
"""

from __future__ import annotations

from tapegrad.engine import Value, cost_scope, lift
from tapegrad.engine.block_diagram import draw_program
from tapegrad.engine.drawing import GraphDrawing
from tapegrad.engine.drawing.options import check_look
from tapegrad.engine.drawing.text import plain
from tapegrad.engine.drawing.themes import THEMES, circle_style, function_style, new_graph

from . import losses
from .classic import Adaline, LinearUnit, LogisticRegression, Perceptron
from .layers import MLP, Layer, Neuron

__all__ = ["draw_model", "model_blocks"]

_CLASSIC_H = {Perceptron: "sign", Adaline: None, LogisticRegression: "tanh"}


def model_blocks(model) -> list[tuple[int, int, str | None]]:
    """The model as ``(inputs, outputs, h)`` per linear block, ``h`` the name of the
    non-linearity after it (None: none). Raises TypeError for other models."""
    if isinstance(model, MLP):
        return [
            (len(layer.neurons[0].w), len(layer.neurons), _h(layer.activation))
            for layer in model.layers
        ]
    if isinstance(model, Layer):
        return [(len(model.neurons[0].w), len(model.neurons), _h(model.activation))]
    if isinstance(model, Neuron):
        return [(len(model.w), 1, _h(model.activation))]
    if isinstance(model, LinearUnit):
        for cls, h in _CLASSIC_H.items():
            if isinstance(model, cls):
                return [(len(model.w), 1, h)]
    raise TypeError(
        "draw_model draws an MLP, a Layer, a Neuron, a Perceptron, an Adaline or a "
        f"LogisticRegression, got {type(model).__name__}"
    )


def _h(activation: str) -> str | None:
    return None if activation == "linear" else activation


def draw_model(
    model,
    *,
    loss: str | None = None,
    rankdir: str = "LR",
    theme: str = "light",
    nin: int | None = None,
) -> GraphDrawing:
    """The lecture's block diagram of ``model``: ``x = z0 → [w0 z0] → s1 → [h] → z1 →
    ... → ȳ``, vectors as single circles with their sizes.

    ``loss``: the name of the cost to draw after ``ȳ`` (e.g. ``"mse"``,
    ``"hinge"``), a red square fed by ``ȳ`` and the observed target ``y``; None draws
    no cost. ``rankdir`` and ``theme`` as in :func:`tapegrad.engine.draw`. Returns a
    :class:`~tapegrad.engine.GraphDrawing` (``.source``, ``.pipe``, ``.render``,
    ``save_graph``). Raises TypeError for an unknown model or a loss that is not a
    str, ValueError for a bad ``rankdir`` or ``theme``.

    ``nin``: for a model of other classes (a student's own), its number of inputs: it
    is called on ``nin`` Values and drawn from its lifted tape (``loss`` then names one
    of :data:`tapegrad.nn.losses.LOSSES`). Without it such a model raises TypeError.
    """
    if not isinstance(model, (MLP, Layer, Neuron, LinearUnit)):
        return _draw_lifted(model, nin, loss, rankdir, theme)
    blocks = model_blocks(model)
    if loss is not None and (not isinstance(loss, str) or not loss):
        raise TypeError(f"loss must be the name of a cost (str) or None, got {loss!r}")
    check_look(rankdir, theme)
    t = THEMES[theme]
    g = new_graph("model", rankdir, t)
    g.attr("edge", fontname="Helvetica")
    arrow = dict(t["arrow"])
    function = function_style(t, rankdir)

    def variable(name: str, text: str, size: int, observed: bool = False) -> None:
        label = plain(f"{text}\n{size}")
        g.node(name, label=label, **circle_style(t, observed))

    variable("z0", "x = z0", blocks[0][0], observed=True)
    previous = "z0"
    last = len(blocks) - 1
    for k, (_, nout, h) in enumerate(blocks):
        s_name = f"s{k + 1}"
        g.node(f"lin{k}", label=f"w{k} z{k}", **function)
        g.edge(previous, f"lin{k}", **arrow)
        is_output = k == last and h is None
        variable(s_name, "ȳ = " + s_name if is_output else s_name, nout)
        g.edge(f"lin{k}", s_name, **arrow)
        previous = s_name
        if h is not None:
            z_name = f"z{k + 1}"
            g.node(f"h{k}", label=h, **function)
            g.edge(previous, f"h{k}", **arrow)
            variable(z_name, "ȳ = " + z_name if k == last else z_name, nout)
            g.edge(f"h{k}", z_name, **arrow)
            previous = z_name
    if loss is not None:
        cost = {"shape": "box", **t["cost"], "fontcolor": t["text"]}
        g.node("C", label=plain(f"C\n{loss}"), **cost)
        g.edge(previous, "C", **arrow)
        variable("y", "y", blocks[-1][1], observed=True)
        g.edge("y", "C", **arrow)
    return g


def _draw_lifted(model, nin, loss, rankdir: str, theme: str) -> GraphDrawing:
    """A model of other classes, drawn from its lifted tape (see :func:`draw_model`)."""
    if nin is None or not callable(model):
        try:
            model_blocks(model)
        except TypeError as e:
            raise TypeError(f"{e}; for your own model classes pass nin= (its inputs)") from None
    if isinstance(nin, bool) or not isinstance(nin, int) or nin < 1:
        raise ValueError(f"nin must be the model's number of inputs (an int >= 1), got {nin!r}")
    if loss is not None and (not isinstance(loss, str) or loss not in losses.LOSSES):
        raise ValueError(f"loss must be one of {', '.join(losses.LOSSES)} or None, got {loss!r}")
    x = [Value(0.1 * (i + 1)) for i in range(nin)]  # numbers away from relu's kink
    out = model(x)
    outputs = out if isinstance(out, (list, tuple)) else [out]
    if loss is None:  # one root reading every output (their sum, not drawn)
        root = outputs[0]
        for o in outputs[1:]:
            root = root + o
        return draw_program(lift(root, {"x": x}), outputs=outputs, rankdir=rankdir, theme=theme)
    y = [Value(1.0)] + [Value(0.0) for _ in outputs[1:]]  # a one-hot label for several
    with cost_scope(loss):  # the cost is drawn under the name it was asked by
        cost = losses.LOSSES[loss](out, y[0] if len(outputs) == 1 else y)
    return draw_program(lift(cost, {"x": x, "y": y}), rankdir=rankdir, theme=theme)
