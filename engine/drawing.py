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
"""

from __future__ import annotations

import itertools
import math
import pathlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

import graphviz

# The engine's public names come from the package, wherever its modules keep them
# (drawing loads after the package, on first use).
from . import (
    BackwardStep,
    Scope,
    Value,
    _costs,
    _dot,
    _render,
    backprop_steps,
    topological_order,
)

__all__ = [
    "BackpropSteps",
    "DotNotFoundError",
    "GraphDrawing",
    "GraphTooLargeError",
    "draw",
    "draw_steps",
    "save_graph",
    "save_steps",
    "cost_scope",
]

DotNotFoundError = _dot.DotNotFoundError

VIEWS = ("values", "blocks")
RANKDIRS = ("LR", "RL", "TB", "BT")
DEFAULT_MAX_NODES = 2000

# -- themes ---------------------------------------------------------------------
# The light theme is the course's week-2 figures, colours read off them (see
# NOTATION.md); the dark one is the course site from 2021 on (ColorBrewer Set3).
LIGHT = {
    "background": "#ffffff",
    "text": "#000000",
    "observed": {"style": "filled", "fillcolor": "#dddddd", "color": "#000000", "penwidth": "3"},
    "computed": {"style": "filled", "fillcolor": "#ffffff", "color": "#9999ff", "penwidth": "3"},
    "function": {"style": "filled", "fillcolor": "#ffffff", "color": "#6666ff", "penwidth": "3"},
    "cost": {"style": "filled", "fillcolor": "#ffe1e1", "color": "#ff3333", "penwidth": "3"},
    "param": {"style": "dashed", "color": "#888888", "penwidth": "2"},
    "arrow": {"color": "#000000", "penwidth": "2.5", "arrowhead": "normal"},
    "record": {"color": "#000000", "fontcolor": "#000000"},
    "op": {"color": "#000000", "fontcolor": "#000000"},
    "value_arrow": {"color": "#000000"},
    "cluster": {"color": "#aaaaaa", "fontcolor": "#555555"},
    "highlight": "#ff7f00",
    "dense": "#8c8c8c",
    "done": "#e5f5e0",
    "grad": "#31a354",
}

DARK = {
    "background": "#000000",
    "text": "#f0f0f0",
    "observed": {"style": "filled", "fillcolor": "#282828", "color": "#fccde5", "penwidth": "3"},
    "computed": {"style": "solid", "color": "#b3de69", "penwidth": "3"},
    "function": {"style": "solid", "color": "#bebada", "penwidth": "3"},
    "cost": {"style": "solid", "color": "#fb8072", "penwidth": "3"},
    "param": {"style": "dashed", "color": "#d9d9d9", "penwidth": "2"},
    "arrow": {"color": "#f0f0f0", "penwidth": "1", "arrowhead": "normal"},
    "record": {"color": "#f0f0f0", "fontcolor": "#f0f0f0"},
    "op": {"color": "#f0f0f0", "fontcolor": "#f0f0f0"},
    "value_arrow": {"color": "#f0f0f0"},
    "cluster": {"color": "#595959", "fontcolor": "#d9d9d9"},
    "highlight": "#fdb462",
    "dense": "#777777",
    "done": "#1f3d1f",
    "grad": "#8dd3c7",
}

THEMES = {"light": LIGHT, "dark": DARK}

# The dark theme colours variables by the course's letters: x pink, y blue, z orange,
# h green, ỹ (a prediction) purple.
_DARK_OBSERVED = {"y": "#80b1d3"}
_DARK_COMPUTED = {"z": "#fdb462", "h": "#b3de69", "y": "#bc80bd"}


def _letter(label: str) -> str:
    """The base letter of a label: ``ȳ`` and ``ỹ`` are y, ``x1`` is x."""
    return unicodedata.normalize("NFKD", label)[:1].lower()


# A function block is a box in the DOT text (what any Graphviz draws); tapegrad's
# painter (_render) draws it as the course's D, round side downstream. The margin
# leaves room for the round side along the flow.
_FUNCTION_MARGIN = {"LR": "0.32,0.08", "RL": "0.32,0.08", "TB": "0.16,0.2", "BT": "0.16,0.2"}
_SIDE = {"LR": "n", "RL": "n", "BT": "w", "TB": "w"}

# Which Values are costs: see tapegrad.engine._costs (cost_scope, costs=).
cost_scope = _costs.cost_scope
_cost_scope_of = _costs.cost_scope_of
is_parameter = _costs.is_parameter


class GraphTooLargeError(ValueError):
    """The graph has more nodes than ``max_nodes``; the message suggests ``collapse``."""


class GraphDrawing(graphviz.Digraph):
    """A :class:`graphviz.Digraph` whose images tapegrad paints itself.

    ``.source`` is the DOT text (function blocks are boxes of ``class`` tg-function
    there); ``.pipe()``, ``.render()`` and inline display in Jupyter lay it out with
    Graphviz (the ``graphviz-pure`` wheel or a system Graphviz) and paint it with
    :mod:`tapegrad.engine._render`, so function blocks are the course's D in every
    direction. Formats: svg, png, jpeg, gif, pdf (vector); any other format Graphviz
    knows (json, plain, dot) comes from Graphviz itself.
    """

    def pipe(self, format=None, *args, encoding=None, quiet=False, dpi=None, scale=1.0, **kw):
        fmt = (format or self.format or "svg").lower()
        if fmt not in _render.FORMATS or args or kw:
            _dot.use_dot()
            return super().pipe(format, *args, encoding=encoding, quiet=quiet, **kw)
        data = _render.render(self.source, fmt, dpi=dpi, scale=scale)
        return data.decode(encoding) if encoding else data

    def render(
        self,
        filename=None,
        directory=None,
        view=False,
        cleanup=False,
        format=None,
        *args,
        outfile=None,
        quiet=False,
        **kw,
    ):
        """Write the DOT source to ``filename`` and the image next to it (or to
        ``outfile``), as :meth:`graphviz.Digraph.render` does; returns the image path."""
        fmt = (format or self.format or "svg").lower()
        if outfile is not None and format is None:
            fmt = pathlib.Path(outfile).suffix.lstrip(".").lower() or fmt
        if fmt not in _render.FORMATS or args or view or kw:
            _dot.use_dot()
            return super().render(
                filename,
                directory,
                view,
                cleanup,
                format,
                *args,
                outfile=outfile,
                quiet=quiet,
                **kw,
            )
        if outfile is not None and filename is None and directory is None:
            out = pathlib.Path(outfile)
            source_path = out.with_suffix(".gv")
            if not cleanup:
                source_path.write_text(self.source, encoding="utf-8")
        else:
            source_path = pathlib.Path(self.save(filename, directory=directory))
            out = (
                pathlib.Path(outfile)
                if outfile is not None
                else source_path.with_name(f"{source_path.name}.{fmt}")
            )
        out.write_bytes(self.pipe(format=fmt))
        if cleanup:
            source_path.unlink(missing_ok=True)
        return str(out)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        return {"image/svg+xml": self._repr_image_svg_xml()}

    def _repr_image_svg_xml(self) -> str:
        return self.pipe(format="svg", encoding="utf-8")

    def _repr_image_png(self) -> bytes:
        return self.pipe(format="png")

    def _repr_image_jpeg(self) -> bytes:
        return self.pipe(format="jpeg")


# -- text -----------------------------------------------------------------------


def _num(x: float) -> str:
    """Four decimals, as micrograd prints them; scientific when that would hide the number."""
    if not math.isfinite(x):
        return repr(x)
    if x == 0.0 or 1e-4 <= abs(x) < 1e6:
        return f"{x:.4f}"
    return f"{x:.3e}"


def _short(x: float) -> str:
    return f"{x:.4g}"


def _const(c: float) -> str:
    # int(c) only for finite whole numbers: inf and nan (x / 0, x * nan) have no int.
    return str(int(c)) if math.isfinite(c) and c == int(c) and abs(c) < 1e15 else f"{c:.4g}"


def _plain(text: str) -> str:
    """A label shown literally: backslashes doubled, never taken for an HTML label."""
    return graphviz.nohtml(text.replace("\\", "\\\\").replace("\n", "\\n"))


_RECORD_SPECIAL = re.compile(r'([\\{}|<>"])')


def _record_field(text: str) -> str:
    """A record field shown literally; a line break stays a line break."""
    return _RECORD_SPECIAL.sub(r"\\\1", text).replace("\n", "\\n")


_MINUS = "\u2212"  # the minus sign, wider and clearer than a hyphen on a slide


def _op_text(node: Value) -> str:
    """The op with its constant operand written in: ``+``, ``* 2``, ``**2``, ``2**``,
    ``− 3``; subtraction and negation are written with the minus sign ``−``."""
    row = node.op_row
    name = row.label if row is not None else node.op
    if node.op in ("sub", "neg"):
        name = _MINUS
    if node.constant is None:
        return name
    position, c = node.constant
    if row is not None and row.name == "pow":
        return f"**{_const(c)}" if position == 1 else f"{_const(c)}**"
    return f"{name} {_const(c)}" if position == 1 else f"{_const(c)} {name}"


# -- ops drawn as the lecture writes them ------------------------------------------


def _is_negation(node: Value) -> bool:
    """``-x`` however it was recorded: the ``neg`` row, or ``x * -1`` (how engines
    without a ``neg`` row, micrograd's among them, record negation)."""
    if node.op == "neg":
        return True
    const = node.constant
    return node.op == "mul" and const is not None and const[1] == -1.0


class _Folds:
    """How each op is drawn: its text and its inputs, after writing subtraction,
    negation, sums and means as the lecture does.

    * ``a + b * -1`` (subtraction recorded as an addition of a negation) is one
      ``-`` block with inputs ``a, b``; ``b * -1`` alone is ``-`` (negation);
      ``a + -3`` is ``- 3``. The ``sub``/``neg``/``div`` rows are drawn as ``-``/``/``.
    * blocks view only: a chain of additions ``((a + b) + c) + d`` is one ``Σ`` block
      with its terms in order, and ``Σ * (1/P)`` over P terms is one ``1/P Σ`` block
      (the slides' average loss).

    An intermediate is folded into the op that uses it only when nothing else needs
    to see it: no label, used once, not a root or a cost, same scope, not collapsed.
    ``inputs[node]`` lists ``(input Value, [graph edges it stands for])``; every graph
    edge stays accounted for, so the step view can still highlight it.
    """

    def __init__(self, order, uses: dict, roots, keep: set, block_of: dict, view: str) -> None:
        self.text: dict[Value, str] = {}
        self.inputs: dict[Value, list] = {}
        self.absorbed: set[Value] = set()
        self.into: dict[Value, Value] = {}  # an absorbed op -> the op drawn for it
        roots = set(roots)

        def foldable(inner: Value, outer: Value) -> bool:
            return (
                not inner.is_leaf
                and not inner.label
                and uses[inner] == 1
                and inner not in roots
                and inner not in keep
                and inner not in block_of
                and outer not in block_of
                and inner.scope is outer.scope
            )

        for node in order:
            if node.is_leaf:
                continue
            edges = [(p, [(p, node, i)]) for i, p in enumerate(node.parents)]
            text = _op_text(node)
            if _is_negation(node) and node.op != "neg":
                text = _MINUS
            elif node.op == "add":
                text, edges = self._addition(node, edges, foldable, view)
            elif (
                view == "blocks"
                and node.op == "mul"
                and node.constant is not None
                and len(node.parents) == 1
            ):
                inner = node.parents[0]
                terms = self.inputs.get(inner)
                n = len(terms) if terms is not None and self.text.get(inner) in ("+", "Σ") else 0
                if n >= 2 and foldable(inner, node) and math.isclose(node.constant[1], 1 / n):
                    self.absorbed.add(inner)
                    text = f"1/{n} Σ"
                    edges = [(p, [*e, (inner, node, 0)]) for p, e in terms]
            self.text[node] = text
            self.inputs[node] = edges
            for inner in {p for _, chain in edges for p, _, _ in chain[:-1]} | {
                n for _, chain in edges for _, n, _ in chain[:-1]
            }:
                if inner in self.absorbed and inner not in self.into:
                    self.into[inner] = node

    def drawn(self, node: Value) -> Value:
        """The op whose block shows ``node`` (itself unless folded into another)."""
        while node in self.into:
            node = self.into[node]
        return node

    def _addition(self, node, edges, foldable, view):
        const = node.constant
        # a + (-b) and (-b) + a: a subtraction recorded as an addition.
        negs = [i for i, (p, _) in enumerate(edges) if _is_negation(p) and foldable(p, node)]
        if const is None and len(edges) == 2 and negs:
            i = negs[-1]
            neg = edges[i][0]
            other = edges[1 - i]
            self.absorbed.add(neg)
            inner = neg.parents[0]
            return _MINUS, [other, (inner, [(inner, neg, 0), *edges[i][1]])]
        if const is not None and negs:  # c + (-b): c - b
            neg = edges[0][0]
            self.absorbed.add(neg)
            inner = neg.parents[0]
            return f"{_const(const[1])} {_MINUS}", [(inner, [(inner, neg, 0), *edges[0][1]])]
        if const is not None and const[1] < 0:  # a + -3: a - 3
            return f"{_MINUS} {_const(-const[1])}", edges
        if view != "blocks" or const is not None:
            return _op_text(node), edges
        # A chain of additions is one sum.
        flat = []
        for p, e in edges:
            if p.op == "add" and foldable(p, node) and self.text.get(p) in ("+", "Σ"):
                self.absorbed.add(p)
                flat.extend((q, qe + e) for q, qe in self.inputs[p])
            else:
                flat.append((p, e))
        return ("Σ" if len(flat) > 2 else "+"), flat


# -- choosing what to draw --------------------------------------------------------


def _roots(root: Value | Sequence[Value]) -> list[Value]:
    if isinstance(root, Value):
        return [root]
    if isinstance(root, (str, bytes)) or not isinstance(root, Iterable):
        raise TypeError(f"draw expects a Value or a list of Values, got {type(root).__name__}")
    roots = list(root)
    if not roots:
        raise ValueError("draw got an empty list of Values")
    for r in roots:
        if not isinstance(r, Value):
            raise TypeError(f"draw expects Values, got {type(r).__name__}: {r!r}")
    return list(dict.fromkeys(roots))


def _order(roots: list[Value]) -> list[Value]:
    """Every node the roots depend on, each after its parents, in a deterministic order."""
    if len(roots) == 1:
        return topological_order(roots[0])
    seen: set[Value] = set()
    out: list[Value] = []
    for r in roots:
        for node in topological_order(r):
            if node not in seen:
                seen.add(node)
                out.append(node)
    return out


def _use_counts(order: list[Value]) -> dict[Value, int]:
    """How many times each node is an input of an op in ``order``: the number of
    chain-rule contributions its gradient is the sum of."""
    uses = dict.fromkeys(order, 0)
    for node in order:
        for parent in node.parents:
            uses[parent] += 1
    return uses


def _value_set(what: object, argument: str, order: list[Value]) -> set[Value] | None:
    """Values from a list of Values or labels, or from an object with ``parameters()``."""
    if what is None:
        return None
    if hasattr(what, "parameters") and callable(what.parameters):
        what = what.parameters()
    if isinstance(what, (Value, str)):
        what = [what]
    if not isinstance(what, Iterable):
        raise TypeError(f"{argument} must be a list of Values or labels, got {type(what).__name__}")
    by_label: dict[str, list[Value]] = {}
    for node in order:
        if node.label:
            by_label.setdefault(node.label, []).append(node)
    out: set[Value] = set()
    for item in what:
        if isinstance(item, Value):
            out.add(item)
        elif isinstance(item, str):
            if item not in by_label:
                raise ValueError(f"{argument}: no Value labelled {item!r} in the graph")
            out.update(by_label[item])
        else:
            raise TypeError(f"{argument} must hold Values or labels, got {type(item).__name__}")
    return out


def _scope_matches(s: Scope, selector: object) -> bool:
    if isinstance(selector, bool):
        return selector and s.depth == 0
    if isinstance(selector, int):
        return s.depth == selector
    names = [selector] if isinstance(selector, str) else list(selector)
    base = re.sub(r"(\.|\[)?\d+\]?$", "", s.name)
    return any(n in (s.path, s.name, base) or n + "s" == base for n in names)


def _check_look(rankdir: object, theme: object) -> None:
    """Raise ValueError naming a ``rankdir`` or ``theme`` that does not exist."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {tuple(THEMES)}, got {theme!r}")


def _new_graph(name: str, rankdir: str, t: dict) -> GraphDrawing:
    """An empty drawing with the direction, background and text colour of theme ``t``."""
    g = GraphDrawing(name=name, format="svg")
    g.attr(rankdir=rankdir, bgcolor=t["background"], fontcolor=t["text"], fontname="Helvetica")
    g.attr("node", fontname="Helvetica", fontcolor=t["text"])
    return g


def _circle_style(t: dict, observed: bool) -> dict:
    """A variable's circle in theme ``t``: observed (shaded) or computed (hollow)."""
    return {"shape": "circle", "fontcolor": t["text"], **t["observed" if observed else "computed"]}


def _check_collapse(collapse: object) -> None:
    if collapse is None or isinstance(collapse, (bool, str)):
        return
    if isinstance(collapse, int):
        if collapse < 0:
            raise ValueError(f"collapse depth must be >= 0, got {collapse}")
        return
    if isinstance(collapse, Iterable):
        items = list(collapse)
        if all(isinstance(i, str) for i in items):
            return
    raise TypeError(
        "collapse must be None, True, a scope depth (int), a scope name or path (str) "
        f"or a list of them, got {collapse!r}"
    )


class _Scene:
    """The drawing as data: elements (DOT nodes) and edges, before any DOT is written.

    An element is ``(dot id, kind, attributes, home scope)``; ``kind`` says what the
    derivative network and the step highlighting need to know (variable, function,
    cost, block). An edge remembers which graph edges ``(parent, node, position)`` it
    stands for.
    """

    def __init__(self) -> None:
        self.elements: dict[str, dict] = {}
        self.edges: list[dict] = []
        self.edge_index: dict[tuple[str, str], dict] = {}
        self.aligned: list[tuple[str, str]] = []  # (forward, mirror) pairs, same rank

    def add(self, dot_id: str, kind: str, attrs: dict, home: Scope | None, **extra) -> None:
        if dot_id not in self.elements:
            self.elements[dot_id] = {"id": dot_id, "kind": kind, "attrs": attrs, "home": home}
            self.elements[dot_id].update(extra)

    def connect(self, src: str, dst: str, graph_edge=None, *, merge: bool = False, **attrs):
        if merge and (src, dst) in self.edge_index:
            edge = self.edge_index[(src, dst)]
        else:
            edge = {"src": src, "dst": dst, "attrs": attrs, "graph_edges": []}
            self.edges.append(edge)
            self.edge_index.setdefault((src, dst), edge)
        if graph_edge is not None:
            edge["graph_edges"].append(graph_edge)
        return edge


# -- backprop state at one step ---------------------------------------------------


def _gradients(root: Value, order: list[Value], steps: Iterable[BackwardStep], until=None):
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


class _StepState:
    """The gradients, the edge in flight and the finished nodes at step ``k``,
    computed from the graph (no ``.grad`` is read or written)."""

    def __init__(self, root: Value, order: list[Value], uses: dict, k: object) -> None:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"step must be an int, got {type(k).__name__}: {k!r}")
        total = sum(uses.values())
        if not 0 <= k < total:
            raise ValueError(
                f"step must be between 0 and {total - 1} (the graph has {total} backward "
                f"step{'s' if total != 1 else ''}), got {k}"
            )
        # Every step of the graph: the drawing reserves room for each step's label.
        self.steps = list(backprop_steps(root))
        self.grads, self.step, received = _gradients(root, order, self.steps, k)
        self.finished = {node for node in order if received[node] == uses[node]}
        self.total = total


