"""The scene's builder: :class:`Builder` turns what the graph holds into a Scene.

One element per drawn variable (a record in the values view, a circle in the blocks
view), one per op (a small op node, a D-shaped function block or a red cost
square), one per collapsed scope, and the edges between them, each remembering the
graph edges it stands for (so that a backprop step can be highlighted on it).
"""

from __future__ import annotations

import re

import graphviz

from .. import Scope, Value
from .options import DrawOptions
from .scene import Scene
from .select import DrawnGraph
from .stepping import root_name
from .text import derivative, num, plain, record_field, short
from .themes import SIDE, circle_style, function_style, variable_style
from .vectors import group_parameters, join_vectors

__all__ = ["Builder"]


class Builder:
    """Turns the graph into a :class:`Scene` for one view.

    ``options`` are the drawing's (checked), ``graph`` what :func:`~.select.read_graph`
    read from the graph."""

    def __init__(self, options: DrawOptions, graph: DrawnGraph) -> None:
        self.options = options
        self.graph = graph
        self.view = options.view
        assert options.rankdir is not None  # draw() chooses it before building
        self.rankdir = options.rankdir
        self.t = options.colors
        self.show_params = options.shows_params
        self.index = graph.index
        self.names = graph.names
        self.parameters = graph.parameters
        self.costs = graph.costs if self.view == "blocks" else set()
        self.block_of = graph.block_of
        self.roots = graph.roots
        self.block_ids: dict[Scope, str] = {}
        self._members: dict[Scope, list[Value]] | None = None

    # -- element styles --
    def function_style(self, reverse: bool = False) -> dict:
        """A function block: a box in DOT, painted as a D (``class`` tg-function)."""
        return function_style(self.t, self.rankdir, reverse)

    def _grad_note(self, node: Value) -> str:
        """The gradient for a tooltip in the blocks view: the one computed from the
        graph (steps, derivative network), never whatever ``.grad`` holds."""
        dgrads = self.graph.dgrads
        if node not in dgrads:
            return ""
        return f", {derivative(root_name(self), self.names[node])} {short(dgrads[node])}"

    def _variable_style(self, node: Value) -> dict:
        if node.is_leaf and node in self.parameters:
            return variable_style(self.t, node.label, "param")
        return variable_style(self.t, node.label, "observed" if node.is_leaf else "computed")

    def variable(self, scene: Scene, node: Value, home: Scope | None) -> str:
        """The element showing the value of ``node``: a record or a circle."""
        dot_id = f"n{self.index[node]}"
        name = self.names[node]
        if self.view == "values":
            fields = (
                f"{record_field(name)} | data {num(node.data)} | grad {num(self.graph.grads[node])}"
            )
            # A record's fields run across the flow: braces turn them for LR and RL,
            # so that label, data and grad always read side by side on one line.
            label = f"{{ {fields} }}" if self.rankdir in ("LR", "RL") else f"{fields}"
            attrs = {"shape": "record", "label": graphviz.nohtml(label), **self.t["record"]}
        else:
            attrs = {
                **self._variable_style(node),
                "label": plain(name if node.label else ""),  # w0[2,1] for a shared w1
                "tooltip": plain(f"{name} = {short(node.data)}{self._grad_note(node)}"),
            }
            if not node.label:
                attrs.update(width="0.3", fixedsize="true")
                if self.options.step is not None or self.options.derivative:
                    # the captions and the derivative network name it: show the name
                    attrs["xlabel"] = plain(name)
        scene.add(dot_id, "variable", attrs, home, node=node)
        return dot_id

    def build(self) -> Scene:
        scene = Scene()
        for node in self.graph.order:
            block = self.block_of.get(node)
            if block is not None:
                self._add_block_node(scene, node, block)
            elif node.is_leaf:
                if node not in self.parameters or self.show_params or self._used_outside(node):
                    self.variable(scene, node, node.scope)
            elif node not in self.graph.folds.absorbed:
                self._add_op(scene, node)
        self._number_inputs(scene)
        if self.view == "blocks" and self.block_ids:
            join_vectors(scene, lambda name: variable_style(self.t, name, "computed"), self.names)
            if self.options.step is not None or self.options.derivative:
                group_parameters(scene, self.graph, self.names)  # w1 (4×2): captions' names
        return scene

    def _number_inputs(self, scene: Scene) -> None:
        """A collapsed block fed plain numbers (``nn.data``'s samples are floats, so
        they are written into the ops as constants) gets an observed ``x`` drawn
        into it: a block never appears to have no input. A cost given its target as
        a number (every loss of ``nn.losses``) gets its observed ``y``, and so does a
        cost that reads only computed values (a class index picks a logit in
        ``softmax_cross_entropy``: the target is data, written into no op)."""
        fed = {edge["dst"] for edge in scene.edges}
        shared: dict[frozenset, str] = {}
        for block, block_id in self.block_ids.items():
            element = scene.elements[block_id]
            if element["kind"] == "cost":
                # nn.losses take the target y as a number: C(y, ȳ) still shows its y
                # (unless y came in as a Value: then the cost reads an observed input)
                sources = {e["src"] for e in scene.edges if e["dst"] == block_id}
                computed = all(
                    scene.elements[src]["kind"] == "vector"
                    or (
                        scene.elements[src]["kind"] == "variable"
                        and not scene.elements[src]["node"].is_leaf
                    )
                    for src in sources
                )
                one = len(sources) == 1 and element.get("numbers")  # C(ȳ, number)
                if not (one or (len(sources) >= 2 and computed)):
                    continue  # y came in as a Value, a regulariser R(w) (no input)
                # the target of sample p is y[p] when its prediction is ȳ[p], or when
                # what the cost comes from names sample p (nn.average_loss's x[p]₀)
                other = scene.elements[next(iter(sources))]["attrs"] if sources else {}
                index = re.search(r"(\[[^\]]*\])$", str(other.get("label", "")))
                sample = index.group(1) if index else self._sample_index(block)
                name, dot_id = "y" + sample, "y" + block_id
            elif block_id in fed or not element.get("numbers"):
                continue
            else:
                # blocks fed the same numbers (the neurons of a first layer) share one x
                key = frozenset(element["numbers"])
                name, dot_id = "x", shared.setdefault(key, f"x{len(shared)}")
            style = circle_style(self.t, observed=True)
            scene.add(dot_id, "input", {**style, "label": name}, block.parent)
            scene.connect(dot_id, block_id, **self.arrow())

    def _sample_index(self, block: Scope) -> str:
        """``"[p]"`` when every leaf named with an index that ``block``'s values come
        from names the same sample ``p`` (``x[p]₀``, as :func:`tapegrad.nn.average_loss`
        labels sample ``p``'s inputs), else ``""``."""
        if self._members is None:  # each block's values, gathered once a drawing
            self._members = {}
            for node, b in self.block_of.items():
                self._members.setdefault(b, []).append(node)
        stack = list(self._members.get(block, ()))
        seen = {id(node) for node in stack}
        found = set()
        while stack:
            node = stack.pop()
            if node.is_leaf:
                index = re.search(r"\[\d+\]", node.label or "")
                if index:
                    found.add(index.group(0))
                continue
            for parent in node._parents:
                if id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append(parent)
        return found.pop() if len(found) == 1 else ""

    def _used_outside(self, leaf: Value) -> bool:
        """Parameters are implicit only in the function that uses them; a parameter
        that is also a root must still be drawn."""
        return leaf in self.roots

    def is_hidden(self, node: Value) -> bool:
        return node.is_leaf and node in self.parameters and not self.show_params

    def _source(self, scene: Scene, parent: Value) -> str | None:
        """The element an edge from ``parent`` starts at (None for a hidden parameter)."""
        if self.is_hidden(parent):
            return None
        block = self.block_of.get(parent)
        if block is not None:
            block_id = self._block_id(scene, block)
            if scene.elements[block_id]["kind"] == "cost":
                return block_id  # a cost's output is implicit: no variable
            out = self.variable(scene, parent, block.parent)
            scene.connect(block_id, out, merge=True, **self.arrow())
            return out
        return f"n{self.index[parent]}"

    def arrow(self) -> dict:
        return dict(self.t["arrow"] if self.view == "blocks" else self.t["value_arrow"])

    def _edge_from(self, scene: Scene, src: str, **attrs) -> dict:
        """Arrow attributes for an edge leaving ``src``: a cost square has no outgoing
        arrow, so what reads a cost (an average of per-sample costs) is joined to it
        by a dashed line without a head."""
        if scene.elements.get(src, {}).get("kind") == "cost":
            attrs.update(style="dashed", arrowhead="none")
        return attrs

    def _cost_square(self, label: str) -> dict:
        # ordering=in: its inputs side by side in the order the cost takes them (ȳ, y)
        return {
            "shape": "box",
            **self.t["cost"],
            "ordering": "in",
            "fontcolor": self.t["text"],
            "label": plain(label),
        }

    def _add_op(self, scene: Scene, node: Value) -> None:
        i = self.index[node]
        inputs = self.graph.folds.inputs[node]
        hidden = [self.names[p] for p in dict.fromkeys(p for p, _ in inputs) if self.is_hidden(p)]
        text = self.graph.folds.text[node]
        if hidden:
            text = f"{text} {', '.join(hidden)}"
        sources = [(p, edges, self._source(scene, p)) for p, edges in inputs]
        is_cost = node in self.costs
        if not is_cost and self.graph.cost_scopes and self.view == "blocks":
            # An op whose every input is a cost (the average of per-sample losses)
            # is a cost too: the total.
            drawn = [src for _, _, src in sources if src is not None]
            is_cost = bool(drawn) and all(
                scene.elements.get(src, {}).get("kind") == "cost" for src in drawn
            )
        if self.view == "values":
            fn_id = f"f{i}"
            attrs = {"shape": "circle" if len(text) <= 2 else "ellipse", "label": plain(text)}
            attrs.update(self.t["op"], width="0.4", height="0.4", fontsize="12")
            scene.add(fn_id, "function", attrs, node.scope, node=node, op_text=text)
        elif is_cost:
            fn_id = f"n{i}"
            label = f"{node.label}\n{text}" if node.label and node.label != text else text
            attrs = self._cost_square(label)
            attrs["tooltip"] = plain(
                f"{self.names[node]} = {short(node.data)} ({text}){self._grad_note(node)}"
            )
            scene.add(fn_id, "cost", attrs, node.scope, node=node, op_text=text)
        else:
            fn_id = f"f{i}"
            scene.add(
                fn_id,
                "function",
                {**self.function_style(), "label": plain(text)},
                node.scope,
                node=node,
                op_text=text,
            )
        for parent, edges, src in sources:
            if src is None:
                continue
            arrow = self._edge_from(scene, src, **self.arrow())
            if parent in self.parameters and self.view == "blocks":
                # A parameter comes into its function from the side, as in the
                # lecture's backprop figures.
                arrow.update(style="dashed", headport=SIDE[self.rankdir])
            edge = scene.connect(src, fn_id, edges[-1], **arrow)
            edge["graph_edges"][:0] = edges[:-1]
            edge["chain"] = len(edges) > 1
        if fn_id != f"n{i}":
            out = self.variable(scene, node, node.scope)
            scene.connect(fn_id, out, **self.arrow())

    def _block_id(self, scene: Scene, block: Scope) -> str:
        if block not in self.block_ids:
            dot_id = f"m{len(self.block_ids)}"
            self.block_ids[block] = dot_id
            attrs = {**self.function_style(), "label": plain(block.name)}
            scene.add(
                dot_id,
                "block",
                attrs,
                block.parent,
                scope=block,
                hidden_params=set(),
                op_text=block.name,
            )
        return self.block_ids[block]

    def _add_block_node(self, scene: Scene, node: Value, block: Scope) -> None:
        """``node`` is inside a collapsed block: only edges crossing the block's border
        are drawn, and values leaving it (or roots) become its outputs."""
        block_id = self._block_id(scene, block)
        element = scene.elements[block_id]
        for position, parent in enumerate(node._parents):
            if self.block_of.get(parent) is block:
                continue
            src = self._source(scene, parent)
            if src is None:  # a hidden parameter
                element["hidden_params"].add(parent)
                continue
            attrs = self._edge_from(scene, src, **self.arrow())
            scene.connect(src, block_id, (parent, node, position), merge=True, **attrs)
        if node.is_leaf and node in self.parameters:
            element["hidden_params"].add(node)
        if node.constant is not None and (
            node.op == "mul" or (node in self.costs and node.op in ("add", "sub"))
        ):
            element.setdefault("numbers", set()).add(node.constant[1])
        if node in self.costs:
            # A module that computes a cost is drawn as a cost square named after it;
            # its output is implicit.
            element["kind"] = "cost"
            element["attrs"] = self._cost_square(block.name)
        elif node in self.roots:
            self._source(scene, node)

    def element_of(self, scene: Scene, node: Value) -> dict | None:
        block = self.block_of.get(node)
        if block is not None:
            return scene.elements.get(self.block_ids.get(block, ""))
        i = self.index[node]
        return scene.elements.get(f"f{i}") or scene.elements.get(f"n{i}")
