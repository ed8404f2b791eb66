"""Folding a long drawing onto several rows, so that it fits a slide.

Graphviz's ``dot`` puts every element on a *rank*, the ranks one after another along
the flow: a chain of twenty ops drawn left to right is a strip twenty ranks long,
whichever direction it flows. :class:`Wrap` folds it as text is folded onto lines:
the ranks are cut into ``rows`` bands of consecutive ranks, and band ``k`` is drawn
below band ``k - 1`` (left to right; beside it, to its right, when the flow is
vertical), starting again at the first rank. In the DOT text:

* every element is pinned to its rank within its band (``rank=same`` across the
  bands, with ``newrank=true`` so that elements inside clusters can be pinned too);
* an edge from one band to a later one -- the arrow that runs from the end of a row
  to the start of the next, like a typewriter's carriage return -- is written turned
  round with ``dir=back`` (drawn the same, the head where it was) when its head sits
  on an earlier rank of its band than its tail, so that every edge keeps constraining
  the layout, and with ``constraint=false`` when both sit on the same rank;
* invisible edges between the elements of consecutive bands on each rank put the
  bands in order (``dot`` places the head of an edge between two elements of one rank
  after its tail: below it left to right, right of it top to bottom);
* a scope's cluster is written once per band it has elements in (:func:`~.emit.emit`):
  a cluster straddling two bands is laid out as one block, and the ``graphviz-pure``
  wheel then puts its bands in any order, the second row's start beside the first's.

Where the cuts go (:func:`plan`): the bands are as long as can be balanced, and among
cuts about as good the one that fewest edges cross is taken, so that a row ends at a
variable and one arrow leads to the next row. Which rank each element is on comes
from the edges (:func:`ranks`), as ``dot`` ranks them: the longest path to it, a
source pulled up to just before the first element that reads it.

The drawings built from a :class:`~.scene.Scene` (:func:`tapegrad.engine.draw` and its
steps) are folded by :func:`~.emit.emit`; the model diagrams, written statement by
statement (:func:`tapegrad.nn.diagram.draw_model`,
:func:`tapegrad.engine.block_diagram.draw_program`), are recorded in a :class:`Sketch`
that folds them when it writes them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence, Set
from dataclasses import dataclass, field

from .image import GraphDrawing
from .scene import Scene

__all__ = ["Wrap", "Sketch", "longest_paths", "ranks", "plan", "NO_WRAP", "check_wrap"]

#: Past this many invisible edges between two bands on one rank, only the first
#: element of the later band is ordered after every element of the earlier one.
_MAX_PAIRS = 64
#: How much longer than the shortest possible the longest band may be, to cut
#: where fewer edges cross.
_SLACK = 1.25


def check_wrap(wrap: object) -> None:
    """Raise TypeError or ValueError unless ``wrap`` is None (fold a drawing too long
    for a slide), True (the same), False (never fold) or a number of rows (int >= 1)."""
    if wrap is None or isinstance(wrap, bool):
        return
    if not isinstance(wrap, int):
        raise TypeError(f"wrap must be None, True, False or a number of rows (int), got {wrap!r}")
    if wrap < 1:
        raise ValueError(f"wrap must be a number of rows >= 1, got {wrap}")


def longest_paths(scene: Scene) -> dict[str, int]:
    """Each element's rank: the longest path of edges leading to it (``dot``'s
    ranking, without the balancing), the two sides of an aligned pair (the
    derivative network's mirror) on one rank; invisible edges do not count."""
    incoming: dict[str, list[str]] = {e: [] for e in scene.elements}
    for edge in scene.edges:
        if edge["attrs"].get("style") != "invis":
            incoming[edge["dst"]].append(edge["src"])
    rank: dict[str, int] = {}
    for _ in range(len(scene.elements) + 1):  # relax until stable (a DAG: few passes)
        changed = False
        for element, sources in incoming.items():
            r = max((rank.get(s, 0) + 1 for s in sources), default=0)
            if rank.get(element) != r:
                rank[element], changed = r, True
        changed = _align(scene, rank) or changed
        if not changed:
            break
    return rank


def ranks(scene: Scene) -> dict[str, int]:
    """Each element's rank, as ``dot`` ranks a drawing: :func:`longest_paths`, then
    a source (an element nothing leads to) pulled up to the rank just before the
    first element it leads to. Ranks start at 0."""
    rank = longest_paths(scene)
    fed = {e["dst"] for e in scene.edges if e["attrs"].get("style") != "invis"}
    leads: dict[str, list[str]] = {}
    for edge in scene.edges:
        if edge["attrs"].get("style") != "invis" and edge["src"] != edge["dst"]:
            leads.setdefault(edge["src"], []).append(edge["dst"])
    for element, targets in leads.items():
        if element not in fed:
            rank[element] = min(rank[d] for d in targets) - 1
    _align(scene, rank)
    return rank


def _align(scene: Scene, rank: dict[str, int]) -> bool:
    """Put both sides of each aligned pair on the later of their ranks; whether any
    rank changed."""
    changed = False
    for forward, mirrored in scene.aligned:
        r = max(rank.get(forward, 0), rank.get(mirrored, 0))
        if rank.get(forward) != r or rank.get(mirrored) != r:
            rank[forward] = rank[mirrored] = r
            changed = True
    return changed


@dataclass(frozen=True)
class Wrap:
    """Where a drawing folds: ``band[element]`` is the row (column, when the flow is
    vertical) an element is drawn in, from 0, and ``rank[element]`` its rank within
    that band. ``rows`` is the number of bands; with one band nothing is folded and
    the DOT text is what it would be without a Wrap."""

    rows: int = 1
    band: dict[str, int] = field(default_factory=dict)
    rank: dict[str, int] = field(default_factory=dict)
    cuts: tuple[int, ...] = ()  # the first rank of each band after the first
    #: the place of each element's row among the rows drawn, first to last
    order: dict[str, int] = field(default_factory=dict)

    @property
    def folds(self) -> bool:
        return self.rows > 1

    def edge(self, src: str, dst: str, attrs: dict) -> tuple[str, str, dict]:
        """The edge ``src -> dst`` as it is written: unchanged within a band or when
        it runs forward; from a band to a later one, turned round (``dir=back``:
        drawn the same) when its head is on an earlier rank than its tail, or
        ``constraint=false`` when both are on one rank."""
        if not self.folds or self.band.get(src, 0) == self.band.get(dst, 0):
            return src, dst, attrs
        r_src, r_dst = self.rank.get(src, 0), self.rank.get(dst, 0)
        if r_src < r_dst or attrs.get("style") == "invis":
            return src, dst, attrs
        if r_src == r_dst:
            return src, dst, {**attrs, "constraint": "false"}
        return dst, src, _turned(attrs)

    def write_constraints(self, graph: GraphDrawing, records: Set[str] = frozenset()) -> None:
        """Pin every element to its rank and put the bands in order (see the module's
        docstring); nothing when nothing is folded. ``records``: elements of shape
        ``record``, which no invisible edge touches (Graphviz loses the edges of a
        record with an edge to its neighbour on its rank)."""
        if not self.folds:
            return
        graph.attr(newrank="true")
        by_rank: dict[int, dict[int, list[str]]] = {}
        for element, r in self.rank.items():
            by_rank.setdefault(r, {}).setdefault(self.order[element], []).append(element)
        for r in sorted(by_rank):
            bands = by_rank[r]
            with graph.subgraph() as level:
                level.attr(rank="same")
                for element in itertools.chain.from_iterable(bands[b] for b in sorted(bands)):
                    level.node(element)
                rows = [[e for e in bands[b] if e not in records] for b in sorted(bands)]
                for upper, lower in itertools.pairwise([row for row in rows if row]):
                    for a, b in _order_pairs(upper, lower):
                        level.edge(a, b, style="invis")


def _order_pairs(upper: list[str], lower: list[str]) -> Iterable[tuple[str, str]]:
    """Invisible edges that put every element of ``lower`` after every element of
    ``upper`` on one rank (only after its first, past :data:`_MAX_PAIRS`)."""
    if len(upper) * len(lower) <= _MAX_PAIRS:
        return itertools.product(upper, lower)
    return ((a, lower[0]) for a in upper)


_TURN = {
    "arrowhead": "arrowtail",
    "headport": "tailport",
    "headlabel": "taillabel",
    "headclip": "tailclip",
    "headURL": "tailURL",
    "headtooltip": "tailtooltip",
    "lhead": "ltail",
}
_TURN.update({v: k for k, v in _TURN.items()})
_DIR = {"forward": "back", "back": "forward"}


def _turned(attrs: dict) -> dict:
    """The attributes of an edge written head to tail, so that it draws the same."""
    turned = {_TURN.get(k, k): v for k, v in attrs.items()}
    direction = attrs.get("dir", "forward")
    turned["dir"] = _DIR.get(direction, direction)
    if turned["dir"] == "forward":
        del turned["dir"]  # the default
    return turned


def _spans(scene: Scene, rank: dict[str, int]) -> list[tuple[int, int]]:
    """``(first, last)`` rank of every edge (invisible ones left out), first < last."""
    spans = []
    for edge in scene.edges:
        a, b = sorted((rank[edge["src"]], rank[edge["dst"]]))
        if edge["attrs"].get("style") != "invis" and a < b:
            spans.append((a, b))
    return spans


def _least_longest(extent: Sequence[float], rows: int) -> float:
    """The least length the longest of ``rows`` bands of consecutive ranks can have
    (a bisection over lengths, each tried by filling bands greedily)."""

    def bands_needed(limit: float) -> int:
        bands, length = 1, 0.0
        for e in extent:
            if length + e > limit:
                bands, length = bands + 1, 0.0
            length += e
        return bands

    low, high = max(extent), sum(extent)
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if bands_needed(middle) <= rows else (middle, high)
    return high


def _cuts(
    extent: Sequence[float], spans: Sequence[tuple[int, int]], rows: int, limit: float
) -> tuple[int, ...] | None:
    """Where to cut ranks ``0 .. len(extent) - 1`` into ``rows`` bands, none longer
    than ``limit``: the fewest edges crossing the cuts, then the most even lengths
    (least sum of squares). A band is never as long as an edge that leaves it for
    the next band: that edge would join two elements of one rank, which ``dot``
    cannot draw beside a record. None if there is no such cut."""
    n = len(extent)
    prefix = list(itertools.accumulate(extent, initial=0.0))
    crossing = [0] * (n + 1)  # crossing[c]: edges from a rank before c to one at or after it
    starts: dict[int, list[int]] = {}  # an edge's length -> the ranks edges that long start at
    for a, b in spans:
        for c in range(a + 1, b + 1):
            crossing[c] += 1
        starts.setdefault(b - a, []).append(a)

    def joins_a_rank(j: int, i: int) -> bool:  # band j .. i-1, then a cut at i
        return i < n and any(j <= a < i for a in starts.get(i - j, ()))

    # best[k][i]: (crossings, sum of squares, cuts) of the best k bands over 0 .. i-1
    best: list[list[tuple | None]] = [[None] * (n + 1) for _ in range(rows + 1)]
    best[0][0] = (0, 0.0, ())
    for k in range(1, rows + 1):
        for i in range(k, n + 1):
            options = []
            for j in range(i - 1, k - 2, -1):
                length = prefix[i] - prefix[j]
                if length > limit:
                    break  # longer still for every earlier j
                before = best[k - 1][j]
                if before is None or joins_a_rank(j, i):
                    continue
                cut = crossing[j] if j > 0 else 0
                cuts = before[2] + ((j,) if j > 0 else ())
                options.append((before[0] + cut, before[1] + length * length, cuts))
            best[k][i] = min(options, default=None)
    found = best[rows][n]
    return None if found is None else found[2]


def plan(scene: Scene, rows: int, extent: Sequence[float] | None = None) -> Wrap:
    """A :class:`Wrap` of ``scene`` into ``rows`` bands of consecutive ranks (fewer
    when it has fewer ranks). ``extent[r]``: the length of rank ``r`` along the
    flow, its gap to the next included (default: 1 per rank).

    The cuts (:func:`_cuts`) keep the longest band within 25% of the shortest
    possible longest band, or if that cannot be, within any length; unfolded if no
    cut will do."""
    rank = ranks(scene)
    n_ranks = max(rank.values(), default=-1) + 1
    rows = max(1, min(rows, n_ranks))
    if rows == 1:
        return Wrap()
    extent = list(extent) if extent is not None else [1.0] * n_ranks
    spans = _spans(scene, rank)
    limit = _SLACK * _least_longest(extent, rows) + 1e-9
    cuts = _cuts(extent, spans, rows, limit)
    if cuts is None:
        cuts = _cuts(extent, spans, rows, float("inf"))
    if cuts is None:
        return Wrap()
    mirrored = {e for e, element in scene.elements.items() if element["kind"] in MIRRORED}
    return _folded(rank, cuts, mirrored)


def _folded(rank: dict[str, int], cuts: Sequence[int], mirrored: Set[str] = frozenset()) -> Wrap:
    """The Wrap cutting ``rank`` before each of ``cuts``. The rows of the
    ``mirrored`` elements (the derivative network) come after the graph's, in
    reverse order, so that the last band's mirror lies next to it and the
    derivative network folds back as the graph folds forward."""
    starts = [0, *sorted({c for c in cuts if c > 0})]
    rows = len(starts)
    band: dict[str, int] = {}
    local: dict[str, int] = {}
    order: dict[str, int] = {}
    for element, r in rank.items():
        k = max(i for i, s in enumerate(starts) if s <= r)
        band[element], local[element] = k, r - starts[k]
        order[element] = 2 * rows - 1 - k if element in mirrored else k
    return Wrap(rows, band, local, tuple(starts[1:]), order)


NO_WRAP = Wrap()
#: The kinds of the derivative network's elements (:mod:`~.derivative`).
MIRRORED = ("gradient", "derivative", "seed")


class Sketch:
    """A drawing recorded statement by statement (``node``, ``edge``, as on a
    :class:`graphviz.Digraph`), so that it can be measured and folded before it is
    written: for the drawings that are not built from a Scene. :attr:`scene` holds
    its elements and edges; :meth:`write` writes the statements in the order they
    were made, folded by a :class:`Wrap`."""

    def __init__(self) -> None:
        self.scene = Scene()
        # (name, None, attrs) for a node, (tail, head, attrs) for an edge
        self._statements: list[tuple[str, str | None, dict[str, str]]] = []

    def node(self, name: str, label: str | None = None, **attrs: str) -> None:
        if label is not None:
            attrs = {"label": label, **attrs}
        self.scene.add(name, "node", {}, None)
        self.scene.elements[name]["attrs"].update(attrs)
        self._statements.append((name, None, attrs))

    def edge(self, tail: str, head: str, **attrs: str) -> None:
        for end in (tail, head):
            self.scene.add(end, "node", {}, None)  # graphviz makes it; it is drawn once
        self.scene.edges.append({"src": tail, "dst": head, "attrs": attrs, "graph_edges": []})
        self._statements.append((tail, head, attrs))

    def write(self, graph: GraphDrawing, wrap: Wrap = NO_WRAP) -> GraphDrawing:
        """Write the statements into ``graph`` (folded by ``wrap``); returns ``graph``."""
        for first, second, attrs in self._statements:
            if second is None:
                graph.node(first, **attrs)
            else:
                tail, head, edge_attrs = wrap.edge(first, second, attrs)
                graph.edge(tail, head, **edge_attrs)
        records = {n for n, e in self.scene.elements.items() if e["attrs"].get("shape") == "record"}
        wrap.write_constraints(graph, records)
        return graph
