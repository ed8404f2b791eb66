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

from .scene import Scene

__all__ = ["MAX_ASPECT", "aspect", "choose_rankdir", "estimated_size"]

#: The widest aspect ratio (width : height) drawn left to right by default.
MAX_ASPECT = 3.0

_CHAR = 7.0  # points per character, 14 pt Helvetica on average
_LINE = 20.0  # points per line of text
_RANKSEP = 36.0
_NODESEP = 18.0


def _lines(attrs: dict) -> list[str]:
    label = str(attrs.get("label", ""))
    return label.replace("\\l", "\n").replace("\\n", "\n").split("\n")


def _size(attrs: dict, vertical: bool) -> tuple[float, float]:
    """``(width, height)`` of an element in points, as ``dot`` would size it."""
    shape = attrs.get("shape", "ellipse")
    lines = _lines(attrs)
    chars = max(len(line) for line in lines)
    if shape == "record":
        fields = [f.strip() for f in str(attrs.get("label", "")).strip("{} ").split("|")]
        if vertical:  # the fields stack
            return max(len(f) for f in fields) * _CHAR + 16, 24.0 * len(fields)
        return sum(len(f) * _CHAR + 16 for f in fields), 36.0
    if attrs.get("fixedsize") == "true":
        side = float(attrs.get("width", 0.5)) * 72
        return side, side
    if shape == "circle":
        side = max(36.0, chars * _CHAR + 12, len(lines) * _LINE + 8)
        return side, side
    if shape == "plaintext":
        return chars * _CHAR, _LINE
    margin = [float(v) * 72 for v in str(attrs.get("margin", "0.11,0.055")).split(",")]
    mx, my = margin[0], margin[-1]
    return max(54.0, chars * _CHAR + 2 * mx), max(36.0, len(lines) * _LINE + 2 * my)


def _ranks(scene: Scene) -> dict[str, int]:
    """Each element's rank: the longest path of edges leading to it (``dot``'s
    ranking, without the balancing), the two sides of an aligned pair on one rank."""
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
        for forward, mirrored in scene.aligned:
            r = max(rank.get(forward, 0), rank.get(mirrored, 0))
            if rank.get(forward) != r or rank.get(mirrored) != r:
                rank[forward] = rank[mirrored] = r
                changed = True
        if not changed:
            break
    return rank


_FORWARD = ("variable", "function", "cost", "block", "input")
_STEP_LABEL = 24  # characters of a step's edge label, "-0.5858 × 0.5 = -0.2929" and room


def estimated_size(scene: Scene, rankdir: str, step_labels: bool = False) -> tuple[float, float]:
    """``(width, height)`` in points of ``scene`` laid out along ``rankdir``;
    ``step_labels``: with room on every edge for a backprop step's label."""
    vertical = rankdir in ("TB", "BT")
    rank = _ranks(scene)
    along: dict[int, float] = {}  # a rank's extent along the flow
    across: dict[int, float] = {}  # the sum of its elements across the flow
    for element_id, element in scene.elements.items():
        w, h = _size(element["attrs"], vertical)
        r = rank.get(element_id, 0)
        length, side = (h, w) if vertical else (w, h)
        along[r] = max(along.get(r, 0.0), length)
        across[r] = across.get(r, -_NODESEP) + side + _NODESEP
    gaps: dict[int, float] = {}
    for edge in scene.edges:
        lines = _lines(edge["attrs"]) if edge["attrs"].get("label") else []
        if step_labels and edge.get("graph_edges"):
            lines = lines or ["x" * _STEP_LABEL]
        if lines:
            extent = _LINE * len(lines) if vertical else max(map(len, lines)) * 6.0
            r = rank.get(edge["src"], 0)
            gaps[r] = max(gaps.get(r, 0.0), extent)
    length = sum(along.values()) + sum(_RANKSEP + gaps.get(r, 0.0) for r in list(along)[1:])
    breadth = max(across.values(), default=0.0)
    return (breadth, length) if vertical else (length, breadth)


def aspect(scene: Scene, rankdir: str, step_labels: bool = False) -> float:
    """The estimated width : height of ``scene`` laid out along ``rankdir``."""
    width, height = estimated_size(scene, rankdir, step_labels)
    return width / max(height, 1.0)


def choose_rankdir(scene: Scene, view: str, step_labels: bool) -> str:
    """The direction for the forward ``scene`` (the graph's own elements, before a
    step is marked or the derivative network added, so that every view of one
    graph flows alike): ``"LR"`` while it is at most :data:`MAX_ASPECT` times as
    wide as high (measured with room for the step labels if the graph has steps),
    else the vertical direction of ``view`` if that is at most 3 times as high as
    wide, else whichever of the two is nearer a 16:9 slide (a long chain is a strip
    either way: it is not folded)."""
    under = _UNDER.get(view, 1.0)
    wide = aspect(scene, "LR", step_labels) / under
    if wide <= MAX_ASPECT:
        return "LR"
    vertical = "BT" if view == "blocks" else "TB"
    tall = aspect(scene, vertical, step_labels) / _OVER
    if tall >= 1 / MAX_ASPECT or abs(math.log(tall / _SLIDE)) < abs(math.log(wide / _SLIDE)):
        return vertical
    return "LR"


_SLIDE = 16 / 9
#: The estimate of a left-to-right values view runs about 15% short of dot's width
#: (measured over the drawings of benchmarks/dot_corpus.py's graphs; the blocks
#: view's estimate is about right or over).
_UNDER = {"values": 0.85}
#: A vertical drawing's estimated width : height runs up to about 25% over dot's.
_OVER = 1.25
