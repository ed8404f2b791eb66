"""Pictures a teacher puts on consecutive slides (issue "Teaching surfaces, round 2"):
one graph in every view, captions that name only what the picture shows, frames of
one size."""

import re

from PIL import Image

from tapegrad import engine

from .test_draw import edges, neuron, nodes


def _neuron_cost():
    """The lecture's neuron with an unlabelled weighted sum, and its squared error."""
    z, (x1, x2, *_) = neuron()
    with engine.cost_scope("C"):
        c = (z - 1.0) ** 2
    c.label = "c"
    return c, [x1, x2]


def _structure(g):
    """The drawn blocks and variables (their ids and labels) and the arrows between
    them, without the derivative network, the step marks or invisible edges."""

    def name(label):  # a record's name field, a block's or a circle's label
        return label.strip("{ ").split(" |")[0]

    forward = {k: name(a.get("label", "")) for k, a in nodes(g).items() if k[0] in "fnmxy"}
    arrows = {  # an arrow written turned round (dir=back: a folded drawing's) as drawn
        (d, s) if a.get("dir") == "back" else (s, d)
        for s, d, a in edges(g)
        if s in forward and d in forward and a.get("style") != "invis"
    }
    return forward, arrows


# -- item 1: one graph in every view ------------------------------------------------


def test_every_view_of_one_graph_draws_the_same_blocks_and_variables():
    c, observed = _neuron_cost()
    total = len(list(engine.backprop_steps(c)))
    for view in ("values", "blocks"):
        options = {"view": view, "observed": observed, "show_params": True}
        plain = _structure(engine.draw(c, **options))
        assert plain == _structure(engine.draw(c, derivative=True, **options))
        for k in range(total):
            assert plain == _structure(engine.draw(c, step=k, **options)), (view, k)
    # values and blocks show the same ops and the same variables (outside the cost,
    # which the blocks view draws as one square)
    z = c.parents[0].parents[0]
    values = _structure(engine.draw(z, view="values", show_params=True))
    blocks = _structure(engine.draw(z, view="blocks", show_params=True))
    assert values[1] == blocks[1] and set(values[0]) == set(blocks[0])
    assert list(values[0].values()).count("Σ") == 1 == list(blocks[0].values()).count("Σ")


# -- item 2: captions name only what the picture shows --------------------------------


def _shown_names(g):
    """Every name the picture writes: labels, names beside variables, block names."""
    shown = set()
    for a in nodes(g).values():
        for key in ("label", "xlabel"):
            text = a.get(key, "")
            text = re.sub(r"\\[nl]", " ", text.strip("{}"))
            shown.update(re.findall(r"[^\s|{}*]+", text))
    return shown


def test_captions_name_only_what_the_picture_shows(tmp_path):
    c, observed = _neuron_cost()
    for view in ("values", "blocks"):
        steps = engine.draw_steps(c, view=view, observed=observed)
        for k, caption in enumerate(steps.explanations):
            shown = _shown_names(steps[k])
            named = re.findall(r"d(\w+)/d(\w+)|∂(\w+)/∂(\w+)|'\((\w+)\)|inside (.+?):", caption)
            for name in {n for group in named for n in group if n}:
                assert name in shown or name.split(" ")[0] in shown, (view, k, name, caption)
        assert "v11" not in " ".join(steps.explanations)  # z − 1, inside the cost square
    # step 0 happens inside the cost square: it is named, the value inside is not
    assert steps.explanations[0].startswith("inside C: ")


def test_captions_wrap_and_every_frame_has_one_size(tmp_path):
    c, observed = _neuron_cost()
    paths = engine.save_steps(c, tmp_path / "s.png", view="blocks", observed=observed, dpi=40)
    sizes = {Image.open(p).size for p in paths}
    assert len(sizes) == 1
    width, height = sizes.pop()
    assert width <= 3 * height * 3  # the caption is wrapped, not one long line
    dots = engine.save_steps(c, tmp_path / "s.dot", view="blocks", observed=observed)
    for path in dots:
        label = re.search(r'label="(step .*?)"', path.read_text(encoding="utf-8")).group(1)
        lines = label.split("\\l")
        assert lines[-1] == "" and all(len(line) <= 60 for line in lines)


# -- item 4: a picture that fits a slide ----------------------------------------------


def _aspect(g):
    from tapegrad.engine import _render

    x0, y0, x1, y1 = (float(v) for v in _render.layout(g.source)["bb"].split(","))
    return (x1 - x0) / (y1 - y0)


def test_by_default_a_neuron_fits_a_slide_in_every_view_and_a_direction_can_be_forced():
    c, observed = _neuron_cost()
    z = c.parents[0].parents[0]
    for root, view, options in [
        (z, "values", {}),
        (c, "values", {}),
        (z, "blocks", {}),
        (c, "blocks", {}),
        (c, "blocks", {"observed": observed, "show_params": True}),
    ]:
        drawings = [engine.draw(root, view, **options)]
        drawings += [engine.draw(root, view, step=k, **options) for k in (0, 3)]
        drawings.append(engine.draw(root, view, derivative=True, **options))
        directions = {re.search(r"rankdir=(\w+)", g.source).group(1) for g in drawings}
        assert len(directions) == 1  # every view of one graph flows alike
        for g in drawings:
            assert 1 / 3 <= _aspect(g) <= 3, (view, options, directions, _aspect(g))
    # left to right, the values view of the neuron is a strip about 6 times as wide as
    # high unfolded; forced left to right it is folded onto rows that fit
    strip = engine.draw(z, rankdir="LR", wrap=False)
    assert "rankdir=LR" in strip.source and _aspect(strip) > 3
    forced = engine.draw(z, rankdir="LR")
    assert "rankdir=LR" in forced.source and _aspect(forced) <= 3


