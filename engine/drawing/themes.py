"""The look of a drawing: the course's colours, and the styles of its elements.

The light theme is the course's week-2 figures, colours read off them (see
NOTATION.md); the dark one is the course site from 2021 on (ColorBrewer Set3), which
also colours variables by their letter: x pink, y blue, z orange, h green, ỹ (a
prediction) purple.

A function block is a box in the DOT text (what any Graphviz draws) of ``class``
``tg-function``; tapegrad's painter (:mod:`tapegrad.engine._render`) draws it as the
course's D, round side downstream. Its margin leaves room for the round side along
the flow.
"""

from __future__ import annotations

import unicodedata

from .. import _render
from .image import GraphDrawing

__all__ = [
    "LIGHT",
    "DARK",
    "THEMES",
    "FUNCTION_MARGIN",
    "SIDE",
    "letter",
    "new_graph",
    "circle_style",
    "function_style",
    "variable_style",
]

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

# The dark theme's colour of a variable by its letter.
_DARK_OBSERVED = {"y": "#80b1d3"}
_DARK_COMPUTED = {"z": "#fdb462", "h": "#b3de69", "y": "#bc80bd"}

FUNCTION_MARGIN = {"LR": "0.32,0.08", "RL": "0.32,0.08", "TB": "0.16,0.2", "BT": "0.16,0.2"}
#: The side a parameter comes into its function from, per direction of flow.
SIDE = {"LR": "n", "RL": "n", "BT": "w", "TB": "w"}


def letter(label: str) -> str:
    """The base letter of a label: ``ȳ`` and ``ỹ`` are y, ``x1`` is x."""
    return unicodedata.normalize("NFKD", label)[:1].lower()


def new_graph(name: str, rankdir: str, t: dict) -> GraphDrawing:
    """An empty drawing with the direction, background and text colour of theme ``t``."""
    g = GraphDrawing(name=name, format="svg")
    g.attr(rankdir=rankdir, bgcolor=t["background"], fontcolor=t["text"], fontname="Helvetica")
    g.attr("node", fontname="Helvetica", fontcolor=t["text"])
    return g


def circle_style(t: dict, observed: bool) -> dict:
    """A variable's circle in theme ``t``: observed (shaded) or computed (hollow)."""
    return {"shape": "circle", "fontcolor": t["text"], **t["observed" if observed else "computed"]}


def function_style(t: dict, rankdir: str, reverse: bool = False) -> dict:
    """A function block: a box in DOT, painted as a D (``class`` tg-function);
    ``reverse`` turns the D round (the mirrored derivative network)."""
    classes = _render.D_CLASS + (" " + _render.REVERSE_CLASS if reverse else "")
    attrs = {"shape": "box", **t["function"], "margin": FUNCTION_MARGIN[rankdir]}
    return {**attrs, "class": classes, "fontcolor": t["text"]}


def variable_style(t: dict, label: str, kind: str) -> dict:
    """A variable's circle: ``kind`` is ``"param"``, ``"observed"`` or ``"computed"``;
    the dark theme colours observed and computed variables by their letter."""
    style = dict(t[kind])
    if t is DARK and kind != "param":
        colours = _DARK_OBSERVED if kind == "observed" else _DARK_COMPUTED
        style["color"] = colours.get(letter(label), style["color"])
    return {"shape": "circle", "fontcolor": t["text"], **style}
