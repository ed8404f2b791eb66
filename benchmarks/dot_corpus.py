"""A corpus of drawings, to prove a change to the drawing code keeps every DOT byte.

    python benchmarks/dot_corpus.py out.json            # write the manifest
    python benchmarks/dot_corpus.py out.json --images   # ... with PNG bytes of a sample
    python benchmarks/dot_corpus.py --compare a.json b.json

The manifest maps a drawing's name to the sha256 of its DOT source (or of the error
it raised: ``TypeError: ...``, so that argument checking is covered as well). Every
drawing is made through the public API only -- ``engine.draw`` over many graphs x views
x options, every backprop step frame (``draw(step=k)``), ``save_steps`` and
``save_graph`` to ``.dot``, ``BackpropSteps`` frames, ``nn.diagram.draw_model`` and
the ``tapegrad graph`` command's DOT output -- so the same script runs before and
after a restructure. Deterministic: fixed seeds, fixed order; no timing.

``--compare a b`` lists the names whose hashes differ or that only one manifest has,
and exits 1 if there are any.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import itertools
import json
import pathlib
import random
import sys
import tempfile

from tapegrad import engine, nn
from tapegrad.engine import Value
from tapegrad.nn import cli
from tapegrad.nn.diagram import draw_model

RANKDIRS = ("LR", "RL", "TB", "BT")
THEMES = ("light", "dark")
VIEWS = ("values", "blocks")
MAX_STEPS = 24  # step frames drawn per graph and view (the first ones, and the last)


def _sha(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


class Corpus:
    """The manifest being built: ``name -> sha256``."""

    def __init__(self) -> None:
        self.hashes: dict[str, str] = {}
        self.raised: list[str] = []  # names whose drawing raised (recorded as its message)

    def put(self, name: str, text: str | bytes) -> None:
        if name in self.hashes:
            raise KeyError(f"duplicate corpus name {name!r}")
        self.hashes[name] = _sha(text)

    def dot(self, name: str, make, *args, **kwargs) -> object | None:
        """Record the DOT source of ``make(*args, **kwargs)``, or the error it raises."""
        try:
            g = make(*args, **kwargs)
        except Exception as e:  # the message is part of the behaviour
            self.put(name, f"{type(e).__name__}: {e}")
            self.raised.append(name)
            return None
        self.put(name, g.source)
        return g


# -- graphs ------------------------------------------------------------------------


def _gallery():
    """docs/gallery/make_gallery.py: the README's figures, which the corpus draws too."""
    path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "gallery" / "make_gallery.py"
    spec = importlib.util.spec_from_file_location("make_gallery", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GALLERY = _gallery()


def neuron(backward: bool = True):
    z, (x1, x2, w1, w2, b) = GALLERY.neuron()
    if backward:
        z.backward()
    return z, {"observed": [x1, x2], "params": [w1, w2, b]}


def neuron_unlabelled():
    x1, x2, w1, w2, b = (Value(v) for v in (2.0, 0.0, -3.0, 1.0, 6.88))
    return (x1 * w1 + x2 * w2 + b).tanh(), {"observed": [x1, x2]}


def neuron_cost():
    z, extra = neuron(backward=False)
    with engine.cost_scope("C"):
        c = (z - 1.0) ** 2
    c.label = "c"
    return c, extra


def formula(text: str, **values: float):
    def make():
        root, leaves = engine.parse_expression(text, values)
        root.label = "out"
        return root, {"observed": [leaves[n] for n in sorted(leaves) if n.startswith("x")]}

    return make


def mlp_loss(sizes=(3, 1), activation="tanh", samples=1):
    def make():
        model = nn.MLP(2, list(sizes), activation=activation, rng=random.Random(0))
        rng = random.Random(1)
        X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(samples)]
        y = [rng.choice((-1.0, 1.0)) for _ in range(samples)]
        if samples == 1:
            loss = nn.mse(model(X[0]), y[0])
        else:
            loss = nn.average_loss(nn.mse, model, X, y)
        loss.backward()
        return loss, {"params": model}

    return make


def neuron_module():
    n = nn.Neuron(3, activation="tanh", rng=random.Random(2))
    out = n([Value(0.5, label="x0"), Value(-1.0, label="x1"), Value(2.0, label="x2")])
    return out, {"params": n}


def layer_outputs():
    layer = nn.Layer(2, 3, activation="relu", rng=random.Random(3))
    outs = layer([1.0, -2.0])
    return outs, {"params": layer}


