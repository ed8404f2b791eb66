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
from dataclasses import dataclass, replace

from .. import Scope, Value
from .scene import Scene
from .text import natural_key, plain

__all__ = [
    "join_vectors",
    "group_parameters",
    "name_shared_parameters",
    "ParameterGroup",
    "PREDICTION",
]

#: The course's name for the model's output, the prediction compared with y.
PREDICTION = "ȳ"


def _layer_output_name(block_name: str) -> str | None:
    """``z1`` for the outputs of ``layers.0`` (the lecture's z_{k+1} = h(s_{k+1})),
    None for a scope whose name ends in no number."""
    k = _number(block_name)
    return None if k is None else f"z{k + 1}"


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


# -- a collapsed layer's parameters as a matrix and a vector ----------------------------


@dataclass(frozen=True)
class ParameterGroup:
    """Parameters a collapsed block hides, drawn as one variable of the derivative
    network (:func:`group_parameters`).

    ``name`` as the lecture writes it (``w1``, ``b1``); ``members`` the parameters,
    row-major; ``shape`` ``(m, n)`` for a weight matrix (row ``i`` is output ``i``'s
    weights, column ``j`` its ``j``-th input), ``(m,)`` for a vector, ``()`` for one
    number; ``loose``: parameters with no structure found, drawn as their count."""

    name: str
    members: tuple[Value, ...]
    shape: tuple[int, ...]
    loose: bool = False

    def element_name(self, k: int) -> str:
        """The name of member ``k`` as a caption writes it: ``w1[2,0]``, ``b1[2]``."""
        if len(self.shape) == 2:
            return f"{self.name}[{k // self.shape[1]},{k % self.shape[1]}]"
        return f"{self.name}[{k}]" if self.shape else self.name


def group_parameters(scene: Scene, graph, names: dict) -> None:
    """Group the parameters each collapsed block of ``scene`` hides (its element's
    ``hidden_params``) into ``element["groups"]``, a list of :class:`ParameterGroup`,
    and name every grouped parameter in ``names`` (the captions' names) as an
    element of its group. ``graph`` is the drawing's
    :class:`~.select.DrawnGraph`.

    A scope whose outputs are each ``b_i + Σ_j w_ij x_j`` (then any function of it)
    over the same inputs ``x_j`` is a linear layer: its weights are the matrix
    ``w_k`` (outputs × inputs) and its biases the vector ``b_k``, ``k`` the number
    ending the scope's name (``layers.1``: ``w1``, ``b1``, as
    :func:`tapegrad.nn.diagram.draw_model` and :func:`tapegrad.engine.lift` name
    them, so that ``s_{k+1} = w_k z_k + b_k``); a single neuron's are the vector
    ``w`` and the number ``b``. A scope that is no such layer is searched scope by
    scope inside it (a collapsed MLP: one matrix and one vector per layer); what
    is left is one loose group ``w``, the lecture's parameter of ``G(x, w)``."""
    found = graph.parameter_groups  # a second scene of one graph finds them there
    blocks = [e for e in scene.elements.values() if e.get("hidden_params") and "scope" in e]
    if any(e["scope"] not in found for e in blocks):
        inside: dict[Scope, list[Value]] = {}  # each collapsed block's ops, in graph order
        for node in graph.order:
            block = graph.block_of.get(node)
            if block is not None and node.parents:
                inside.setdefault(block, []).append(node)
        for element in blocks:
            block = element["scope"]
            if block not in found:
                grouping = _Grouping(graph, inside.get(block, []))
                found[block] = _unique(grouping.groups(block, element["hidden_params"]))
    for element in blocks:
        element["groups"] = found[element["scope"]]
        for group in element["groups"]:
            if not group.loose:
                for k, p in enumerate(group.members):
                    names[p] = group.element_name(k)