# -- the entry point --------------------------------------------------------------


def draw(
    root: Value | Sequence[Value],
    view: str = "values",
    *,
    rankdir: str = "LR",
    theme: str = "light",
    collapse: object = None,
    step: int | None = None,
    derivative: bool = False,
    show_params: bool | None = None,
    observed: object = None,
    params: object = None,
    costs: object = None,
    max_nodes: int | None = DEFAULT_MAX_NODES,
) -> GraphDrawing:
    """Draw the graph behind ``root`` (a Value or a list of output Values).

    ``view``: ``"values"`` (records with data and grad) or ``"blocks"`` (the course's
    notation). ``rankdir``: ``"LR"`` (the week-2 figures), ``"BT"`` (the energy
    figures: inputs at the bottom, cost on top), ``"TB"`` or ``"RL"``. ``theme``:
    ``"light"`` or ``"dark"``. ``collapse``: scopes to draw as single blocks (a depth,
    a name such as ``"layers"``, a path, a list of names, or True for the outermost).
    ``step``: draw backprop at this step of ``engine.backprop_steps(root)`` (computed
    from the graph, whatever ``.grad`` holds). ``derivative``: add the mirrored
    derivative network (computed likewise; the values view's records then show the
    same gradients). ``show_params``: draw
    parameters as side inputs (default: yes in the values view, no in blocks).
    ``observed`` / ``params``: which leaves are data and which are parameters (Values,
    labels, or a module with ``parameters()``). ``costs``: the Values drawn as cost
    squares in the blocks view, besides what was computed in a :func:`cost_scope`
    (every loss of ``nn.losses``); ``costs=[]`` draws no cost at all. ``max_nodes``: refuse larger
    drawings (None: no limit).

    Raises :class:`GraphTooLargeError` past ``max_nodes`` and TypeError/ValueError
    naming any bad argument.
    """
    roots = _roots(root)
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    _check_look(rankdir, theme)
    _check_collapse(collapse)
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int)):
        raise TypeError(f"max_nodes must be an int or None, got {max_nodes!r}")
    for flag, name in ((derivative, "derivative"), (show_params, "show_params")):
        if flag is not None and not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if step is not None and len(roots) != 1:
        raise ValueError("step= needs a single root Value to backpropagate from")

    order = _order(roots)
    if max_nodes is not None and (collapse is None or collapse is False):
        # Every op is drawn as at least one node: refuse before building anything.
        ops = sum(1 for node in order if node._parents)
        if ops > max_nodes:
            raise _too_large(len(order), f"has {ops} ops, so would need at least {ops}", max_nodes)
    index = {node: i for i, node in enumerate(order)}
    observed_set = _value_set(observed, "observed", order)
    params_set = _value_set(params, "params", order)
    costs_set = _value_set(costs, "costs", order)
    # Costs: what cost scopes computed, plus costs=[...]; costs=[] turns both off.
    cost_scopes = view == "blocks" and (costs_set is None or bool(costs_set))
    if costs_set is None:
        costs_set = set()
    if show_params is None:
        show_params = view == "values"
    leaves = [node for node in order if node.is_leaf]
    if observed_set is not None:
        parameters = {leaf for leaf in leaves if leaf not in observed_set}
    elif params_set is not None:
        parameters = {leaf for leaf in leaves if leaf in params_set}
    else:  # the leaves nn's modules (or mark_parameters) marked as parameters
        parameters = {leaf for leaf in leaves if is_parameter(leaf)}
    names = {node: node.label or f"v{index[node]}" for node in order}

    # The block each node disappears into, if its scope (or an enclosing one) collapses.
    block_of: dict[Value, Scope] = {}
    if collapse is not None and collapse is not False:
        decided: dict[Scope, Scope | None] = {}
        for node in order:
            s = node.scope
            if s is None:
                continue
            if s not in decided:
                decided[s] = next((c for c in s.chain() if _scope_matches(c, collapse)), None)
            if decided[s] is not None:
                block_of[node] = decided[s]
        if not block_of and isinstance(collapse, (str, list, tuple)):
            # A name or path that matches nothing is almost always a typo: say so.
            paths = sorted({s.path for s in decided})
            known = ", ".join(paths[:12]) + (", ..." if len(paths) > 12 else "")
            raise ValueError(
                f"collapse={collapse!r} matches no scope of this graph; "
                + (f"its scopes are: {known}" if paths else "it has no scopes")
            )
    if cost_scopes:
        # A loss's own ops are drawn as one red square: its cost scope collapses
        # (unless an enclosing scope collapses already).
        for node in order:
            c = _cost_scope_of(node)
            if c is not None:
                costs_set.add(node)
                if node not in block_of:
                    block_of[node] = c

    # Sums fold into one block, except in the step view: there every chain-rule step
    # must be an edge one can see.
    uses = _use_counts(order)
    folds = _Folds(order, uses, roots, costs_set, block_of, view if step is None else "steps")
    state = _StepState(roots[0], order, uses, step) if step is not None else None
    grads = state.grads if state is not None else {node: node.grad for node in order}
    if state is not None:
        dgrads = state.grads
    elif derivative:
        # The derivative network's values; the records show the same numbers, so
        # the picture never contradicts itself whatever .grad holds.
        dgrads = grads = _gradients(roots[0], order, backprop_steps(roots[0]))[0]
    else:
        dgrads = {}
    t = THEMES[theme]
    builder = _Builder(
        view,
        rankdir,
        t,
        order,
        index,
        names,
        grads,
        parameters,
        costs_set,
        block_of,
        show_params,
        roots,
        folds,
        dgrads,
        cost_scopes,
    )
    scene = builder.build()
    if max_nodes is not None and len(scene.elements) > max_nodes:
        raise _too_large(len(order), f"would need {len(scene.elements)}", max_nodes)
    if state is not None:
        builder.mark_step(scene, state)
    if derivative:
        builder.add_derivative_network(scene, state)
    # Point the graphviz package at a dot program now, so that .render() and
    # .pipe() work on the result; DOT text itself never needs one.
    _dot.use_dot(required=False)
    return _emit(scene, rankdir, t)


