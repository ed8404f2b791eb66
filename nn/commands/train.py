"""``tapegrad train``: train a model on a toy dataset and report how well it fits.

The defaults train an MLP on two moons to 98-100% training accuracy (seeds 0-9) in
well under a second (batched replay, :func:`tapegrad.engine.vmap`), with a progress
bar on a terminal::

    tapegrad train
    tapegrad train --model perceptron --dataset or --plot or.png
    tapegrad train --dataset spirals --hidden 16,16 --epochs 100 --plot spirals.png
    tapegrad train --save model.json --plot boundary.png

``--plot`` draws the decision regions over the data, the loss per update and per
epoch, and the mistakes per epoch (:func:`tapegrad.nn.plot.training_figure`;
matplotlib, no display needed); ``--save`` writes the trained model with
:func:`tapegrad.nn.serialize.save`.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import time
from typing import TypedDict

from tapegrad import engine

from .. import data as datasets
from ..classic import Adaline, LogisticRegression, Perceptron
from ..layers import ACTIVATIONS, MLP
from ..losses import LOSSES
from ..module import Module
from ..train import LEARNING_RATES, OPTIMIZERS, History, fit, format_accuracy, format_loss
from . import UsageError

MODELS = ("mlp", "perceptron", "adaline", "logreg")
_CLASSIC = {"perceptron": Perceptron, "adaline": Adaline, "logreg": LogisticRegression}


# Measured on a 2-core machine: these defaults reach 98-100% training accuracy on two
# moons (100 points, seeds 0-9) in 0.2-0.4 s of training with batched replay (0.5-0.9 s
# building every graph, --no-batched). The learning rate is the optimizer's default,
# from the table fit() reads too (nn.train.LEARNING_RATES: Adam 0.03, SGD 0.1).
class _Defaults(TypedDict, total=False):
    """The options' defaults (the classic rules' add ``lr``)."""

    epochs: int
    batch_size: str
    hidden: str
    optimizer: str
    l2: float
    lr: float


DEFAULTS: _Defaults = {
    "epochs": 30,
    "batch_size": "10",
    "hidden": "8,8",
    "optimizer": "adam",
    "l2": 1e-4,
}
# Bounds on the work, so that a huge number is refused rather than hanging the
# machine: a scalar engine trains about a thousand samples a second.
MAX_SAMPLES = 1_000_000
MAX_PARAMETERS = 1_000_000
# The classic rules learn with plain SGD, one sample at a time, as on the slides, with
# their own step η = 0.01 (whatever the optimizer).
# No L2 term for them by default: the rule is exactly w ← w + η (y − ỹ) x.
CLASSIC_DEFAULTS: _Defaults = {
    "epochs": 20,
    "lr": 0.01,
    "batch_size": "1",
    "optimizer": "sgd",
    "l2": 0.0,
}


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a toy dataset (default: an MLP on two moons)",
        description=(
            "Train a model on a dataset generated in code and print its training accuracy, "
            "final loss and time. Defaults: an MLP with hidden layers 8,8 on 100 points of "
            "two moons, Adam, 30 epochs of mini-batches of 10."
        ),
    )
    p.add_argument("--model", choices=MODELS, default="mlp", help="model to train (default mlp)")
    p.add_argument(
        "--dataset", choices=sorted(datasets.DATASETS), default="moons", help="(default moons)"
    )
    p.add_argument(
        "--samples",
        type=int,
        default=100,
        help="dataset size (default 100; and, or: always the 4 points of the truth table)",
    )
    p.add_argument("--epochs", type=int, help="passes over the data (default 30; 20 classic)")
    p.add_argument(
        "--lr",
        type=float,
        help="learning rate (default 0.03 adam, 0.1 sgd; 0.01 classic)",
    )
    p.add_argument(
        "--batch-size",
        help="samples per step: a number, or 'full' for full-batch gradient descent "
        "(default 10; 1 for the classic rules)",
    )
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="(default adam; sgd classic)")
    p.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        help="per-sample loss (default: the model's own): cross_entropy for spirals, the "
        "others for two-class data (bce reads the label -1 as 0)",
    )
    p.add_argument("--hidden", help="MLP hidden layer sizes, comma separated (default 8,8)")
    p.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), help="MLP hidden units (default relu)"
    )
    p.add_argument("--l2", type=float, help="L2 regularisation α (default 1e-4; 0 classic)")
    p.add_argument("--seed", type=int, default=0, help="seed for data, weights, shuffling")
    p.add_argument("--save", metavar="MODEL.json", help="save the trained model (JSON)")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="plot the decision regions, the learning curves and the mistakes per epoch",
    )
    p.add_argument(
        "--graph",
        metavar="FILE.svg",
        help="draw the trained model as the lecture draws a traditional net: linear "
        "blocks w_k z_k, non-linear blocks, one circle per layer vector with its size, "
        "ȳ (.svg, .png, .pdf or .dot)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--no-batched",
        action="store_true",
        help="build every sample's graph instead of batched replay (engine.vmap: one "
        "sample's graph replayed over the batch with numpy; the same numbers, faster)",
    )
    p.add_argument(
        "--no-lift",
        action="store_true",
        help="batched replay entry by entry (one numpy operation per tape entry: the "
        "numbers of building every graph, bit for bit) instead of the tape lifted into "
        "the lecture's blocks (engine.lift: a layer one matrix product, within 1e-12 "
        "relative, faster); fit(..., lift=False)",
    )
    p.set_defaults(run=run)


#: The losses for two classes labelled ±1 (one output whose sign is the class).
TWO_CLASS_LOSSES = tuple(sorted(name for name in LOSSES if name != "cross_entropy"))


def combination_refusal(model: str, dataset: str, loss: str | None, classes: list) -> str | None:
    """Why ``--model model --dataset dataset --loss loss`` cannot train, in one line,
    or None when it can. ``classes`` are the dataset's sorted labels.

    Every two-class loss works with every model on the two-class datasets (labels
    ±1; ``bce`` reads −1 as 0), and softmax cross-entropy with an MLP on a
    multi-class dataset (one output per class); the classic rules are two-class
    linear units. Everything else is refused here, before any training.
    """
    if loss is not None and loss not in LOSSES:
        return f"--loss {loss} is not a loss; choose one of {', '.join(sorted(LOSSES))}"
    if classes == [-1, 1]:
        if loss == "cross_entropy":
            return (
                f"--loss cross_entropy needs a class index per sample and one output per "
                f"class, but --dataset {dataset} has two classes labelled -1/+1 and the model one "
                f"output: use one of {', '.join(TWO_CLASS_LOSSES)}"
            )
        return None
    names = ", ".join(str(c) for c in classes)
    if model in _CLASSIC:
        return (
            f"--model {model} is a two-class linear unit (labels -1/+1), but --dataset "
            f"{dataset} has {len(classes)} classes ({names}): use --model mlp"
        )
    if loss is not None and loss != "cross_entropy":
        return (
            f"--loss {loss} is a two-class loss (labels -1/+1), but --dataset {dataset} has "
            f"{len(classes)} classes ({names}): use --loss cross_entropy (the default)"
        )
    return None


def _parse_hidden(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"--hidden must be sizes like 16,16, got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise UsageError(f"--hidden sizes must be positive, got {text!r}")
    return sizes


def _parse_batch_size(text: str) -> int | None:
    if text == "full":
        return None
    try:
        size = int(text)
    except ValueError:
        raise UsageError(f"--batch-size must be a positive int or 'full', got {text!r}") from None
    if size < 1:
        raise UsageError(f"--batch-size must be a positive int or 'full', got {text!r}")
    return size


def _check_output_path(path: str | None, option: str, suffixes: tuple[str, ...]) -> None:
    if path is None:
        return
    if not path.lower().endswith(suffixes):
        raise UsageError(f"{option} file name must end with {' or '.join(suffixes)}, got {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{option}: {path!r} is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{option}: directory {directory!r} does not exist")


def run(args: argparse.Namespace) -> int:
    classic = args.model in _CLASSIC
    defaults: _Defaults = {**DEFAULTS, **CLASSIC_DEFAULTS} if classic else DEFAULTS
    epochs = defaults["epochs"] if args.epochs is None else args.epochs
    optimizer = args.optimizer or defaults["optimizer"]
    lr = defaults.get("lr", LEARNING_RATES[optimizer]) if args.lr is None else args.lr
    batch_size = _parse_batch_size(
        defaults["batch_size"] if args.batch_size is None else args.batch_size
    )
    hidden = _parse_hidden(DEFAULTS["hidden"] if args.hidden is None else args.hidden)
    l2 = defaults["l2"] if args.l2 is None else args.l2
    if epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {epochs}")
    if not (math.isfinite(lr) and lr > 0):
        raise UsageError(f"--lr must be a finite number > 0, got {lr}")
    if not (math.isfinite(l2) and l2 >= 0):
        raise UsageError(f"--l2 must be a finite number >= 0, got {l2}")
    if args.samples < 4:
        raise UsageError(f"--samples must be at least 4, got {args.samples}")
    if args.samples > MAX_SAMPLES:
        raise UsageError(f"--samples must be at most {MAX_SAMPLES:,}, got {args.samples}")
    for option, given in (("--hidden", args.hidden), ("--activation", args.activation)):
        if given is not None and classic:
            raise UsageError(f"{option} applies to --model mlp, not {args.model}")
    _check_output_path(args.save, "--save", (".json",))
    _check_output_path(args.plot, "--plot", (".png", ".svg", ".pdf"))
    _check_output_path(args.graph, "--graph", (".svg", ".png", ".pdf", ".dot", ".gv"))
    save_model = None
    if args.save is not None:
        try:
            from ..serialize import save
        except ImportError:
            raise UsageError("--save needs nn.serialize, which is not available") from None
        save_model = save

    X, y = datasets.DATASETS[args.dataset](args.samples, args.seed)
    classes = sorted(set(y))
    multiclass = classes != [-1, 1]
    refusal = combination_refusal(args.model, args.dataset, args.loss, classes)
    if refusal is not None:
        raise UsageError(refusal)
    rng = random.Random(args.seed)
    model: Module
    if classic:
        # Rosenblatt's start, zero weights: the rule makes mistakes and corrects them.
        # (Random weights could already separate the data and leave nothing to learn.)
        model = _CLASSIC[args.model](len(X[0]))
    else:
        nout = len(classes) if multiclass else 1
        sizes = [len(X[0]), *hidden, nout]
        count = sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(sizes))
        if count > MAX_PARAMETERS:
            raise UsageError(
                f"--hidden {args.hidden} makes {count:,} parameters; at most "
                f"{MAX_PARAMETERS:,} fit a scalar engine"
            )
        activation = args.activation or "relu"
        model = MLP(len(X[0]), [*hidden, nout], activation=activation, rng=rng)
    loss = args.loss

    print(f"model:   {model!r}")
    note = ""
    if len(X) != args.samples and args.dataset in ("and", "or"):
        note = f" (the truth table; --samples {args.samples} does not apply)"
    print(f"data:    {args.dataset}, {len(X)} samples, seed {args.seed}{note}")
    batch_text = "full batch" if batch_size is None else f"batch size {batch_size}"
    print(f"train:   {optimizer} lr={lr:g}, {batch_text}, {epochs} epochs, l2={l2:g}")
    start = time.perf_counter()
    try:
        history = fit(
            model,
            X,
            y,
            loss=loss,
            optimizer=optimizer,
            lr=lr,
            epochs=epochs,
            batch_size=batch_size,
            seed=args.seed,
            l2=l2,
            progress=not args.no_progress,
            batched=not args.no_batched,
            lift=not args.no_lift,
        )
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from None
    seconds = time.perf_counter() - start
    # the accuracy after the last epoch, as the progress bar showed it: accuracy(model, X, y)
    print(f"accuracy: {format_accuracy(history.accuracy[-1])} on the {len(X)} training samples")
    print(summary_line(history, args.model == "perceptron" and loss in (None, "perceptron")))
    how = (
        (", batched replay" + (", entry by entry" if args.no_lift else ""))
        if history.batched
        else ""
    )
    print(f"time:    {seconds:.1f} s ({seconds / epochs * 1000:.0f} ms per epoch{how})")
    if not math.isfinite(history.loss[-1]):
        raise UsageError(
            f"training diverged: the loss is {history.loss[-1]} after {epochs} epochs; "
            "try a smaller --lr"
        )
    # The paths were checked before training, but writing can still fail (a full disk,
    # a model whose training diverged to nan): one line, not a traceback.
    if save_model is not None:
        try:
            save_model(model, args.save)
        except (ValueError, OSError) as e:
            raise UsageError(f"--save: {e}") from None
        print(f"saved:   {args.save}")
    if args.plot is not None:
        try:
            plot_training(model, X, y, history, args.plot, title=f"{args.model} on {args.dataset}")
        except (ValueError, OSError) as e:
            raise UsageError(f"--plot: {e}") from None
        print(f"plot:    {args.plot}")
    if args.graph is not None:
        try:
            draw_model_graph(model, args.graph, loss)
        except (ValueError, OSError) as e:
            raise UsageError(f"--graph: {e}") from None
        print(f"graph:   {args.graph}")
    return 0


def summary_line(history: History, perceptron_rule: bool) -> str:
    """The line after the accuracy: the loss of the last and the first epoch
    (:func:`~tapegrad.nn.train.format_loss`, as ``History`` prints it); for
    Rosenblatt's rule, the mistakes instead, as its criterion ``−(y − ȳ) s`` is 0 on
    every sample it gets right and at the zero weights it starts from, so its loss
    reads 0 while it learns."""
    if perceptron_rule:
        return (
            f"mistakes: {history.mistakes[0]} in epoch 1 -> {history.mistakes[-1]} in epoch "
            f"{history.epochs} (the perceptron's loss −(y − ȳ) s is 0 on a right answer "
            "and at zero weights: it learns from its mistakes)"
        )
    return f"loss:    {format_loss(history.loss[-1])} (epoch 1: {format_loss(history.loss[0])})"


def draw_model_graph(model, path: str, loss: str | None = None) -> None:
    """Save the lecture's block diagram of the traditional neural net for ``model``
    (:func:`tapegrad.nn.diagram.draw_model`): linear blocks ``w_k z_k`` and non-linear
    blocks ``h``, one circle per layer vector with its size, ``ȳ``, and the cost it
    was trained with (``loss``, a name of ``LOSSES``; None: the model's own) as a red
    square fed by ``ȳ`` and the target ``y`` (the diagram reads the model's
    structure, no sample)."""
    from ..diagram import draw_model

    engine.save_graph(draw_model(model, loss=True if loss is None else loss), path)


def plot_training(model, X, y, history, path: str, title: str = "") -> None:
    """Save :func:`tapegrad.nn.plot.training_figure` (decision regions, loss per update
    and per epoch, mistakes per epoch) with matplotlib's Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plot import training_figure

    fig = training_figure(model, X, y, history, title=title)
    try:
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
