"""Pictures of training: decision regions, learning curves, mistakes, loss landscapes.

Every function draws on a matplotlib ``Axes`` (``ax=``, or a new figure when it is
None) and returns it, so a notebook composes them with ``plt.subplots``; nothing
here calls ``plt.show()`` or saves a file, except :func:`training_figure`, which
returns a whole ``Figure`` (what ``tapegrad train --plot`` saves).

* :func:`decision_regions` -- the class a model predicts at every point of the
  plane, the boundary between classes, and the data, one colour and marker per
  class, with a legend;
* :func:`decision_line` -- the line ``b + w₀x₀ + w₁x₁ = 0`` of a linear unit, now or
  at any step of ``fit(..., record_parameters=True)``;
* :func:`learning_curves` -- the loss of one or several :class:`~tapegrad.nn.History`
  per epoch, per update, or both;
* :func:`mistakes` -- the samples misclassified in each epoch: the perceptron's
  story (it learns only from its mistakes, and stops when there are none);
* :func:`loss_contours` -- a two-parameter loss landscape as labelled contours;
* :func:`state_image` -- a state of ±1 units as a picture (Hopfield patterns);
* :func:`training_figure` -- the three panels ``tapegrad train --plot`` saves.

Classes are drawn with the Okabe-Ito colours (distinguishable with every common
colour-vision deficiency) and a different marker each, so they also survive
printing in grey.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tapegrad import engine

from .data import check_dataset
from .train import History

__all__ = [
    "CLASS_COLORS",
    "decision_grid",
    "decision_regions",
    "decision_line",
    "learning_curves",
    "mistakes",
    "loss_contours",
    "state_image",
    "training_figure",
    "decision_boundary_example",
]

#: One colour per class (Okabe & Ito's palette, without its yellow and black).
CLASS_COLORS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C564B")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _axes(ax: Any, figsize: tuple[float, float] = (5.0, 4.2)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _tint(color: str, amount: float) -> tuple[float, float, float]:
    """``color`` mixed with white: ``amount`` 0 keeps it, 1 is white."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(color)
    return (r + (1.0 - r) * amount, g + (1.0 - g) * amount, b + (1.0 - b) * amount)


def _class_label(c: object, signed: bool) -> str:
    """``class −1`` / ``class +1`` for signed labels (a real minus sign), else ``class 2``."""
    if signed and isinstance(c, numbers.Real):
        return f"class {'−' if c < 0 else '+'}{abs(c):g}"
    return f"class {c}"