def _too_large(values: int, needs: str, max_nodes: int) -> GraphTooLargeError:
    return GraphTooLargeError(
        f"the graph has {values} values and {needs} drawn nodes, more than "
        f"max_nodes={max_nodes}; a drawing that large is unreadable and slow to lay out: "
        "pass collapse= (e.g. collapse=1 or collapse='layers') to draw each module as one "
        "block, draw a smaller graph, or raise max_nodes (None: no limit)"
    )


def _step_label(step: BackwardStep, plain: bool = True):
    """``upstream × local = contribution``: the product a step's edge is labelled with."""
    text = f"{_short(step.upstream)} × {_short(step.local)} = {_short(step.contribution)}"
    return _plain(text) if plain else text


def _edges_showing(scene: _Scene) -> dict[tuple, list[dict]]:
    """The drawn edges showing each graph edge ``(parent, node, position)``, in drawing
    order. A drawn edge standing for a chain (a - b recorded as a + b·-1) shows the
    chain's first step only; the steps inside it light up the block instead."""
    shown_by: dict[tuple, list[dict]] = {}
    for edge in scene.edges:
        graph_edges = edge["graph_edges"][:1] if edge.get("chain") else edge["graph_edges"]
        for graph_edge in dict.fromkeys(graph_edges):
            shown_by.setdefault(graph_edge, []).append(edge)
    return shown_by


