"""nn.plot: what each picture shows, checked on the matplotlib artists, and no overlaps."""

import itertools
import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from tapegrad import engine
from tapegrad.nn import (
    MLP,
    History,
    Perceptron,
    blobs,
    fit,
    moons,
    plot,
    spirals,
    xor,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def overlapping_texts(fig):
    """Pairs of visible, non-empty texts whose boxes intersect, after a draw."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()  # tick labels of ticks outside the axis limits are kept but not drawn
    for ax in fig.axes:
        for axis, k, (lo, hi) in ((ax.xaxis, 0, ax.get_xlim()), (ax.yaxis, 1, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for label in axis.get_ticklabels():
                if not lo - 1e-9 <= label.get_position()[k] <= hi + 1e-9:
                    hidden.add(label)
    texts = [
        t
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is fig and t not in hidden
    ]
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    return [
        (a.get_text(), b.get_text())
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
        if box_a.overlaps(box_b) and box_a.width > 0 and box_b.width > 0
    ]


def titles_overlapping_axes(fig):
    """Axes titles (and a suptitle) that cover another axes' drawing area."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    titles = [(ax, ax.title) for ax in fig.axes if ax.get_title()]
    if fig._suptitle is not None:
        titles.append((None, fig._suptitle))
    for owner, title in titles:
        box = title.get_window_extent(renderer)
        for ax in fig.axes:
            if ax is not owner and box.overlaps(ax.get_window_extent(renderer)):
                found.append((title.get_text(), ax.get_title()))
    return found


def luminance(color):
    r, g, b = to_rgb(color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def trained_mlp(X, y, nout=1, epochs=15):
    model = MLP(2, [8, 8, nout], rng=random.Random(0))
    history = fit(
        model, X, y, optimizer="adam", lr=0.05, epochs=epochs, batch_size=10, progress=False
    )
    return model, history


# -- decision regions ------------------------------------------------------------


def test_decision_regions_show_each_class_visibly_with_a_legend():
    X, y = spirals(20, seed=0)
    model, _ = trained_mlp(X, y, nout=3)
    ax = plot.decision_regions(model, X, y, grid=30)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["class 0", "class 1", "class 2"]
    colors = [
        tuple(pc.get_facecolor()[0][:3]) for pc in ax.collections if pc.get_offsets().shape[0] == 20
    ]
    assert len(colors) == 3 and len(set(colors)) == 3
    for c in colors:  # no class drawn white on a pale background
        assert luminance(c) < 0.75, c
    assert not overlapping_texts(ax.figure)


def test_decision_grid_margins_are_the_model_predictions():
    X, y = moons(30, seed=1)
    model, _ = trained_mlp(X, y)
    gx, gy, margins, labels = plot.decision_grid(model, X, y, grid=12)
    assert labels == [-1, 1] and margins.shape == (2, 12, 12)
    with engine.no_grad():
        for j, yv in enumerate(gy):
            for i, xv in enumerate(gx):
                s = model([float(xv), float(yv)]).data
                assert margins[1, j, i] == pytest.approx(2 * s)  # s − (−s)
                assert (margins[1, j, i] > 0) == (s > 0)
    X3, y3 = spirals(10, seed=0)
    model3, _ = trained_mlp(X3, y3, nout=3, epochs=2)
    _, _, margins3, labels3 = plot.decision_grid(model3, X3, y3, grid=5)
    assert labels3 == [0, 1, 2]
    assert ((margins3 > 0).sum(axis=0) <= 1).all()  # at most one class wins a point
    ax = plot.decision_regions(model, X, y, grid=12)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class −1", "class +1"]


def test_decision_regions_refuse_bad_inputs():
    model = MLP(3, [1], rng=random.Random(0))
    with pytest.raises(ValueError, match="2-D inputs: every point needs 2 numbers"):
        plot.decision_regions(model, [[0.0, 1.0, 2.0]], [1])
    model2 = MLP(2, [1], rng=random.Random(0))
    with pytest.raises(ValueError, match="grid must be an int >= 2"):
        plot.decision_regions(model2, [[0.0, 1.0]], [1], grid=1)
    with pytest.raises(ValueError, match="X has 1 samples but y has 0 labels"):
        plot.decision_regions(model2, [[0.0, 1.0]], [])
    with pytest.raises(ValueError, match="one output separates two classes"):
        plot.decision_regions(model2, [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 2])
    with pytest.raises(ValueError, match=r"2 outputs scores the classes 0\.\.1"):
        plot.decision_regions(MLP(2, [2], rng=random.Random(0)), [[0.0, 1.0]], [-1])


def test_decision_line_is_where_the_score_is_zero_and_follows_recorded_parameters():
    X, y = blobs(12, seed=0)
    model = Perceptron(2, init="uniform", rng=random.Random(1))
    history = fit(
        model,
        X,
        y,
        optimizer="sgd",
        lr=0.1,
        epochs=2,
        batch_size=1,
        progress=False,
        record_parameters=True,
    )
    _, ax = plt.subplots()
    ax.set_xlim(-4, 4)
    for k in (0, len(history.parameters) - 1):
        line = plot.decision_line(model, ax, parameters=history.parameters[k]).lines[-1]
        w0, w1, b = history.parameters[k]
        for x0, x1 in zip(*line.get_data()):
            assert b + w0 * x0 + w1 * x1 == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="3 numbers"):
        plot.decision_line(model, ax, parameters=[1.0, 2.0])
    with pytest.raises(ValueError, match="linear unit with 2 inputs"):
        plot.decision_line(MLP(2, [1], rng=random.Random(0)), ax)


# -- learning curves and mistakes ---------------------------------------------------


def test_learning_curves_per_update_and_per_epoch():
    X, y = moons(20, seed=0)
    runs = {}
    for name, batch_size in (("full batch", None), ("SGD", 1), ("mini-batch 5", 5)):
        model = MLP(2, [4, 1], rng=random.Random(0))
        runs[name] = fit(
            model, X, y, optimizer="sgd", lr=0.05, epochs=3, batch_size=batch_size, progress=False
        )
    ax = plot.learning_curves(runs, per="update")
    assert len(ax.lines) == 3
    sgd = ax.lines[1]
    assert list(sgd.get_ydata()) == runs["SGD"].update_loss
    assert sgd.get_xdata()[-1] == pytest.approx(3.0)  # time in epochs
    ax = plot.learning_curves(runs["SGD"], per="both")
    assert len(ax.lines) == 2
    assert list(ax.lines[1].get_ydata()) == runs["SGD"].loss
    assert ax.get_ylim()[0] == 0.0  # a loss axis starts at 0, never a ±0.04 band
    assert not overlapping_texts(ax.figure)
    with pytest.raises(ValueError, match="per must be one of"):
        plot.learning_curves(runs, per="batch")
    with pytest.raises(TypeError, match="History"):
        plot.learning_curves([1, 2])


def test_mistakes_are_bars_of_the_history_counts_with_integer_ticks():
    X, y = xor(40, seed=0)
    model = Perceptron(2)
    history = fit(model, X, y, optimizer="sgd", lr=0.1, epochs=5, batch_size=1, progress=False)
    ax = plot.mistakes(history)
    assert [p.get_height() for p in ax.patches] == history.mistakes
    assert all(float(t).is_integer() for t in ax.get_yticks())
    assert ax.get_ylim()[0] == 0
    assert all(m > 0 for m in history.mistakes)  # XOR: a line always gets some wrong
    empty = plot.mistakes(History([0.0], [1.0], mistakes=[0]))
    assert any("no mistakes" in t.get_text() for t in empty.texts)


# -- the figure tapegrad train --plot saves ----------------------------------------


@pytest.mark.parametrize("kind", ["perceptron", "mlp", "spirals"])
def test_training_figure_panels_and_no_overlaps(kind, tmp_path):
    if kind == "perceptron":
        X, y = blobs(20, seed=0)
        model = Perceptron(2, init="uniform", rng=random.Random(0))
        history = fit(model, X, y, optimizer="sgd", lr=0.01, epochs=4, batch_size=1, progress=False)
    else:
        X, y = spirals(10, seed=0) if kind == "spirals" else moons(30, seed=0)
        model, history = trained_mlp(X, y, nout=3 if kind == "spirals" else 1, epochs=3)
    fig = plot.training_figure(model, X, y, history, title=f"{kind} example")
    titles = [ax.get_title() for ax in fig.axes]
    if kind == "perceptron":  # its story is its mistakes, not a flat loss
        assert titles == ["perceptron example", "Mistakes per epoch"]
    else:
        assert titles == [f"{kind} example", "Training loss", "Mistakes per epoch"]
    assert not overlapping_texts(fig)
    assert not titles_overlapping_axes(fig)
    fig.savefig(tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_contours_label_every_level_in_dark_colours():
    w, b = np.meshgrid(np.linspace(-2, 4, 40), np.linspace(-3, 3, 40))
    values = 0.5 * ((w - 2) ** 2 + 0.5 * (b + 1) ** 2) + 0.12
    ax = plot.loss_contours(w, b, values, levels=8)
    contour = next(c for c in ax.collections if hasattr(c, "levels"))
    assert len(contour.levels) == 8 and contour.levels[0] > values.min()
    assert len(ax.texts) >= 8  # one label per level at least
    for color in contour.get_edgecolor():
        assert luminance(color[:3]) < 0.7


def test_state_image_checks_the_shape():
    ax = plot.state_image([1, -1, 1, -1], (2, 2), title="a state")
    assert ax.get_title() == "a state"
    with pytest.raises(ValueError, match="needs 6 units, got 4"):
        plot.state_image([1, -1, 1, -1], (2, 3))


def test_the_gallery_picture_is_written(tmp_path):
    path = plot.decision_boundary_example(str(tmp_path / "boundary.png"), dpi=50, grid=10)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


class ThresholdModel:
    """A model whose graph depends on the numbers (an ``if`` on ``.data``): never replayed."""

    def __call__(self, x):
        s = x[0] * 1.0 if x[0] > 0.0 else x[1] * 1.0
        return s if isinstance(s, engine.Value) else engine.Value(s)


@pytest.mark.parametrize("kind", ["mlp", "perceptron", "branching"])
def test_the_grid_is_the_models_output_whether_replayed_or_not(kind):
    X, y = moons(10, seed=3)
    if kind == "mlp":
        model = MLP(2, [5, 3], activation="tanh", rng=random.Random(4))
        y = [0 if t < 0 else 2 for t in y]  # classes 0 and 2 of three outputs
    elif kind == "perceptron":
        model = Perceptron(2, init="uniform", rng=random.Random(4))
    else:
        model = ThresholdModel()
    params = model.parameters() if hasattr(model, "parameters") else []
    for k, p in enumerate(params):
        p.grad = 0.25 * k  # a user's gradients, which drawing must not touch
    grads = [p.grad for p in params]
    gx, gy, margins, _ = plot.decision_grid(model, X, y, grid=7)
    with engine.no_grad():
        for j, yv in enumerate(gy):
            for i, xv in enumerate(gx):
                out = model([float(xv), float(yv)])
                scores = [o.data for o in out] if isinstance(out, list) else [-out.data, out.data]
                for k, score in enumerate(scores):
                    best_other = max(v for m, v in enumerate(scores) if m != k)
                    assert margins[k, j, i] == pytest.approx(score - best_other, abs=1e-12)
    assert [p.grad for p in params] == grads  # replaying the forward pass touches no .grad


@pytest.mark.parametrize("dataset", ["and", "moons", "spirals", "blobs"])
def test_the_legend_never_covers_a_data_point(dataset):
    from tapegrad.nn import DATASETS

    X, y = DATASETS[dataset](40, 0)
    nout = len(set(y)) if dataset == "spirals" else 1
    model = MLP(2, [4, nout], rng=random.Random(0))
    ax = plot.decision_regions(model, X, y, grid=10)
    fig = ax.figure
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    points = ax.transData.transform(np.array(X, dtype=float))
    inside = [p for p in points if box.x0 <= p[0] <= box.x1 and box.y0 <= p[1] <= box.y1]
    assert not inside, (dataset, len(inside))


@pytest.mark.parametrize("epochs", [5, 20, 30, 45, 60])
def test_mistake_counts_never_collide(epochs):
    # three-digit counts: bar labels that fit are written (upright if need be), never overlapping
    counts = [120 + (k // 2) % 3 for k in range(epochs)]  # equal neighbours, as 16, 16
    history = History([1.0] * epochs, [0.5] * epochs, mistakes=counts)
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    plot.mistakes(history, ax)
    assert not overlapping_texts(fig)
    if epochs <= 30:  # a 4.6-inch panel has room for every count of 30 epochs
        assert sorted(int(t.get_text()) for t in ax.texts) == sorted(counts)


def test_many_epochs_of_mistakes_are_one_outline():
    # hundreds of bars thinner than a pixel alias into stripes
    counts = [max(0, 50 - k) for k in range(200)]
    ax = plot.mistakes(History([1.0] * 200, [0.5] * 200, mistakes=counts))
    assert len(ax.patches) == 1
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 50
