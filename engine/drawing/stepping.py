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

from collections.abc import Iterable

from .. import BackwardStep, Value, _render, backprop_steps
from .scene import Scene
from .text import plain, step_label

__all__ = ["StepState", "gradients", "explanations", "step_of", "mark_step", "edges_showing"]


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
        self.finished = {node for node in order if received[node] == uses[node]}
        self.total = total


def explanations(root: Value) -> list[str]:
    """Every step's explanation, computed from the graph (no ``.grad`` is touched)."""
    return [s.explanation for s in backprop_steps(root)]


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
    step = state.step
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
    _reserve_step_labels(shown_by, state.steps)
    found = False
    for edge in shown_by.get((step.parent, step.node, step.position), ()):
        edge["attrs"].update(
            color=highlight, fontcolor=highlight, penwidth="3.5", label=step_label(step)
        )
        found = True
    node_element = builder.element_of(scene, builder.graph.folds.drawn(step.node))
    if node_element is not None:
        node_element["attrs"].update(color=highlight, penwidth="3.5")
        if not found:  # the step's edge is inside the block: a note beside it
            node_element["attrs"]["fontcolor"] = highlight
            node_element["attrs"]["xlabel"] = plain(
                f"{step.node_name} → {step.parent_name}: {step_label(step, escaped=False)}"
            )


def _reserve_step_labels(shown_by: dict, steps: Iterable[BackwardStep]) -> None:
    """Give every edge the label of its own step, in the background's colour.

    Graphviz makes room for an edge label, so a frame that labels only the edge
    of its step is laid out differently from the next one: in a GIF or a PDF the
    nodes would jump from frame to frame. With every label present (and only
    the current one visible) every frame has the same layout."""
    for step in steps:
        for edge in shown_by.get((step.parent, step.node, step.position), ()):
            if "label" not in edge["attrs"]:
                edge["attrs"].update(fontcolor="transparent", label=step_label(step))