class _Builder:
    """Turns the graph into a :class:`_Scene` for one view."""

    def __init__(
        self,
        view,
        rankdir,
        theme,
        order,
        index,
        names,
        grads,
        parameters,
        costs,
        block_of,
        show_params,
        roots,
        folds,
        dgrads,
        costs_spread,
    ) -> None:
        self.folds = folds
        self.dgrads = dgrads
        self.costs_spread = costs_spread
        self.view = view
        self.rankdir = rankdir
        self.t = theme
        self.order = order
        self.index = index
        self.names = names
        self.grads = grads
        self.parameters = parameters
        self.costs = costs if view == "blocks" else set()
        self.block_of = block_of
        self.show_params = show_params
        self.roots = roots
        self.block_ids: dict[Scope, str] = {}

    # -- element styles --
    def _function_style(self, reverse: bool = False) -> dict:
        """A function block: a box in DOT, painted as a D (``class`` tg-function)."""
        classes = _render.D_CLASS + (" " + _render.REVERSE_CLASS if reverse else "")
        attrs = {"shape": "box", **self.t["function"], "margin": _FUNCTION_MARGIN[self.rankdir]}
        return {**attrs, "class": classes, "fontcolor": self.t["text"]}

    def _grad_note(self, node: Value) -> str:
        """The gradient for a tooltip in the blocks view: the one computed from the
        graph (steps, derivative network), never whatever ``.grad`` holds."""
        return (
            f", dc/d{self.names[node]} {_short(self.dgrads[node])}" if node in self.dgrads else ""
        )

    def _variable_style(self, node: Value) -> dict:
        if node.is_leaf and node in self.parameters:
            style = dict(self.t["param"])
        elif node.is_leaf:
            style = dict(self.t["observed"])
            if self.t is DARK:
                style["color"] = _DARK_OBSERVED.get(_letter(node.label), style["color"])
        else:
            style = dict(self.t["computed"])
            if self.t is DARK:
                style["color"] = _DARK_COMPUTED.get(_letter(node.label), style["color"])
        return {"shape": "circle", "fontcolor": self.t["text"], **style}

    def variable(self, scene: _Scene, node: Value, home: Scope | None) -> str:
        """The element showing the value of ``node``: a record or a circle."""
        dot_id = f"n{self.index[node]}"
        name = self.names[node]
        if self.view == "values":
            fields = (
                f"{_record_field(name)} | data {_num(node.data)} | grad {_num(self.grads[node])}"
            )
            # A record's fields run across the flow: braces turn them for LR and RL,
            # so that label, data and grad always read side by side on one line.
            label = f"{{ {fields} }}" if self.rankdir in ("LR", "RL") else f"{fields}"
            attrs = {"shape": "record", "label": graphviz.nohtml(label), **self.t["record"]}
        else:
            attrs = {
                **self._variable_style(node),
                "label": _plain(node.label),
                "tooltip": _plain(f"{name} = {_short(node.data)}{self._grad_note(node)}"),
            }
            if not node.label:
                attrs.update(width="0.3", fixedsize="true")
        scene.add(dot_id, "variable", attrs, home, node=node)
        return dot_id

    def build(self) -> _Scene:
        scene = _Scene()
        for node in self.order:
            block = self.block_of.get(node)
            if block is not None:
                self._add_block_node(scene, node, block)
            elif node.is_leaf:
                if node not in self.parameters or self.show_params or self._used_outside(node):
                    self.variable(scene, node, node.scope)
            elif node not in self.folds.absorbed:
                self._add_op(scene, node)
        self._number_inputs(scene)
        return scene

    def _number_inputs(self, scene: _Scene) -> None:
        """A collapsed block fed plain numbers (``nn.data``'s samples are floats, so
        they are written into the ops as constants) gets an observed ``x`` drawn
        into it: a block never appears to have no input. A cost given its target as
        a number (every loss of ``nn.losses``) gets its observed ``y``."""
        fed = {edge["dst"] for edge in scene.edges}
        shared: dict[frozenset, str] = {}
        for block, block_id in self.block_ids.items():
            element = scene.elements[block_id]
            if not element.get("numbers"):
                continue
            if element["kind"] == "cost":
                # nn.losses take the target y as a number: C(y, ȳ) still shows its y
                # (unless y came in as a Value: then the cost has two inputs already)
                sources = {e["src"] for e in scene.edges if e["dst"] == block_id}
                if len(sources) != 1:
                    continue  # y came in as a Value, or a regulariser R(w) (no input)
                # the target of sample p is y[p] when its prediction is ȳ[p]
                other = scene.elements[next(iter(sources))]["attrs"] if sources else {}
                index = re.search(r"(\[[^\]]*\])$", str(other.get("label", "")))
                name, dot_id = "y" + (index.group(1) if index else ""), "y" + block_id
            elif block_id in fed:
                continue
            else:
                # blocks fed the same numbers (the neurons of a first layer) share one x
                key = frozenset(element["numbers"])
                name, dot_id = "x", shared.setdefault(key, f"x{len(shared)}")
            style = _circle_style(self.t, observed=True)
            scene.add(dot_id, "input", {**style, "label": name}, block.parent)
            scene.connect(dot_id, block_id, **self._arrow())

    def _used_outside(self, leaf: Value) -> bool:
        """Parameters are implicit only in the function that uses them; a parameter
        that is also a root must still be drawn."""
        return leaf in self.roots

    def _is_hidden(self, node: Value) -> bool:
        return node.is_leaf and node in self.parameters and not self.show_params

    def _source(self, scene: _Scene, parent: Value) -> str | None:
        """The element an edge from ``parent`` starts at (None for a hidden parameter)."""
        if self._is_hidden(parent):
            return None
        block = self.block_of.get(parent)
        if block is not None:
            block_id = self._block_id(scene, block)
            if scene.elements[block_id]["kind"] == "cost":
                return block_id  # a cost's output is implicit: no variable
            out = self.variable(scene, parent, block.parent)
            scene.connect(block_id, out, merge=True, **self._arrow())
            return out
        return f"n{self.index[parent]}"

    def _arrow(self) -> dict:
        return dict(self.t["arrow"] if self.view == "blocks" else self.t["value_arrow"])

    def _edge_from(self, scene: _Scene, src: str, **attrs) -> dict:
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
            "label": _plain(label),
        }

    def _add_op(self, scene: _Scene, node: Value) -> None:
        i = self.index[node]
        inputs = self.folds.inputs[node]
        hidden = [self.names[p] for p in dict.fromkeys(p for p, _ in inputs) if self._is_hidden(p)]
        text = self.folds.text[node]
        if hidden:
            text = f"{text} {', '.join(hidden)}"
        sources = [(p, edges, self._source(scene, p)) for p, edges in inputs]
        is_cost = node in self.costs
        if not is_cost and self.costs_spread and self.view == "blocks":
            # An op whose every input is a cost (the average of per-sample losses)
            # is a cost too: the total.
            drawn = [src for _, _, src in sources if src is not None]
            is_cost = bool(drawn) and all(
                scene.elements.get(src, {}).get("kind") == "cost" for src in drawn
            )
        if self.view == "values":
            fn_id = f"f{i}"
            attrs = {"shape": "circle" if len(text) <= 2 else "ellipse", "label": _plain(text)}
            attrs.update(self.t["op"], width="0.4", height="0.4", fontsize="12")
            scene.add(fn_id, "function", attrs, node.scope, node=node, op_text=text)
        elif is_cost:
            fn_id = f"n{i}"
            label = f"{node.label}\n{text}" if node.label and node.label != text else text
            attrs = self._cost_square(label)
            attrs["tooltip"] = _plain(
                f"{self.names[node]} = {_short(node.data)} ({text}){self._grad_note(node)}"
            )
            scene.add(fn_id, "cost", attrs, node.scope, node=node, op_text=text)
        else:
            fn_id = f"f{i}"
            scene.add(
                fn_id,
                "function",
                {**self._function_style(), "label": _plain(text)},
                node.scope,
                node=node,
                op_text=text,
            )
        for parent, edges, src in sources:
            if src is None:
                continue
            attrs = self._edge_from(scene, src, **self._arrow())
            if parent in self.parameters and self.view == "blocks":
                # A parameter comes into its function from the side, as in the
                # lecture's backprop figures.
                attrs.update(style="dashed", headport=_SIDE[self.rankdir])
            edge = scene.connect(src, fn_id, edges[-1], **attrs)
            edge["graph_edges"][:0] = edges[:-1]
            edge["chain"] = len(edges) > 1
        if fn_id != f"n{i}":
            out = self.variable(scene, node, node.scope)
            scene.connect(fn_id, out, **self._arrow())

    def _block_id(self, scene: _Scene, block: Scope) -> str:
        if block not in self.block_ids:
            dot_id = f"m{len(self.block_ids)}"
            self.block_ids[block] = dot_id
            attrs = {**self._function_style(), "label": _plain(block.name)}
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

    def _add_block_node(self, scene: _Scene, node: Value, block: Scope) -> None:
        """``node`` is inside a collapsed block: only edges crossing the block's border
        are drawn, and values leaving it (or roots) become its outputs."""
        block_id = self._block_id(scene, block)
        element = scene.elements[block_id]
        for position, parent in enumerate(node._parents):
            if self.block_of.get(parent) is block:
                continue
            if self._is_hidden(parent):
                element["hidden_params"].add(parent)
                continue
            src = self._source(scene, parent)
            attrs = self._edge_from(scene, src, **self._arrow())
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

    # -- backprop step --
    def mark_step(self, scene: _Scene, state: _StepState) -> None:
        step = state.step
        highlight = self.t["highlight"]
        for element in scene.elements.values():
            node = element.get("node")
            if node is None or element["kind"] not in ("variable", "cost"):
                continue
            attrs = element["attrs"]
            if node in state.finished:
                if self.view == "values":
                    attrs.update(style="filled", fillcolor=self.t["done"])
                else:
                    attrs["peripheries"] = "2"
            elif self.view == "blocks":
                # The same size as when it is finished, painted as one outline
                # (_render's SINGLE_CLASS), so that every step lays out alike.
                attrs["peripheries"] = "2"
                attrs["class"] = " ".join(filter(None, (attrs.get("class"), _render.SINGLE_CLASS)))
        # Every step of one graph is laid out alike (slides, GIF frames, the slider).
        shown_by = _edges_showing(scene)
        self._reserve_step_labels(shown_by, state.steps)
        found = False
        for edge in shown_by.get((step.parent, step.node, step.position), ()):
            edge["attrs"].update(
                color=highlight, fontcolor=highlight, penwidth="3.5", label=_step_label(step)
            )
            found = True
        node_element = self._element_of(scene, self.folds.drawn(step.node))
        if node_element is not None:
            node_element["attrs"].update(color=highlight, penwidth="3.5")
            if not found:  # the step's edge is inside the block: a note beside it
                node_element["attrs"]["fontcolor"] = highlight
                node_element["attrs"]["xlabel"] = _plain(
                    f"{step.node_name} → {step.parent_name}: {_step_label(step, plain=False)}"
                )

    @staticmethod
    def _reserve_step_labels(shown_by: dict, steps: list[BackwardStep]) -> None:
        """Give every edge the label of its own step, in the background's colour.

        Graphviz makes room for an edge label, so a frame that labels only the edge
        of its step is laid out differently from the next one: in a GIF or a PDF the
        nodes would jump from frame to frame. With every label present (and only
        the current one visible) every frame has the same layout."""
        for step in steps:
            for edge in shown_by.get((step.parent, step.node, step.position), ()):
                if "label" not in edge["attrs"]:
                    edge["attrs"].update(fontcolor="transparent", label=_step_label(step))

    def _element_of(self, scene: _Scene, node: Value) -> dict | None:
        block = self.block_of.get(node)
        if block is not None:
            return scene.elements.get(self.block_ids.get(block, ""))
        i = self.index[node]
        return scene.elements.get(f"f{i}") or scene.elements.get(f"n{i}")

    # -- derivative network --
    def add_derivative_network(self, scene: _Scene, state: _StepState | None) -> None:
        """Mirror the drawing: one gradient node per variable, one derivative module per
        function, arrows reversed (drawn with ``dir=back`` so the layout keeps the
        forward order and the mirror lines up), seeded with 1 at the cost."""
        root_name = self.names[self.roots[0]]
        functions = [
            e for e in scene.elements.values() if e["kind"] in ("function", "block", "cost")
        ]
        variables = [e for e in scene.elements.values() if e["kind"] == "variable"]
        grad_style = dict(self.t["computed"]) if self.view == "blocks" else dict(self.t["record"])
        for v in variables:
            node = v["node"]
            label = f"d{root_name}/d{self.names[node]}"
            attrs = {
                "shape": "ellipse",
                **grad_style,
                "fontcolor": self.t["text"],
                "color": self.t["grad"],
                "label": _plain(f"{label}\n{_num(self.dgrads[node])}"),
            }
            if self.view == "blocks":
                attrs["penwidth"] = "2"
            scene.add("d" + v["id"], "gradient", attrs, None, node=node)
            scene.aligned.append((v["id"], "d" + v["id"]))
        for f in functions:
            label = "∂ " + f["op_text"]
            attrs = {
                **self._function_style(reverse=True),
                "color": self.t["grad"],
                "label": _plain(label),
            }
            if self.view == "values":
                attrs = {
                    "shape": "box",
                    "style": "rounded",
                    **self.t["op"],
                    "color": self.t["grad"],
                    "label": _plain(label),
                    "fontsize": "12",
                }
            scene.add("b" + f["id"], "derivative", attrs, None)
            scene.aligned.append((f["id"], "b" + f["id"]))
        arrow = {**self._arrow(), "color": self.t["grad"], "dir": "back"}

        def mirror(element_id: str) -> str:
            kind = scene.elements[element_id]["kind"]
            return ("d" if kind == "variable" else "b") + element_id

        for edge in list(scene.edges):
            if "input" in (
                scene.elements[edge["src"]]["kind"],
                scene.elements[edge["dst"]]["kind"],
            ):
                continue  # a number drawn as an input (a loss's y) has no gradient
            attrs = dict(arrow)
            locals_ = [n.local_grads[pos] for _, n, pos in edge["graph_edges"]]
            # A collapsed module's derivative is a product along its inside: no
            # single local derivative to write on its edges.
            # An edge that stands for a chain (a folded sum, a subtraction) carries
            # the product of the chain's local derivatives.
            if locals_ and "scope" not in scene.elements[edge["dst"]]:
                attrs["label"] = _plain(f"× {_short(math.prod(locals_))}")
            scene.connect(mirror(edge["src"]), mirror(edge["dst"]), None, **attrs)
        seed_attrs = {"shape": "plaintext", "label": "1", "fontcolor": self.t["grad"]}
        scene.add("seed", "seed", seed_attrs, None)
        root = self.roots[0]
        element = self._element_of(scene, root)
        if element is not None and element["kind"] == "cost":
            scene.connect("b" + element["id"], "seed", None, **arrow)
        else:
            block = self.block_of.get(root)
            var = f"n{self.index[root]}"
            if var in scene.elements:
                scene.connect("d" + var, "seed", None, **arrow)
            elif block is not None:
                scene.connect("b" + self.block_ids[block], "seed", None, **arrow)
        if state is not None:
            target = (state.step.parent, state.step.node, state.step.position)
            for edge in scene.edges:
                if target in edge["graph_edges"]:
                    mirrored = scene.edge_index.get((mirror(edge["src"]), mirror(edge["dst"])))
                    if mirrored is not None:
                        mirrored["attrs"].update(color=self.t["highlight"], penwidth="3.5")