# -- item 3: the derivative network shows what learning uses --------------------------


def test_derivative_network_shows_parameter_gradients_and_inputs_on_request():
    c, observed = _neuron_cost()
    g = engine.draw(c, "blocks", observed=observed, derivative=True)
    labels = {a["label"].split("\\n")[0]: k for k, a in nodes(g).items() if k.startswith("d")}
    assert {"dC/dw1", "dC/dw2", "dC/db"} <= set(labels)  # implicit in their blocks
    assert not {"dC/dx1", "dC/dx2"} & set(labels)  # data: nothing learns it
    # dC/dw1 leaves the derivative module of "* w1", multiplied by x1 = 2
    drawn = [(s, d, a) for s, d, a in edges(g) if a.get("style") != "invis"]  # not the order's
    (into,) = [(d, a) for s, d, a in drawn if s == labels["dC/dw1"]]
    assert nodes(g)[into[0]]["label"] == "∂ * w1" and into[1]["label"] == "× 2"
    assert "-0.5858" in nodes(g)[labels["dC/dw1"]]["label"]  # = dC/dv2 · x1
    every = engine.draw(c, "blocks", observed=observed, derivative="all")
    assert {"dC/dx1", "dC/dx2"} <= {a["label"].split("\\n")[0] for a in nodes(every).values()}


# -- issue 21 item 7: Jupyter display ----------------------------------------------


def test_jupyter_display_honours_set_jupyter_format_and_include_exclude():
    import graphviz
    from IPython.core.interactiveshell import InteractiveShell

    c, observed = _neuron_cost()
    g = engine.draw(c, "blocks", observed=observed)
    formatter = InteractiveShell.instance().display_formatter
    data, _ = formatter.format(g)
    assert data["image/svg+xml"].lstrip().startswith("<?xml") and "image/png" not in data
    old = graphviz.set_jupyter_format("png")
    try:
        data, _ = formatter.format(g)
        assert data["image/png"].startswith(b"\x89PNG") and "image/svg+xml" not in data
    finally:
        graphviz.set_jupyter_format(old)
    data, _ = formatter.format(g, include=["image/jpeg", "image/png"], exclude=["image/png"])
    assert set(data) == {"image/jpeg"} and data["image/jpeg"][:2] == b"\xff\xd8"
    # the painter's D-shaped blocks, not Graphviz's boxes: tapegrad paints the PNG too
    assert g._repr_mimebundle_(include=["image/png"])["image/png"] == g.pipe(format="png")


def test_the_steps_sequence_honours_include_and_exclude():
    c, observed = _neuron_cost()
    steps = engine.draw_steps(c, view="blocks", observed=observed, max_static=2)
    assert set(steps._repr_mimebundle_()) == {"text/plain", "text/html"}
    assert set(steps._repr_mimebundle_(include=["text/plain"])) == {"text/plain"}
    assert set(steps._repr_mimebundle_(exclude=["text/html"])) == {"text/plain"}


# -- item 7: collapsed layers joined by one vector each, the prediction named ȳ ------


def test_collapsed_layers_are_joined_by_one_vector_and_the_prediction_is_y_bar(tmp_path):
    import random

    from tapegrad import nn

    model = nn.MLP(2, [16, 16, 1], activation="tanh", rng=random.Random(0))
    loss = nn.mse(model([0.5, -0.25]), 1.0)
    for options in ({}, {"step": 40}, {"derivative": True}, {"theme": "dark"}):
        g = engine.draw(loss, "blocks", params=model, collapse=1, wrap=False, **options)
        n, e = nodes(g), [(s, d) for s, d, a in edges(g) if a.get("style") != "invis"]
        # one arrow into each collapsed layer, not 16 heads on one point
        assert [s for s, d in e if d == "m1"] == ["vm0"] and [s for s, d in e if d == "m2"] == [
            "vm1"
        ]
        assert n["vm0"]["label"] == "z1\\n16" and n["vm1"]["label"] == "z2\\n16"
        # the last layer's output, read by the cost, is the prediction ȳ
        (prediction,) = [s for s, d in e if d == "m3" and not s.startswith("y")]
        assert n[prediction]["label"] == "ȳ"
    # a 3-class output: ȳ is a vector of 3 into the cost
    model = nn.MLP(2, [4, 3], rng=random.Random(1))
    loss = nn.softmax_cross_entropy(model([0.5, -0.25]), 2)
    g = engine.draw(loss, "blocks", params=model, collapse=1, wrap=False)
    assert "ȳ\\n3" in [a.get("label") for a in nodes(g).values()]
    # the step along the vector names the element of the vector it stands for
    captions = engine.drawing.entry.step_captions(loss, view="blocks", params=model, collapse=1)
    assert any("dC/dz1[" in c or "/dz1[" in c for c in captions)
    path = engine.save_graph(
        engine.draw(model([0.5, -0.25])[0], "blocks", params=model, collapse=1), tmp_path / "m.png"
    )
    assert path.stat().st_size > 0