def decision_grid(
    model: Callable,
    X: Sequence[Sequence[float]],
    y: Sequence,
    *,
    grid: int = 60,
    padding: float = 0.2,
) -> tuple[Any, Any, Any, list]:
    """Run ``model`` on a ``grid × grid`` lattice over the data (replaying one recorded
    forward pass when its graph cannot depend on the numbers; see :func:`_evaluator`).

    Returns ``(gx, gy, margins, labels)``: the lattice's coordinates (1-D numpy
    arrays covering the data plus ``padding`` times its extent on each side),
    ``margins[k, j, i]`` -- how far the class ``labels[k]`` wins at
    point ``(gx[i], gy[j])``: its score minus the best other class's. The predicted
    class is the one with a positive margin, and each boundary is a zero contour,
    which matplotlib interpolates smoothly between lattice points. A model with one
    output ``s`` has margins ``−s`` (the smaller class) and ``s`` (the larger one,
    predicted where ``s > 0``, as :func:`tapegrad.nn.accuracy` counts); a model with
    ``K`` outputs scores the classes ``0..K−1``.

    Raises ``ValueError`` when the points are not 2-D, ``grid < 2``, or a model
    with several outputs has fewer outputs than the labels need.
    """
    import numpy as np

    X, y = check_dataset(X, y)
    if any(len(p) != 2 for p in X):
        raise ValueError("decision regions are drawn for 2-D inputs: every point needs 2 numbers")
    if isinstance(grid, bool) or not isinstance(grid, numbers.Integral) or grid < 2:
        raise ValueError(f"grid must be an int >= 2, got {grid!r}")
    classes = sorted(set(y))
    xs = np.array([p[0] for p in X], dtype=float)
    ys = np.array([p[1] for p in X], dtype=float)
    span = max(np.ptp(xs), np.ptp(ys), 1e-9)
    gx = np.linspace(xs.min() - padding * span, xs.max() + padding * span, grid)
    gy = np.linspace(ys.min() - padding * span, ys.max() + padding * span, grid)

    with engine.no_grad():
        first = model([float(gx[0]), float(gy[0])])
    single_output = isinstance(first, (engine.Value, numbers.Real))
    outputs = 1 if single_output else len(first)
    if single_output:
        if len(classes) > 2:
            raise ValueError(
                f"a model with one output separates two classes, but the labels are {classes}"
            )
        labels = [classes[0], classes[-1]] if len(classes) == 2 else list(_pair(classes[0]))
    else:
        labels = list(range(outputs))
        if any(c not in labels for c in classes):
            raise ValueError(
                f"a model with {outputs} outputs scores the classes 0..{outputs - 1}, but "
                f"the labels are {classes}"
            )
    outputs_at = _evaluator(model)
    scores = np.zeros((len(labels), grid, grid))
    for j, yv in enumerate(gy):
        for i, xv in enumerate(gx):
            out = outputs_at(float(xv), float(yv))
            scores[:, j, i] = [-out[0], out[0]] if single_output else out
    margins = np.empty_like(scores)
    for k in range(scores.shape[0]):
        margins[k] = scores[k] - np.delete(scores, k, axis=0).max(axis=0)
    return gx, gy, margins, labels


def _static_graph(model: object) -> bool:
    """Whether ``model``'s graph has the same shape for every input (no ``if`` on
    the numbers): then one recorded forward pass can be replayed on the whole grid."""
    from .classic import LinearUnit
    from .layers import MLP, Layer, Neuron

    return type(model) in (MLP, Layer, Neuron) or isinstance(model, LinearUnit)


def _evaluator(model: Callable) -> Callable[[float, float], list[float]]:
    """``(x₀, x₁) -> the model's outputs as floats``. For a model whose graph cannot
    depend on the numbers (:func:`_static_graph`), the forward pass is recorded once
    and replayed (:func:`tapegrad.engine.compile` with no gradients; measured 24×
    faster on a 2-16-16-3 MLP); otherwise the model runs under ``no_grad``."""

    def plain(xv: float, yv: float) -> list[float]:
        with engine.no_grad():
            out = model([xv, yv])
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [o.data if isinstance(o, engine.Value) else float(o) for o in outs]

    if not _static_graph(model):
        return plain
    point = [engine.Value(0.0), engine.Value(0.0)]

    def traced() -> tuple:
        out = model(point)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        return sum(outs[1:], outs[0]), outs

    try:
        step = engine.compile(traced, wrt=[])
    except engine.ReplayError:  # an op replay cannot run: evaluate plainly
        return plain

    def replayed(xv: float, yv: float) -> list[float]:
        point[0].data, point[1].data = xv, yv
        return list(step()[1])

    return replayed


def _pair(c: object) -> tuple[object, object]:
    """The two classes of a one-output model when the data holds only class ``c``."""
    if c == 0:
        return 0, 1
    return (-1, 1) if c in (-1, 1) else (c, c)


