"""The lecture's derivative network: the drawing mirrored, arrows reversed, seeded with 1.

One gradient node ``dc/ds`` per variable, one derivative module ``∂ f`` per function,
each edge labelled with the local derivative it multiplies by; the values are
computed from the graph (:func:`~.stepping.gradients`), whatever ``.grad`` holds.
"""

from __future__ import annotations

import itertools
import math

from .fit import choose_wrap
from .scene import Scene
from .stepping import StepState, root_name
from .text import derivative, num, plain, short
from .vectors import ParameterGroup
from .wrap import ranks

__all__ = ["add_derivative_network"]


def add_derivative_network(builder, scene: Scene, state: StepState | None) -> None:
    """Mirror ``scene`` (built by ``builder``, a :class:`~.builder.Builder`): one
    gradient node per variable, one derivative module per function, arrows reversed
    (drawn with ``dir=back`` so the layout keeps the forward order and the mirror
    lines up), seeded with 1 at the cost; ``state``'s step is highlighted."""
    _mirror_elements(builder, scene)
    t = builder.t
    arrow = {**builder.arrow(), "color": t["grad"], "dir": "back"}
    for edge in list(scene.edges):
        if "input" in (
            scene.elements[edge["src"]]["kind"],
            scene.elements[edge["dst"]]["kind"],
        ):
            continue  # a number drawn as an input (a loss's y) has no gradient
        if _mirror(scene, edge["src"]) not in scene.elements:
            continue  # an observed input's gradient, not asked for
        attrs = dict(arrow)
        locals_ = [n.local_grads[pos] for _, n, pos in edge["graph_edges"]]
        # A collapsed module's derivative is a product along its inside: no
        # single local derivative to write on its edges.
        # An edge that stands for a chain (a folded sum, a subtraction) carries
        # the product of the chain's local derivatives.
        if locals_ and "scope" not in scene.elements[edge["dst"]]:
            attrs["label"] = plain(f"× {short(math.prod(locals_))}")
        scene.connect(_mirror(scene, edge["src"]), _mirror(scene, edge["dst"]), None, **attrs)
    _parameter_gradients(builder, scene, arrow)
    _seed(builder, scene, arrow)
    _in_forward_order(builder, scene)
    if state is not None:
        target = (state.step.parent, state.step.node, state.step.position)
        for edge in scene.edges:
            if target in edge["graph_edges"]:
                mirrored = scene.edge_index.get(
                    (_mirror(scene, edge["src"]), _mirror(scene, edge["dst"]))
                )
                if mirrored is not None:
                    mirrored["attrs"].update(color=t["highlight"], penwidth="3.5")
        for edge in scene.edges:  # into a parameter drawn inside its block
            if edge["src"].startswith(("dp", "dg")) and target in edge["graph_edges"]:
                edge["attrs"].update(color=t["highlight"], penwidth="3.5")


def _in_forward_order(builder, scene: Scene) -> None:
    """Put the network's elements that share a rank (and a row, folded) in the order
    of what they mirror in the forward drawing -- ``dc/dw0`` above ``dc/dw1`` when
    ``* w0`` is above ``* w1`` -- with invisible edges, each pair pinned to one rank:
    the crossing minimiser otherwise draws them in any order. The forward order is
    the order the graph's elements were drawn in (each Value after its inputs); a
    module's parameters' gradients (``dc/dw1``, then ``dc/db1``) come before its
    inputs' (``dc/dz1``), on the side the parameters come in from (above, left to
    right; left, top to bottom), as in the lecture's backprop figures."""
    place = {element_id: k for k, element_id in enumerate(scene.elements)}
    for element_id, element in scene.elements.items():
        if element["kind"] == "vector":  # joined last: placed right after its block
            place[element_id] = place.get(element_id[1:], place[element_id])

    # where each function's inputs start: its parameters' gradients go just before
    starts: dict[str, int] = {}
    for edge in scene.edges:
        if edge["dst"] in place and edge["src"] in place:
            starts[edge["dst"]] = min(
                starts.get(edge["dst"], place[edge["dst"]]), place[edge["src"]]
            )

    def key(element_id: str) -> tuple:
        module = scene.elements[element_id].get("module")
        if module is not None:  # a parameter's gradient: before its module's inputs'
            return (starts.get(module[1:], place[module[1:]]), -1, place[element_id])
        return (place[element_id[1:]], 0, 0)

    mirrored = [i for i, e in scene.elements.items() if e["kind"] in ("gradient", "derivative")]
    wrap = choose_wrap(scene, builder.view, builder.rankdir, builder.options.wrap)
    rank = wrap.rank if wrap.folds else ranks(scene)
    rows: dict[tuple, list[str]] = {}
    for element_id in mirrored:
        row = (wrap.band.get(element_id, 0), wrap.order.get(element_id, 0))
        rows.setdefault((rank[element_id], *row), []).append(element_id)
    for same in rows.values():
        for before, after in itertools.pairwise(sorted(same, key=key)):
            scene.connect(before, after, None, style="invis")
            scene.aligned.append((before, after))