def classic(cls):
    def make():
        model = cls(2, init="uniform", rng=random.Random(4))
        loss = model.loss([0.5, -1.5], 1.0)
        return loss, {"params": model}

    return make


def hopfield():
    net = nn.Hopfield(3)
    net.store([[1, -1, 1]])
    return net.energy([1, 1, -1]), {}


def boltzmann():
    bm = nn.BoltzmannMachine(2)
    return bm.log_prob([1, -1]), {}


def average_loss_figure():
    average, observed = GALLERY.average_loss_graph()
    return average, {"observed": observed, "collapse": "G"}


def softmax_ce():
    logits = [Value(v, label=f"z{i}") for i, v in enumerate((0.5, -1.0, 2.0))]
    loss = nn.softmax_cross_entropy(logits, 2)
    loss.backward()
    return loss, {}


def nested_scopes():
    a, b = Value(1.5, label="a"), Value(-0.5, label="b")
    with engine.scope("outer"):
        with engine.scope("inner.0"):
            u = a * b + 1
        with engine.scope("inner.1"):
            v = (a - b).relu()
        w = u * v
    out = w.exp()
    out.label = "out"
    return out, {"observed": [a], "collapse": "inner"}


def strange_labels():
    vs = [
        Value(1.0, label="a\\b"),
        Value(2.0, label="{x}"),
        Value(3.0, label="x|y"),
        Value(4.0, label="<t>"),
        Value(5.0, label='q"uote'),
        Value(6.0, label="ȳ"),
        Value(7.0, label="数"),
        Value(8.0, label="🙂"),
    ]
    out = vs[0]
    for v in vs[1:]:
        out = out * v + 1
    out.label = "new\nline"
    out.backward()
    return out, {}


def long_sum():
    xs = [Value(float(i) / 7, label=f"x{i}") for i in range(12)]
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    mean = total * (1 / len(xs))
    mean.label = "m"
    return mean, {"observed": xs[:6]}


def shared():
    x, y, z = Value(0.3, label="x"), Value(-2.0, label="y"), Value(1.25, label="z")
    xy = x * y
    out = xy + xy * z + x * x
    out.backward()
    return out, {}


def specials():
    x, y = Value(1.0, label="x"), Value(0.0, label="y")
    out = (x / y) + (x * float("nan")) - 1e-7 * x + 1e7 * x
    return out, {}


def subtractions():
    a, b, c = Value(3.0, label="a"), Value(1.0, label="b"), Value(0.5, label="c")
    out = (a - b) - (-c) + (2 - a) + (b + -3) - a / c + a * -1
    out.label = "d"
    return out, {}


def two_roots():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    return [a * b, (a + b).tanh()], {}


GRAPHS = {
    "neuron": neuron,
    "neuron_fresh": lambda: neuron(backward=False),
    "neuron_unlabelled": neuron_unlabelled,
    "neuron_cost": neuron_cost,
    "f_sub_div": formula("x - y / (x + 2)", x=1.5, y=-0.5),
    "f_neg_pow": formula("-x**2 + 2**y", x=1.5, y=-0.5),
    "f_exp_log": formula("exp(x) * log(y) + sqrt(y)", x=0.3, y=2.0),
    "f_act": formula("relu(x) + sigmoid(y) - abs(x*y) + sign(y)", x=-0.4, y=1.3),
    "f_trig": formula("sin(x)*cos(x) / (1 + x*x)", x=0.7),
    "f_consts": formula("3 - x + x / 4 - 2 / x", x=1.25),
    "f_mean": formula("(a + b + c + d) / 4", a=1, b=2, c=3, d=4),
    "mlp_one": mlp_loss(),
    "mlp_avg": mlp_loss((4, 4, 1), "relu", samples=3),
    "neuron_module": neuron_module,
    "layer_outputs": layer_outputs,
    "perceptron": classic(nn.Perceptron),
    "adaline": classic(nn.Adaline),
    "logistic": classic(nn.LogisticRegression),
    "hopfield": hopfield,
    "boltzmann": boltzmann,
    "average_loss": average_loss_figure,
    "softmax_ce": softmax_ce,
    "nested_scopes": nested_scopes,
    "strange_labels": strange_labels,
    "long_sum": long_sum,
    "shared": shared,
    "specials": specials,
    "subtractions": subtractions,
    "two_roots": two_roots,
}


# -- drawings ----------------------------------------------------------------------


