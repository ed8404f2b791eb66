"""How each op is drawn: subtraction, negation, sums and means as the lecture writes them.

The engine records ``a - b`` as ``sub`` or as ``a + b·(−1)``, and a neuron's weighted
sum as a chain of additions. :class:`Folds` decides, once per drawing, the text of
each op's block and which inputs it shows, folding an intermediate into the op that
uses it when nothing else needs to see it.
"""

from __future__ import annotations

import math

from .. import Value
from .text import MINUS, const, is_negation, op_text

__all__ = ["Folds"]


class Folds:
    """How each op is drawn: its text and its inputs, after writing subtraction,
    negation, sums and means as the lecture does.

    * ``a + b * -1`` (subtraction recorded as an addition of a negation) is one
      ``-`` block with inputs ``a, b``; ``b * -1`` alone is ``-`` (negation);
      ``a + -3`` is ``- 3``. The ``sub``/``neg``/``div`` rows are drawn as ``-``/``/``.
    * a chain of additions ``((a + b) + c) + d`` is one ``Σ`` block with its terms in
      order, and ``Σ * (1/P)`` over P terms is one ``1/P Σ`` block (the slides'
      average loss).
    * ``w * -1`` is a product, not a negation, when ``w`` is a parameter (a weight
      times the data number -1, drawn ``* -1 w`` as ``* 0.5 w`` is) or when it is a
      term of a chain of additions (a weighted sum ``b + w0·x0 + w1·x1`` with
      ``x1 = -1``): the subtraction rewrite never breaks a neuron's ``Σ b``, whatever
      the signs of its inputs.

    Every view of one graph (values, blocks, the derivative network, each backprop
    step) folds alike, so that consecutive slides show the same blocks and variables.

    An intermediate is folded into the op that uses it only when nothing else needs
    to see it: no label, used once, not a root or a cost, same scope, not collapsed.
    ``inputs[node]`` lists ``(input Value, [graph edges it stands for])``; every graph
    edge stays accounted for, so the step view can still highlight it.
    """

    def __init__(
        self, order, uses: dict, roots, keep: set, block_of: dict, parameters: set
    ) -> None:
        self.text: dict[Value, str] = {}
        self.inputs: dict[Value, list] = {}
        self.absorbed: set[Value] = set()
        self.into: dict[Value, Value] = {}  # an absorbed op -> the op drawn for it
        self.negation: set[Value] = set()  # ops drawn as a negation
        self.chained: set[Value] = set()  # additions folded with another into one Σ
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

        reader: dict[Value, Value] = {}  # the op reading a node (for a node used once)
        for node in order:
            for p in node.parents:
                reader[p] = node

        def summed(inner: Value) -> bool:
            """Whether ``inner`` is folded into the addition reading it: one sum."""
            outer = reader.get(inner)
            return outer is not None and _is_sum(outer) and foldable(inner, outer)

        # additions flattened with another into one Σ: no term of theirs is a subtraction
        chained = {
            node
            for node in order
            if _is_sum(node)
            and (summed(node) or any(_is_sum(p) and foldable(p, node) for p in node.parents))
        }
        # x * -1 read as -x: not a parameter's weighted input, not a term of a Σ
        self.negation = {
            node
            for node in order
            if is_negation(node)
            and (
                node.op == "neg"
                or not (
                    node.parents[0] in parameters
                    or (uses[node] == 1 and reader.get(node) in chained)
                )
            )
        }
        self.chained = chained

        for node in order:
            if node.is_leaf:
                continue
            edges = [(p, [(p, node, i)]) for i, p in enumerate(node.parents)]
            text = op_text(node)
            if node in self.negation and node.op != "neg":
                text = MINUS
            elif node.op == "add":
                text, edges = self._addition(node, edges, foldable)
            elif node.op == "mul" and node.constant is None:
                text, edges = self._product(node, edges, foldable)
            elif node.op == "mul" and node.constant is not None and len(node.parents) == 1:
                inner = node.parents[0]
                terms = self.inputs.get(inner)
                n = len(terms) if terms is not None and self.text.get(inner) in ("+", "Σ") else 0
                if (
                    terms is not None
                    and n >= 2
                    and foldable(inner, node)
                    and math.isclose(node.constant[1], 1 / n)
                ):
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

    def _product(self, node, edges, foldable):
        """A chain of multiplications ``(a * b) * c`` is one product with its factors
        in order (the slide's ``y_i w_ij y_j``)."""
        flat: list[tuple[Value, list]] = []
        for p, e in edges:
            if p.op == "mul" and p.constant is None and foldable(p, node):
                self.absorbed.add(p)
                flat.extend((q, qe + e) for q, qe in self.inputs[p])
            else:
                flat.append((p, e))
        return op_text(node), flat

    def _addition(self, node, edges, foldable):
        constant = node.constant
        # a + (-b) and (-b) + a: a subtraction recorded as an addition.
        negs = [i for i, (p, _) in enumerate(edges) if p in self.negation and foldable(p, node)]
        if constant is None and len(edges) == 2 and negs and node not in self.chained:
            i = negs[-1]
            neg = edges[i][0]
            other = edges[1 - i]
            self.absorbed.add(neg)
            inner = neg.parents[0]
            return MINUS, [other, (inner, [(inner, neg, 0), *edges[i][1]])]
        if constant is not None and negs:  # c + (-b): c - b
            neg = edges[0][0]
            self.absorbed.add(neg)
            inner = neg.parents[0]
            return f"{const(constant[1])} {MINUS}", [(inner, [(inner, neg, 0), *edges[0][1]])]
        if constant is not None and constant[1] < 0:  # a + -3: a - 3
            return f"{MINUS} {const(-constant[1])}", edges
        if constant is not None:
            return op_text(node), edges
        # A chain of additions is one sum.
        flat: list[tuple[Value, list]] = []
        for p, e in edges:
            if p.op == "add" and foldable(p, node) and self.text.get(p) in ("+", "Σ"):
                self.absorbed.add(p)
                flat.extend((q, qe + e) for q, qe in self.inputs[p])
            else:
                flat.append((p, e))
        return ("Σ" if len(flat) > 2 else "+"), flat


def _is_sum(node: Value) -> bool:
    """An addition of two Values (no constant operand): a link of a chain of sums."""
    return node.op == "add" and node.constant is None and len(node.parents) == 2