def _wanted(builder, node) -> bool:
    """Whether the network shows ``node``'s gradient: every computed value's and
    parameter's; an observed input's (data: nothing learns it) only with
    ``derivative="all"``, or when no leaf is a parameter (a plain formula)."""
    if not node.is_leaf or node in builder.parameters or not builder.parameters:
        return True
    return builder.options.derivative == "all"


def _parameter_gradients(builder, scene: Scene, arrow: dict) -> None:
    """``dc/dw`` for the parameters drawn inside their blocks (implicit in ``G(x, w)``):
    what learning uses, sent out of the block's derivative module sideways. A
    collapsed block's are its :class:`~.vectors.ParameterGroup` s (a layer's matrix
    ``w1`` and vector ``b1``), each one node; any other parameter has its own."""
    graph = builder.graph
    grouped: set = set()
    reads: dict = {}  # (block, parameter hidden in it) -> each (op, position) reading it
    for node in graph.order:
        if node in graph.block_of:
            for position, parent in enumerate(node.parents):
                if builder.is_hidden(parent):
                    reads.setdefault((graph.block_of[node], parent), []).append((node, position))
    # one node per group, whichever blocks use it (the layer of every sample of an
    # average loss uses the same weights: its gradient sums them all)
    ids: dict[tuple, str] = {}
    for element in list(scene.elements.values()):
        module = "b" + element["id"]
        if "groups" not in element or module not in scene.elements:
            continue
        for group in element["groups"]:
            gradient_id = ids.setdefault(group.members, f"dg{len(ids)}")
            scene.add(gradient_id, "gradient", _group_style(builder, group), None, module=module)
            edge = scene.connect(gradient_id, module, None, merge=True, **arrow)
            block = element["scope"]
            edge["graph_edges"] += [
                (p, *use) for p in group.members for use in reads.get((block, p), [])
            ]
            grouped.update(group.members)
    for node in graph.order:
        for position, parent in enumerate(node.parents):
            if not (parent.is_leaf and builder.is_hidden(parent)) or parent in grouped:
                continue
            element = builder.element_of(scene, graph.folds.drawn(node))
            if element is None or "b" + element["id"] not in scene.elements:
                continue
            gradient_id = f"dp{graph.index[parent]}"
            label = derivative(root_name(builder), builder.names[parent])
            attrs = _gradient_style(builder, f"{label}\n{num(graph.dgrads[parent])}")
            module = "b" + element["id"]
            scene.add(gradient_id, "gradient", attrs, None, node=parent, module=module)
            edge_attrs = dict(arrow)
            if "scope" not in element:
                # the local derivative, or along a folded chain (b into Σ b) its product
                drawn = graph.folds.drawn(node)
                chain = next(
                    (e for _, e in graph.folds.inputs[drawn] if e[0] == (parent, node, position)),
                    [(parent, node, position)],
                )
                local = math.prod(q.local_grads[i] for _, q, i in chain)
                edge_attrs["label"] = plain(f"× {short(local)}")
            edge = scene.connect(gradient_id, "b" + element["id"], None, merge=True, **edge_attrs)
            edge["graph_edges"].append((parent, node, position))