def name_shared_parameters(graph) -> None:
    """Give the drawn parameters that share a label distinct names in
    ``graph.names`` (a :class:`~.select.DrawnGraph`'s), the names every view and
    caption then uses: each neuron of a layer labels its weights ``w0, w1, ...``, so
    an uncollapsed layer of three neurons has three ``w1``, and its derivative
    network three ``dc/dw1`` with different values. They are named as elements of
    their layer's matrix and vector, as a collapsed layer's are
    (:func:`group_parameters`: ``w0[2,1]`` is the weight of input 1 in neuron 2 of
    ``layers.0``, ``b0[2]`` its bias; ``w[2,1]`` in a lone ``Layer``), searched in
    the outermost scope of their uses. A label still shared (no layer found, no
    scope) is numbered as :func:`tapegrad.engine.lift` numbers repeated names:
    ``w``, ``w_1``, ``w_2``. Parameters hidden in a collapsed block are left to
    :func:`group_parameters`; labels no other parameter shares are kept.

    Only the blocks view renames (every blocks view of one graph alike: plain,
    steps, derivative network), where a parameter is named inside its op's block
    (``* 0.5 w0[2,1]``); the values view keeps each record's own label, in its
    neuron's cluster."""
    by_label: dict[str, list[Value]] = {}
    for node in graph.order:
        if node.is_leaf and node.label and node in graph.parameters:
            if node not in graph.block_of:
                by_label.setdefault(node.label, []).append(node)
    shared = {p for ps in by_label.values() if len(ps) > 1 for p in ps}
    if not shared:
        return
    inside: dict[Scope, list[Value]] = {}  # each outermost scope's ops, in graph order
    homes: dict[Scope, set[Value]] = {}  # and the shared parameters they read
    for node in graph.order:
        if node.scope is None or not node.parents:
            continue
        top = node.scope.chain()[0]
        inside.setdefault(top, []).append(node)
        homes.setdefault(top, set()).update(p for p in node.parents if p in shared)
    named: set[Value] = set()
    for top, params in homes.items():
        if not params:
            continue
        for group in _Grouping(graph, inside[top]).groups(top, params):
            if not group.loose:
                for k, p in enumerate(group.members):
                    if p not in named:  # the first scope using it names it
                        graph.names[p] = group.element_name(k)
                        named.add(p)
    taken: set[str] = set()
    for ps in by_label.values():
        for p in ps:
            name, k = graph.names[p], 0
            while name in taken:
                k += 1
                name = f"{graph.names[p]}_{k}"
            graph.names[p] = name
            taken.add(name)


def _unique(groups: list[ParameterGroup]) -> list[ParameterGroup]:
    """``groups`` with distinct names: a repeated name gets ``_1``, ``_2``, ... as
    :func:`tapegrad.engine.lift` does."""
    taken: set[str] = set()
    out = []
    for g in groups:
        name, k = g.name, 0
        while name in taken:
            k += 1
            name = f"{g.name}_{k}"
        taken.add(name)
        out.append(g if name == g.name else replace(g, name=name))
    return out