def _sibling_groups(elements, parallel) -> list[list[str]]:
    """Ids of collapsed blocks that are numbered siblings working side by side
    (``neurons.0``, ``neurons.1``, ...: ``parallel(ids)``, none feeding another) in
    one scope, per base name, in numeric order. (``layers.0``, ``layers.1`` feed
    each other: they stay in sequence.)"""
    groups: dict[str, list[tuple[int, str]]] = {}
    for element in elements:
        s = element.get("scope")
        if s is None:
            continue
        m = re.fullmatch(r"(.*?)\.?\[?(\d+)\]?", s.name)
        if m:
            groups.setdefault(m.group(1), []).append((int(m.group(2)), element["id"]))
    ordered = [[i for _, i in sorted(g)] for g in groups.values() if len(g) > 1]
    return [g for g in ordered if parallel(g)]


def _write_scope(
    graph, home: Scope | None, by_home, children, cluster_ids, t, upward, parallel
) -> None:
    """The nodes of one scope, then each child scope as a nested cluster. (A module
    function, not a recursive closure: that would be a reference cycle keeping the
    drawn graph alive until the next garbage collection.)"""
    for element in by_home.get(home, []):
        graph.node(element["id"], **element["attrs"])
    # Collapsed siblings (neurons.0, neurons.1, ...) in their numeric order, not in
    # whatever order the crossing minimiser picked: same rank, invisible edges.
    # (Left to right, an invisible edge a -> b puts b above a: the chain runs upward.)
    for group in _sibling_groups(by_home.get(home, []), parallel):
        with graph.subgraph() as row:
            row.attr(rank="same")
            for a, b in itertools.pairwise(reversed(group) if upward else group):
                row.edge(a, b, style="invis")
    for s in children.get(home, []):
        with graph.subgraph(name=f"cluster_{cluster_ids[s]}") as sub:
            sub.attr(label=_plain(s.name), style="rounded", **t["cluster"])
            _write_scope(sub, s, by_home, children, cluster_ids, t, upward, parallel)


