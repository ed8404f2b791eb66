"""Choosing the direction of flow so that a drawing fits a slide.

A graph drawn left to right is as wide as its longest path: micrograd's neuron in the
values view came out 5,815 × 458 pixels, a 13:1 strip no slide can show readably.
:func:`choose_rankdir` estimates the size of a :class:`~.scene.Scene` laid out by
Graphviz's ``dot`` in a direction -- each rank as wide as its widest element (records
and boxes measured from their text, at about 7 points a character of 14-point
Helvetica), ``ranksep`` 0.5 inch and ``nodesep`` 0.25 inch as Graphviz's defaults,
edge labels widening the gap they sit in -- and keeps left to right (the lecture's
week-2 figures) while its aspect ratio is at most :data:`MAX_ASPECT`, else turns the
flow vertical: top to bottom for the values view, bottom to top for the blocks view
(the lecture's energy figures: inputs at the bottom, the cost on top).

An estimate, not a layout: it needs no Graphviz, costs one pass over the scene, and
gives the same answer for every frame of a backprop sequence (they share one scene
structure), so a sequence never changes direction from one frame to the next.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .scene import Scene
from .wrap import NO_WRAP, Sketch, Wrap, longest_paths, plan, ranks

__all__ = [
    "MAX_ASPECT",
    "aspect",
    "choose_rankdir",
    "choose_wrap",
    "estimated_size",
    "fit_sketch",
]

#: The widest aspect ratio (width : height) drawn left to right by default.
MAX_ASPECT = 3.0

_CHAR = 7.0  # points per character, 14 pt Helvetica on average
_LINE = 20.0  # points per line of text
_LABEL_CHAR = 6.6  # points per character of an edge label (11 pt: digits 6.1, × and − wider)
_RANKSEP = 36.0
_NODESEP = 18.0
_PAD = 4.0  # the painter's margin round a drawing (tapegrad.engine._render)
_CLUSTER = 36.0  # a cluster's label and margins


def _lines(attrs: dict) -> list[str]:
    label = str(attrs.get("label", ""))
    return label.replace("\\l", "\n").replace("\\n", "\n").split("\n")


def _size(attrs: dict, vertical: bool, refined: bool = False) -> tuple[float, float]:
    """``(width, height)`` of an element in points, as ``dot`` would size it
    (``refined``: see :func:`estimated_size`)."""
    shape = attrs.get("shape", "ellipse")
    lines = _lines(attrs)
    chars = max(len(line) for line in lines)
    if shape == "record":
        fields = [f.strip() for f in str(attrs.get("label", "")).strip("{} ").split("|")]
        if vertical and not refined:  # as the fields stacked
            return max(len(f) for f in fields) * _CHAR + 16, 24.0 * len(fields)
        # its fields read side by side in every direction (braces turn them for LR)
        return sum(len(f) * _CHAR + 16 for f in fields), 36.0
    if attrs.get("fixedsize") == "true":
        side = float(attrs.get("width", 0.5)) * 72
        return side, side
    if shape == "circle":
        if refined:  # dot circles the label's box, margins included
            side = max(36.0, math.hypot(chars * _CHAR + 16, len(lines) * _LINE + 8))
        else:
            side = max(36.0, chars * _CHAR + 12, len(lines) * _LINE + 8)
        return side, side
    if shape == "plaintext":
        if refined:  # at least dot's smallest node
            return max(54.0, chars * _CHAR + 16), max(36.0, len(lines) * _LINE + 8)
        return chars * _CHAR, _LINE
    margin = [float(v) * 72 for v in str(attrs.get("margin", "0.11,0.055")).split(",")]
    mx, my = margin[0], margin[-1]
    width, height = chars * _CHAR + 2 * mx, len(lines) * _LINE + 2 * my
    if refined and shape == "ellipse":  # dot's ellipse round the label's box
        width, height = width * 1.5, height * 1.23
    return max(54.0, width), max(36.0, height)


_FORWARD = ("variable", "function", "cost", "block", "input")
_STEP_LABEL = 24  # characters of a step's edge label, "-0.5858 × 0.5 = -0.2929" and room


def _rank_sizes(
    scene: Scene,
    rankdir: str,
    step_labels: bool,
    rank: dict[str, int],
    refined: bool = False,
    band: dict[str, int] | None = None,
):
    """Per rank: its extent along the flow, the sum of its elements across it (with
    their separations) and the room its outgoing edges' labels take (``step_labels``:
    a backprop step's label on every edge that stands for graph edges, as every
    frame of a sequence has, most of them transparent; ``refined``: see
    :func:`estimated_size`)."""
    vertical = rankdir in ("TB", "BT")
    along: dict[int, float] = {}  # a rank's extent along the flow
    across: dict[int, float] = {}  # the sum of its elements across the flow
    for element_id, element in scene.elements.items():
        w, h = _size(element["attrs"], vertical, refined)
        r = rank.get(element_id, 0)
        length, side = (h, w) if vertical else (w, h)
        along[r] = max(along.get(r, 0.0), length)
        across[r] = across.get(r, -_NODESEP) + side + _NODESEP
    gaps: dict[int, float] = {}
    beside: dict[int, float] = {}  # flowing vertically, the widest label beside an edge
    between: dict[int, float] = {}  # refined: the labels between rank r and r + 1, across
    for edge in scene.edges:
        lines = _lines(edge["attrs"]) if edge["attrs"].get("label") else []
        if step_labels and edge.get("graph_edges"):
            lines = lines or ["x" * _STEP_LABEL]
        first, last = sorted((rank.get(edge["src"], 0), rank.get(edge["dst"], 0)))
        if refined and edge["attrs"].get("style") != "invis":
            # an edge across several ranks passes each between as a point of its own
            for r in range(first + 1, last):
                across[r] = across.get(r, 0.0) + _NODESEP
        if lines:
            width = max(map(len, lines)) * _LABEL_CHAR
            r = rank.get(edge["src"], 0)
            gaps[r] = max(gaps.get(r, 0.0), _LINE * len(lines) if vertical else width)
            beside[r] = max(beside.get(r, 0.0), width / 2 + _NODESEP)
            if refined:  # dot draws it as a node between the ranks of its ends
                size = width if vertical else _LINE * len(lines)
                between[first] = between.get(first, -_NODESEP) + size + _NODESEP
    if vertical and refined:
        for r, width in between.items():
            across[r] = max(across.get(r, 0.0), width)
    if refined:
        for r, boxes in _boxes(scene, rank, band or {}).items():
            across[r] = across.get(r, 0.0) + boxes * _CLUSTER
    return along, across, gaps


def _boxes(scene: Scene, rank: dict[str, int], band: dict[str, int]) -> dict[int, int]:
    """How many scopes' boxes (clusters) each rank crosses: a scope's box spans the
    ranks from its first element to its last, once per row (``band``: each
    element's row, when folded), and takes its label and margins across the flow
    on each of them, side by side with its siblings'."""
    spans: dict[tuple, list[int]] = {}
    for element_id, element in scene.elements.items():
        home = element["home"]
        r = rank.get(element_id, 0)
        for s in home.chain() if home is not None else ():
            span = spans.setdefault((s, band.get(element_id, 0)), [r, r])
            span[0], span[1] = min(span[0], r), max(span[1], r)
    count: dict[int, int] = {}
    for first, last in spans.values():
        for r in range(first, last + 1):
            count[r] = count.get(r, 0) + 1
    return count


def estimated_size(
    scene: Scene,
    rankdir: str,
    step_labels: bool = False,
    wrap: Wrap = NO_WRAP,
    refined: bool = False,
) -> tuple[float, float]:
    """``(width, height)`` in points of ``scene`` laid out along ``rankdir`` (folded
    by ``wrap``); ``step_labels``: with room on every edge for a backprop step's label.

    ``refined``: a record's fields side by side in every direction (not stacked
    when flowing vertically), a label beside its edge widening a vertical drawing,
    each element on the rank ``dot`` gives it (:func:`~.wrap.ranks`). The
    directions are chosen with the first estimate, which :data:`_UNDER` and
    :data:`_OVER` were measured for; the folds with the refined one."""
    vertical = rankdir in ("TB", "BT")
    if wrap.folds:
        rank = wrap.rank
    else:
        rank = ranks(scene) if refined else longest_paths(scene)
    along, across, gaps = _rank_sizes(scene, rankdir, step_labels, rank, refined, wrap.order)
    length = sum(along.values()) + sum(_RANKSEP + gaps.get(r, 0.0) for r in list(along)[1:])
    breadth = max(across.values(), default=0.0)
    if refined:  # the painter's margin
        breadth += 2 * _PAD
        length += 2 * _PAD
    if wrap.folds:  # the arrow from each band to the next runs round the next, each
        # band in its cluster (the derivative network's bands after the graph's)
        bands = len(set(wrap.order.values()))
        breadth += (bands - 1) * _BANDSEP
        length += 2 * _RANKSEP  # the guides' ranks, before the first and after the last
    return (breadth, length) if vertical else (length, breadth)


def aspect(
    scene: Scene,
    rankdir: str,
    step_labels: bool = False,
    wrap: Wrap = NO_WRAP,
    refined: bool = False,
) -> float:
    """The estimated width : height of ``scene`` laid out along ``rankdir`` (folded
    by ``wrap``; see :func:`estimated_size`)."""
    width, height = estimated_size(scene, rankdir, step_labels, wrap, refined)
    return width / max(height, 1.0)


def choose_rankdir(scene: Scene, view: str, step_labels: bool) -> str:
    """The direction for the forward ``scene`` (the graph's own elements, before a
    step is marked or the derivative network added, so that every view of one
    graph flows alike): ``"LR"`` while it is at most :data:`MAX_ASPECT` times as
    wide as high (measured with room for the step labels if the graph has steps);
    else the vertical direction of ``view`` if, unfolded, that fits a slide (within
    :data:`_FOLDED_MARGIN`: vertical drawings err wide) and is
    at most :data:`_PORTRAIT` times as high as wide (by the refined estimate: a
    picture that fills a slide's height without being folded); else left to right
    folded onto rows (:func:`choose_wrap`) if some number of rows fits, as text is
    folded onto lines and a slide is wide (folded into columns, a 30-op chain came
    out 0.64:1); else the vertical direction folded into columns if that fits; else
    whichever of the two, unfolded, is nearer a 16:9 slide."""
    under = _UNDER.get(view, 1.0)
    wide = aspect(scene, "LR", step_labels) / under
    if wide <= MAX_ASPECT:
        return "LR"
    vertical = _VERTICAL[view]
    upright = aspect(scene, vertical, step_labels, refined=True)
    if 1 / _PORTRAIT <= upright <= MAX_ASPECT / _FOLDED_MARGIN:
        return vertical
    if _rows_to_fit(scene, "LR", step_labels) is not None:
        return "LR"
    if _rows_to_fit(scene, vertical, step_labels) is not None:
        return vertical
    tall = aspect(scene, vertical, step_labels) / _OVER
    return vertical if abs(math.log(tall / _SLIDE)) < abs(math.log(wide / _SLIDE)) else "LR"


def choose_wrap(scene: Scene, view: str, rankdir: str, wrap: bool | int | None = None) -> Wrap:
    """How ``scene`` (the drawing as it will be written: its step marked, its
    derivative network added) folds along ``rankdir``: ``wrap`` None or True, not at
    all when it fits a slide as it is, else (by the refined estimate, well inside
    :data:`MAX_ASPECT`: :data:`_MARGIN`, :data:`_FOLDED_MARGIN`) left to right into
    the fewest rows that fit, top to bottom into the fewest columns that fit and
    make it at most :data:`_TALL` times as high as wide (or the fewest that fit);
    False, not at all; a number, into that many bands."""
    if wrap is False:
        return NO_WRAP
    if wrap is not None and wrap is not True:
        return _folding(scene, rankdir, wrap)
    rows = _rows_to_fit(scene, rankdir, False)
    if rows is None:
        return NO_WRAP
    n_ranks = max(ranks(scene).values(), default=0) + 1
    for more in range(rows, min(rows + _TRIES, n_ranks) + 1):
        # the exact cuts may make the longest band longer than the quick ones did
        folded = _folding(scene, rankdir, more)
        ratio = aspect(scene, rankdir, wrap=folded, refined=True)
        if (1 / ratio if rankdir in ("TB", "BT") else ratio) <= _limit(more):
            return folded
    return _folding(scene, rankdir, rows)


def _rows_to_fit(scene: Scene, rankdir: str, step_labels: bool) -> int | None:
    """Into how many bands :func:`choose_wrap` folds ``scene`` along ``rankdir``
    (1: none), None if no number fits. The numbers are tried by bisection, each
    folded by the quick cuts of :func:`~.wrap.plan` (left to right, more rows only
    make a drawing narrower; top to bottom, more columns only make it wider)."""
    vertical = rankdir in ("TB", "BT")
    n_ranks = max(ranks(scene).values(), default=0) + 1
    ratios: dict[int, float] = {}

    def ratio(rows: int) -> float:
        if rows not in ratios:
            folded = _folding(scene, rankdir, rows, exact=False)
            ratios[rows] = aspect(scene, rankdir, step_labels, wrap=folded, refined=True)
        return ratios[rows]

    if not vertical:
        return _fewest(lambda k: ratio(k) <= _limit(k), n_ranks)
    tall_enough = _fewest(lambda k: 1 / ratio(k) <= _limit(k), n_ranks)
    if tall_enough is None or ratio(tall_enough) > _limit(tall_enough):
        return None
    if ratio(tall_enough) >= 1 / _TALL:
        return tall_enough
    wider = _fewest(lambda k: ratio(k) >= 1 / _TALL, n_ranks)
    return wider if wider is not None and ratio(wider) <= _limit(wider) else tall_enough


def _limit(rows: int) -> float:
    """The widest estimated aspect ratio taken to fit a slide, folded into ``rows``."""
    return MAX_ASPECT / (_MARGIN if rows == 1 else _FOLDED_MARGIN)


def _fewest(holds: Callable[[int], bool], most: int) -> int | None:
    """The least ``k`` in ``1 .. most`` for which ``holds(k)``, found by bisection
    (``holds`` false, then true); None if it does not hold for ``most``."""
    if holds(1):
        return 1
    if most < 2 or not holds(most):
        return None
    low, high = 1, most  # holds(low) is false, holds(high) true
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if holds(middle) else (middle, high)
    return high


def _folding(scene: Scene, rankdir: str, rows: int, exact: bool = True) -> Wrap:
    """``scene`` along ``rankdir`` folded into ``rows`` bands, balanced by the
    estimated length of each rank (``exact``: see :func:`~.wrap.plan`)."""
    if rows <= 1:
        return NO_WRAP
    rank = ranks(scene)
    along, _, gaps = _rank_sizes(scene, rankdir, False, rank, refined=True)
    extent = [along.get(r, 0.0) + _RANKSEP + gaps.get(r, 0.0) for r in range(len(along))]
    return plan(scene, rows, extent, exact)


def fit_sketch(
    build: Callable[[str], Sketch], rankdir: str | None, wrap: bool | int | None
) -> tuple[Sketch, str, Wrap]:
    """A model diagram recorded by ``build(rankdir)`` (a :class:`~.wrap.Sketch` of
    the blocks view), its direction (``rankdir``, else :func:`choose_rankdir`'s) and
    its folds (:func:`choose_wrap`, ``wrap`` as there)."""
    sketch = build(rankdir or "LR")
    if rankdir is None:
        rankdir = choose_rankdir(sketch.scene, "blocks", False)
        if rankdir != "LR":
            sketch = build(rankdir)
    return sketch, rankdir, choose_wrap(sketch.scene, "blocks", rankdir, wrap)


_VERTICAL = {"values": "TB", "blocks": "BT"}
_SLIDE = 16 / 9
#: The estimate of a left-to-right values view runs about 15% short of dot's width
#: (measured over the drawings of benchmarks/dot_corpus.py's graphs; the blocks
#: view's estimate is about right or over).
_UNDER = {"values": 0.85}
#: A vertical drawing's estimated width : height runs up to about 25% over dot's.
_OVER = 1.25
#: How far inside :data:`MAX_ASPECT` the refined estimate must be for a drawing
#: to be left unfolded (its error on the drawings of the tests is mostly within 10%).
_MARGIN = 1.1
#: ... and a folded one, whose estimate errs more (how ``dot`` lays rows side by side).
_FOLDED_MARGIN = 1.25
#: How many times as high as wide a drawing flowing vertically may be before it is
#: rather folded (left to right onto rows, or into more columns): a slide is wide.
_PORTRAIT = 1.25
#: How many times as high as wide a drawing flowing vertically may be left, unfolded
#: or folded into as few columns as fit, before it is folded into more columns.
_TALL = 2.5
#: How many more bands :func:`choose_wrap` tries when the exact cuts of the number
#: the quick ones chose do not fit.
_TRIES = 3
#: Room for the arrow that runs from one band to the next, round the next band.
_BANDSEP = 36.0
