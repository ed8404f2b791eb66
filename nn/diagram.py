"""The traditional neural net as the lecture draws it: a model-level block diagram.

Lecture 1 ("Block diagram of a traditional neural net") draws a network as a chain
of two kinds of block acting on whole vectors::

    linear blocks       s_{k+1} = w_k z_k          (D-shaped block "w_k z_k")
    non-linear blocks   z_k = h(s_k)               (D-shaped block named by h: relu, tanh)

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

import math
from typing import Literal

from tapegrad.engine import Value, cost_scope
from tapegrad.engine.block_diagram import draw_program
from tapegrad.engine.drawing import GraphDrawing
from tapegrad.engine.drawing.fit import fit_sketch
from tapegrad.engine.drawing.options import check_look
from tapegrad.engine.drawing.text import plain
from tapegrad.engine.drawing.themes import (
    THEMES,
    function_style,
    new_graph,
    variable_style,
)
from tapegrad.engine.drawing.wrap import Sketch, check_wrap
from tapegrad.engine.lift import lift_columns

from . import losses
from .classic import Adaline, LinearUnit, LogisticRegression, Perceptron
from .energy import BoltzmannMachine, Hopfield, weight_label
from .layers import MLP, Layer, Neuron

__all__ = ["draw_model", "model_blocks", "inferred_nin", "MAX_DRAWN_UNITS", "MAX_NAMED_UNITS"]

#: Up to this many units :func:`draw_model` draws an energy model's every unit and
#: weight; a larger one is drawn as one vector ``y`` of its ``n`` units.
MAX_DRAWN_UNITS = 8
#: Up to this many units each weight's edge carries its name ``w_ij`` (more names
#: would overlap where the edges meet at a unit).
MAX_NAMED_UNITS = 5

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
    loss: str | Literal[True] | None = None,
    rankdir: str | None = None,
    theme: str = "light",
    nin: int | None = None,
    wrap: bool | int | None = None,
) -> GraphDrawing:
    """The lecture's block diagram of ``model``: ``x = z0 → [w0 z0] → s1 → [relu] → z1 →
    ... → ȳ``, vectors as single circles with their sizes, each non-linear block ``h``
    named by its activation (``relu``, ``tanh``, ``sign``).

    ``loss``: the cost to draw after ``ȳ``, a red square fed by ``ȳ`` and the
    observed target ``y``: a name of :data:`tapegrad.nn.losses.LOSSES` (e.g.
    ``"mse"``, ``"hinge"``; drawn by its readable name,
    ``tapegrad.nn.losses.COST_NAMES``), any other name (drawn as given), True for
    the model's own (what :func:`tapegrad.nn.fit` uses without ``loss=``: a classic
    unit's criterion, hinge for one output, cross-entropy for several), or None (no
    cost). A classic unit's cost reads its score ``s``, as its criterion does, and
    shows its formula. Variables are coloured by their letter in the dark theme.
    ``rankdir``, ``theme`` and ``wrap`` as in :func:`tapegrad.engine.draw`: by
    default left to right, folded onto as few rows as fit a slide (at most 3 times
    as wide as high) when the net is longer (an energy model: bottom to top, never
    folded). Returns a
    :class:`~tapegrad.engine.GraphDrawing` (``.source``, ``.pipe``, ``.render``,
    ``save_graph``). Raises TypeError for an unknown model or a loss that is not a
    str, ValueError for a bad ``rankdir`` or ``theme``.

    ``nin``: for a model of other classes (a student's own), its number of inputs: it
    is called on ``nin`` Values and drawn from its lifted tape (``loss`` then names one
    of :data:`tapegrad.nn.losses.LOSSES`). Without it, ``nin`` is read from the model
    (:func:`inferred_nin`: an int attribute ``nin``, or micrograd's shapes -- the
    first of ``layers``/``neurons`` down to a neuron's weight list ``w``); a model
    where neither is found raises TypeError naming its type and asking for ``nin=``.

    A :class:`~tapegrad.nn.Hopfield` network or a :class:`~tapegrad.nn.BoltzmannMachine`
    is drawn as the lecture's slide: its units ``y0 … y(n-1)`` inside the dashed
    circle of the state ``y``, one undirected edge per symmetric weight ``w_ij``, the
    energy ``E(y)`` as a red square (the course's scalar-valued function) fed by
    ``y``, and the model's update and learning rules as the caption; past
    :data:`MAX_DRAWN_UNITS` units, ``y`` is one circle with its size. Its energy is
    its cost: ``loss`` must be None (else ValueError).
    """
    if isinstance(model, (Hopfield, BoltzmannMachine)):
        if loss is not None:
            raise ValueError(
                f"an energy model's cost is its energy: loss must be None, got {loss!r}"
            )
        rankdir = "BT" if rankdir is None else rankdir
        check_look(rankdir, theme)
        return _draw_energy(model, rankdir, THEMES[theme])
    if not isinstance(model, (MLP, Layer, Neuron, LinearUnit)):
        return _draw_lifted(model, nin, loss, rankdir, theme, wrap)
    blocks = model_blocks(model)
    if loss is not None and loss is not True and (not isinstance(loss, str) or not loss):
        raise TypeError(f"loss must be the name of a cost (str), True or None, got {loss!r}")
    check_look("LR" if rankdir is None else rankdir, theme)
    check_wrap(wrap)
    t = THEMES[theme]
    sketch, rankdir, folds = fit_sketch(
        lambda direction: _model_sketch(model, blocks, loss, direction, t), rankdir, wrap
    )
    g = new_graph("model", rankdir, t)
    g.attr("edge", fontname="Helvetica")
    return sketch.write(g, folds)


def _model_sketch(model, blocks: list, loss, rankdir: str, t: dict) -> Sketch:
    """The traditional net's blocks and variables (see :func:`draw_model`), recorded."""
    g = Sketch()
    arrow = dict(t["arrow"])
    function = function_style(t, rankdir)

    def variable(name: str, text: str, size: int, observed: bool = False) -> None:
        label = plain(f"{text}\n{size}")
        g.node(name, label=label, **variable_style(t, text, "observed" if observed else "computed"))

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
        g.node("C", label=plain("C\n" + _cost_text(model, loss)), **cost)
        # a classic unit's criterion reads its score s1, whatever its ȳ
        g.edge("s1" if isinstance(model, LinearUnit) else previous, "C", **arrow)
        variable("y", "y", blocks[-1][1], observed=True)
        g.edge("y", "C", **arrow)
    return g


#: The classic units' criteria (:meth:`~tapegrad.nn.classic.LinearUnit.criterion`)
#: and their formulas, written under their names in the cost square. The slides write
#: the unit's output ỹ; the picture names it ȳ, as the output circle is named in every
#: model's drawing (NOTATION.md: a computed output ȳ, a cost C(y, ȳ)), so one picture
#: has one name for it.
_CLASSIC_COSTS = {
    Perceptron: (losses.perceptron_rule_loss, "−(y − ȳ) s,  ȳ = sign(s)"),
    Adaline: (losses.adaline_loss, "½ (y − s)²"),
    LogisticRegression: (losses.logistic_loss, "log(1 + exp(−2 y s))"),
}


def _cost_text(model, loss: str | Literal[True]) -> str:
    """The cost square's text: the readable name of ``loss`` (True: the model's own,
    with its formula for a classic unit)."""
    if loss is True:
        for cls, (criterion, formula) in _CLASSIC_COSTS.items():
            if isinstance(model, cls):
                return f"{criterion.cost_name}\n{formula}"
        outputs = model_blocks(model)[-1][1]
        return losses.hinge.cost_name if outputs == 1 else losses.softmax_cross_entropy.cost_name
    if loss in losses.LOSSES:
        return losses.LOSSES[loss].cost_name
    return loss


#: Where :func:`inferred_nin` looks for the first layer, then its first neuron.
_CHILDREN = ("layers", "neurons")


def inferred_nin(model) -> int | None:
    """The number of inputs of a model of a student's own classes, read from its
    structure, or None when it cannot be told.

    An int attribute ``nin`` (>= 1) is the answer. Otherwise micrograd's shapes are
    followed: the first item of ``model.layers`` (or ``.neurons``, or of the model if
    it is a list or tuple), again down to an object whose weights ``w`` are a
    non-empty list of Values: their number. The model is not called to find out:
    micrograd's ``zip(self.w, x)`` takes any longer input silently, so a probing call
    cannot tell ``nin``."""
    here = model
    for _ in range(16):  # a model nests a few levels deep; never loop on a cycle
        nin = getattr(here, "nin", None)
        if isinstance(nin, int) and not isinstance(nin, bool) and nin >= 1:
            return nin
        w = getattr(here, "w", None)
        if isinstance(w, (list, tuple)) and w and all(isinstance(v, Value) for v in w):
            return len(w)
        if isinstance(here, (list, tuple)):
            children: object = here
        else:
            children = next(
                (c for c in (getattr(here, n, None) for n in _CHILDREN) if c is not None), None
            )
        if not isinstance(children, (list, tuple)) or not children:
            return None
        here = children[0]
    return None


def _draw_lifted(model, nin, loss, rankdir: str | None, theme: str, wrap) -> GraphDrawing:
    """A model of other classes, drawn from its lifted tape (see :func:`draw_model`)."""
    if not callable(model):
        try:
            model_blocks(model)
        except TypeError as e:
            raise TypeError(f"{e}; for your own model classes pass nin= (its inputs)") from None
    if nin is None:
        nin = inferred_nin(model)
        if nin is None:
            raise TypeError(
                f"draw_model cannot tell how many inputs a {type(model).__name__} takes "
                "(no int attribute nin, and no layers/neurons list leading to a neuron's "
                "weights w): pass nin= (its number of inputs)"
            )
    if isinstance(nin, bool) or not isinstance(nin, int) or nin < 1:
        raise ValueError(f"nin must be the model's number of inputs (an int >= 1), got {nin!r}")
    if loss is not None and not isinstance(loss, str):
        raise TypeError(
            f"loss must be the name of a cost (str) or None for a {type(model).__name__}, "
            f"got {type(loss).__name__}: {loss!r}"
        )
    if loss is not None and loss not in losses.LOSSES:
        raise ValueError(f"loss must be one of {', '.join(losses.LOSSES)} or None, got {loss!r}")
    x = [Value(0.1 * (i + 1)) for i in range(nin)]  # numbers away from relu's kink
    out = model(x)
    outputs = out if isinstance(out, (list, tuple)) else [out]
    if loss is None:  # one root reading every output (their sum, not drawn)
        root = outputs[0]
        for o in outputs[1:]:
            root = root + o
        program = lift_columns(root, {"x": x})  # its own x: an input it ignores is drawn
        return draw_program(program, outputs=outputs, rankdir=rankdir, theme=theme, wrap=wrap)
    y = [Value(1.0)] + [Value(0.0) for _ in outputs[1:]]  # a one-hot label for several
    with cost_scope(losses.LOSSES[loss].cost_name):  # drawn by its readable name
        cost = losses.LOSSES[loss](out, y[0] if len(outputs) == 1 else y)
    program = lift_columns(cost, {"x": x, "y": y})
    return draw_program(program, rankdir=rankdir, theme=theme, wrap=wrap)


# -- energy models ---------------------------------------------------------------

_PAIR_ENERGY = "E(y) = −½ Σᵢⱼ yᵢ wᵢⱼ yⱼ"  # = −Σ_{i<j}: see nn.energy's docstring
_BIAS_ENERGY = " − Σᵢ bᵢ yᵢ"
_RULES = {
    Hopfield: [
        "recall, one unit at a time:  yᵢ ← sign(Σⱼ wᵢⱼ yⱼ)",
        "storage (Hebb):  wᵢⱼ ← wᵢⱼ + η yᵢ yⱼ",
    ],
    BoltzmannMachine: [
        "p(y) = exp(−E(y)) / Z",
        "sampling, one unit at a time:  p(yᵢ = +1) = σ(2 hᵢ)",
        "learning:  wᵢⱼ ← wᵢⱼ + η (yᵢ yⱼ − ỹᵢ ỹⱼ)   (y: data, ỹ: the model's samples)",
    ],
}
_UNIT = 0.5  # inches: a unit's circle
_GAP = 0.7  # inches between the state's circle and the energy's square
#: Where the energy sits from the state, per direction of flow.
_TOWARDS = {"BT": (0, 1), "TB": (0, -1), "LR": (1, 0), "RL": (-1, 0)}


def _energy_rules(model) -> list[str]:
    """The caption: what the model is, then its update and learning rules."""
    n = model.n
    kind = "Hopfield network" if isinstance(model, Hopfield) else "Boltzmann machine"
    each = ", one line each" if MAX_NAMED_UNITS < n <= MAX_DRAWN_UNITS else ""
    lines = [f"{kind}: {n} units yᵢ = ±1, {n * (n - 1) // 2:,} symmetric weights wᵢⱼ = wⱼᵢ{each}"]
    lines += _RULES[type(model)]
    if isinstance(model, BoltzmannMachine):
        field = "hᵢ = Σⱼ wᵢⱼ yⱼ" + (" + bᵢ" if model.b else "")
        lines[2] = lines[2].replace("σ(2 hᵢ)", f"σ(2 hᵢ),  {field}")
        if model.b:
            lines.append("bᵢ ← bᵢ + η (yᵢ − ỹᵢ)")
    return lines


def _draw_energy(model, rankdir: str, t: dict) -> GraphDrawing:
    """An energy model drawn as the lecture's slide (see :func:`draw_model`).

    Graphviz's ``neato`` places the units at fixed points on a circle (a ring
    shows every pair alike); each weight's name sits along its edge near one end,
    so that no two names meet where the chords cross."""
    n = model.n
    g = new_graph("energy", rankdir, t)
    caption = plain("\n".join(_energy_rules(model)))
    g.attr(layout="neato", splines="false", label=caption, labelloc="b", fontsize="14")
    observed = variable_style(t, "y", "observed")
    drawn = n <= MAX_DRAWN_UNITS
    ring = 0.55 * n / math.pi + 0.3 if drawn else 0.0  # inches, room for n units
    size = 2 * ring + _UNIT + 0.25 if drawn else 0.9
    if drawn:  # the state y: a dashed circle around its units
        frame = {**observed, "style": "dashed", "fillcolor": t["background"], "penwidth": "2"}
        g.node("y", label="", pos="0,0!", width=f"{size:.3f}", fixedsize="true", **frame)
    else:
        vector = {"label": plain(f"y\n{n}"), "pos": "0,0!", "width": f"{size:.3f}"}
        g.node("y", fixedsize="true", **vector, **observed)
    weight = {
        "color": t["param"]["color"],
        "penwidth": "1.5",
        "fontsize": "12",
        "fontcolor": t["text"],
    }
    for i in range(n if drawn else 0):
        angle = math.pi / 2 + math.pi / n - 2 * math.pi * i / n  # a flat top
        at = f"{ring * math.cos(angle):.3f},{ring * math.sin(angle):.3f}!"
        g.node(f"y{i}", label=f"y{i}", pos=at, width=f"{_UNIT}", fixedsize="true", **observed)
    for i, j in model.pairs() if drawn else ():
        # the name near the end the chord leaves clockwise: every unit names as many
        if (j - i) * 2 <= n:
            tail, head = f"y{i}", f"y{j}"
        else:
            tail, head = f"y{j}", f"y{i}"
        name = {"taillabel": weight_label(i, j, n)} if n <= MAX_NAMED_UNITS else {}
        g.edge(tail, head, dir="none", labelangle="0", labeldistance="2.6", **name, **weight)
    text = _PAIR_ENERGY + (_BIAS_ENERGY if model.b else "")
    dx, dy = _TOWARDS[rankdir]
    half = 0.05 * len(text) + 0.3 if dx else 0.3  # half the square along the flow
    reach = size / 2 + _GAP + half
    cost = {"shape": "box", **t["cost"], "fontcolor": t["text"]}
    g.node("E", label=plain(text), pos=f"{dx * reach:.3f},{dy * reach:.3f}!", **cost)
    named = {"label": "y ", "fontsize": "14", "fontcolor": t["text"]} if drawn else {}
    g.edge("y", "E", **named, **t["arrow"])
    return g
