"""Backprop at one step, in the picture: the gradients so far, the edge in flight, finished nodes.

:class:`StepState` replays :func:`tapegrad.engine.backprop_steps` up to step ``k``
(pure: no ``.grad`` is read or written); :func:`mark_step` then highlights the step
in a built :class:`~tapegrad.engine.drawing.scene.Scene`: the edge being processed is
labelled ``upstream × local = contribution``, the node passing its gradient back is
outlined, and nodes whose gradient is final are marked. Every edge carries its own
step's label, invisible but for the current one, so that every frame of one graph
is laid out alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .. import BackwardStep, Value, _render, backprop_steps
from .scene import Scene
from .text import derivative, exact, plain, short

__all__ = [
    "ShownStep",
    "StepState",
    "edges_showing",
    "gradients",
    "mark_step",
    "root_name",
    "show_step",
    "step_of",
]


def gradients(root: Value, order: list[Value], steps: Iterable[BackwardStep], until=None):
    """``(grads, last step, steps done per node)`` after step ``until`` (all steps if
    None) of ``steps``, the steps of :func:`tapegrad.engine.backprop_steps` (pure: no
    ``.grad`` is read or written); ``grads[root]`` starts at 1."""
    grads = dict.fromkeys(order, 0.0)
    grads[root] = 1.0
    received = dict.fromkeys(order, 0)
    last = None
    for step in steps:
        grads[step.parent] = step.parent_grad
        received[step.parent] += 1
        last = step
        if until is not None and step.index == until:
            break
    return grads, last, received


class StepState:
    """The gradients, the edge in flight and the finished nodes at step ``k``,
    computed from the graph (no ``.grad`` is read or written). Raises ValueError for
    a step the graph does not have."""

    def __init__(self, root: Value, order: list[Value], uses: dict, k: int) -> None:
        total = sum(uses.values())
        if not 0 <= k < total:
            raise ValueError(
                f"step must be between 0 and {total - 1} (the graph has {total} backward "
                f"step{'s' if total != 1 else ''}), got {k}"
            )
        # Every step of the graph: the drawing reserves room for each step's label.
        self.steps = list(backprop_steps(root))
        self.grads, self.step, received = gradients(root, order, self.steps, k)
        self.final = gradients(root, order, self.steps)[0]
        self.finished = {node for node in order if received[node] == uses[node]}
        self.total = total


def step_of(k: int, total: int) -> str:
    """``step 3 (0–8)``: steps count from 0 as ``step=`` and the file numbers do;
    "step 8 of 8" would read as the last of eight when there are nine."""
    return f"step {k} (0–{total - 1})"


def edges_showing(scene: Scene) -> dict[tuple, list[dict]]:
    """The drawn edges showing each graph edge ``(parent, node, position)``, in drawing
    order. A drawn edge standing for a chain (a - b recorded as a + b·-1) shows the
    chain's first step only; the steps inside it light up the block instead."""
    shown_by: dict[tuple, list[dict]] = {}
    for edge in scene.edges:
        graph_edges = edge["graph_edges"][:1] if edge.get("chain") else edge["graph_edges"]
        for graph_edge in dict.fromkeys(graph_edges):
            shown_by.setdefault(graph_edge, []).append(edge)
    return shown_by


def mark_step(builder, scene: Scene, state: StepState) -> None:
    """Highlight step ``state.step`` in ``scene``, built by ``builder`` (a
    :class:`~tapegrad.engine.drawing.builder.Builder`)."""
    t = builder.t
    view = builder.options.view
    highlight = t["highlight"]
    for element in scene.elements.values():
        node = element.get("node")
        if node is None or element["kind"] not in ("variable", "cost"):
            continue
        attrs = element["attrs"]
        if node in state.finished:
            if view == "values":
                attrs.update(style="filled", fillcolor=t["done"])
            else:
                attrs["peripheries"] = "2"
        elif view == "blocks":
            # The same size as when it is finished, painted as one outline
            # (_render's SINGLE_CLASS), so that every step lays out alike.
            attrs["peripheries"] = "2"
            attrs["class"] = " ".join(filter(None, (attrs.get("class"), _render.SINGLE_CLASS)))
    # Every step of one graph is laid out alike (slides, GIF frames, the slider).
    shown_by = edges_showing(scene)
    for step in state.steps:
        for edge in shown_by.get((step.parent, step.node, step.position), ()):
            if "label" not in edge["attrs"]:
                text = show_step(builder, scene, step, state.final, shown_by).label
                edge["attrs"].update(fontcolor="transparent", label=plain(text))
    shown = show_step(builder, scene, state.step, state.final, shown_by)
    for edge in shown.edges:
        edge["attrs"].update(
            color=highlight, fontcolor=highlight, penwidth="3.5", label=plain(shown.label)
        )
    node_element = builder.element_of(scene, builder.graph.folds.drawn(state.step.node))
    if node_element is not None:
        node_element["attrs"].update(color=highlight, penwidth="3.5")
        if not shown.edges:  # the step's edge is inside the block: a note beside it
            node_element["attrs"]["fontcolor"] = highlight
            node_element["attrs"]["xlabel"] = plain(shown.label)


