"""``tapegrad graph``: draw the computation graph of a formula.

    tapegrad graph "tanh(x1*w1 + x2*w2 + b)" --at x1=2 x2=0 w1=-3 w2=1 b=6.8814 -o neuron.svg

The formula is parsed by :func:`tapegrad.engine.parse_expression` (a small parser of its
own that knows numbers, variables, ``+ - * / **`` and the op table's names, never
``eval``; any formula, however deep, gives a graph or a one-line error, exit 2), run
forward and backward, and
drawn by :func:`tapegrad.engine.draw`. The output format follows the file's extension (.svg,
.png, .jpg, .gif, .pdf, .dot, .gv); without ``-o`` the DOT text goes to standard output.
``--steps FILE`` exports backprop step by step (:func:`tapegrad.engine.save_steps`; a
``.html`` file is one web page with a slider, for a browser or a course site);
``--dpi`` and ``--scale`` size the images for slides.
"""

from __future__ import annotations

import argparse
import math
import re

from tapegrad import engine
from tapegrad.engine.drawing import DEFAULT_MAX_NODES, RANKDIRS, THEMES, VIEWS

from . import UsageError


def add_expression_arguments(p) -> None:
    """The arguments ``graph`` and ``tape`` share: the formula and its variables."""
    p.add_argument("expression", help='a formula, e.g. "tanh(x1*w1 + x2*w2 + b)"')
    p.add_argument(
        "--at",
        nargs="+",
        default=[],
        metavar="NAME=NUMBER",
        help="the value of each variable, e.g. --at x1=2 w1=-3",
    )


def parse_bindings(items: list[str]) -> dict[str, float]:
    """``["x1=2", "w1=-3"]`` -> ``{"x1": 2.0, "w1": -3.0}``, refusing anything else."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, number = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--at expects NAME=NUMBER, got {item!r}")
        if not name.isidentifier():
            raise UsageError(f"--at: {name!r} is not a variable name")
        if name in values:
            raise UsageError(f"--at gives {name} twice")
        try:
            value = float(number)
        except ValueError:
            raise UsageError(f"--at {item}: {number.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise UsageError(f"--at {item}: the value must be finite")
        values[name] = value
    return values


def build(args) -> tuple[engine.Value, dict[str, engine.Value]]:
    """The formula's root and leaves, or a one-line UsageError."""
    try:
        root, leaves = engine.parse_expression(args.expression, parse_bindings(args.at))
    except engine.ExpressionError as e:
        # The parser suggests `w=1.0` (a binding); on the command line that is `--at w=1.0`.
        raise UsageError(re.sub(r"\(e\.g\. (\w+=1\.0)\)$", r"(e.g. --at \1)", str(e))) from None
    if not root.label and "out" not in leaves:
        root.label = "out"  # so the steps read dout/dx rather than dv9/dx
    return root, leaves


def _max_nodes(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def register(sub) -> None:
    p = sub.add_parser(
        "graph",
        help="draw the computation graph of a formula (svg, png, pdf, dot)",
        description="draw the computation graph of a formula with its values and gradients",
    )
    add_expression_arguments(p)
    p.add_argument("-o", "--output", help="file to write; the extension picks the format")
    p.add_argument("--view", choices=VIEWS, default="values", help="values (default) or blocks")
    p.add_argument(
        "--rankdir",
        choices=RANKDIRS,
        help="direction of flow (default: left to right unless too wide for a slide)",
    )
    p.add_argument(
        "--wrap",
        type=_max_nodes,
        metavar="N",
        help="fold the drawing onto N rows (columns when it flows vertically); 1 never folds "
        "(default: as few rows as fit a slide, none if it fits as it is)",
    )
    p.add_argument("--theme", choices=tuple(THEMES), default="light")
    p.add_argument("--step", type=int, help="draw backprop at this step (0 is the first)")
    p.add_argument("--derivative", action="store_true", help="add the mirrored derivative network")
    p.add_argument(
        "--observed",
        nargs="+",
        metavar="NAME",
        help="variables that are data (blocks view); the others are parameters",
    )
    p.add_argument(
        "--max-nodes",
        type=_max_nodes,
        default=DEFAULT_MAX_NODES,
        metavar="N",
        help=f"refuse graphs of more than N ops (default {DEFAULT_MAX_NODES:,}; "
        "layout time grows fast beyond it)",
    )
    cost = p.add_mutually_exclusive_group()
    cost.add_argument(
        "--cost",
        action="store_true",
        help="blocks view: the formula is a cost (a loss): draw its last op as a red square",
    )
    cost.add_argument(
        "--no-cost",
        action="store_true",
        help="blocks view: draw no cost square at all (the default for a plain formula)",
    )
    p.add_argument(
        "--steps",
        metavar="FILE",
        help="export every backprop step: FILE.html (one web page with a slider), FILE.pdf "
        "(one page each), FILE.gif (animated) or FILE.png/.svg/.jpg/.dot (numbered "
        "FILE_00.png, FILE_01.png, ...)",
    )
    p.add_argument("--dpi", type=_positive, help="pixels per inch of .png/.jpg/.gif (default 150)")
    p.add_argument(
        "--scale", type=_positive, default=1.0, help="enlarge the whole drawing (default 1)"
    )
    p.set_defaults(run=run)


def _positive(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return x


def run(args) -> int:
    root, _ = build(args)
    if args.step is None and args.steps is None:
        root.backward()
    if args.steps is not None and args.step is not None:
        raise UsageError("--steps exports every step; drop --step")
    if args.view != "blocks":
        for option, given in (
            ("--observed", args.observed is not None),
            ("--cost", args.cost),
            ("--no-cost", args.no_cost),
        ):
            if given:
                raise UsageError(f"{option} applies to --view blocks, not --view {args.view}")
    options = {
        "view": args.view,
        "rankdir": args.rankdir,
        "theme": args.theme,
        "step": args.step,
        "derivative": args.derivative,
        "observed": args.observed,
        "costs": [root] if args.cost else ([] if args.no_cost else None),
        "max_nodes": args.max_nodes,
        "wrap": args.wrap,
    }
    try:
        if args.steps is not None:
            del options["step"]
            if args.steps.lower().endswith(".html"):  # the page's heading: the formula
                options["title"] = f"Backprop step by step: {args.expression}"
            paths = engine.save_steps(root, args.steps, dpi=args.dpi, scale=args.scale, **options)
            print(
                f"wrote {len(paths)} file{'s' if len(paths) != 1 else ''}: "
                + ", ".join(str(p) for p in paths[:3])
                + (", ..." if len(paths) > 3 else "")
            )
            return 0
        drawing = engine.draw(root, **options)
        if args.output is None:
            print(drawing.source, end="")
            return 0
        path = engine.save_graph(drawing, args.output, dpi=args.dpi, scale=args.scale)
    except engine.GraphTooLargeError:
        ops = sum(1 for v in engine.topological_order(root) if not v.is_leaf)
        raise UsageError(
            f"the drawing would have more than --max-nodes {args.max_nodes:,} nodes (the "
            f"formula has {ops:,} ops): a drawing that large is unreadable and slow to lay "
            "out; draw a smaller formula, or raise --max-nodes"
        ) from None
    except (ValueError, TypeError, engine.DotNotFoundError) as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"wrote {path}")
    return 0