def decision_regions(
    model: Callable,
    X: Sequence[Sequence[float]],
    y: Sequence,
    ax: Any = None,
    *,
    grid: int = 60,
    padding: float = 0.2,
    class_names: Mapping | None = None,
    title: str | None = None,
    legend: bool = True,
) -> Any:
    """Draw the class ``model`` predicts over the plane, its boundaries, and the data.

    ``X`` holds 2-D points, ``y`` their labels: two classes (``±1`` or ``0/1``) for
    a model with one output, whose sign is the class (the larger label where
    ``out > 0``); or class indices ``0..K−1`` for a model with ``K`` outputs (the
    largest wins). The model runs on a ``grid × grid`` lattice (:func:`decision_grid`:
    ``grid²`` forward passes, replayed from one recorded pass for an MLP or a
    classic unit, about 0.05 s at the default 60); regions and boundaries are
    interpolated between lattice points, so they come out smooth. Regions are light
    tints of the class colours, boundaries black lines, the points full colours with
    one marker per class;
    ``class_names`` maps a label to its legend entry (default ``class −1``,
    ``class +1``, or ``class 0``, ``class 1``, ...).

    Raises ``ValueError`` when the points are not 2-D, ``grid < 2``, or there are
    more than 7 classes.
    """
    import numpy as np

    X, y = check_dataset(X, y)
    gx, gy, margins, labels = decision_grid(model, X, y, grid=grid, padding=padding)
    if len(labels) > len(CLASS_COLORS):
        raise ValueError(f"at most {len(CLASS_COLORS)} classes can be drawn, got {len(labels)}")
    ax = _axes(ax)
    colors = [CLASS_COLORS[k] for k in range(len(labels))]
    for k in range(margins.shape[0]):
        ax.contourf(gx, gy, margins[k], levels=[0.0, np.inf], colors=[_tint(colors[k], 0.72)])
    for k in range(margins.shape[0]):
        if margins[k].min() < 0 < margins[k].max():
            ax.contour(gx, gy, margins[k], levels=[0.0], colors="k", linewidths=1.0)
    names = dict(class_names or {})
    signed = any(isinstance(c, numbers.Real) and c < 0 for c in labels)
    xs = np.array([p[0] for p in X], dtype=float)
    ys = np.array([p[1] for p in X], dtype=float)
    for c in sorted(set(y)):
        k = labels.index(c)
        chosen = [i for i, label in enumerate(y) if label == c]
        ax.scatter(
            xs[chosen],
            ys[chosen],
            s=30,
            c=CLASS_COLORS[k],
            marker=_MARKERS[k],
            edgecolors="k",
            linewidths=0.6,
            label=names.get(c, _class_label(c, signed)),
            zorder=3,
        )
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.set_xlabel("x₀")
    ax.set_ylabel("x₁")
    if title is not None:
        ax.set_title(title)
    if legend:
        corner, covered = _emptiest_corner(xs, ys, (gx[0], gx[-1]), (gy[0], gy[-1]), len(set(y)))
        if covered == 0:
            ax.legend(loc=corner, framealpha=0.9, fontsize="small")
        else:  # every corner holds data: put the legend beside the axes
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    return ax


def _emptiest_corner(xs: Any, ys: Any, xlim: tuple, ylim: tuple, entries: int) -> tuple[str, int]:
    """The corner of the axes whose legend-sized box covers the fewest data points,
    and how many it covers.
    (matplotlib's ``loc="best"`` also avoids the filled regions, which cover the whole
    axes, and so may put the legend on top of the points.)"""
    u = (xs - xlim[0]) / (xlim[1] - xlim[0])  # axes fractions
    v = (ys - ylim[0]) / (ylim[1] - ylim[0])
    width, height = 0.3, 0.05 + 0.065 * entries
    boxes = {
        "upper right": (u > 1 - width) & (v > 1 - height),
        "upper left": (u < width) & (v > 1 - height),
        "lower left": (u < width) & (v < height),
        "lower right": (u > 1 - width) & (v < height),
    }
    best = min(boxes, key=lambda corner: int(boxes[corner].sum()))
    return best, int(boxes[best].sum())