class _Grouping:
    """One block's search for layers (see :func:`group_parameters`): ``inside`` are
    the block's ops in graph order. A parameter is grouped by its uses inside the
    block (the same weights may serve other blocks too: the layer of every sample of
    an average loss)."""

    def __init__(self, graph, inside: list[Value]) -> None:
        self.graph = graph
        self.inside = inside
        self.uses: dict[Value, list[tuple[Value, int]]] = {}  # inside the block
        for node in inside:
            for position, parent in enumerate(node.parents):
                self.uses.setdefault(parent, []).append((node, position))

    def groups(self, scope: Scope, params: set[Value]) -> list[ParameterGroup]:
        ordered = sorted(params, key=self.graph.index.__getitem__)
        layer = self._layer(scope, ordered)
        if layer is not None:
            return layer
        # not a layer: each child scope that holds every use of some parameters
        by_child: dict[Scope, set[Value]] = {}
        loose: list[Value] = []
        depth = scope.depth
        for p in ordered:
            chains = [n.scope.chain() for n, _ in self.uses.get(p, []) if n.scope is not None]
            homes = {
                c[depth + 1] if len(c) > depth + 1 and c[depth] is scope else None for c in chains
            }
            home = homes.pop() if len(homes) == 1 else None
            if home is not None and len(chains) == len(self.uses[p]):
                by_child.setdefault(home, set()).add(p)
            else:
                loose.append(p)
        out: list[ParameterGroup] = []
        for child in sorted(by_child, key=lambda s: natural_key(s.name)):
            out += self.groups(child, by_child[child])
        if len(loose) == 1:
            out.append(ParameterGroup(self.graph.names[loose[0]], (loose[0],), ()))
        elif loose:
            out.append(ParameterGroup("w", tuple(loose), (len(loose),), loose=True))
        return out

    def _layer(self, scope: Scope, params: list[Value]) -> list[ParameterGroup] | None:
        """The matrix and vector of ``params`` if ``scope`` is a linear layer, else None."""
        ops = [n for n in self.inside if _within(n, scope)]
        members = set(ops)
        outputs = [n for n in ops if self.graph.uses[n] > self._reads(n, members)]
        outputs += [n for n in self.graph.roots if n in members and n not in outputs]
        if not outputs:
            return None
        owner = self._owners(outputs, members)
        rows: list[list[tuple[int, Value, object]]] = [[] for _ in outputs]  # (index, w, x)
        biases: list[list[Value]] = [[] for _ in outputs]
        for p in params:
            uses = [u for u in self.uses.get(p, []) if u[0] in members]
            if len(uses) != 1 or len(owner.get(uses[0][0], ())) != 1:
                return None
            node, position = uses[0]
            row = owner[node][0]
            if node.op == "mul" and self._summed(node):
                rows[row].append((self.graph.index[node], p, _other_operand(node, position)))
            elif node.op == "add" and not biases[row]:
                biases[row].append(p)
            else:
                return None
        inputs = [[x for _, _, x in sorted(r, key=lambda t: t[0])] for r in rows]
        if not inputs[0] or any(i != inputs[0] for i in inputs):
            return None  # each output weighs the same inputs, or no matrix
        if len({len(b) for b in biases}) != 1:
            return None  # every output has its bias, or none has
        weights = tuple(w for r in rows for _, w, _ in sorted(r, key=lambda t: t[0]))
        bias = tuple(b for bs in biases for b in bs)
        m, n = len(outputs), len(inputs[0])
        neuron = m == 1 and all(op.scope is scope for op in ops)  # no scopes inside
        number = _number(scope.name)
        w, b = ("w", "b") if neuron or number is None else (f"w{number}", f"b{number}")
        found = [ParameterGroup(w, weights, (n,) if neuron else (m, n))]
        if bias:
            found.append(ParameterGroup(b, bias, () if neuron else (m,)))
        return found

    def _summed(self, product: Value) -> bool:
        """Whether a weight's product ``w * x`` is a term of a sum (read once, by an
        addition), as in ``b + Σ_j w_j x_j``: not ``(w * x) * x``."""
        readers = self.uses.get(product, [])
        return self.graph.uses[product] == 1 and len(readers) == 1 and readers[0][0].op == "add"

    def _reads(self, node: Value, members: set[Value]) -> int:
        """How many times ops of ``members`` read ``node``."""
        return sum(1 for reader, _ in self.uses.get(node, []) if reader in members)

    def _owners(self, outputs: list[Value], members: set[Value]) -> dict[Value, list[int]]:
        """Which outputs each op of the scope is computed for (walking back from each
        output inside the scope)."""
        owner: dict[Value, list[int]] = {}
        for i, out in enumerate(outputs):
            stack, seen = [out], {out}
            while stack:
                node = stack.pop()
                owner.setdefault(node, []).append(i)
                for parent in node.parents:
                    if parent in members and parent not in seen:
                        seen.add(parent)
                        stack.append(parent)
        return owner


def _within(node: Value, scope: Scope) -> bool:
    """Whether ``node`` was computed inside ``scope`` (or a scope inside it)."""
    return node.scope is not None and scope in node.scope.chain()


def _other_operand(node: Value, position: int) -> object:
    """What a weight is multiplied by: the other input (a Value: equal to another
    only if it is the same node) or the plain number written into the op."""
    if len(node.parents) == 2:
        return ("value", node.parents[1 - position])
    return ("number", node.constant[1] if node.constant is not None else None)


def _number(name: str) -> int | None:
    m = re.fullmatch(r".*?\.?\[?(\d+)\]?", name)
    return int(m.group(1)) if m else None
