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


#: The colours of the two themes, side by side: ``(light, dark)``. A kind of element
#: (observed, computed, function, cost) has a stroke and, when it is filled, a fill
#: (None: unfilled).
_PALETTE = {
    "background": ("#ffffff", "#000000"),
    "text": ("#000000", "#f0f0f0"),  # text, lines and arrows
    "observed": ("#000000", "#fccde5"),
    "observed fill": ("#dddddd", "#282828"),
    "computed": ("#9999ff", "#b3de69"),
    "computed fill": ("#ffffff", None),
    "function": ("#6666ff", "#bebada"),
    "function fill": ("#ffffff", None),
    "cost": ("#ff3333", "#fb8072"),
    "cost fill": ("#ffe1e1", None),
    "param": ("#888888", "#d9d9d9"),  # a parameter's dashed outline
    "arrow width": ("2.5", "1"),
    "cluster": ("#aaaaaa", "#595959"),
    "cluster text": ("#555555", "#d9d9d9"),
    "highlight": ("#ff7f00", "#fdb462"),  # the edge of a backprop step
    "dense": ("#8c8c8c", "#777777"),  # the thin edges of a dense layer
    "done": ("#e5f5e0", "#1f3d1f"),  # a gradient that is final
    "grad": ("#31a354", "#8dd3c7"),  # the derivative network
}


def _theme(colours: dict) -> dict:
    """A theme's styles from its colours (one column of :data:`_PALETTE`)."""
    text = colours["text"]

    def element(kind: str) -> dict:
        fill = colours[kind + " fill"]
        if fill is None:
            return {"style": "solid", "color": colours[kind], "penwidth": "3"}
        return {"style": "filled", "fillcolor": fill, "color": colours[kind], "penwidth": "3"}

    return {
        "background": colours["background"],
        "text": text,
        **{kind: element(kind) for kind in ("observed", "computed", "function", "cost")},
        "param": {"style": "dashed", "color": colours["param"], "penwidth": "2"},
        "arrow": {"color": text, "penwidth": colours["arrow width"], "arrowhead": "normal"},
        "record": {"color": text, "fontcolor": text},
        "op": {"color": text, "fontcolor": text},
        "value_arrow": {"color": text},
        "cluster": {"color": colours["cluster"], "fontcolor": colours["cluster text"]},
        **{key: colours[key] for key in ("highlight", "dense", "done", "grad")},
    }


LIGHT = _theme({name: pair[0] for name, pair in _PALETTE.items()})
DARK = _theme({name: pair[1] for name, pair in _PALETTE.items()})

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
