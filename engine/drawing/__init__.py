"""Drawing computation graphs: the values view, the course's block diagrams, backprop step by step.

``draw(root)`` returns a :class:`GraphDrawing`, a :class:`graphviz.Digraph` of the graph
behind ``root`` (``.source`` is the DOT text; Jupyter shows it inline; ``.pipe()``,
``.render()`` and :func:`save_graph` make SVG, PNG, JPEG, GIF or a vector PDF), in one
of two views:

``view="values"`` -- what users of scalar engines know: one record per Value,
``{ label | data 2.0000 | grad 1.0000 }`` showing its ``.grad``, and a small node for
the op that made it (a number used as an operand is written into the op: ``* 2``,
``**2``, ``− 3``).

``view="blocks"`` -- the course's notation (NYU Deep Learning, week 2; NOTATION.md):

* observed variables (inputs x, targets y): shaded circles with a thick black stroke;
* computed variables: hollow circles;
* deterministic functions ``G(x, w)``: D-shaped blocks, each followed by the variable
  it computes; parameters are implicit, named in the label (``* w1``), unless
  ``show_params=True`` brings them in from the side;
* costs: red squares with their name inside, an implicit scalar output and no
  outgoing arrow. A Value is a cost when it was computed inside
  :func:`cost_scope` (every loss of ``tapegrad.nn.losses`` is) or is listed in
  ``costs=[...]``; an op whose every input is a cost (an average of per-sample
  losses) is one too, joined to them by dashed lines without heads. Nothing else is
  a cost: a neuron's tanh is a function.

Both views write subtraction, negation and division as the lecture does, however the
engine recorded them (``a − b`` also from ``a + b·(−1)``); the blocks view draws a chain
of additions as one ``Σ`` block and ``Σ · 1/P`` as ``1/P Σ``.

Which leaves are observed and which are parameters: pass ``observed=[x, y]`` (Values
or labels) and every other leaf is a parameter, or ``params=model`` (a module or a
list of Values) and every other leaf is observed. With neither, the leaves marked
by :func:`tapegrad.engine.mark_parameters` (every ``nn`` module marks its own when
first called) are parameters and every other leaf is observed.

Ops made inside ``engine.scope(...)`` (every ``nn`` module call) are drawn inside a
cluster labelled with the scope's name. ``collapse=`` turns whole scopes into one
function block each, with their inputs and outputs, so an MLP reads layer by layer:
``collapse=1`` collapses scopes at depth 1 (``MLP.layers.0``), ``collapse="layers"``
every scope named ``layers.<i>``, ``collapse=["MLP.layers.0"]`` one scope by path.
Numbered siblings (``neurons.0``, ``neurons.1``...) are laid out in order, and the
edges of a dense layer are drawn thin.

``draw(root, step=k)`` draws the graph as it is at step ``k`` of
:func:`tapegrad.engine.backprop_steps`: the edge being processed is highlighted and
labelled ``upstream × local = contribution``, the node passing its gradient back is
outlined, nodes whose gradient is final are marked, and every gradient is shown as it
is at that moment. ``derivative=True`` adds the lecture's *derivative network*: the
same graph mirrored with arrows reversed, seeded with 1 at the cost, each node
``dc/ds`` fed by the derivative modules of the functions that used ``s``. Both are
computed from the graph: the same whatever ``.grad`` holds, and no ``.grad`` changes.
:func:`save_steps` exports every step (numbered files, a multi-page PDF, a GIF).

Same graph, same arguments, byte-identical DOT: node names come from each Value's
index in :func:`tapegrad.engine.topological_order`, never from ``id()``.

Images: Graphviz's ``dot`` lays the graph out -- a system Graphviz if there is one, else
the ``graphviz-pure`` wheel that ``pip install tapegrad`` brings (see
:mod:`tapegrad.engine._dot`) -- and :mod:`tapegrad.engine._render` paints it with
matplotlib, because Graphviz has no D shape. In the DOT text a function block is a box
of ``class`` ``tg-function``.

The package, stage by stage: :mod:`.options` (the options, checked once),
:mod:`.select` (what the graph holds), :mod:`.folds` (ops as the lecture writes
them), :mod:`.scene` and :mod:`.builder` (the drawing as data), :mod:`.stepping` and
:mod:`.derivative` (a backprop step, the derivative network), :mod:`.emit` (DOT),
:mod:`.image` (the drawing object), :mod:`.saving` and :mod:`.sequence` (files, the
notebook slider), :mod:`.themes` and :mod:`.text` (the look and the words).
"""

from __future__ import annotations

from .. import (
    _costs,
    _dot,
    _fonts,
    _render,  # noqa: F401  (the painter, as drawing._render)
)
from .entry import draw, draw_with
from .image import GraphDrawing
from .options import DEFAULT_MAX_NODES, RANKDIRS, VIEWS, DrawOptions
from .saving import common_canvas, save_graph, save_steps
from .select import GraphTooLargeError
from .sequence import BackpropSteps, draw_steps
from .themes import DARK, LIGHT, THEMES

__all__ = [
    "BackpropSteps",
    "DotNotFoundError",
    "DrawOptions",
    "GraphDrawing",
    "GraphTooLargeError",
    "MissingGlyphWarning",
    "draw",
    "draw_steps",
    "draw_with",
    "save_graph",
    "save_steps",
    "cost_scope",
    "DEFAULT_MAX_NODES",
    "RANKDIRS",
    "VIEWS",
    "THEMES",
    "LIGHT",
    "DARK",
]

DotNotFoundError = _dot.DotNotFoundError
MissingGlyphWarning = _fonts.MissingGlyphWarning
cost_scope = _costs.cost_scope
# tests/engine/test_draw.py lays frames out on one canvas as save_steps does.
_common_canvas = common_canvas