def draw_grid(corpus: Corpus, name: str, make) -> None:
    """Every view x direction x theme, then options one at a time."""
    root, extra = make()
    for view, rankdir, theme in itertools.product(VIEWS, RANKDIRS, THEMES):
        corpus.dot(
            f"{name}/{view}/{rankdir}/{theme}",
            engine.draw,
            root,
            view,
            rankdir=rankdir,
            theme=theme,
        )
    variants = {
        "derivative": {"derivative": True},
        "show_params": {"show_params": True},
        "hide_params": {"show_params": False},
        "no_costs": {"costs": []},
        "root_cost": {"costs": [root] if isinstance(root, Value) else root},
        "collapse0": {"collapse": 0},
        "collapse1": {"collapse": 1},
        "collapse_true": {"collapse": True},
        "collapse_layers": {"collapse": "layers"},
        "max_nodes3": {"max_nodes": 3},
        "no_max": {"max_nodes": None},
    }
    for key in ("observed", "params", "collapse"):
        if key in extra:
            variants[key] = {key: extra[key]}
    if "observed" in extra and "collapse" in extra:
        variants["observed+collapse"] = {
            "observed": extra["observed"],
            "collapse": extra["collapse"],
        }
    for label, options in variants.items():
        for view in VIEWS:
            corpus.dot(f"{name}/{view}/{label}", engine.draw, root, view, **options)
    for theme in THEMES:
        corpus.dot(
            f"{name}/blocks/derivative/BT/{theme}",
            engine.draw,
            root,
            "blocks",
            rankdir="BT",
            theme=theme,
            derivative=True,
        )