_DENSE = 8  # edges into or out of one node from which they are drawn thin


def _emit(scene: _Scene, rankdir: str, t: dict) -> GraphDrawing:
    g = _new_graph("tapegrad", rankdir, t)
    g.attr("edge", fontname="Helvetica", fontcolor=t["text"], fontsize="11")
    for element in scene.elements.values():
        if element["kind"] == "block":
            hidden = element["hidden_params"]
            if hidden:
                label = f"{element['scope'].name}\n{len(hidden)} parameter" + (
                    "s" if len(hidden) != 1 else ""
                )
                element["attrs"]["label"] = _plain(label)
    # Group elements by the scope they live in, then write nested clusters.
    by_home: dict[Scope | None, list[dict]] = {}
    scopes: list[Scope] = []
    seen: set[Scope] = set()
    for element in scene.elements.values():
        home = element["home"]
        by_home.setdefault(home, []).append(element)
        if home is not None:
            for s in home.chain():
                if s not in seen:
                    seen.add(s)
                    scopes.append(s)
    children: dict[Scope | None, list[Scope]] = {}
    for s in scopes:
        children.setdefault(s.parent, []).append(s)
    cluster_ids = {s: i for i, s in enumerate(scopes)}

    # Which block's output feeds which block: siblings that feed each other are a
    # sequence (layers), the others work side by side (neurons).
    producer = {e["dst"]: e["src"] for e in scene.edges if e["src"].startswith("m")}
    feeds = {(producer.get(e["src"]), e["dst"]) for e in scene.edges}

    def parallel(group: list[str]) -> bool:
        members = set(group)
        return not any(a in members and b in members for a, b in feeds)

    upward = rankdir in ("LR", "RL")
    _write_scope(g, None, by_home, children, cluster_ids, t, upward, parallel)
    # The derivative network mirrors the graph: each gradient node and derivative
    # module sits level with what it mirrors (when both are outside clusters, which
    # Graphviz cannot align across).
    for forward, mirrored in scene.aligned:
        if scene.elements[forward]["home"] is None:
            with g.subgraph() as level:
                level.attr(rank="same")
                level.node(forward)
                level.node(mirrored)
    # A dense layer (a block with many inputs, an input read by many) would be a
    # black band of arrows: thin grey lines keep every edge and let the blocks show.
    fan_in: dict[str, int] = {}
    fan_out: dict[str, int] = {}
    for edge in scene.edges:
        fan_in[edge["dst"]] = fan_in.get(edge["dst"], 0) + 1
        fan_out[edge["src"]] = fan_out.get(edge["src"], 0) + 1
    for edge in scene.edges:
        attrs = edge["attrs"]
        dense = max(fan_in[edge["dst"]], fan_out[edge["src"]]) >= _DENSE
        if dense and attrs.get("color") == t["arrow"]["color"]:
            attrs = {**attrs, "color": t["dense"], "penwidth": "0.7", "arrowsize": "0.5"}
        g.edge(edge["src"], edge["dst"], **attrs)
    return g


