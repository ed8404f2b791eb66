"""The options of a drawing, checked once: :class:`DrawOptions`.

:func:`tapegrad.engine.draw` takes a dozen keyword arguments (view, direction,
theme, which scopes collapse, the backprop step, ...). They are gathered here into
one frozen object whose constructor checks every one of them -- its type and its
value, each error naming the argument -- so the rest of the drawing code reads
options that are known to be good. What can only be checked against a graph (a
label that names no Value, a step past the last one) is checked where the graph is
read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .themes import THEMES
from .wrap import check_wrap

__all__ = [
    "DEFAULT_MAX_NODES",
    "RANKDIRS",
    "VIEWS",
    "DrawOptions",
    "check_look",
    "check_collapse",
]

VIEWS = ("values", "blocks")
RANKDIRS = ("LR", "RL", "TB", "BT")
DEFAULT_MAX_NODES = 2000


def check_look(rankdir: object, theme: object) -> None:
    """Raise ValueError naming a ``rankdir`` or ``theme`` that does not exist."""
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {tuple(THEMES)}, got {theme!r}")


def check_collapse(collapse: object) -> None:
    """Raise TypeError or ValueError unless ``collapse`` is None, a bool, a depth
    (int >= 0), a scope name or path (str) or a list of them."""
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


def _check_flag(flag: object, name: str) -> None:
    if flag is not None and not isinstance(flag, bool):
        raise TypeError(f"{name} must be True or False, got {flag!r}")


@dataclass(frozen=True)
class DrawOptions:
    """Every option of :func:`tapegrad.engine.draw` (see there for their meaning),
    checked when made: TypeError or ValueError names the first bad one.

    ``observed``, ``params`` and ``costs`` are kept as given (Values, labels or a
    module); :mod:`tapegrad.engine.drawing.select` reads them against the graph.
    ``show_params`` None means the view's default (yes for values, no for blocks):
    :attr:`shows_params` is the answer. ``rankdir`` None: chosen to fit a slide
    (:mod:`~tapegrad.engine.drawing.fit`); ``wrap`` None: folded onto several rows
    when too long for a slide (:mod:`~tapegrad.engine.drawing.wrap`).
    """

    view: str = "values"
    rankdir: str | None = None
    theme: str = "light"
    collapse: object = None
    step: int | None = None
    derivative: bool | str = False
    show_params: bool | None = None
    observed: object = None
    params: object = None
    costs: object = None
    max_nodes: int | None = DEFAULT_MAX_NODES
    wrap: bool | int | None = None

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {self.view!r}")
        check_look("LR" if self.rankdir is None else self.rankdir, self.theme)
        check_collapse(self.collapse)
        check_wrap(self.wrap)
        max_nodes = self.max_nodes
        if max_nodes is not None and (
            isinstance(max_nodes, bool) or not isinstance(max_nodes, int)
        ):
            raise TypeError(f"max_nodes must be an int or None, got {max_nodes!r}")
        d = self.derivative
        if not (d is None or isinstance(d, bool) or (isinstance(d, str) and d == "all")):
            raise TypeError(f"derivative must be True, False or 'all', got {d!r}")
        _check_flag(self.show_params, "show_params")
        step = self.step
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise TypeError(f"step must be an int, got {type(step).__name__}: {step!r}")

    @property
    def colors(self) -> dict:
        """The theme's colours and styles (``THEMES``)."""
        return THEMES[self.theme]

    @property
    def shows_params(self) -> bool:
        """Whether parameters are drawn as side inputs."""
        return self.view == "values" if self.show_params is None else self.show_params

    @property
    def collapses(self) -> bool:
        """Whether any scope may be drawn as one block."""
        return self.collapse is not None and self.collapse is not False
