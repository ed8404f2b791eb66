"""A lifted program drawn as the lecture draws a traditional neural net.

Lecture 1 ("Block diagram of a traditional neural net") draws a network as a chain of
blocks acting on whole vectors: linear blocks ``s[k+1] = w[k] z[k]`` and non-linear
blocks ``z[k] = h(s[k])``, one circle per vector with its size, and the cost ``C(y,
ȳ)`` as a red square. :func:`draw_program` draws that figure from any lifted tape
(:func:`tapegrad.engine.lift`), whatever classes built it -- a student's own
``Neuron``/``Layer``/``MLP`` draws as ``nn``'s ``MLP`` does
(:func:`tapegrad.nn.diagram.draw_model` uses it for models it does not know):

* an input variable is an observed circle (``x = z0`` when a first layer reads it),
  every other vector a computed circle, its name above its size; the vectors that
  feed the cost are the prediction ``ȳ``;
* a ``linear`` instruction is a D-shaped block ``w_k z_k`` (the bias is part of
  ``w_k``, as on the slide), a one-input elementwise instruction a block named by its
  function (``relu``, ``tanh``), any other elementwise instruction a block named by its
  op, with the parameters and numbers it reads written in (``+ 1``, ``* p0``); a
  ``gather`` (elements picked from several vectors) is drawn as arrows only;
* the instructions computed inside a :func:`~tapegrad.engine.cost_scope` (every loss
  of :mod:`tapegrad.nn.losses`) are one red square per cost, ``C`` over its name, with
  no outgoing arrow; an instruction that only combines costs (a sum of two losses) is
  a cost too, joined to them by dashed lines without heads. A tape with no cost scope
  is a model without its loss: nothing is a cost, every instruction is a block and the
  root's vector is the prediction ``ȳ`` (as with ``outputs=[root]``); a hand-written
  loss is drawn as a cost when computed inside ``with engine.cost_scope("name"):``.

Parameters and constants are implicit (named in the blocks), as in ``G(x, w)``.
The look is :mod:`tapegrad.engine.drawing`'s (NOTATION.md): ``rankdir`` and ``theme``
as in :func:`tapegrad.engine.draw`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._costs import cost_scope_of
from .drawing import GraphDrawing
from .drawing.fit import fit_sketch
from .drawing.options import check_look
from .drawing.text import const, plain
from .drawing.themes import THEMES, function_style, new_graph, variable_style
from .drawing.wrap import Sketch, check_wrap
from .lift import Instruction, Program
from .ops import OPS
from .value import Value

__all__ = ["draw_program"]


def draw_program(
    program: Program,
    *,
    outputs: Sequence[Value] = (),
    rankdir: str | None = None,
    theme: str = "light",
    wrap: bool | int | None = None,
) -> GraphDrawing:
    """The lecture's block diagram of a lifted ``program`` (see the module docstring).

    ``outputs``: Values of the tape that are the model's predictions: only what they
    depend on is drawn, no cost, and the vectors holding them are ``ȳ`` (to draw the
    model alone from a program that computes more, or from a root that only gathers
    several outputs). Raises ``ValueError`` for an output the program does not hold
    as a vector's element (a partial sum inside a ``linear`` instruction).

    ``rankdir``, ``theme`` and ``wrap`` as in :func:`tapegrad.engine.draw`: by
    default left to right, folded onto as few rows as fit a slide (at most 3 times
    as wide as high) when the chain of blocks is longer.

    Returns a :class:`~tapegrad.engine.GraphDrawing` (``.source`` is the DOT text;
    ``.pipe``, ``.render``, ``save_graph``). Raises ``TypeError`` for something that is
    not a lifted program and ``ValueError`` for a bad ``rankdir`` or ``theme``.
    """
    if not isinstance(program, Program):
        raise TypeError(
            f"draw_program draws a lifted program (engine.lift(...)), got {type(program).__name__}"
        )
    check_look("LR" if rankdir is None else rankdir, theme)
    check_wrap(wrap)
    predictions: list[str] = []
    for v in outputs:
        if not isinstance(v, Value):
            raise TypeError(f"outputs must be Values of the tape, got {type(v).__name__}: {v!r}")
        try:
            predictions.append(program.location(v)[0])
        except KeyError as e:
            raise ValueError(f"output {v!r}: {e.args[0]}") from None
    sketch, rankdir, folds = fit_sketch(
        lambda direction: _Diagram(program, predictions, direction, theme).graph, rankdir, wrap
    )
    g = new_graph("model", rankdir, THEMES[theme])
    g.attr("edge", fontname="Helvetica")
    return sketch.write(g, folds)


class _Diagram:
    """One drawing: which instructions are costs, the names shown, then the DOT."""

    def __init__(self, program: Program, outputs: list[str], rankdir: str, theme: str) -> None:
        self.program = program
        self.outputs = outputs
        self.variables = program.variables
        self.producer = {ins.output: ins for ins in program.instructions}
        #: the instructions drawn: all, or those the outputs depend on
        self.instructions = self._needed(outputs) if outputs else program.instructions
        t = THEMES[theme]
        self.t = t
        self.graph = Sketch()  # written into a GraphDrawing, folded, by draw_program
        self.arrow = dict(t["arrow"])
        self.function = function_style(t, rankdir)
        self.cost_names: dict[str, str] = {}  # per cost node: its scope's name
        self.costs = self._costs()
        if not self.costs and not outputs and program.output[0] in self.producer:
            self.outputs = [program.output[0]]  # no recorded loss: the root is the prediction
        self.shown = self._shown_inputs()
        self.ids = self._node_ids()
        self.drawn: set[str] = set()
        self._draw()

    # -- what is what
    def _needed(self, outputs: list[str]) -> list[Instruction]:
        needed: set[str] = set()
        stack = list(outputs)
        while stack:
            name = stack.pop()
            if name in self.producer and name not in needed:
                needed.add(name)
                stack.extend(self.producer[name].inputs)
        return [ins for ins in self.program.instructions if ins.output in needed]

    def _costs(self) -> dict[str, str]:
        """Per cost instruction's output: its cost's node id (one per cost scope)."""
        costs: dict[str, str] = {}
        if self.outputs:
            return costs
        values = self.program.walk.values()
        names: dict[str, str] = {}
        for ins in self.instructions:
            scopes = {cost_scope_of(values[p]) for p in ins.entries}
            scope = scopes.pop() if len(scopes) == 1 else None
            if scope is not None:  # every entry in one cost scope
                node = names.setdefault(scope.path, self._free(f"C{len(names) or ''}"))
                costs[ins.output] = node
                self.cost_names[node] = scope.name
        readers: dict[str, set[str]] = {}
        for ins in self.instructions:
            for n in ins.inputs:
                readers.setdefault(n, set()).add(costs.get(ins.output, ""))
        for ins in self.instructions:  # a gather read only by one cost is part of it
            read_by = readers.get(ins.output, set())
            if ins.op == "gather" and len(read_by) == 1 and "" not in read_by:
                costs[ins.output] = read_by.pop()
        for ins in self.instructions:  # ops that only combine costs
            produced = [n for n in ins.inputs if n in self.producer]
            if ins.output not in costs and produced and all(n in costs for n in produced):
                read = {costs[n] for n in produced}
                costs[ins.output] = read.pop() if len(read) == 1 else self._free(f"C{ins.output}")
        return costs

    def _free(self, node: str) -> str:
        """A block's or a cost's DOT id, never a vector's (an input may be named C)."""
        while node in self.variables or node == "z0":
            node += "_"
        return node

    def _shown_inputs(self) -> list[str]:
        """The variables drawn as circles: inputs and results an arrow leaves from."""
        read = {n for ins in self.instructions for n in ins.inputs}
        kinds = ("input", "result")
        return [n for n, v in self.variables.items() if v.kind in kinds and n in read]

    def _node_ids(self) -> dict[str, str]:
        """The DOT id and text of every circle: ``x = z0`` for an input the first
        layer reads, ``ȳ = s3`` for a vector that feeds the cost."""
        ids: dict[str, str] = {}
        for ins in self.instructions:
            if ins.op == "linear" and self.variables[ins.inputs[1]].kind == "input":
                ids.setdefault(ins.inputs[1], "z0")
        return ids

    def _label(self, name: str) -> str:
        text = name
        if self.ids.get(name) == "z0":
            text = f"{name} = z0"
        elif self._predicts(name):
            text = f"ȳ = {name}"
        return plain(f"{text}\n{self.variables[name].size}")

    def _predicts(self, name: str) -> bool:
        """A computed vector outside the cost that the cost reads (or an output: the
        root's vector for a program with no cost)."""
        v = self.variables[name]
        if v.kind != "result" or name in self.costs:
            return False
        if self.outputs:
            return name in self.outputs
        return any(name in ins.inputs for ins in self.instructions if ins.output in self.costs)

    # -- drawing
    def _circle(self, name: str) -> str:
        node = self.ids.get(name, name)
        if name not in self.drawn:
            self.drawn.add(name)
            kind = "observed" if self.variables[name].kind == "input" else "computed"
            label = self._label(name)  # coloured by its letter in the dark theme, as draw_model
            self.graph.node(node, label=label, **variable_style(self.t, label, kind))
        return node

    def _draw(self) -> None:
        g = self.graph
        for name in self.program.inputs:  # the observed inputs, except the targets
            if name in self.shown and not self._only_cost_reads(name):
                self._circle(name)
        layer = 0
        for ins in self.instructions:
            if ins.output in self.costs:
                continue
            if ins.op == "gather":
                target = self._circle(ins.output)
                for source in dict.fromkeys(ins.inputs):
                    g.edge(self._circle(source), target, **self.arrow)
                continue
            if ins.op == "linear":
                block, label = f"lin{layer}", self._linear_label(ins)
                layer += 1
            else:
                block, label = f"f_{ins.output}", self._elementwise_label(ins)
                layer_output = ins.output[:1] == "z" and ins.output[1:].isdigit()
                if self._is_activation(ins) and layer_output:
                    block = f"h{int(ins.output[1:]) - 1}"  # z{k+1} = h(s{k+1}): block h{k}
            sources = [n for n in dict.fromkeys(ins.inputs) if n in self.shown]
            self._block(self._free(block), label, sources, ins.output)
        for cost in dict.fromkeys(self.costs.values()):  # the costs last, as on the slide
            self._cost(cost)

    def _only_cost_reads(self, name: str) -> bool:
        readers = [i for i in self.instructions if name in i.inputs]
        return bool(readers) and all(i.output in self.costs for i in readers)

    def _block(self, block: str, label: str, sources: list[str], output: str) -> None:
        g = self.graph
        for_first = [self._circle(s) for s in sources]
        g.node(block, label=label, **self.function)
        for node in for_first:
            g.edge(node, block, **self.arrow)
        g.edge(block, self._circle(output), **self.arrow)

    def _cost(self, cost: str) -> None:
        """A red square, and arrows into it from what its instructions read outside
        it: computed vectors first, then observed ones (the target y); dashed lines
        from the costs it adds."""
        g = self.graph
        name = self.cost_names.get(cost)
        style = {"shape": "box", **self.t["cost"], "fontcolor": self.t["text"]}
        g.node(cost, label=plain(f"C\n{name}") if name else "C", **style)
        read = [
            n
            for ins in self.instructions
            if self.costs.get(ins.output) == cost
            for n in ins.inputs
            if self.costs.get(n) != cost and self.variables[n].kind in ("input", "result")
        ]
        read = list(dict.fromkeys(read))
        computed = [n for n in read if n not in self.costs and n in self.producer]
        observed = [n for n in read if self.variables[n].kind == "input"]
        for n in [*computed, *observed]:
            g.edge(self._circle(n), cost, **self.arrow)
        for other in dict.fromkeys(self.costs[n] for n in read if n in self.costs):
            g.edge(other, cost, style="dashed", arrowhead="none", **_colour(self.arrow))

    # -- labels
    def _is_activation(self, ins: Instruction) -> bool:
        return OPS[ins.op].arity == 1 and len(ins.inputs) == 1

    def _linear_label(self, ins: Instruction) -> str:
        w, z = ins.inputs[0], ins.inputs[1]
        zname = self.ids.get(z, z)
        return f"{w} {zname}"

    def _elementwise_label(self, ins: Instruction) -> str:
        """A one-input function by its name (``relu``, ``−`` for a negation); any
        other op as the program writes it, operands by name or number (``1 − v0``)."""
        row = OPS[ins.op]
        names = [self._operand(n) for n in ins.inputs]
        if row.arity == 1:
            return "−" if row.name == "neg" else row.name
        symbol = {"sub": "−", "mul": "·"}.get(row.name, row.label)
        return f"{names[0]} {symbol} {names[1]}"

    def _operand(self, name: str) -> str:
        v = self.variables[name]
        if v.kind == "constant" and len(set(v.values)) == 1:
            return const(v.values[0])
        return name


def _colour(arrow: dict) -> dict:
    return {"color": arrow.get("color", "#000000"), "penwidth": arrow.get("penwidth", "1")}