def decision_line(
    model: Any, ax: Any = None, *, parameters: Sequence[float] | None = None, **line_kwargs: Any
) -> Any:
    """Draw the decision line ``b + w₀x₀ + w₁x₁ = 0`` of a linear unit with two inputs
    (:class:`~tapegrad.nn.Perceptron`, :class:`~tapegrad.nn.Adaline`,
    :class:`~tapegrad.nn.LogisticRegression`) across the axes' current x range.

    ``parameters`` -- the values in ``model.parameters()`` order (``w₀, w₁, b``), for
    instance ``history.parameters[k]`` after ``fit(..., record_parameters=True)``:
    the line before update ``k``; None uses the model's current weights. Extra
    keywords go to ``ax.plot`` (``color=``, ``label=``, ...). A unit with
    ``w₁ = 0`` draws a vertical line; with ``w₀ = w₁ = 0`` there is no line and
    nothing is drawn. Returns the axes.
    """
    names = [name for name, _ in model.named_parameters()]
    if sorted(names) != ["b", "w.0", "w.1"]:
        raise ValueError(
            f"decision_line needs a linear unit with 2 inputs (w.0, w.1, b), got {names}"
        )
    values = [p.data for p in model.parameters()] if parameters is None else list(parameters)
    if len(values) != 3:
        raise ValueError(f"parameters must hold 3 numbers (w0, w1, b), got {len(values)}")
    weights = dict(zip(names, (float(v) for v in values)))
    w0, w1, b = weights["w.0"], weights["w.1"], weights["b"]
    ax = _axes(ax)
    x_lo, x_hi = ax.get_xlim()
    if w1 != 0.0:
        ax.plot([x_lo, x_hi], [-(b + w0 * x_lo) / w1, -(b + w0 * x_hi) / w1], **line_kwargs)
    elif w0 != 0.0:
        ax.axvline(-b / w0, **line_kwargs)
    ax.set_xlim(x_lo, x_hi)
    return ax


def _histories(histories: History | Mapping[str, History]) -> dict[str, History]:
    if isinstance(histories, History):
        return {"": histories}
    if not isinstance(histories, Mapping) or not all(
        isinstance(h, History) for h in histories.values()
    ):
        raise TypeError("expected a History or a dict of name -> History (from nn.fit)")
    if not histories:
        raise ValueError("no histories to draw")
    return dict(histories)


_PER = ("epoch", "update", "both")


def learning_curves(
    histories: History | Mapping[str, History],
    ax: Any = None,
    *,
    per: str = "both",
    log: bool | None = None,
    title: str | None = None,
) -> Any:
    """Plot the training loss of one or several histories (a dict name -> History).

    The x axis is time in epochs, so runs with different batch sizes line up at
    equal numbers of samples seen (the lecture's comparison of full batch, SGD and
    mini-batches). ``per="update"``: the loss of every update's batch, at
    ``samples_seen / dataset_size`` (noisy for small batches: each point is one
    batch); ``"epoch"``: the average over each epoch, at its end; ``"both"``
    (default): the updates thin and faint, the epochs as markers on a line, one
    colour and one legend entry per history (the legend's title says which is
    which). ``log`` -- a log y axis; None chooses one when the losses are positive
    and span more than two decades. Returns the axes.
    """
    runs = _histories(histories)
    if per not in _PER:
        raise ValueError(f"per must be one of {', '.join(_PER)}; got {per!r}")
    ax = _axes(ax, (6.0, 4.0))
    values: list[float] = []
    for k, (name, h) in enumerate(runs.items()):
        color = f"C{k % 10}"
        n = h.dataset_size or 1
        if per in ("update", "both") and h.update_loss:
            xs = [s / n for s in h.samples_seen]
            ax.plot(
                xs,
                h.update_loss,
                color=color,
                linewidth=0.8 if per == "both" else 1.2,
                alpha=0.35 if per == "both" else 1.0,
                label="_nolegend_" if per == "both" else (name or "loss"),
            )
            values += h.update_loss
        if per in ("epoch", "both"):
            xs = list(range(1, h.epochs + 1))
            ax.plot(
                xs,
                h.loss,
                "o-",
                color=color,
                markersize=3.5,
                linewidth=1.5,
                label=name or "loss",
            )
            values += h.loss
    finite = [v for v in values if math.isfinite(v)]
    if log is None:
        positive = [v for v in finite if v > 0]
        log = len(positive) == len(finite) > 0 and max(positive) > 100 * min(positive)
    if log:
        ax.set_yscale("log")
    elif finite and min(finite) >= 0:
        ax.set_ylim(bottom=0, top=max(max(finite) * 1.05, 1e-3))
    ax.set_xlabel("epochs (samples seen / dataset size)")
    ax.set_ylabel("training loss")
    ax.set_title(title if title is not None else "Learning curve")
    legend_title = {
        "update": "each update's batch",
        "epoch": "average over each epoch",
        "both": "faint: each update's batch; dots: epoch averages",
    }[per]
    ax.legend(fontsize="small", title=legend_title, title_fontsize="small")
    return ax


