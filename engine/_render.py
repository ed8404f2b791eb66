"""Drawing a laid-out graph ourselves: Graphviz places, matplotlib paints.

Graphviz has no shape for the course's function block -- a "D", flat on the side the
inputs come from and round on the side the output leaves (NOTATION.md). Its arrow
pentagon (``cds``) and ``house`` only hint at one and change with the direction of
flow. So tapegrad lets Graphviz do what it is good at, the layout, and paints the
picture itself:

1. the DOT text goes through ``dot -Tjson`` (the ``graphviz-pure`` wheel or a system
   Graphviz): every node's position and size, every edge's spline, every label's
   place, as *xdot* drawing operations;
2. :func:`figure` replays those operations with matplotlib -- polygons, ellipses,
   Bézier splines, text -- except for the nodes whose ``class`` holds
   ``tg-function``: those are painted as a D in the node's box, its flat side facing
   the inputs in every ``rankdir`` (``tg-reverse`` turns it round, for the mirrored
   derivative network), and the ends of the arrows at a D are moved onto its outline;
3. matplotlib writes SVG, PNG, JPEG, GIF or a vector PDF with nothing but pip.

Coordinates stay Graphviz's points (1/72 inch), so a line ``penwidth=3`` is 3 pt
wide and a 14 pt label is 14 pt high at any resolution; ``dpi`` only chooses how many
pixels a raster image spends per inch, and ``scale`` enlarges everything alike.

Text is set in DejaVu Sans (matplotlib ships it), and what it lacks (CJK, emoji,
other scripts) in installed fonts that have it (:mod:`tapegrad.engine._fonts`, which
warns naming what no font has); Graphviz measured it as Helvetica,
which is narrower, so a line that would overflow the width Graphviz gave it is set a
little smaller instead.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import warnings
from typing import TYPE_CHECKING

from . import _fonts

if TYPE_CHECKING:
    from matplotlib.patches import Patch

__all__ = ["RASTER_FORMATS", "FORMATS", "layout", "figure", "figures", "render", "D_CLASS"]

#: The ``class`` a node carries to be painted as the course's D-shaped function block.
D_CLASS = "tg-function"
REVERSE_CLASS = "tg-reverse"
#: A node drawn by Graphviz with two peripheries but painted as one outline, the
#: outer one, filled: it keeps the size of its double-outlined self (the frames of a
#: backprop sequence lay out alike) and arrows still touch it.
SINGLE_CLASS = "tg-single"

RASTER_FORMATS = ("png", "jpeg", "jpg", "gif")
FORMATS = ("svg", "pdf", *RASTER_FORMATS)

_PAD = 4.0  # points of blank border around the drawing
_DIRECTIONS = {"LR": (1, 0), "RL": (-1, 0), "TB": (0, -1), "BT": (0, 1)}


def layout(source: str) -> dict:
    """The Graphviz layout of DOT ``source`` as a dict (``dot -Tjson``)."""
    import graphviz

    from . import _dot

    _, kind = _dot.use_dot()
    text = graphviz.Source(source).pipe(format="json", encoding="utf-8", quiet=True)
    graph = json.loads(text)
    if kind == _dot._PURE:
        _unescape_backslashes(graph)
    return graph


def _unescape_backslashes(graph: dict) -> None:
    r"""Turn ``\\`` back into ``\`` in every text of a ``graphviz-pure`` layout.

    A label's backslash is written ``\\`` in DOT text; Graphviz's ``dot`` hands it
    back as one backslash, ``graphviz-pure`` (0.2) as the two characters it read, so
    a label ``a\b`` was painted ``a\\b``."""
    for item in [graph, *graph.get("objects", []), *graph.get("edges", [])]:
        for key, ops in item.items():
            if key.endswith("draw_") and isinstance(ops, list):
                for op in ops:
                    if op.get("op") == "T":
                        op["text"] = op["text"].replace("\\\\", "\\")


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.replace(" ", ",").split(",") if v]


def _color(text: str | None):
    """An xdot colour (``#rrggbb``, ``#rrggbbaa`` or a name) as a matplotlib colour."""
    if not text or text == "none" or text == "transparent":
        return "none"
    if text.startswith("#") and len(text) == 9:
        r, g, b, a = (int(text[i : i + 2], 16) / 255 for i in (1, 3, 5, 7))
        return (r, g, b, a) if a > 0 else "none"
    return text


class _Pen:
    """The xdot drawing state: colours, line width and style, font."""

    def __init__(self) -> None:
        self.color = "#000000"
        self.fill = "none"
        self.width = 1.0
        self.dash = "solid"
        self.size = 14.0

    def apply(self, op: dict) -> bool:
        kind = op["op"]
        if kind == "c":
            self.color = _color(op.get("color"))
        elif kind == "C":
            self.fill = _color(op.get("color"))
        elif kind == "S":
            style = op.get("style", "")
            m = re.match(r"setlinewidth\(([\d.]+)\)", style)
            if m:
                self.width = float(m.group(1))
            elif style in ("dashed", "dotted", "solid"):
                self.dash = style
            elif style == "bold":
                self.width = max(self.width, 2.0)
        elif kind == "F":
            self.size = float(op.get("size", 14.0))
        else:
            return False
        return True


def _bezier_path(points):
    from matplotlib.path import Path

    codes = [Path.MOVETO] + [Path.CURVE4] * (len(points) - 1)
    return Path(points, codes)


class _Painter:
    """Replays xdot operations onto a matplotlib Axes."""

    def __init__(self, ax, scale: float, background) -> None:
        from matplotlib.textpath import TextToPath

        self.ax = ax
        self.scale = scale
        self.background = background
        self.measure = TextToPath()
        self.z = 0.0

    def _next_z(self) -> float:
        self.z += 1.0
        return self.z

    def _line_kw(self, pen: _Pen) -> dict:
        return {
            "linewidth": pen.width * self.scale,
            "linestyle": {"dashed": (0, (4, 3)), "dotted": (0, (1, 2))}.get(pen.dash, "solid"),
            "edgecolor": pen.color,
            "capstyle": "butt",
            "joinstyle": "miter",
        }

    def ops(self, ops, pen: _Pen | None = None, box=None, halo: _Halo | None = None) -> _Pen:
        """Draw a list of xdot operations; return the pen they leave. ``halo`` says
        which texts sit on a plain field (an edge's label, a node's ``xlabel``) and
        are set on a patch of that field's colour, above every line."""
        from matplotlib import patches

        pen = pen or _Pen()
        shrink = self._shrink(ops or [], _copy_pen(pen), box)
        for op in ops or []:
            if pen.apply(op):
                continue
            kind = op["op"]
            if kind == "T":
                if halo is not None and pen.color != "none" and halo.covers(op):
                    self.text(halo.placed(op, pen), pen, shrink, field=halo.field(op))
                else:
                    self.text(op, pen, shrink)
                continue
            patch: Patch
            if kind in ("E", "e"):
                x, y, rx, ry = op["rect"]
                patch = patches.Ellipse((x, y), 2 * rx, 2 * ry)
                filled = kind == "E"
            elif kind in ("P", "p"):
                patch = patches.Polygon(op["points"], closed=True)
                filled = kind == "P"
            elif kind in ("B", "b"):
                patch = patches.PathPatch(_bezier_path(op["points"]))
                filled = kind == "b"
            elif kind == "L":
                patch = patches.PathPatch(_line_path(op["points"]))
                filled = False
            else:  # images and gradients are not used by tapegrad's drawings
                continue
            patch.set(**self._line_kw(pen), facecolor=pen.fill if filled else "none")
            patch.set_zorder(self._next_z())
            self.ax.add_artist(patch)  # limits are set once: no per-patch update
        return pen

    def _shrink(self, ops, pen: _Pen, box=None) -> float:
        """One factor for every line of a label (lines of one label stay one size),
        so that each fits: inside a node, the room its shape leaves (``box``:
        ``(x0, y0, x1, y1, width)``); elsewhere (edge labels, notes, captions) the
        width Graphviz measured and kept free, plus 5%: DejaVu Sans is about a fifth
        wider than the Helvetica Graphviz measures, and an edge label set at full size
        ran into the arrowhead and the block it points at."""
        from matplotlib.font_manager import FontProperties

        factor = 1.0
        for op in ops:
            if pen.apply(op) or op["op"] != "T" or not op["text"].strip():
                continue
            prop = FontProperties(family=_fonts.families(op["text"])[0], size=pen.size)
            width, _, _ = self.measure.get_text_width_height_descent(op["text"], prop, False)
            x, y = op["pt"]
            measured = float(op.get("width", width))
            if box == "fields":  # a record's fields are as wide as Graphviz measured
                allowed = measured + 2.0
            elif box is not None and box[0] <= x <= box[2] and box[1] <= y <= box[3]:
                allowed = box[4]
            else:
                allowed = 1.05 * measured + 1.0
            if width > allowed > 0:
                factor = min(factor, allowed / width)
        return factor

    def text(self, op: dict, pen: _Pen, shrink: float = 1.0, field=None) -> None:
        """Set one xdot text; on a patch of colour ``field`` (a halo ``_HALO_PAD`` pt
        wider than the text) when given, so no line drawn under it crosses it."""
        text = op["text"]
        if not text.strip():
            return
        size = pen.size * shrink
        x, y = op["pt"]
        family, missing = _fonts.families(text)  # DejaVu, then installed fonts
        if missing:
            _fonts.warn_missing(missing, text)
        self.ax.text(
            x,
            y,
            text,
            ha={"l": "left", "r": "right"}.get(op.get("align", ""), "center"),
            va="baseline",
            fontsize=size * self.scale,
            family=family,
            color=pen.color,
            parse_math=False,  # a label is shown literally: "$x$" is not TeX
            zorder=10_000 + self._next_z(),
            bbox=None if field is None else _halo_patch(field, size * self.scale),
        )


_HALO_PAD = 1.5  # points of field colour around a label on an edge or beside a node


def _halo_patch(colour, fontsize: float) -> dict:
    """``Text(bbox=...)``: a borderless patch of ``colour``, ``_HALO_PAD`` pt round."""
    return {
        "boxstyle": f"square,pad={_HALO_PAD / max(fontsize, 1.0):.4f}",
        "facecolor": colour,
        "edgecolor": "none",
        "linewidth": 0,
    }


def _bezier_samples(points, per_segment: int = 8) -> list[tuple[float, float]]:
    """Points along an xdot B-spline (cubic Bézier segments sharing their ends)."""
    out = []
    for i in range(0, len(points) - 3, 3):
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = points[i : i + 4]
        for k in range(per_segment + 1):
            t = k / per_segment
            u = 1 - t
            a, b, c, d = u**3, 3 * u * u * t, 3 * u * t * t, t**3
            out.append((a * ax + b * bx + c * cx + d * dx, a * ay + b * by + c * cy + d * dy))
    return out


class _Halo:
    """Where an object's outside texts are set, and on what.

    Graphviz puts an edge's label beside the edge, its measured (Helvetica) box
    touching the line; other edges may cross it. Each such text is painted above
    every line on a patch of the colour of the field it lies on (the innermost filled
    cluster holding it, else the background), so no line crosses a letter; and a
    label that touches its own edge where that runs across the text's line (a vertical
    edge beside it, a horizontal one under it) is moved away from it, clear of the
    line by half its width and the halo, as DejaVu Sans runs wider than the
    width Graphviz kept free. ``inside``: a node's box, whose own label is left as it
    is (only an ``xlabel`` outside the box gets a halo)."""

    def __init__(self, fields, background, *, inside=None, edge=None) -> None:
        self.fields = fields  # [(x0, y0, x1, y1, colour)], outermost first
        self.background = background
        self.inside = inside
        self.edge = edge
        self.clear = _HALO_PAD + 1.0 + (_edge_pen(edge.get("_draw_")).width / 2 if edge else 0)

    def covers(self, op: dict) -> bool:
        if self.inside is None:
            return True
        x, y = op["pt"]
        x0, y0, x1, y1 = self.inside
        return not (x0 <= x <= x1 and y0 <= y <= y1)

    def field(self, op: dict):
        x, y = op["pt"]
        colour = self.background
        for x0, y0, x1, y1, fill in self.fields:
            if x0 <= x <= x1 and y0 <= y <= y1:
                colour = fill
        return colour

    def placed(self, op: dict, pen: _Pen) -> dict:
        """``op`` moved clear of its own edge (unchanged when nothing is near)."""
        if self.edge is None or op.get("align", "c") != "c" or "width" not in op:
            return op
        line = [
            p
            for spline in self.edge.get("_draw_") or []
            if spline["op"] in ("B", "b")
            for p in _bezier_samples(spline["points"], per_segment=64)
        ]
        (x, y), half, size = op["pt"], float(op["width"]) / 2, pen.size
        reach = self.clear + 3.0  # how near a line must come to move the text
        low, high = y - 0.3 * size - reach, y + 0.8 * size + reach
        near = [(px, py) for px, py in line if x - half - reach <= px <= x + half + reach]
        near = [(px, py) for px, py in near if low <= py <= high]
        if not near:
            return op
        xs, ys = [p[0] for p in near], [p[1] for p in near]
        if 3 * (max(ys) - min(ys)) < max(xs) - min(xs):  # a line along the text
            if max(ys) <= y:  # under it: lift the baseline (descenders ~0.3 em)
                return {**op, "pt": [x, max(y, max(ys) + self.clear + 0.3 * size)]}
            if min(ys) >= y + 0.5 * size:  # over it: lower the cap height (~0.75 em)
                return {**op, "pt": [x, min(y, min(ys) - self.clear - 0.75 * size)]}
        elif 3 * (max(xs) - min(xs)) < max(ys) - min(ys):  # a line across the text
            if max(xs) <= x:  # on its left: start the text right of it
                return {**op, "align": "l", "pt": [max(x - half, max(xs) + self.clear), y]}
            if min(xs) >= x:  # on its right: end the text left of it
                return {**op, "align": "r", "pt": [min(x + half, min(xs) - self.clear), y]}
        # a slanting line: slide the text along its row off the line, when a short
        # way does it (further, it would run into its neighbours)
        rows = [px for px, py in line if y - 0.3 * size - self.clear <= py <= high - 3.0]
        if not rows:
            return op
        if x >= sum(rows) / len(rows) and max(rows) + self.clear - (x - half) <= size:
            return {**op, "align": "l", "pt": [max(x - half, max(rows) + self.clear), y]}
        if x < sum(rows) / len(rows) and (x + half) - (min(rows) - self.clear) <= size:
            return {**op, "align": "r", "pt": [min(x + half, min(rows) - self.clear), y]}
        return op


def _filled_fields(clusters) -> list[tuple]:
    """``(x0, y0, x1, y1, colour)`` of every cluster painted with a fill."""
    fields = []
    for c in clusters:
        pen = _Pen()
        for op in c.get("_draw_") or []:
            if pen.apply(op) or op["op"] != "P" or pen.fill == "none":
                continue
            xs = [p[0] for p in op["points"]]
            ys = [p[1] for p in op["points"]]
            fields.append((min(xs), min(ys), max(xs), max(ys), pen.fill))
    return fields


def _node_box(node: dict):
    if "pos" not in node:
        return None
    x, y = _floats(node["pos"])
    w = float(node.get("width", 0.75)) * 72
    h = float(node.get("height", 0.5)) * 72
    return (x - w / 2, y - h / 2, x + w / 2, y + h / 2)


def _line_path(points):
    from matplotlib.path import Path

    return Path(points, [Path.MOVETO] + [Path.LINETO] * (len(points) - 1))


# -- the D shape -----------------------------------------------------------------


class _DShape:
    """A D in the box ``center ± (w/2, h/2)``: flat on the input side, a half ellipse
    on the output side. ``direction`` is the way data flows (a unit axis vector)."""

    def __init__(self, center, w: float, h: float, direction, text_extent: float) -> None:
        self.cx, self.cy = center
        self.w, self.h = w, h
        self.dx, self.dy = direction
        along = w if self.dx else h  # the box's extent along the flow
        across = h if self.dx else w
        # The round cap: as deep as half the box across the flow (a true half disc)
        # when the label leaves room, never into the label.
        room = max(along / 2 - text_extent / 2 - 1.0, along * 0.18)
        self.cap = min(across / 2, room, along * 0.5)
        self.along, self.across = along, across

    def _to_xy(self, u: float, v: float):
        """(u along the flow from the centre, v across it) -> (x, y)."""
        if self.dx:
            return self.cx + u * self.dx, self.cy + v
        return self.cx + v, self.cy + u * self.dy

    def _to_uv(self, x: float, y: float):
        if self.dx:
            return (x - self.cx) * self.dx, y - self.cy
        return (y - self.cy) * self.dy, x - self.cx

    def outline(self, n: int = 48):
        a, b = self.along / 2, self.across / 2
        start = a - self.cap
        pts = [(-a, -b), (start, -b)]
        for i in range(1, n):
            t = -math.pi / 2 + math.pi * i / n
            pts.append((start + self.cap * math.cos(t), b * math.sin(t)))
        pts += [(start, b), (-a, b)]
        return [self._to_xy(u, v) for u, v in pts]

    def contains(self, x: float, y: float, slack: float = 0.5) -> bool:
        u, v = self._to_uv(x, y)
        a, b = self.along / 2 + slack, self.across / 2 + slack
        if not (-a <= u <= a and -b <= v <= b):
            return False
        start = self.along / 2 - self.cap
        if u <= start:
            return True
        return ((u - start) / (self.cap + slack)) ** 2 + (v / b) ** 2 <= 1.0

    def pull(self, x: float, y: float):
        """The first point of the outline on the way from (x, y) to the centre."""
        if self.contains(x, y):
            return x, y
        dist = math.hypot(self.cx - x, self.cy - y)
        steps = max(int(dist / 0.25), 1)
        for i in range(1, steps + 1):
            px = x + (self.cx - x) * i / steps
            py = y + (self.cy - y) * i / steps
            if self.contains(px, py):
                return px, py
        return self.cx, self.cy


def _classes(obj: dict) -> set[str]:
    return set(obj.get("class", "").split())


def _d_shape(node: dict, rankdir: str) -> _DShape:
    x, y = _floats(node["pos"])
    w = float(node["width"]) * 72
    h = float(node["height"]) * 72
    dx, dy = _DIRECTIONS.get(rankdir, (1, 0))
    if REVERSE_CLASS in _classes(node):
        dx, dy = -dx, -dy
    texts = [op for op in node.get("_ldraw_", []) if op["op"] == "T"]
    if dx:
        extent = max((float(op.get("width", 0)) for op in texts), default=0.0)
    else:  # along the flow the label's extent is its height, all lines
        extent = len(texts) * 16.8
    return _DShape((x, y), w, h, (dx, dy), extent)


def _paint_d(painter: _Painter, node: dict, shape: _DShape, background) -> None:
    from matplotlib import patches

    style = node.get("style", "")
    pen = _Pen()
    pen.color = _color(node.get("color", "#000000"))
    pen.width = float(node.get("penwidth", 1.0))
    if "dashed" in style:
        pen.dash = "dashed"
    fill = _color(node.get("fillcolor", "#d3d3d3")) if "filled" in style else background
    patch = patches.Polygon(shape.outline(), closed=True)
    patch.set(**painter._line_kw(pen), facecolor=fill)
    patch.set_zorder(painter._next_z())
    painter.ax.add_artist(patch)


def _shift_ops(ops, dx: float, dy: float):
    out = []
    for op in ops:
        op = dict(op)
        if "points" in op:
            op["points"] = [[x + dx, y + dy] for x, y in op["points"]]
        out.append(op)
    return out


def _arrow_to_d(edge: dict, key: str, shape: _DShape, painter: _Painter, pen: _Pen):
    """Move an arrowhead whose tip Graphviz put on the D's box (in a corner the D
    leaves empty) onto the D's outline, with a short line to close the gap."""
    ops = edge.get(key) or []
    polys = [op for op in ops if op["op"] in ("P", "p")]
    if not polys:
        return ops
    points = polys[0]["points"]
    # The tip is the arrowhead point nearest the node's centre.
    tip = min(points, key=lambda p: math.hypot(p[0] - shape.cx, p[1] - shape.cy))
    if shape.contains(tip[0], tip[1], slack=1.5):
        return ops
    nx, ny = shape.pull(*tip)
    dx, dy = nx - tip[0], ny - tip[1]
    base = [
        (sum(p[0] for p in points if p is not tip) / max(len(points) - 1, 1)),
        (sum(p[1] for p in points if p is not tip) / max(len(points) - 1, 1)),
    ]
    painter.ops(
        [
            {"op": "L", "points": [base, [base[0] + dx, base[1] + dy]]},
        ],
        pen=_copy_pen(pen),
    )
    return _shift_ops(ops, dx, dy)


def _copy_pen(pen: _Pen) -> _Pen:
    out = _Pen()
    out.__dict__.update(pen.__dict__)
    return out


def _edge_pen(ops) -> _Pen:
    pen = _Pen()
    for op in ops or []:
        pen.apply(op)
    return pen


def _tail_from_d(edge: dict, shape: _DShape, painter: _Painter, at_start: bool) -> None:
    """An edge leaving a D starts on the box; extend it to the D's outline (the node,
    painted over the extension, hides the part inside)."""
    draw = edge.get("_draw_") or []
    splines = [op for op in draw if op["op"] in ("B", "b")]
    if not splines:
        return
    pts = splines[0]["points"]
    end = pts[0] if at_start else pts[-1]
    if shape.contains(end[0], end[1], slack=1.0):
        return
    pen = _edge_pen(draw)
    pen.dash = "solid"
    painter.ops(
        [{"op": "L", "points": [[shape.cx, shape.cy], list(end)]}],
        pen=pen,
    )


def _label_room(node: dict, shape: _DShape | None) -> tuple | str | None:
    """``(x0, y0, x1, y1, width)``: a node's box and how wide a line of its label may
    be -- the box less a margin, less the round cap of a D (across the flow, a D's
    label has the box's width), less the corners a circle or an ellipse cuts off."""
    if "pos" not in node:
        return None
    x, y = _floats(node["pos"])
    w = float(node.get("width", 0.75)) * 72
    h = float(node.get("height", 0.5)) * 72
    box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
    if shape is not None:
        room = w - 8 - (shape.cap if shape.dx else 0)
    elif node.get("shape", "ellipse") in ("circle", "ellipse", "oval", "doublecircle"):
        room = w * 0.8 - 4
    elif node.get("shape") in ("record", "Mrecord"):
        return "fields"
    elif node.get("shape") in ("plaintext", "plain", "none"):
        return None  # free text: the measured width, give or take
    else:
        room = w - 8
    return (*box, max(room, 1.0))


def figure(graph: dict, *, scale: float = 1.0):
    """A matplotlib Figure painting the laid-out ``graph`` (from :func:`layout`)."""
    from matplotlib.figure import Figure

    x0, y0, x1, y1 = _floats(graph["bb"])
    width, height = (x1 - x0 + 2 * _PAD), (y1 - y0 + 2 * _PAD)
    fig = Figure(figsize=(width * scale / 72, height * scale / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0 - _PAD, x1 + _PAD)
    ax.set_ylim(y0 - _PAD, y1 + _PAD)
    ax.set_axis_off()
    background = _color(graph.get("bgcolor", "#ffffff"))
    fig.patch.set_facecolor(background if background != "none" else "#ffffff")
    painter = _Painter(ax, scale, background if background != "none" else "#ffffff")
    rankdir = graph.get("rankdir", "TB")

    objects = graph.get("objects", [])
    clusters = [o for o in objects if "nodes" in o or "bb" in o]
    nodes = [o for o in objects if o not in clusters]
    shapes = {
        o["_gvid"]: _d_shape(o, rankdir) for o in nodes if D_CLASS in _classes(o) and "pos" in o
    }
    # Clusters first (back to front), then edges, then nodes over the edges' ends,
    # then every label on top.
    for c in clusters:
        painter.ops(c.get("_draw_"))
    edges = graph.get("edges", [])
    for edge in edges:
        draw = edge.get("_draw_") or []
        pen = painter.ops(draw)
        for key, end in (("_hdraw_", edge["head"]), ("_tdraw_", edge["tail"])):
            ops = edge.get(key)
            if ops and end in shapes:
                ops = _arrow_to_d(edge, key, shapes[end], painter, pen)
            painter.ops(ops, pen=_copy_pen(pen))
        back = edge.get("dir") == "back"
        if edge["tail"] in shapes and not (back and edge.get("_tdraw_")):
            _tail_from_d(edge, shapes[edge["tail"]], painter, at_start=True)
        if edge["head"] in shapes and not edge.get("_hdraw_"):
            _tail_from_d(edge, shapes[edge["head"]], painter, at_start=False)
    for node in nodes:
        if node["_gvid"] in shapes:
            _paint_d(painter, node, shapes[node["_gvid"]], painter.background)
        elif SINGLE_CLASS in _classes(node):
            painter.ops(_outer_outline(node.get("_draw_") or []))
        else:
            painter.ops(node.get("_draw_"))
    for c in clusters:
        painter.ops(c.get("_ldraw_"))
    fields = _filled_fields(clusters)
    for node in nodes:
        painter.ops(
            node.get("_ldraw_"),
            box=_label_room(node, shapes.get(node["_gvid"])),
            halo=_Halo(fields, painter.background, inside=_node_box(node) or (0, 0, 0, 0)),
        )
    for edge in edges:
        halo = _Halo(fields, painter.background, edge=edge)
        for key in ("_ldraw_", "_hldraw_", "_tldraw_"):
            painter.ops(edge.get(key), halo=halo)
    painter.ops(graph.get("_ldraw_"))  # the graph's own label (a caption)
    _fit_texts(fig, ax, scale)
    return fig


def figures(graphs: list[dict], *, scale: float = 1.0) -> list:
    """The figures of a sequence (backprop's frames), every one the same size.

    ``graphs`` are layouts whose bounding boxes have one size (the frames put on one
    canvas by :func:`tapegrad.engine.drawing.saving.common_canvas`). Each figure
    first grows to fit its own texts, as :func:`figure` does; then every figure gets
    the widest margin on each side, so no text is cut and no frame is larger."""
    figs = [figure(graph, scale=scale) for graph in graphs]
    margins = []
    for graph, fig in zip(graphs, figs, strict=True):
        x0, y0, x1, y1 = _floats(graph["bb"])
        (a, c), (b, d) = fig.axes[0].get_xlim(), fig.axes[0].get_ylim()
        margins.append((x0 - a, c - x1, y0 - b, d - y1))
    left, right, bottom, top = (max(m[i] for m in margins) for i in range(4))
    for graph, fig in zip(graphs, figs, strict=True):
        x0, y0, x1, y1 = _floats(graph["bb"])
        fig.axes[0].set_xlim(x0 - left, x1 + right)
        fig.axes[0].set_ylim(y0 - bottom, y1 + top)
        width, height = x1 - x0 + left + right, y1 - y0 + bottom + top
        fig.set_size_inches(width * scale / 72, height * scale / 72)
    return figs


def _outer_outline(ops: list[dict]) -> list[dict]:
    """A node's drawing with its peripheries reduced to the outermost one, filled
    as the innermost was: the pen operations and the outer ellipse or polygon."""
    shapes = [op for op in ops if op["op"] in ("E", "e", "P", "p")]
    if len(shapes) < 2:
        return ops

    def extent(op: dict) -> float:
        if op["op"] in ("E", "e"):
            return op["rect"][2] * op["rect"][3]
        xs = [p[0] for p in op["points"]]
        ys = [p[1] for p in op["points"]]
        return (max(xs) - min(xs)) * (max(ys) - min(ys))

    outer = max(shapes, key=extent)
    filled = any(op["op"] in ("E", "P") for op in shapes)
    kind = outer["op"].upper() if filled else outer["op"].lower()
    out, fill = [], None
    for op in ops:
        if op["op"] == "C":
            fill = fill or op  # the fill colour Graphviz set for the inner shape
        if op["op"] not in ("E", "e", "P", "p"):
            out.append(op)
    if fill is not None:
        out.append(fill)
    out.append({**outer, "op": kind})
    return out


def _fit_texts(fig, ax, scale: float) -> None:
    """Grow the canvas so that no text is cut at its edge (Graphviz sized the drawing
    with its own guess of each label's width)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    to_data = ax.transData.inverted()
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    nx0, nx1, ny0, ny1 = x0, x1, y0, y1
    for text in ax.texts:
        (a, b), (c, d) = to_data.transform(text.get_window_extent(renderer).get_points())
        room = 2 + (_HALO_PAD if text.get_bbox_patch() is not None else 0)
        nx0, nx1 = min(nx0, a - room), max(nx1, c + room)
        ny0, ny1 = min(ny0, b - room), max(ny1, d + room)
    if (nx0, nx1, ny0, ny1) == (x0, x1, y0, y1):
        return
    ax.set_xlim(nx0, nx1)
    ax.set_ylim(ny0, ny1)
    fig.set_size_inches((nx1 - nx0) * scale / 72, (ny1 - ny0) * scale / 72)


def render(
    source: str,
    fmt: str,
    *,
    dpi: float | None = None,
    scale: float = 1.0,
) -> bytes:
    """Lay out DOT ``source`` and paint it as ``fmt`` (svg, pdf, png, jpeg, gif).

    ``dpi`` (raster formats; default 150) sets pixels per inch; ``scale`` enlarges the
    whole drawing. Vector formats are the same at any ``dpi``.
    """
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise ValueError(f"cannot paint format {fmt!r}; use one of {', '.join(FORMATS)}")
    graph = layout(source)
    with own_style():
        return save_figure(figure(graph, scale=scale), fmt, dpi=dpi)


@contextlib.contextmanager
def own_style():
    """A context in which drawings look the same whatever style the user set.

    matplotlib's "Glyph ... missing from font(s)" warnings are silenced in it: the
    painter warns once per label with :class:`tapegrad.engine._fonts.MissingGlyphWarning`,
    naming the characters and what to install."""
    import matplotlib

    # What a user's matplotlib style (plt.style.use, rcParams) may not change in a
    # drawing (written in the call, where rc_context's type checks each key).
    own = matplotlib.rc_context(
        {
            "text.usetex": False,
            "path.sketch": None,
            "path.effects": [],
            "savefig.bbox": None,
            "savefig.transparent": False,
            "savefig.facecolor": "auto",
            "savefig.edgecolor": "auto",
            "pdf.fonttype": 42,  # TrueType in PDFs: text stays text for slide software
            "axes.unicode_minus": True,
        }
    )
    with own, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning
        )
        yield


#: The largest raster image painted, in pixels (a 4K slide is 8.3 million).
MAX_PIXELS = 100_000_000
#: Pixels per inch of a raster image when no ``dpi`` is given.
DEFAULT_DPI = 150.0


def _check_pixels(fig, dpi: float) -> None:
    """Refuse a raster image too large to hold in memory, naming its size."""
    w, h = fig.get_figwidth() * dpi, fig.get_figheight() * dpi
    if w * h > MAX_PIXELS:
        raise ValueError(
            f"the image would be {w:,.0f} x {h:,.0f} pixels, more than {MAX_PIXELS:,}: "
            f"lower dpi (now {dpi:g}) or scale, or write .svg or .pdf (vector, any size)"
        )


def save_figure(fig, fmt: str, *, dpi: float | None = None) -> bytes:
    """The bytes of ``fig`` in ``fmt``; deterministic for SVG and PDF (no dates).
    Raster formats refuse images of more than :data:`MAX_PIXELS` (ValueError)."""
    import matplotlib

    out = io.BytesIO()
    fmt = "jpeg" if fmt == "jpg" else fmt
    dpi = DEFAULT_DPI if dpi is None else dpi
    if fmt in RASTER_FORMATS:
        _check_pixels(fig, dpi)
    if fmt == "svg":
        with matplotlib.rc_context({"svg.hashsalt": "tapegrad", "svg.fonttype": "path"}):
            fig.savefig(out, format="svg", metadata={"Date": None})
    elif fmt == "pdf":
        fig.savefig(out, format="pdf", metadata={"CreationDate": None, "ModDate": None})
    elif fmt == "gif":
        _rgb_image(fig, dpi).save(out, format="GIF")
    else:
        fig.savefig(out, format=fmt, dpi=dpi)
    return out.getvalue()


def _rgb_image(fig, dpi: float):
    """``fig`` painted at ``dpi`` as a PIL image in RGB (a GIF's frame)."""
    from PIL import Image

    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi)
    return Image.open(io.BytesIO(png.getvalue())).convert("RGB")


def save_sequence(figures, fmt: str, *, dpi: float | None = None, seconds: float = 1.5) -> bytes:
    """Several figures as one multi-page PDF (``fmt="pdf"``, vector, a page each) or
    one animated GIF (``fmt="gif"``, frames of ``seconds`` each, looping; frames of
    different sizes are centred on a white canvas of the largest)."""
    out = io.BytesIO()
    if fmt == "pdf":
        from matplotlib.backends.backend_pdf import PdfPages

        with PdfPages(out, metadata={"CreationDate": None, "ModDate": None}) as pdf:
            for fig in figures:
                pdf.savefig(fig)
        return out.getvalue()
    if fmt != "gif":
        raise ValueError(f"a sequence is a pdf or a gif, got {fmt!r}")
    from PIL import Image

    dpi = DEFAULT_DPI if dpi is None else dpi
    for fig in figures:
        _check_pixels(fig, dpi)
    frames = [_rgb_image(fig, dpi) for fig in figures]
    w = max(f.width for f in frames)
    h = max(f.height for f in frames)
    canvas = []
    for f in frames:
        page = Image.new("RGB", (w, h), "white")
        page.paste(f, ((w - f.width) // 2, (h - f.height) // 2))
        canvas.append(page)
    canvas[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=canvas[1:],
        duration=int(seconds * 1000),
        loop=0,
    )
    return out.getvalue()