# -- saving -----------------------------------------------------------------------

_FORMATS = {
    ".svg": "svg",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".pdf": "pdf",
    ".gif": "gif",
    ".dot": "dot",
    ".gv": "dot",
}


def _path_and_format(path) -> tuple[pathlib.Path, str]:
    """``path`` as a Path and the output format its extension names.

    Raises TypeError for anything but a str or a Path, ValueError for an unknown
    extension."""
    if not isinstance(path, (str, pathlib.PurePath)):
        raise TypeError(f"path must be a str or a Path, got {type(path).__name__}")
    path = pathlib.Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its extension; use one of "
            f"{', '.join(_FORMATS)}"
        )
    return path, fmt


def save_graph(
    what: Value | Sequence[Value] | graphviz.Digraph,
    path,
    *,
    dpi: float | None = None,
    scale: float = 1.0,
    **draw_options,
):
    """Write a drawing to ``path``, the format chosen by its extension.

    ``what`` is a drawing from :func:`draw` (or any ``graphviz`` graph) or a Value,
    drawn with ``draw_options``. ``.dot``/``.gv`` write the DOT text and need no
    Graphviz; ``.svg``, ``.pdf`` (vector), ``.png``, ``.jpg``, ``.gif`` are laid out by
    Graphviz and painted by tapegrad (pip alone is enough). ``dpi`` (raster formats,
    default 150) sets the pixels per inch: a slide 10 inches wide at 200 dpi wants
    2000 pixels. ``scale`` enlarges the whole drawing, text and lines alike.
    Returns the path written.
    """
    path, fmt = _path_and_format(path)
    dpi, scale = _check_size(dpi, scale)
    if isinstance(what, (graphviz.Digraph, graphviz.Graph, graphviz.Source)):
        if draw_options:
            raise TypeError("drawing options go with a Value, not with an already drawn graph")
        graph = what
    else:
        graph = draw(what, **draw_options)
    if fmt == "dot":
        path.write_text(graph.source, encoding="utf-8")
        return path
    path.write_bytes(_render.render(graph.source, fmt, dpi=dpi, scale=scale))
    return path


