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
* each band is written as an invisible cluster (:meth:`Wrap.write_rows`), a scope's
  cluster once per band it has elements in (:func:`~.emit.emit`), and every band is
  given an element on every rank (an invisible point where it has none): ``dot``
  lays a cluster out as one block, so a band stays in one piece, and the arrow from
  one band to the next runs between them, not round the outside of a short last band;
* a *guide* puts the bands in order: an invisible point per band on a rank of its
  own before the first, the points chained in order, each joined to its band's
  elements on the first rank. (``dot`` drops an invisible edge between elements of
  two clusters, so edges between the bands' elements cannot order them; the bands in
  any other order would cross the guide's edges.) Within a band, the graph's inputs
  on one rank and in one scope are chained in the order they were made (not
  records: Graphviz loses a record's edges when it has an edge to its neighbour on
  its rank).

Where the cuts go (:func:`plan`): the bands are as long as can be balanced; among
cuts about as good, those where each band opens with the variable the band before
hands it (not an op) and no scope's box holds only variables on a band of its own
(a lone circle in a box) are taken first, then those that fewest edges cross, so
that one arrow leads from a row to the next. Which rank each element is on comes
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
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass, field

from .image import GraphDrawing
from .scene import Scene

__all__ = ["Wrap", "Sketch", "longest_paths", "ranks", "plan", "ordered", "NO_WRAP", "check_wrap"]

#: How much longer than the shortest possible the longest band may be, to cut
#: where fewer edges cross: at most the first, or, to open no band with an op and
#: leave no lone box, the second; failing that, any.
_SLACK = (1.25, 1.6, float("inf"))


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

    def write_rows(
        self, graph: GraphDrawing, write_row: Callable[[GraphDrawing, int], None]
    ) -> None:
        """Each row, first to last, as an invisible cluster into which
        ``write_row(cluster, row)`` writes that row's elements. (``dot`` orders the
        blocks of one rank -- a cluster, or an element outside any -- only by
        crossings: an invisible edge between elements of two clusters is dropped. A
        cluster per row keeps each row in one piece; :meth:`write_constraints`'
        guide puts the rows in order.)"""
        fillers = self._fillers()
        for k in sorted(set(self.order.values())):
            with graph.subgraph(name=f"cluster_row{k}") as row:
                row.attr(label="", style="invis")
                write_row(row, k)
                for name, (row_k, _) in fillers.items():
                    if row_k == k:
                        row.node(name, **_POINT)

    def _fillers(self) -> dict[str, tuple[int, int]]:
        """An invisible point ``(row, rank)`` on each rank a row has no element on,
        so that every row's cluster spans every rank: the arrow from one row to the
        next then runs between them, not round the outside of a short last row."""
        ranks = range(max(self.rank.values(), default=-1) + 1)
        present = {(self.order[e], r) for e, r in self.rank.items()}
        return {
            f"_fill{k}_{r}": (k, r)
            for k in sorted(set(self.order.values()))
            for r in ranks
            if (k, r) not in present
        }

    def write_constraints(
        self,
        graph: GraphDrawing,
        rankdir: str,
        records: Set[str] = frozenset(),
        chained: Sequence[Sequence[str]] = (),
    ) -> None:
        """Pin every element to its rank, put the rows in order and the elements of
        each group of ``chained`` (elements of one row, one rank and one cluster) in
        the order given; nothing when nothing is folded.

        The rows are put in order by a *guide*: one invisible point per row, on a
        rank of its own before the first, the points in order and each joined to its
        row's elements on the first rank; the rows' clusters in any other order
        would cross those edges. ``records``: elements of shape ``record``, which no
        invisible edge between elements of one rank touches (Graphviz loses the
        edges of a record with an edge to its neighbour on its rank)."""
        if not self.folds:
            return
        graph.attr(newrank="true")
        rows = sorted(set(self.order.values()))
        for k in rows:
            graph.node(f"_guide{k}", **_POINT)
            graph.node(f"_end{k}", **_POINT)
        placed = {**{e: (self.order[e], r) for e, r in self.rank.items()}, **self._fillers()}
        last = max(r for _, r in placed.values())
        with graph.subgraph() as guide:  # (its edges apart from the drawing's own)
            for element, (k, r) in placed.items():
                if r == 0:
                    guide.edge(f"_guide{k}", element, style="invis")
                if r == last:
                    guide.edge(element, f"_end{k}", style="invis")
        by_rank: dict[int, list[str]] = {}
        for element, (_, r) in placed.items():
            by_rank.setdefault(r, []).append(element)
        with graph.subgraph() as level:  # the guide: a top-level chain, in order
            level.attr(rank="same")
            for a, b in itertools.pairwise(rows):
                level.edge(*ordered(f"_guide{a}", f"_guide{b}", rankdir, False), style="invis")
        with graph.subgraph() as level:  # and the same after the last rank
            level.attr(rank="same")
            for a, b in itertools.pairwise(rows):
                level.edge(*ordered(f"_end{a}", f"_end{b}", rankdir, False), style="invis")
        for r in sorted(by_rank):
            with graph.subgraph() as level:
                level.attr(rank="same")
                for element in sorted(by_rank[r], key=lambda e: placed[e][0]):
                    level.node(element)
        for group in chained:
            kept = [e for e in group if e not in records]
            if len(kept) > 1:
                with graph.subgraph() as level:
                    level.attr(rank="same")
                    for earlier, later in itertools.pairwise(kept):
                        level.edge(*ordered(earlier, later, rankdir, True), style="invis")


#: An invisible point: the guide's, a filler's.
_POINT = {"label": "", "shape": "point", "width": "0", "height": "0", "style": "invis"}


def ordered(a: str, b: str, rankdir: str, in_cluster: bool) -> tuple[str, str]:
    """The invisible edge that puts ``b`` after ``a`` on one rank (below it left to
    right, right of it top to bottom). ``dot`` puts an edge's head after its tail,
    except between the elements of a cluster flowing left to right (or right to
    left), where it puts the head before: there the edge is written ``b -> a``."""
    return (b, a) if in_cluster and rankdir in ("LR", "RL") else (a, b)


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


@dataclass(frozen=True)
class _Seams:
    """What makes a cut good besides its length, for :func:`_cuts`: ``spans``, the
    ``(first, last)`` rank of every edge; ``bad_start[c]``, whether a band starting
    at rank ``c`` opens with something other than a variable (an edge from the row
    before enters an op there); ``scopes``, for each scope of more than one element,
    how many of its elements and of its ops lie on ranks before each rank
    (``(elements, ops)``, ranks ``0 .. n``), so that a band holding only variables
    of a scope that goes on in another band (a lone circle in its box) counts
    against it."""

    spans: Sequence[tuple[int, int]]
    bad_start: Sequence[bool] = ()
    scopes: Sequence[tuple[Sequence[int], Sequence[int]]] = ()

    def lone_boxes(self, first: int, end: int) -> int:
        """How many scopes have elements in ranks ``first .. end - 1`` and in other
        ranks, but only variables in these."""
        lone = 0
        for elements, ops in self.scopes:
            inside = elements[end] - elements[first]
            if 0 < inside < elements[-1] and ops[end] == ops[first]:
                lone += 1
        return lone


def _cuts(
    extent: Sequence[float], seams: _Seams, rows: int, limit: float
) -> tuple[int, tuple[int, ...]] | None:
    """Where to cut ranks ``0 .. len(extent) - 1`` into ``rows`` bands, none longer
    than ``limit``: first the fewest rows opening with an op and lone boxes
    (:class:`_Seams`), then the fewest edges crossing the cuts, then the most even
    lengths (least sum of squares). A band is never as long as an edge that leaves
    it for the next band: that edge would join two elements of one rank, which
    ``dot`` cannot draw beside a record. ``(faults, cuts)``: the number of rows
    opening with an op and lone boxes, and where to cut; None if there is no such
    cut."""
    n = len(extent)
    prefix = list(itertools.accumulate(extent, initial=0.0))
    crossing = [0] * (n + 1)  # crossing[c]: edges from a rank before c to one at or after it
    starts: dict[int, list[int]] = {}  # an edge's length -> the ranks edges that long start at
    for a, b in seams.spans:
        for c in range(a + 1, b + 1):
            crossing[c] += 1
        starts.setdefault(b - a, []).append(a)
    bad_start = list(seams.bad_start) or [False] * n

    def joins_a_rank(j: int, i: int) -> bool:  # band j .. i-1, then a cut at i
        return i < n and any(j <= a < i for a in starts.get(i - j, ()))

    # best[k][i]: (faults, crossings, sum of squares, cuts) of the best k bands over 0 .. i-1
    best: list[list[tuple | None]] = [[None] * (n + 1) for _ in range(rows + 1)]
    best[0][0] = (0, 0, 0.0, ())
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
                faults = seams.lone_boxes(j, i) + (bad_start[j] if j > 0 else 0)
                cut = crossing[j] if j > 0 else 0
                cuts = before[3] + ((j,) if j > 0 else ())
                options.append(
                    (before[0] + faults, before[1] + cut, before[2] + length * length, cuts)
                )
            best[k][i] = min(options, default=None)
    found = best[rows][n]
    return None if found is None else (found[0], found[3])


def _is_variable(element: dict) -> bool:
    """A variable: a forward Value (a circle or a record), an input, a gradient; in a
    :class:`Sketch`, a circle."""
    if element["kind"] == "node":
        return element["attrs"].get("shape") == "circle"
    return element["kind"] in ("variable", "input", "gradient")


def _seams(scene: Scene, rank: dict[str, int]) -> _Seams:
    """The :class:`_Seams` of ``scene`` ranked by ``rank`` (the graph's own elements:
    the derivative network folds along with them)."""
    forward = {e for e, element in scene.elements.items() if element["kind"] not in MIRRORED}
    n = max(rank.values(), default=-1) + 1
    bad_start = [False] * n
    for edge in scene.edges:
        src, dst = edge["src"], edge["dst"]
        if edge["attrs"].get("style") == "invis" or not {src, dst} <= forward:
            continue
        if rank[src] < rank[dst] and not _is_variable(scene.elements[dst]):
            bad_start[rank[dst]] = True
    members: dict[object, tuple[list[int], list[int]]] = {}
    for e in forward:
        element = scene.elements[e]
        home = element["home"]
        for s in home.chain() if home is not None else ():
            elements, ops = members.setdefault(s, ([0] * n, [0] * n))
            elements[rank[e]] += 1
            ops[rank[e]] += not _is_variable(element)
    scopes = [
        (list(itertools.accumulate(counts, initial=0)), list(itertools.accumulate(ops, initial=0)))
        for counts, ops in members.values()
        if sum(counts) > 1
    ]
    return _Seams(_spans(scene, rank), bad_start, scopes)


def plan(
    scene: Scene, rows: int, extent: Sequence[float] | None = None, exact: bool = True
) -> Wrap:
    """A :class:`Wrap` of ``scene`` into ``rows`` bands of consecutive ranks (fewer
    when it has fewer ranks). ``extent[r]``: the length of rank ``r`` along the
    flow, its gap to the next included (default: 1 per rank).

    The cuts (:func:`_cuts`) keep the longest band within 25% of the shortest
    possible longest band, or 60% if that takes away a row opening with an op or a
    lone box, or if that cannot be, within any length; unfolded if no cut will do.
    Not ``exact``: the quick cuts of a first estimate, each band filled as far as
    the shortest possible longest band allows."""
    rank = ranks(scene)
    n_ranks = max(rank.values(), default=-1) + 1
    rows = max(1, min(rows, n_ranks))
    if rows == 1:
        return Wrap()
    extent = list(extent) if extent is not None else [1.0] * n_ranks
    least = _least_longest(extent, rows)
    mirrored = {e for e, element in scene.elements.items() if element["kind"] in MIRRORED}
    if not exact:
        return _folded(rank, _filled(extent, least), mirrored)
    seams = _seams(scene, rank)
    found = None
    for slack in _SLACK:  # the most even cut without faults, or with the fewest
        cut = _cuts(extent, seams, rows, slack * least + 1e-9)
        if cut is not None and (found is None or cut[0] < found[0]):
            found = cut
        if found is not None and found[0] == 0:
            break
    if found is None:
        return Wrap()
    return _folded(rank, found[1], mirrored)


def _filled(extent: Sequence[float], limit: float) -> list[int]:
    """Where bands filled greedily, none longer than ``limit``, start (after the first)."""
    cuts, length = [], 0.0
    for r, e in enumerate(extent):
        if length + e > limit and r > 0:
            cuts.append(r)
            length = 0.0
        length += e
    return cuts


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
        """Write the statements into ``graph`` (folded by ``wrap``, flowing along
        its ``rankdir``); returns ``graph``. Folded, each row's cluster then names
        the nodes drawn in it (:meth:`Wrap.write_rows`)."""
        for first, second, attrs in self._statements:
            if second is None:
                graph.node(first, **attrs)
            else:
                tail, head, edge_attrs = wrap.edge(first, second, attrs)
                graph.edge(tail, head, **edge_attrs)

        def write_row(row: GraphDrawing, k: int) -> None:
            for name in self.scene.elements:
                if wrap.order.get(name) == k:
                    row.node(name)

        if wrap.folds:
            wrap.write_rows(graph, write_row)
        records = {n for n, e in self.scene.elements.items() if e["attrs"].get("shape") == "record"}
        wrap.write_constraints(graph, graph.graph_attr.get("rankdir", "TB"), records)
        return graph
