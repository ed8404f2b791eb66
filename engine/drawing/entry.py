"""The entry point: :func:`draw`, from a graph and its options to a :class:`~.image.GraphDrawing`.

Four stages, each in its own module: the options are checked
(:class:`~.options.DrawOptions`), the graph is read (:func:`~.select.read_graph`),
the scene is built (:class:`~.builder.Builder`, then :func:`~.stepping.mark_step`
and :func:`~.derivative.add_derivative_network`), and the scene is written as DOT
(:func:`~.emit.emit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .. import Value, _dot
from .builder import Builder
from .derivative import add_derivative_network
from .emit import emit
from .fit import choose_rankdir, choose_wrap
from .image import GraphDrawing
from .options import DEFAULT_MAX_NODES, DrawOptions
from .scene import Scene
from .select import as_roots, read_graph, too_large
from .stepping import edges_showing, mark_step, show_step

__all__ = ["draw", "draw_with", "step_captions"]


def draw(
    root: Value | Sequence[Value],
    view: str = "values",
    *,
    rankdir: str | None = None,
    theme: str = "light",
    collapse: object = None,
    step: int | None = None,
    derivative: bool | str = False,
    show_params: bool | None = None,
    observed: object = None,
    params: object = None,
    costs: object = None,
    max_nodes: int | None = DEFAULT_MAX_NODES,
    wrap: bool | int | None = None,
) -> GraphDrawing:
    """Draw the graph behind ``root`` (a Value or a list of output Values).

    ``view``: ``"values"`` (records with data and grad) or ``"blocks"`` (the course's
    notation). ``rankdir``: ``"LR"`` (the week-2 figures), ``"BT"`` (the energy
    figures: inputs at the bottom, cost on top), ``"TB"`` or ``"RL"``; None (the
    default) draws left to right unless that is more than 3 times as wide as high, and
    then vertically (:mod:`~tapegrad.engine.drawing.fit`), so that a slide shows it. ``theme``:
    ``"light"`` or ``"dark"``. ``collapse``: scopes to draw as single blocks (a depth,
    a name such as ``"layers"``, a path, a list of names, or True for the outermost).
    ``wrap``: None (the default) folds a drawing still more than 3 times as long as
    it is broad onto several rows (several columns, flowing vertically), as few as
    fit a slide, each row starting again on the left and one arrow running from the
    end of a row to the start of the next (:mod:`~tapegrad.engine.drawing.wrap`); a
    number, that many rows; False, never. Every view of one graph (its steps, the
    derivative network) folds alike.
    ``step``: draw backprop at this step of ``engine.backprop_steps(root)`` (computed
    from the graph, whatever ``.grad`` holds). ``derivative``: add the mirrored
    derivative network (computed likewise; the values view's records then show the
    same gradients): every computed value's and parameter's gradient (a parameter
    drawn inside its block gets ``dc/dw`` sent out of the block's derivative
    module; a collapsed layer's are its weight matrix and bias vector, ``dc/dw1``
    over ``4×2`` and ``dc/db1`` over ``4``: :func:`~.vectors.group_parameters`), an
    observed input's only with ``derivative="all"``. ``show_params``: draw
    parameters as side inputs (default: yes in the values view, no in blocks).
    ``observed`` / ``params``: which leaves are data and which are parameters (Values,
    labels, or a module with ``parameters()``). ``costs``: the Values drawn as cost
    squares in the blocks view, besides what was computed in a :func:`cost_scope`
    (every loss of ``nn.losses``); ``costs=[]`` draws no cost at all. ``max_nodes``: refuse larger
    drawings (None: no limit).

    Raises :class:`GraphTooLargeError` past ``max_nodes`` and TypeError/ValueError
    naming any bad argument.
    """
    roots = as_roots(root)
    options = DrawOptions(
        view=view,
        rankdir=rankdir,
        theme=theme,
        collapse=collapse,
        step=step,
        derivative=derivative,
        show_params=show_params,
        observed=observed,
        params=params,
        costs=costs,
        max_nodes=max_nodes,
        wrap=wrap,
    )
    return draw_with(roots, options)


def draw_with(roots: list[Value], options: DrawOptions) -> GraphDrawing:
    """:func:`draw` of the distinct Values ``roots`` with checked ``options``."""
    if options.step is not None and len(roots) != 1:
        raise ValueError("step= needs a single root Value to backpropagate from")
    graph = read_graph(roots, options)
    rankdir = options.rankdir
    if rankdir is None:  # left to right, unless too wide for a slide
        forward = Builder(replace(options, rankdir="LR"), graph).build()
        steps = len(roots) == 1 and not roots[0].is_leaf
        rankdir = choose_rankdir(forward, options.view, step_labels=steps)
    scene = _scene(replace(options, rankdir=rankdir), graph)
    # folded onto several rows if still too long (every frame of a sequence alike:
    # each has every step's label, most of them transparent)
    wrap = choose_wrap(scene, options.view, rankdir, options.wrap)
    # Point the graphviz package at a dot program now, so that .render() and
    # .pipe() work on the result; DOT text itself never needs one.
    _dot.use_dot(required=False)
    return emit(scene, rankdir, options.colors, wrap)


def _scene(options: DrawOptions, graph) -> Scene:
    """The whole scene: the graph's elements, the step marked, the derivative network."""
    builder = Builder(options, graph)
    scene = builder.build()
    max_nodes = options.max_nodes
    if max_nodes is not None and len(scene.elements) > max_nodes:
        raise too_large(len(graph.order), f"would need {len(scene.elements)}", max_nodes)
    if graph.state is not None:
        mark_step(builder, scene, graph.state)
    if options.derivative:
        add_derivative_network(builder, scene, graph.state)
    return scene


def step_captions(root: Value, **options) -> list[str]:
    """Every backprop step through ``root`` in the words of ``draw(root, step=k,
    **options)``: each caption names only what that picture shows (see
    :func:`~.stepping.show_step`). ``root`` is a Value with at least one step;
    ``options`` are :func:`draw`'s, without ``step``, and are checked as draw checks
    them."""
    graph_drawing = draw(root, step=0, **options)  # checks root and options alike
    del graph_drawing
    settings = DrawOptions(step=0, **options)
    if settings.rankdir is None:  # the words do not depend on the direction
        settings = replace(settings, rankdir="LR")
    graph = read_graph([root], settings)
    builder = Builder(settings, graph)
    scene = builder.build()
    shown_by = edges_showing(scene)
    state = graph.state
    assert state is not None  # read_graph steps through a graph drawn with step=0
    return [show_step(builder, scene, s, state.final, shown_by).caption for s in state.steps]