@dataclass
class ShownStep:
    """One backprop step as the picture shows it: the drawn ``edges`` it travels
    (none: it happens inside a block), the edge ``label`` ``upstream × local =
    contribution`` and the ``caption``, which names only what the picture shows."""

    edges: list[dict]
    label: str
    caption: str


def root_name(builder) -> str:
    """The root as the picture names it: its name, or the block it is drawn inside."""
    root = builder.roots[0]
    block = builder.block_of.get(root)
    return block.name if block is not None else builder.names[root]


def _element_name(builder, element: dict, node) -> str:
    """The name the picture gives ``node``, drawn as ``element``: a block's name, a
    variable's, or an element of a vector (``z1[3]``, :mod:`~.vectors`)."""
    if "scope" in element:
        return element["scope"].name
    if element["kind"] == "vector":
        return f"{element['name'] or 'v'}[{element['members'][node]}]"
    return builder.names[element["node"]]


def show_step(builder, scene: Scene, step: BackwardStep, final: dict, shown_by: dict) -> ShownStep:
    """How ``step`` reads in ``scene``: the values it multiplies, written with the
    names of what the drawing shows (a variable's name, a parameter named in its
    block, a collapsed block's name), never a value hidden inside a block.

    ``final``: every node's gradient after the whole pass (a drawn op's gradient is
    final when the steps into its inputs run); ``shown_by``: :func:`edges_showing`.
    A step along a folded chain (``a − b`` recorded as ``a + b·(−1)``, a sum, a mean)
    multiplies the drawn op's gradient by the chain's product of local derivatives."""
    r, p, n = root_name(builder), step.parent, step.node
    edges = shown_by.get((p, n, step.position), [])
    upstream, local, c = step.upstream, step.local, step.contribution
    hidden = builder.is_hidden(p) and p not in builder.block_of
    if edges:
        parent = _element_name(builder, scene.elements[edges[0]["src"]], p)
    elif hidden:
        parent = builder.names[p]  # a parameter named in its block's label
    else:
        parent = None
    drawn = builder.graph.folds.drawn(n)
    block = builder.block_of.get(n)
    chain = None  # the graph edges a parameter's step into a folded op stands for
    if hidden and block is None and drawn is not n:
        chain = next(
            (e for q, e in builder.graph.folds.inputs[drawn] if e[0] == (p, n, step.position)),
            None,
        )
    if parent is None or (block is None and drawn is not n and not edges and chain is None):
        element = builder.element_of(scene, drawn)
        inside = _element_text(element) if element is not None else builder.names[drawn]
        label = _product(upstream, local, c)
        caption = (
            f"inside {inside}: {exact(upstream)} · {exact(local)} = {exact(c)}, on to its inputs"
        )
        return ShownStep(edges, label, caption)
    dr = derivative(r, parent)
    now = f"  ({dr} is now {exact(step.parent_grad)})"
    if block is not None:
        caption = (
            f"{dr} += {exact(upstream)} · {exact(local)} = {exact(c)} from inside {block.name}"
        )
        return ShownStep(edges, _product(upstream, local, c), caption + now)
    out = builder.names[drawn]
    if drawn is not n:  # a folded chain: the drawn op's gradient times the chain's locals
        upstream = final[drawn]
        local = math.prod(q.local_grads[i] for _, q, i in chain or edges[0]["graph_edges"])
        local_name = derivative(out, parent, "∂")
    else:
        row = n.op_row
        one = row is not None and row.arity == 1
        local_name = f"{row.name}'({parent})" if one else derivative(out, parent, "∂")
    caption = (
        f"{dr} += {derivative(r, out)} · {local_name} = "
        f"{exact(upstream)} · {exact(local)} = {exact(c)}"
    )
    return ShownStep(edges, _product(upstream, local, c), caption + now)


def _product(upstream: float, local: float, contribution: float) -> str:
    """``upstream × local = contribution``: the product a step's edge is labelled with."""
    return f"{short(upstream)} × {short(local)} = {short(contribution)}"


def _element_text(element: dict) -> str:
    """What a block shows: a collapsed scope's name or an op's text."""
    return element["scope"].name if "scope" in element else element.get("op_text", "")