def save_steps(
    root: Value,
    path,
    *,
    dpi: float | None = None,
    scale: float = 1.0,
    caption: bool = True,
    **draw_options,
) -> list[pathlib.Path]:
    """Export backprop through ``root`` as a sequence, one picture per chain-rule step.

    The extension of ``path`` picks the form:

    * ``.pdf``: one multi-page vector PDF, a page per step (a slide per step);
    * ``.gif``: one animated GIF, a frame per step (1.5 s each, looping);
    * ``.svg``, ``.png``, ``.jpg``, ``.dot``: numbered files ``name_00.png``,
      ``name_01.png``, ... next to ``path``.

    Each picture is ``draw(root, step=k, **draw_options)`` with, if ``caption``, the
    step in the lecture's words on top (``dc/ds += dc/dz · h'(s) = ...``). ``dpi`` and
    ``scale`` as in :func:`save_graph`. No ``.grad`` changes. Returns the paths written.
    """
    if not isinstance(root, Value):
        raise TypeError(f"save_steps expects a Value, got {type(root).__name__}")
    path, fmt = _path_and_format(path)
    if "step" in draw_options:
        raise TypeError("save_steps draws every step; use save_graph(root, path, step=k) for one")
    dpi, scale = _check_size(dpi, scale)
    explanations = _explanations(root)
    if not explanations:
        raise ValueError(f"{root!r} is a leaf: there is no backward step to draw")
    width = len(str(len(explanations) - 1))
    drawings = []
    for k, text in enumerate(explanations):
        g = draw(root, step=k, **draw_options)
        if caption:
            g.attr(label=_plain(f"{_step_of(k, len(explanations))}: {text}"), labelloc="t")
            g.attr(fontsize="16")
        drawings.append(g)
    if fmt in ("pdf", "gif"):
        layouts = _common_canvas([_render.layout(g.source) for g in drawings])
        with _render.own_style():
            figures = [_render.figure(graph, scale=scale) for graph in layouts]
            path.write_bytes(_render.save_sequence(figures, fmt, dpi=dpi))
        return [path]
    written = []
    for k, g in enumerate(drawings):
        out = path.with_name(f"{path.stem}_{k:0{max(width, 2)}d}{path.suffix}")
        save_graph(g, out, dpi=dpi, scale=scale)
        written.append(out)
    return written


def _common_canvas(layouts: list[dict]) -> list[dict]:
    """Give every frame of a sequence one canvas, with its nodes where they are in the
    first frame. Graphviz moves the whole drawing when a step's note (an ``xlabel``)
    or caption makes its bounding box grow, so frames of different sizes would shift
    the picture from page to page or frame to frame."""

    def positions(graph: dict) -> dict[str, tuple[float, ...]]:
        return {
            o["name"]: tuple(float(v) for v in o["pos"].split(","))
            for o in graph.get("objects", [])
            if "pos" in o
        }

    first = positions(layouts[0])
    shifts = []
    for graph in layouts:
        here = positions(graph)
        anchor = next((name for name in first if name in here), None)
        if anchor is None:
            return layouts
        shifts.append((here[anchor][0] - first[anchor][0], here[anchor][1] - first[anchor][1]))
    boxes = []
    for graph, (dx, dy) in zip(layouts, shifts, strict=True):
        x0, y0, x1, y1 = (float(v) for v in graph["bb"].split(","))
        boxes.append((x0 - dx, y0 - dy, x1 - dx, y1 - dy))
    union = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    for graph, (dx, dy) in zip(layouts, shifts, strict=True):
        graph["bb"] = f"{union[0] + dx},{union[1] + dy},{union[2] + dx},{union[3] + dy}"
    return layouts


def _step_of(k: int, total: int) -> str:
    """``step 3 (0–8)``: steps count from 0 as ``step=`` and the file numbers do;
    "step 8 of 8" would read as the last of eight when there are nine."""
    return f"step {k} (0–{total - 1})"


def _check_size(dpi: object, scale: object) -> tuple[float | None, float]:
    for value, name in ((dpi, "dpi"), (scale, "scale")):
        if value is None and name == "dpi":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if dpi is not None and dpi > 2400:
        raise ValueError(f"dpi must be at most 2400, got {dpi!r}")
    return (None if dpi is None else float(dpi)), float(scale)


# -- backprop, one step after another ----------------------------------------------


def _explanations(root: Value) -> list[str]:
    """Every step's explanation, computed from the graph (no ``.grad`` is touched)."""
    return [s.explanation for s in backprop_steps(root)]


def _kernel_with_widgets() -> bool:
    """True inside a running IPython kernel that has ipywidgets to show a slider."""
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class BackpropSteps:
    """Backprop through ``root`` as a sequence of drawings, one per chain-rule step.

    ``steps[k]`` is ``draw(root, step=k, **options)`` and ``steps.explanations[k]``
    the step in words. In a Jupyter kernel with ipywidgets it shows as a slider that
    scrubs through the steps; every other front end (nbconvert, GitHub, a kernel
    without ipywidgets) gets the static sequence of images, at most ``max_static``
    of them.
    """

    def __init__(self, root: Value, max_static: int = 40, **options) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"draw_steps expects a Value, got {type(root).__name__}")
        if isinstance(max_static, bool) or not isinstance(max_static, int) or max_static < 1:
            raise ValueError(f"max_static must be a positive int, got {max_static!r}")
        if "step" in options:
            raise TypeError("draw_steps draws every step; use draw(root, step=k) for one")
        self.root = root
        self.options = options
        self.max_static = max_static
        self.explanations = _explanations(root)
        if not self.explanations:
            raise ValueError(f"{root!r} is a leaf: there is no backward step to draw")
        draw(root, step=0, **options)  # check the options once, here, not at display time
        self._svg: dict[int, str] = {}
        self._widget = None

    def __len__(self) -> int:
        return len(self.explanations)

    def __getitem__(self, k: int) -> GraphDrawing:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"step index must be an int, got {k!r}")
        if k < 0:
            k += len(self)
        return draw(self.root, step=k, **self.options)

    def __iter__(self):
        return (self[k] for k in range(len(self)))

    def __repr__(self) -> str:
        return f"<BackpropSteps: {len(self)} steps through {self.root!r}>"

    def svg(self, k: int) -> str:
        """The SVG image of step ``k`` (rendered once, then kept)."""
        if k not in self._svg:
            _dot.use_dot()
            self._svg[k] = self[k].pipe(format="svg", encoding="utf-8", quiet=True)
        return self._svg[k]

    def _caption(self, k: int) -> str:
        return f"{_step_of(k, len(self))}: {self.explanations[k]}"

    def _repr_html_(self) -> str:
        import html

        shown = min(len(self), self.max_static)
        parts = [
            f"<div><p><code>{html.escape(self._caption(k))}</code></p>{_strip_xml(self.svg(k))}</div>"
            for k in range(shown)
        ]
        if shown < len(self):
            parts.append(
                f"<p>... {len(self) - shown} more steps (max_static={self.max_static})</p>"
            )
        return "\n".join(parts)

    def widget(self):
        """An ipywidgets slider over the steps with the drawing and its explanation."""
        import ipywidgets as widgets

        if self._widget is None:
            slider = widgets.IntSlider(value=0, min=0, max=len(self) - 1, description="step")
            caption = widgets.HTML()
            picture = widgets.HTML()

            def show(change=None) -> None:
                import html

                k = slider.value
                caption.value = f"<code>{html.escape(self._caption(k))}</code>"
                picture.value = _strip_xml(self.svg(k))

            slider.observe(show, names="value")
            show()
            self._widget = widgets.VBox([slider, caption, picture])
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        # The static images always go in as text/html, so that front ends without a
        # live kernel (nbconvert, GitHub) show them; a kernel with ipywidgets adds
        # the slider, which Jupyter prefers.
        bundle = {"text/plain": repr(self), "text/html": self._repr_html_()}
        if _kernel_with_widgets():
            bundle.update(self.widget()._repr_mimebundle_())
        return bundle


def _strip_xml(svg: str) -> str:
    """An SVG document without its XML prolog, to inline in HTML."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def draw_steps(root: Value, *, max_static: int = 40, **options) -> BackpropSteps:
    """Backprop through ``root`` step by step: a slider in Jupyter, images elsewhere.

    ``options`` are :func:`draw`'s (``view``, ``rankdir``, ``theme``, ``derivative``...).
    Drawing never changes any ``.grad``.
    """
    return BackpropSteps(root, max_static=max_static, **options)
