"""What a drawing shows, read from the graph once: :func:`read_graph` and :class:`DrawnGraph`.

Which Values are drawn (every node the roots depend on, in a deterministic order),
which leaves are parameters and which are observed, which Values are costs, which
scopes collapse into one block, how each op is written (:class:`~.folds.Folds`), and
the gradients shown (``.grad``, or computed from the graph for a backprop step or the
derivative network). Node names come from each Value's index in
:func:`tapegrad.engine.topological_order`, never from ``id()``: same graph, same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .. import Scope, Value, _costs, backprop_steps, topological_order
from .folds import Folds
from .options import DrawOptions
from .stepping import StepState, gradients
from .text import natural_key
from .vectors import name_shared_parameters

__all__ = [
    "DrawnGraph",
    "GraphTooLargeError",
    "as_roots",
    "graph_order",
    "natural_key",
    "read_graph",
    "scope_listing",
    "too_large",
]


class GraphTooLargeError(ValueError):
    """The graph has more nodes than ``max_nodes``; the message suggests ``collapse``."""


def too_large(values: int, needs: str, max_nodes: int) -> GraphTooLargeError:
    """The error for a drawing of more than ``max_nodes`` nodes."""
    return GraphTooLargeError(
        f"the graph has {values} values and {needs} drawn nodes, more than "
        f"max_nodes={max_nodes}; a drawing that large is unreadable and slow to lay out: "
        "pass collapse= (e.g. collapse=1 or collapse='layers') to draw each module as one "
        "block, draw a smaller graph, or raise max_nodes (None: no limit)"
    )


def as_roots(root: Value | Sequence[Value]) -> list[Value]:
    """``root`` as a list of distinct Values; TypeError or ValueError for anything else."""
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


def graph_order(roots: list[Value]) -> list[Value]:
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


def scope_listing(scopes: Iterable[Scope], limit: int = 12) -> str:
    """The paths of ``scopes`` and of every scope enclosing one, for a message to a
    user: outermost first, then one level deeper, each level in
    :func:`natural_key` order (``MLP, MLP.layers.0, MLP.layers.1,
    MLP.layers.0.neurons.0, ...``); past ``limit`` paths, ``...``."""
    every = {c for s in scopes for c in s.chain()}
    paths = [s.path for s in sorted(every, key=lambda s: (s.depth, natural_key(s.path)))]
    return ", ".join(paths[:limit]) + (", ..." if len(paths) > limit else "")


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
    if isinstance(selector, str):
        names = [selector]
    else:
        assert isinstance(selector, Iterable)  # DrawOptions checked it (check_collapse)
        names = list(selector)
    base = re.sub(r"(\.|\[)?\d+\]?$", "", s.name)
    return any(n in (s.path, s.name, base) or n + "s" == base for n in names)


@dataclass
class DrawnGraph:
    """Everything a drawing needs to know about its graph, decided once.

    ``order``: every drawn Value, each after its parents; ``index``/``names``: its
    position there and its name (label, else ``v<index>``); ``uses``: how many ops
    take it as input; ``parameters``: the leaves drawn as parameters; ``costs``: the
    Values drawn as cost squares (blocks view); ``cost_scopes``: whether cost scopes
    are read (an op of costs is a cost too); ``block_of``: the collapsed scope each
    Value disappears into; ``grads``: the gradient each record shows; ``dgrads``: the
    gradients computed from the graph (steps, derivative network), else empty;
    ``state``: the backprop step drawn, if any; ``parameter_groups``: each collapsed
    scope's :class:`~.vectors.ParameterGroup` s, once found.
    """

    roots: list[Value]
    order: list[Value]
    index: dict[Value, int]
    names: dict[Value, str]
    uses: dict[Value, int]
    parameters: set[Value]
    costs: set[Value]
    cost_scopes: bool
    block_of: dict[Value, Scope]
    folds: Folds
    grads: dict[Value, float]
    dgrads: dict[Value, float]
    state: StepState | None
    #: the parameters each collapsed block hides, grouped (filled by
    #: :func:`~.vectors.group_parameters`, once for every scene drawn of this graph)
    parameter_groups: dict = field(default_factory=dict)


def read_graph(roots: list[Value], options: DrawOptions) -> DrawnGraph:
    """Read the graph behind ``roots`` for a drawing with ``options``.

    Raises :class:`GraphTooLargeError` when the graph has more ops than
    ``options.max_nodes`` (and nothing collapses), ValueError for a label, a collapse
    selector or a step that the graph does not have."""
    order = graph_order(roots)
    if options.max_nodes is not None and not options.collapses:
        # Every op is drawn as at least one node: refuse before building anything.
        ops = sum(1 for node in order if node.parents)
        if ops > options.max_nodes:
            raise too_large(
                len(order), f"has {ops} ops, so would need at least {ops}", options.max_nodes
            )
    index = {node: i for i, node in enumerate(order)}
    observed = _value_set(options.observed, "observed", order)
    params = _value_set(options.params, "params", order)
    costs = _value_set(options.costs, "costs", order)
    # Costs: what cost scopes computed, plus costs=[...]; costs=[] turns both off.
    cost_scopes = options.view == "blocks" and (costs is None or bool(costs))
    costs = set() if costs is None else costs
    names = {node: node.label or f"v{index[node]}" for node in order}
    block_of = _collapsed(order, options.collapse) if options.collapses else {}
    if cost_scopes:
        _add_cost_scopes(order, costs, block_of)
    uses = _use_counts(order)
    parameters = _parameters(order, observed, params)
    folds = Folds(order, uses, roots, costs, block_of, parameters)
    state = StepState(roots[0], order, uses, options.step) if options.step is not None else None
    grads = state.grads if state is not None else {node: node.grad for node in order}
    if state is not None:
        dgrads = state.grads
    elif options.derivative:
        # The derivative network's values; the records show the same numbers, so
        # the picture never contradicts itself whatever .grad holds.
        dgrads = grads = gradients(roots[0], order, backprop_steps(roots[0]))[0]
    else:
        dgrads = {}
    graph = DrawnGraph(
        roots=roots,
        order=order,
        index=index,
        names=names,
        uses=uses,
        parameters=parameters,
        costs=costs,
        cost_scopes=cost_scopes,
        block_of=block_of,
        folds=folds,
        grads=grads,
        dgrads=dgrads,
        state=state,
    )
    if options.view == "blocks":
        name_shared_parameters(graph)
    return graph


def _parameters(order: list[Value], observed: set | None, params: set | None) -> set[Value]:
    """The leaves drawn as parameters: all but ``observed``, or ``params``, or the
    leaves nn's modules (or :func:`tapegrad.engine.mark_parameters`) marked."""
    leaves = [node for node in order if node.is_leaf]
    if observed is not None:
        return {leaf for leaf in leaves if leaf not in observed}
    if params is not None:
        return {leaf for leaf in leaves if leaf in params}
    return {leaf for leaf in leaves if _costs.is_parameter(leaf)}