_MANY_EPOCHS = 60  # beyond this, mistakes per epoch is one filled outline, not bars


def _label_bars(ax: Any, bars: Any) -> None:
    """Write each count on its bar, so an epoch of 0 shows as "0": level when the
    labels fit side by side, turned upright when only that fits, and not at all when
    neither does (the ticks still read the counts). Fitting is measured on the drawn
    labels, after everything else on the axes is set (a constrained layout narrows
    the axes for the title and axis labels), so it holds whatever matplotlib's version
    and fonts; neighbouring labels keep a gap of a tenth of their height."""
    size = 7.0  # points, matplotlib's "x-small" at the default 10 pt
    fig = ax.get_figure()
    for rotation, padding in ((0, 1), (90, 2)):
        labels = ax.bar_label(bars, fontsize=size, padding=padding, rotation=rotation)
        fig.draw_without_rendering()  # settle the layout with the labels in place
        renderer = fig.canvas.get_renderer()
        boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        gap = 0.1 * size * fig.dpi / 72
        if all(left.x1 + gap <= right.x0 for left, right in itertools.pairwise(boxes)):
            return
        for label in labels:
            label.remove()


def mistakes(
    histories: History | Mapping[str, History], ax: Any = None, *, title: str | None = None
) -> Any:
    """Plot the samples misclassified in each epoch (``History.mistakes``): bars for
    one history (each labelled with its count when the labels fit; one filled
    outline past 60 epochs, where bars would be thinner than a pixel), lines with
    markers for several. For a perceptron trained one sample
    at a time this is the number of updates in the epoch; it reaches 0 once the data
    is separated (and never does on XOR). Returns the axes."""
    from matplotlib.ticker import MaxNLocator

    runs = _histories(histories)
    ax = _axes(ax, (5.0, 3.6))
    bars = None
    if len(runs) == 1:
        ((name, h),) = runs.items()
        if h.epochs > _MANY_EPOCHS:
            # Hundreds of bars narrower than a pixel alias into stripes: one outline.
            ax.stairs(
                h.mistakes,
                [e + 0.5 for e in range(h.epochs + 1)],
                fill=True,
                color=CLASS_COLORS[0],
                label=name or None,
            )
        else:
            bars = ax.bar(
                range(1, h.epochs + 1), h.mistakes, color=CLASS_COLORS[0], label=name or None
            )
        if name:
            ax.legend(fontsize="small")
    else:
        for k, (name, h) in enumerate(runs.items()):
            ax.plot(range(1, h.epochs + 1), h.mistakes, "o-", color=f"C{k % 10}", label=name)
        ax.legend(fontsize="small")
    top = max((max(h.mistakes, default=0) for h in runs.values()), default=0)
    ax.set_ylim(0, max(top, 1) * 1.15)
    if top == 0:
        ax.text(0.5, 0.5, "no mistakes in any epoch", transform=ax.transAxes, ha="center")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("misclassified samples")
    ax.set_title(title if title is not None else "Mistakes per epoch")
    if bars is not None:
        _label_bars(ax, bars)  # last: it measures the labels in the final layout
    return ax


