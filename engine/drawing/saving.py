"""Saving drawings: :func:`save_graph` (one picture), :func:`save_steps` (a picture per step).

The format follows the file's extension. DOT text needs no Graphviz; images are laid
out by Graphviz and painted by :mod:`tapegrad.engine._render`.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence

import graphviz

from .. import Value, _render
from .entry import draw, step_captions
from .stepping import step_of
from .text import caption_label
from .webpage import steps_page

__all__ = [
    "FORMATS",
    "STEP_WRITERS",
    "save_graph",
    "save_steps",
    "common_canvas",
    "check_size",
]

FORMATS = {
    ".svg": "svg",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".pdf": "pdf",
    ".gif": "gif",
    ".dot": "dot",
    ".gv": "dot",
    ".html": "html",
}


def _path_and_format(path) -> tuple[pathlib.Path, str]:
    """``path`` as a Path and the output format its extension names.

    Raises TypeError for anything but a str or a Path, ValueError for an unknown
    extension."""
    if not isinstance(path, (str, pathlib.PurePath)):
        raise TypeError(f"path must be a str or a Path, got {type(path).__name__}")
    path = pathlib.Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the format of {str(path)!r} from its extension; use one of "
            f"{', '.join(FORMATS)}"
        )
    return path, fmt


def save_graph(
    what: Value | Sequence[Value] | graphviz.Digraph,
    path,
    *,
    dpi: float | None = None,
    scale: float = 1.0,
    **draw_options,
):
    """Write a drawing to ``path``, the format chosen by its extension.

    ``what`` is a drawing from :func:`draw` (or any ``graphviz`` graph) or a Value,
    drawn with ``draw_options``. ``.dot``/``.gv`` write the DOT text and need no
    Graphviz; ``.svg``, ``.pdf`` (vector), ``.png``, ``.jpg``, ``.gif`` are laid out by
    Graphviz and painted by tapegrad (pip alone is enough). ``dpi`` (raster formats,
    default 150) sets the pixels per inch: a slide 10 inches wide at 200 dpi wants
    2000 pixels. ``scale`` enlarges the whole drawing, text and lines alike.
    Returns the path written.
    """
    path, fmt = _path_and_format(path)
    if fmt == "html":
        raise ValueError(
            f"{str(path)!r}: an .html page shows every backprop step, so it is written by "
            "save_steps(root, path); save_graph writes one picture (.svg, .png, .pdf, ...)"
        )
    dpi, scale = check_size(dpi, scale)
    if isinstance(what, (graphviz.Digraph, graphviz.Graph, graphviz.Source)):
        if draw_options:
            raise TypeError("drawing options go with a Value, not with an already drawn graph")
        graph = what
    else:
        graph = draw(what, **draw_options)
    if fmt == "dot":
        path.write_text(graph.source, encoding="utf-8")
        return path
    path.write_bytes(_render.render(graph.source, fmt, dpi=dpi, scale=scale))
    return path


def save_steps(
    root: Value,
    path,
    *,
    dpi: float | None = None,
    scale: float = 1.0,
    caption: bool = True,
    title: str | None = None,
    **draw_options,
) -> list[pathlib.Path]:
    """Export backprop through ``root`` as a sequence, one picture per chain-rule step.

    The extension of ``path`` picks the form:

    * ``.pdf``: one multi-page vector PDF, a page per step (a slide per step);
    * ``.gif``: one animated GIF, a frame per step (1.5 s each, looping);
    * ``.html``: one self-contained web page, every step's picture as inline SVG with
      its caption as text, a slider and buttons; it needs no network and no kernel
      (:mod:`~tapegrad.engine.drawing.webpage`);
    * ``.svg``, ``.png``, ``.jpg``, ``.dot``: numbered files ``name_00.png``,
      ``name_01.png``, ... next to ``path``.

    Each picture is ``draw(root, step=k, **draw_options)`` with, if ``caption``, the
    step in the lecture's words on top (``dc/ds += dc/dz · h'(s) = ...``; on the page,
    as text above the picture). ``dpi`` and ``scale`` as in :func:`save_graph`.
    ``title`` is the heading of an ``.html`` page (default ``Backprop step by step:``
    and the root's label); TypeError with another format. No ``.grad`` changes.
    Returns the paths written.
    """
    if not isinstance(root, Value):
        raise TypeError(f"save_steps expects a Value, got {type(root).__name__}")
    path, fmt = _path_and_format(path)
    if "step" in draw_options:
        raise TypeError("save_steps draws every step; use save_graph(root, path, step=k) for one")
    if title is not None and (fmt != "html" or not isinstance(title, str)):
        raise TypeError(f"title is the heading of an .html page (a str), got {title!r} for .{fmt}")
    size = check_size(dpi, scale)
    if root.is_leaf:
        raise ValueError(f"{root!r} is a leaf: there is no backward step to draw")
    texts = step_captions(root, **draw_options)
    captions = [f"{step_of(k, len(texts))}: {text}" for k, text in enumerate(texts)]
    frames = []
    for k, text in enumerate(captions):
        g = draw(root, step=k, **draw_options)
        if caption and fmt != "html":  # the page writes its captions as text
            g.attr(label=caption_label(text), labelloc="t")
            g.attr(fontsize="16")
        frames.append(g)
    if fmt == "html":
        captions = captions if caption else [step_of(k, len(texts)) for k in range(len(texts))]
        if title is None:
            title = f"Backprop step by step: {root.label}" if root.label else "Backprop steps"
        return _page(frames, captions, title, path, size[1])
    write = STEP_WRITERS.get(fmt, _numbered_files)
    return write(frames, path, fmt, *size)


def _sequence(frames: list, path: pathlib.Path, fmt: str, dpi, scale) -> list[pathlib.Path]:
    """One file of every frame on one canvas: a multi-page PDF or an animated GIF."""
    with _render.own_style():
        figures = _painted(frames, scale)
        path.write_bytes(_render.save_sequence(figures, fmt, dpi=dpi))
    return [path]


def _page(frames: list, captions: list[str], title: str, path: pathlib.Path, scale):
    """One HTML page of every frame on one canvas, each painted as the .svg files are."""
    with _render.own_style():
        pictures = [_render.save_figure(f, "svg").decode("utf-8") for f in _painted(frames, scale)]
    path.write_text(steps_page(pictures, captions, title=title), encoding="utf-8")
    return [path]


def _painted(frames: list, scale: float) -> list:
    """The frames laid out on one canvas and painted as figures of one size (inside
    own_style)."""
    layouts = common_canvas([_render.layout(g.source) for g in frames])
    return _render.figures(layouts, scale=scale)


def _numbered_files(frames: list, path: pathlib.Path, fmt: str, dpi, scale) -> list[pathlib.Path]:
    """A file per frame, numbered from 00 next to ``path``; images all of one size,
    the nodes in the same place in each."""
    width = max(len(str(len(frames) - 1)), 2)
    paths = [path.with_name(f"{path.stem}_{k:0{width}d}{path.suffix}") for k in range(len(frames))]
    if fmt == "dot":
        for out, g in zip(paths, frames, strict=True):
            out.write_text(g.source, encoding="utf-8")
        return paths
    with _render.own_style():
        for out, fig in zip(paths, _painted(frames, scale), strict=True):
            out.write_bytes(_render.save_figure(fig, fmt, dpi=dpi))
    return paths


#: How :func:`save_steps` writes each format that is not one file per step:
#: ``writer(frames, path, fmt, dpi, scale) -> paths written``, ``frames`` the
#: captioned drawings of every step. A new sequence format is one entry here (and its
#: extension in ``FORMATS``).
STEP_WRITERS = {"pdf": _sequence, "gif": _sequence}


def common_canvas(layouts: list[dict]) -> list[dict]:
    """Give every frame of a sequence one canvas, with its nodes where they are in the
    first frame. Graphviz moves the whole drawing when a step's note (an ``xlabel``)
    or caption makes its bounding box grow, so frames of different sizes would shift
    the picture from page to page or frame to frame."""

    def positions(graph: dict) -> dict[str, tuple[float, ...]]:
        return {
            o["name"]: tuple(float(v) for v in o["pos"].split(","))
            for o in graph.get("objects", [])
            if "pos" in o
        }

    first = positions(layouts[0])
    shifts = []
    for graph in layouts:
        here = positions(graph)
        anchor = next((name for name in first if name in here), None)
        if anchor is None:
            return layouts
        shifts.append((here[anchor][0] - first[anchor][0], here[anchor][1] - first[anchor][1]))
    boxes = []
    for graph, (dx, dy) in zip(layouts, shifts, strict=True):
        x0, y0, x1, y1 = (float(v) for v in graph["bb"].split(","))
        boxes.append((x0 - dx, y0 - dy, x1 - dx, y1 - dy))
    union = (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
    for graph, (dx, dy) in zip(layouts, shifts, strict=True):
        graph["bb"] = f"{union[0] + dx},{union[1] + dy},{union[2] + dx},{union[3] + dy}"
    return layouts


def check_size(dpi: object, scale: object) -> tuple[float | None, float]:
    """``(dpi, scale)`` as floats (``dpi`` None: the painter's default); TypeError
    for a non-number, ValueError for one that is not positive or a dpi past 2400."""
    dots = None if dpi is None else _positive(dpi, "dpi")
    times = _positive(scale, "scale")
    if dots is not None and dots > 2400:
        raise ValueError(f"dpi must be at most 2400, got {dpi!r}")
    return dots, times


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}: {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)