def _group_style(builder, group: ParameterGroup) -> dict:
    """A gradient node for a group of parameters: ``dc/dw1`` over the group's shape
    (``4×2``, ``4``) as a vector circle shows its size, or over its value for one
    number (a ``1×1`` matrix or a vector of one element too: a gradient of one
    number is a number), or over the count of a loose group (``12 parameters``); its tooltip gives
    the Euclidean (Frobenius) norm of the gradient, ``‖dc/dw1‖ = sqrt(Σ (dc/dw_ij)²)``."""
    dgrads = builder.graph.dgrads
    name = derivative(root_name(builder), group.name)
    if group.loose:
        size = f"{len(group.members)} parameters"
    elif len(group.members) > 1:
        size = "×".join(map(str, group.shape))
    else:
        size = num(dgrads[group.members[0]])
    attrs = _gradient_style(builder, f"{name}\n{size}")
    norm = math.sqrt(math.fsum(dgrads[p] ** 2 for p in group.members))
    attrs["tooltip"] = plain(f"‖{name}‖ = {short(norm)}")
    return attrs


def _gradient_style(builder, label: str) -> dict:
    """A gradient node ``dc/ds`` with its value."""
    t = builder.t
    style = dict(t["computed"]) if builder.view == "blocks" else dict(t["record"])
    attrs = {"shape": "ellipse", **style, "fontcolor": t["text"], "color": t["grad"]}
    attrs["label"] = plain(label)
    if builder.view == "blocks":
        attrs["penwidth"] = "2"
    return attrs


def _mirror(scene: Scene, element_id: str) -> str:
    """The id of the element mirroring ``element_id``."""
    kind = scene.elements[element_id]["kind"]
    return ("d" if kind in ("variable", "vector") else "b") + element_id


def _mirror_elements(builder, scene: Scene) -> None:
    """A gradient node for every variable, a derivative module for every function,
    each on the rank of what it mirrors."""
    t = builder.t
    root = root_name(builder)
    dgrads = builder.graph.dgrads
    functions = [e for e in scene.elements.values() if e["kind"] in ("function", "block", "cost")]
    variables = [
        e
        for e in scene.elements.values()
        if e["kind"] == "variable" and _wanted(builder, e["node"])
    ]
    for v in variables:
        node = v["node"]
        label = f"{derivative(root, builder.names[node])}\n{num(dgrads[node])}"
        scene.add("d" + v["id"], "gradient", _gradient_style(builder, label), None, node=node)
        scene.aligned.append((v["id"], "d" + v["id"]))
    for v in [e for e in scene.elements.values() if e["kind"] == "vector"]:
        # a vector's gradient is a vector of its size, as the vector itself; of one
        # element, a number: its value
        if v["size"] == 1:
            size = num(dgrads[next(iter(v["members"]))])
        else:
            size = str(v["size"])
        label = f"{derivative(root, v['name'])}\n{size}" if v["name"] else size
        scene.add("d" + v["id"], "gradient", _gradient_style(builder, label), None)
        scene.aligned.append((v["id"], "d" + v["id"]))
    for f in functions:
        label = plain("∂ " + f["op_text"])
        if builder.view == "values":
            attrs = {
                "shape": "box",
                "style": "rounded",
                **t["op"],
                "color": t["grad"],
                "label": label,
                "fontsize": "12",
            }
        else:
            attrs = {**builder.function_style(reverse=True), "color": t["grad"], "label": label}
        scene.add("b" + f["id"], "derivative", attrs, None)
        scene.aligned.append((f["id"], "b" + f["id"]))


def _seed(builder, scene: Scene, arrow: dict) -> None:
    """The seed 1 flowing into the mirror of the root (its cost square, its variable
    or its collapsed block)."""
    seed_attrs = {"shape": "plaintext", "label": "1", "fontcolor": builder.t["grad"]}
    scene.add("seed", "seed", seed_attrs, None)
    root = builder.roots[0]
    element = builder.element_of(scene, root)
    if element is not None and element["kind"] == "cost":
        scene.connect("b" + element["id"], "seed", None, **arrow)
        return
    block = builder.block_of.get(root)
    var = f"n{builder.index[root]}"
    if var in scene.elements:
        scene.connect("d" + var, "seed", None, **arrow)
    elif block is not None:
        scene.connect("b" + builder.block_ids[block], "seed", None, **arrow)
