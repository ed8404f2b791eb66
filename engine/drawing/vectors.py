"""Collapsed layers joined by vectors, as the lecture draws a traditional net.

A collapsed layer of 16 neurons (``collapse=`` in the blocks view) has 16 outputs;
drawn one circle each, their 16 arrows pile their heads on the next layer's block.
The lecture draws one variable per layer instead: a circle with its name above its
size, ``z1`` over ``16``, and one arrow in and one arrow out. :func:`join_vectors`
does that to a :class:`~.scene.Scene`: the unlabelled outputs of one collapsed block
that all go to one and the same element become one *vector* element (each arrow
still stands for every graph edge it replaces, so a backprop step highlights it),
and the prediction -- what a collapsed block hands to a cost -- is named ``ȳ``, the
course's notation for the output of the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .scene import Scene
from .text import plain

__all__ = ["join_vectors", "PREDICTION"]

#: The course's name for the model's output, the prediction compared with y.
PREDICTION = "ȳ"


def _layer_output_name(block_name: str) -> str | None:
    """``z1`` for the outputs of ``layers.0`` (the lecture's z_{k+1} = h(s_{k+1})),
    None for a scope whose name ends in no number."""
    m = re.fullmatch(r".*?\.?\[?(\d+)\]?", block_name)
    return f"z{int(m.group(1)) + 1}" if m else None


def join_vectors(scene: Scene, style: Callable[[str], dict], names: dict) -> None:
    """Join the outputs of each collapsed block into one vector (see the module's
    docstring), drawn in ``style(name)`` (a computed variable's); name ``ȳ`` what a
    collapsed block hands to a cost, in the picture and in ``names`` (each Value's
    name in the captions)."""
    incoming: dict[str, list[dict]] = {}
    outgoing: dict[str, list[dict]] = {}
    for edge in scene.edges:
        incoming.setdefault(edge["dst"], []).append(edge)
        outgoing.setdefault(edge["src"], []).append(edge)
    for block_id, block in list(scene.elements.items()):
        if block["kind"] != "block":
            continue
        outputs = [
            e["dst"]
            for e in outgoing.get(block_id, [])
            if scene.elements[e["dst"]]["kind"] == "variable"
            and [i["src"] for i in incoming.get(e["dst"], [])] == [block_id]
            and not scene.elements[e["dst"]]["node"].label
        ]
        readers = {e["dst"] for out in outputs for e in outgoing.get(out, [])}
        to_cost = len(readers) == 1 and scene.elements[next(iter(readers))]["kind"] == "cost"
        if len(outputs) >= 2 and len(readers) == 1:
            name = PREDICTION if to_cost else _layer_output_name(block["scope"].name)
            _merge(scene, block_id, outputs, readers.pop(), name, style, incoming, outgoing)
        elif len(outputs) == 1 and to_cost:
            element = scene.elements[outputs[0]]
            drop = ("width", "fixedsize", "xlabel")  # a circle with its name inside
            attrs = {k: v for k, v in element["attrs"].items() if k not in drop}
            element["attrs"] = {**attrs, "label": PREDICTION}
            names[element["node"]] = PREDICTION  # and the captions call it so


def _merge(scene, block_id, outputs, reader, name, style, incoming, outgoing) -> None:
    """Replace the variables ``outputs`` (block -> each -> reader) by one vector."""
    vector_id = "v" + block_id
    text = f"{name}\n{len(outputs)}" if name else str(len(outputs))
    first = scene.elements[outputs[0]]
    attrs = {**style(name or ""), "label": plain(text)}
    members = {scene.elements[o]["node"]: i for i, o in enumerate(outputs)}
    scene.add(
        vector_id,
        "vector",
        attrs,
        first["home"],
        name=name or "",
        size=len(outputs),
        members=members,
    )
    arrow_in = incoming[outputs[0]][0]["attrs"]
    arrow_out = outgoing[outputs[0]][0]["attrs"]
    into = {"src": block_id, "dst": vector_id, "attrs": dict(arrow_in), "graph_edges": []}
    out = {"src": vector_id, "dst": reader, "attrs": dict(arrow_out), "graph_edges": []}
    gone = set(outputs)
    kept: list[dict] = []
    position = None  # where the vector's two edges go: where the first edge into it was
    for edge in scene.edges:
        if edge["dst"] in gone:
            into["graph_edges"] += edge["graph_edges"]
            position = len(kept) if position is None else position
        elif edge["src"] in gone:
            out["graph_edges"] += edge["graph_edges"]
        else:
            kept.append(edge)
    scene.edges[:] = [*kept[:position], into, out, *kept[position:]]
    for element_id in outputs:
        del scene.elements[element_id]
    scene.edge_index = {(e["src"], e["dst"]): e for e in reversed(scene.edges)}