def draw_steps(corpus: Corpus, name: str, make) -> None:
    """Step frames, in both views, plain and with the derivative network."""
    root, extra = make()
    if not isinstance(root, Value) or root.is_leaf:
        return
    total = len(list(engine.backprop_steps(root)))
    ks = sorted(set(range(min(total, MAX_STEPS))) | {total - 1})
    options = {k: extra[k] for k in ("observed", "collapse") if k in extra}
    for view, k in itertools.product(VIEWS, ks):
        corpus.dot(f"{name}/step{k}/{view}", engine.draw, root, view, step=k, **options)
    for view, theme, k in itertools.product(VIEWS, THEMES, ks[:: max(1, len(ks) // 4)]):
        corpus.dot(
            f"{name}/step{k}/{view}/{theme}/derivative",
            engine.draw,
            root,
            view,
            step=k,
            theme=theme,
            derivative=True,
        )
    corpus.dot(f"{name}/step{total}", lambda: engine.draw(root, step=total))
    steps = engine.draw_steps(root, view="blocks", rankdir="BT")
    corpus.put(f"{name}/draw_steps/explanations", "\n".join(steps.explanations))
    for k in (0, -1):
        corpus.dot(f"{name}/draw_steps[{k}]", steps.__getitem__, k)


def saved(corpus: Corpus, name: str, make, tmp: pathlib.Path) -> None:
    """``save_graph`` and ``save_steps`` to ``.dot``/``.gv`` files."""
    root, _ = make()
    for suffix, view in ((".dot", "values"), (".gv", "blocks")):
        path = tmp / f"{name}_{view}{suffix}"
        try:
            engine.save_graph(root, path, view=view)
            corpus.put(f"{name}/save_graph/{view}", path.read_bytes())
        except Exception as e:
            corpus.put(f"{name}/save_graph/{view}", f"{type(e).__name__}: {e}")
    if not isinstance(root, Value) or root.is_leaf:
        return
    for view, caption in itertools.product(VIEWS, (True, False)):
        stem = f"{name}_steps_{view}_{caption}"
        try:
            paths = engine.save_steps(root, tmp / f"{stem}.dot", view=view, caption=caption)
        except Exception as e:
            corpus.put(f"{name}/save_steps/{view}/{caption}", f"{type(e).__name__}: {e}")
            continue
        for k, path in enumerate(paths[:MAX_STEPS]):
            corpus.put(f"{name}/save_steps/{view}/{caption}/{k}", path.read_bytes())
        corpus.put(f"{name}/save_steps/{view}/{caption}/count", str(len(paths)))


def models(corpus: Corpus) -> None:
    rng = random.Random(5)
    zoo = {
        "mlp": nn.MLP(2, [16, 16, 1], activation="tanh", rng=rng),
        "mlp_linear_out": nn.MLP(3, [4, 2], rng=rng),
        "mlp_sigmoid_out": nn.MLP(2, [3, 1], output_activation="sigmoid", rng=rng),
        "layer": nn.Layer(4, 3, rng=rng),
        "neuron": nn.Neuron(5, activation="tanh", rng=rng),
        "perceptron": nn.Perceptron(2),
        "adaline": nn.Adaline(3),
        "logistic": nn.LogisticRegression(2),
        "hopfield": nn.Hopfield(3),
        "boltzmann": nn.BoltzmannMachine(3),
    }
    for (name, model), loss, rankdir, theme in itertools.product(
        zoo.items(), (None, "mse", "hinge"), RANKDIRS, THEMES
    ):
        corpus.dot(
            f"draw_model/{name}/{loss}/{rankdir}/{theme}",
            draw_model,
            model,
            loss=loss,
            rankdir=rankdir,
            theme=theme,
        )
    for label, kwargs in {
        "bad_loss": {"loss": 3},
        "empty_loss": {"loss": ""},
        "bad_rankdir": {"rankdir": "XY"},
        "bad_theme": {"theme": "sepia"},
    }.items():
        corpus.dot(f"draw_model/error/{label}", draw_model, zoo["mlp"], **kwargs)
    corpus.dot("draw_model/error/object", lambda: draw_model(object()))


def errors(corpus: Corpus) -> None:
    """The argument checks: each bad argument's message."""
    root, extra = neuron()
    bad = {
        "view": {"view": "boxes"},
        "rankdir": {"rankdir": "up"},
        "theme": {"theme": "sepia"},
        "collapse_neg": {"collapse": -1},
        "collapse_obj": {"collapse": 2.5},
        "collapse_miss": {"collapse": "nothing"},
        "collapse_list_miss": {"collapse": ["a", "b"]},
        "max_nodes": {"max_nodes": 2.0},
        "max_nodes_bool": {"max_nodes": True},
        "derivative": {"derivative": 1},
        "show_params": {"show_params": "yes"},
        "step_str": {"step": "1"},
        "step_bool": {"step": True},
        "step_neg": {"step": -1},
        "step_big": {"step": 99},
        "observed_bad": {"observed": 3},
        "observed_label": {"observed": ["nope"]},
        "observed_item": {"observed": [1.0]},
        "params_label": {"params": ["nope"]},
        "costs_label": {"costs": ["nope"]},
        "observed_str": {"observed": "x1"},
        "params_value": {"params": extra["params"][0]},
        "unknown": {"colour": "red"},
    }
    for label, kwargs in bad.items():
        corpus.dot(f"error/draw/{label}", engine.draw, root, **kwargs)
    for label, what in {
        "none": None,
        "str": "x",
        "empty": [],
        "mixed": [root, 1.0],
        "float": 1.0,
    }.items():
        corpus.dot(f"error/root/{label}", engine.draw, what)
    a, b = Value(1.0), Value(2.0)
    corpus.dot("error/two_roots_step", lambda: engine.draw([a * b, a + b], step=0))
    corpus.dot("error/leaf_steps", lambda: engine.draw_steps(Value(1.0)))
    corpus.dot("error/draw_steps_step", lambda: engine.draw_steps(root, step=1))
    corpus.dot("error/draw_steps_static", lambda: engine.draw_steps(root, max_static=0))
    # Relative paths in a temporary directory: the messages name the path given.
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for label, call in {
            "save_ext": lambda: engine.save_graph(root, pathlib.Path("x.bmp")),
            "save_path": lambda: engine.save_graph(root, 3),
            "save_dpi": lambda: engine.save_graph(root, pathlib.Path("x.png"), dpi=0),
            "save_dpi_big": lambda: engine.save_graph(root, pathlib.Path("x.png"), dpi=9999),
            "save_scale": lambda: engine.save_graph(root, pathlib.Path("x.png"), scale="2"),
            "save_opts": lambda: engine.save_graph(
                engine.draw(root), pathlib.Path("x.dot"), view="blocks"
            ),
            "steps_leaf": lambda: engine.save_steps(Value(1.0), pathlib.Path("s.dot")),
            "steps_step": lambda: engine.save_steps(root, pathlib.Path("s.dot"), step=1),
            "steps_root": lambda: engine.save_steps(1.0, pathlib.Path("s.dot")),
        }.items():
            corpus.dot(f"error/{label}", call)


CLI_FORMULAS = [
    ("tanh(x1*w1 + x2*w2 + b)", ["x1=2", "x2=0", "w1=-3", "w2=1", "b=6.8814"]),
    ("x - y / (x + 2)", ["x=1.5", "y=-0.5"]),
    ("-x*w", ["x=2", "w=0.5"]),
    ("(a + b + c) / 3", ["a=1", "b=2", "c=3"]),
    ("(y - sigmoid(w*x))**2", ["x=1", "w=0.5", "y=1"]),
]
CLI_OPTIONS = [
    [],
    ["--view", "blocks"],
    ["--view", "blocks", "--rankdir", "BT", "--theme", "dark"],
    ["--derivative"],
    ["--view", "blocks", "--derivative"],
    ["--step", "0"],
    ["--step", "2", "--view", "blocks"],
    ["--view", "blocks", "--cost"],
    ["--view", "blocks", "--no-cost"],
    ["--view", "blocks", "--observed", "x"],
    ["--max-nodes", "2"],
    ["--cost"],
]


def cli_graphs(corpus: Corpus) -> None:
    """``tapegrad graph``'s DOT on standard output (and its one-line errors)."""
    for (i, (text, at)), (j, options) in itertools.product(
        enumerate(CLI_FORMULAS), enumerate(CLI_OPTIONS)
    ):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(["graph", text, "--at", *at, *options])
            except SystemExit as e:
                code = e.code
        corpus.put(f"cli/{i}/{j}", f"{code}\n{out.getvalue()}\n{err.getvalue()}")


IMAGE_SAMPLE = [
    ("neuron", {}),
    ("neuron", {"view": "blocks", "observed": None}),
    ("neuron_cost", {"view": "blocks", "step": 2, "derivative": True}),
    ("mlp_avg", {"view": "blocks", "collapse": 1}),
    ("average_loss", {"view": "blocks", "rankdir": "BT", "collapse": "G"}),
    ("strange_labels", {"theme": "dark"}),
    ("hopfield", {"view": "blocks"}),
    ("subtractions", {"view": "blocks", "rankdir": "TB"}),
]


def images(corpus: Corpus, tmp: pathlib.Path) -> None:
    """PNG bytes of a sample (painting goes through the layout and matplotlib)."""
    for i, (name, options) in enumerate(IMAGE_SAMPLE):
        root, _ = GRAPHS[name]()
        options = {k: v for k, v in options.items() if v is not None}
        path = tmp / f"image{i}.png"
        engine.save_graph(root, path, dpi=60, **options)
        corpus.put(f"png/{i}/{name}", path.read_bytes())
    z, _ = neuron()
    path = tmp / "steps.gif"
    engine.save_steps(z, path, dpi=40, view="blocks")
    corpus.put("gif/neuron_steps", path.read_bytes())
    path = tmp / "model.png"
    engine.save_graph(draw_model(nn.MLP(2, [3, 1], rng=random.Random(0)), loss="mse"), path, dpi=60)
    corpus.put("png/draw_model", path.read_bytes())


def build(with_images: bool) -> Corpus:
    corpus = Corpus()
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        for name, make in GRAPHS.items():
            draw_grid(corpus, name, make)
            draw_steps(corpus, name, make)
            saved(corpus, name, make, tmp)
        models(corpus)
        errors(corpus)
        cli_graphs(corpus)
        if with_images:
            images(corpus, tmp)
    return corpus


def compare(a: pathlib.Path, b: pathlib.Path) -> int:
    left = json.loads(a.read_text(encoding="utf-8"))
    right = json.loads(b.read_text(encoding="utf-8"))
    only_left = sorted(set(left) - set(right))
    only_right = sorted(set(right) - set(left))
    changed = sorted(k for k in set(left) & set(right) if left[k] != right[k])
    for title, names in (
        (f"only in {a}", only_left),
        (f"only in {b}", only_right),
        ("different", changed),
    ):
        if names:
            print(f"{title}: {len(names)}")
            for n in names[:50]:
                print(f"  {n}")
    same = len(set(left) & set(right)) - len(changed)
    print(f"{same} identical of {len(left)} / {len(right)}")
    return 1 if (only_left or only_right or changed) else 0


def command(argv, doc: str, build_corpus, images: bool = False) -> int:
    """The command line of a corpus script: write ``build_corpus(images)``'s manifest,
    or ``--compare A B``. ``images``: offer ``--images`` (else it is always False)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("out", nargs="?", type=pathlib.Path, help="manifest to write")
    if images:
        parser.add_argument("--images", action="store_true", help="add PNG/GIF bytes of a sample")
    parser.add_argument("--compare", nargs=2, type=pathlib.Path, metavar=("A", "B"))
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    if args.out is None:
        parser.error("give a manifest path to write, or --compare A B")
    corpus = build_corpus(images and args.images)
    hashes = corpus.hashes
    args.out.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(hashes)} entries, {len(corpus.raised)} of them an error message -> {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return command(argv, __doc__, build, images=True)


if __name__ == "__main__":
    sys.exit(main())