def _collapsed(order: list[Value], collapse: object) -> dict[Value, Scope]:
    """The block each node disappears into, if its scope (or an enclosing one)
    collapses. ValueError for a name or path that matches no scope."""
    block_of: dict[Value, Scope] = {}
    decided: dict[Scope, Scope | None] = {}
    for node in order:
        s = node.scope
        if s is None:
            continue
        if s not in decided:
            decided[s] = next((c for c in s.chain() if _scope_matches(c, collapse)), None)
        block = decided[s]
        if block is not None:
            block_of[node] = block
    if not block_of and isinstance(collapse, (str, list, tuple)):
        # A name or path that matches nothing is almost always a typo: say so.
        raise ValueError(
            f"collapse={collapse!r} matches no scope of this graph; "
            + (
                f"its scopes are: {scope_listing(decided)} (a name without its number, "
                "such as 'layers' for layers.0, layers.1, ..., selects all of them)"
                if decided
                else "it has no scopes"
            )
        )
    return block_of


def _add_cost_scopes(order: list[Value], costs: set[Value], block_of: dict) -> None:
    """A loss's own ops are drawn as one red square: its cost scope collapses
    (unless an enclosing scope collapses already)."""
    for node in order:
        c = _costs.cost_scope_of(node)
        if c is not None:
            costs.add(node)
            if node not in block_of:
                block_of[node] = c