def loss_contours(
    xs: Any,
    ys: Any,
    values: Any,
    ax: Any = None,
    *,
    levels: int | Sequence[float] = 10,
    xlabel: str = "w",
    ylabel: str = "b",
    title: str | None = None,
) -> Any:
    """Draw a loss over two parameters as labelled contour lines, the lowest darkest.

    ``xs``, ``ys``, ``values`` -- 2-D arrays as ``numpy.meshgrid`` makes them (the
    first parameter along x). ``levels`` -- explicit loss values, or a count: then
    the levels are spaced geometrically above the minimum (``min + d`` with ``d``
    from 1% to 60% of the range), so the valley gets as many lines as the slopes.
    Every line is labelled with its loss and the grid's minimum is marked. Returns
    the axes.
    """
    import numpy as np

    values = np.asarray(values, dtype=float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    if isinstance(levels, numbers.Integral) and not isinstance(levels, bool):
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        chosen = lo + (hi - lo) * np.geomspace(0.01, 0.6, int(levels))
    else:
        chosen = np.sort(np.asarray(levels, dtype=float))
    ax = _axes(ax, (5.5, 4.5))
    import matplotlib.pyplot as plt

    # plasma from dark purple up to orange: never the pale yellow end, on white
    plasma = plt.colormaps["plasma"]
    colors = [plasma(0.8 * k / max(len(chosen) - 1, 1)) for k in range(len(chosen))]
    lines = ax.contour(xs, ys, values, levels=chosen, colors=colors, linewidths=1.0)
    ax.clabel(lines, fontsize=7, fmt="%.3g", inline_spacing=2)
    j, i = np.unravel_index(np.nanargmin(values), values.shape)
    ax.plot(xs[j, i], ys[j, i], "+", color="k", markersize=10, label="minimum on the grid")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    return ax


def state_image(
    state: Sequence[float], shape: tuple[int, int], ax: Any = None, *, title: str | None = None
) -> Any:
    """Show a state of ``rows × cols`` units in ``[−1, +1]`` as a picture, row by row:
    black for +1, white for −1, greys in between (continuous Hopfield states).
    Raises ``ValueError`` when ``len(state)`` is not ``rows · cols``."""
    rows, cols = shape
    if len(state) != rows * cols:
        raise ValueError(f"a {rows}×{cols} picture needs {rows * cols} units, got {len(state)}")
    ax = _axes(ax, (2.0, 2.0))
    ax.imshow(
        [list(state[r * cols : (r + 1) * cols]) for r in range(rows)],
        cmap="Greys",
        vmin=-1,
        vmax=1,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize="medium")
    return ax


def training_figure(
    model: Callable, X: Sequence, y: Sequence, history: History, *, title: str = ""
) -> Any:
    """The figure ``tapegrad train --plot`` saves: the decision regions over the data,
    the loss per update and per epoch, and the mistakes per epoch. A
    :class:`~tapegrad.nn.Perceptron` gets no loss panel: its criterion is zero
    except on mistakes, and the mistakes per epoch tell its story. Inputs must be
    2-D. Returns the matplotlib ``Figure`` (the caller saves or shows it)."""
    import matplotlib.pyplot as plt

    from .classic import Perceptron

    panels = 2 if isinstance(model, Perceptron) else 3
    fig, grid = plt.subplots(
        1, panels, figsize=(4.6 * panels, 4.2), layout="constrained", squeeze=False
    )
    axes = list(grid[0])
    decision_regions(model, X, y, axes[0], title=title or "decision regions")
    if panels == 3:
        learning_curves(history, axes[1], title="Training loss")
    mistakes(history, axes[-1])
    return fig


def decision_boundary_example(path: str, *, dpi: int = 150, grid: int = 150) -> str:
    """Save the README gallery's decision-boundary picture to ``path`` and return it:
    an MLP ``2 → 16 → 16 → 3`` trained on three spirals of 40 points (Adam, lr 0.02,
    40 epochs of mini-batches of 10, L2 1e-4), drawn by :func:`decision_regions`
    on a ``grid × grid`` lattice. Seeded: the same picture every run."""
    import random

    import matplotlib.pyplot as plt

    from .data import spirals
    from .layers import MLP
    from .train import fit

    X, y = spirals(40, seed=0)
    model = MLP(2, [16, 16, 3], rng=random.Random(0))
    fit(model, X, y, optimizer="adam", lr=0.02, epochs=40, batch_size=10, l2=1e-4, progress=False)
    fig, ax = plt.subplots(figsize=(5.2, 4.6), layout="constrained")
    decision_regions(model, X, y, ax, grid=grid, title="An MLP separates three spirals")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
