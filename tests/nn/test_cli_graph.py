"""``tapegrad graph`` and ``tapegrad tape``, and drawing real ``nn`` models."""

import html
import random
import re

import pytest

from tapegrad import engine
from tapegrad.engine import _render
from tapegrad.nn.cli import main
from tapegrad.nn.layers import MLP

NEURON = ["tanh(x1*w1 + x2*w2 + b)", "--at", "x1=2", "x2=0", "w1=-3", "w2=1", "b=6.8814"]


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_writes_the_svg_of_the_issue_example(tmp_path, capsys):
    target = tmp_path / "neuron.svg"
    code, out, err = run(["graph", *NEURON, "-o", str(target)], capsys)
    assert code == 0 and err == ""
    assert out.strip() == f"wrote {target}"
    svg = html.unescape(target.read_text(encoding="utf-8"))
    assert "<svg" in svg and "data 0.7071" in svg
    # backward ran: the gradients are drawn
    assert "grad -1.4999" in svg  # -3 · (1 - tanh²(0.8814))


@pytest.mark.parametrize("suffix, signature", [(".png", b"\x89PNG"), (".dot", b"digraph")])
def test_graph_format_follows_the_extension(tmp_path, capsys, suffix, signature):
    target = tmp_path / f"neuron{suffix}"
    code, _, _ = run(["graph", *NEURON, "--view", "blocks", "-o", str(target)], capsys)
    assert code == 0
    assert target.read_bytes().startswith(signature)


def test_graph_without_output_prints_dot_with_the_options(capsys):
    argv = ["graph", *NEURON, "--view", "blocks", "--rankdir", "BT", "--theme", "dark"]
    code, out, _ = run([*argv, "--observed", "x1", "x2"], capsys)
    assert code == 0
    assert out.startswith("digraph") and "rankdir=BT" in out and 'class="tg-function"' in out
    assert 'bgcolor="#000000"' in out and "#bebada" in out  # dark theme's function colour
    assert (
        out
        == engine.draw(
            _neuron_root(), view="blocks", rankdir="BT", theme="dark", observed=["x1", "x2"]
        ).source
    )


def _neuron_root():
    root, _ = engine.parse_expression(
        NEURON[0], {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8814}
    )
    root.label = "out"
    root.backward()
    return root


def test_an_unknown_name_is_told_how_to_give_it_a_value(capsys):
    code, _, err = run(["graph", "tanh(w*x)", "--at", "x=2"], capsys)
    assert code == 2
    assert err.strip().endswith("'w' at column 6: give it a value (e.g. --at w=1.0)")


def test_graph_step_highlights_that_step(capsys):
    code, out, _ = run(["graph", *NEURON, "--step", "0"], capsys)
    assert code == 0
    assert re.search(r'label="1 × 0\.5 = 0\.5"', out)
    code, out, _ = run(["graph", *NEURON, "--derivative", "--no-cost", "--view", "blocks"], capsys)
    assert code == 0 and "seed" in out and "#ff3333" not in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["graph", "tanh(x", "--at", "x=1"], "syntax error at column"),
        (["graph", "x + y", "--at", "x=1"], "unknown name 'y' at column 5"),
        (["graph", "foo(x)", "--at", "x=1"], "unknown function 'foo'"),
        (["graph", "x.y", "--at", "x=1"], "attribute access"),
        (["graph", "x*2", "--at", "x=abc"], "'abc' is not a number"),
        (["graph", "x*2", "--at", "x"], "NAME=NUMBER"),
        (["graph", "x*2", "--at", "x=1", "x=2"], "gives x twice"),
        (["graph", "x*2", "--at", "x=inf"], "finite"),
        (["graph", "x*2"], "unknown name 'x'"),
        (["graph", "x*2", "--at", "x=1", "--step", "3"], "between 0 and 0"),
        (["graph", "x*2", "--at", "x=1", "-o", "g.bmp"], "extension"),
        (["graph", "x*2", "--at", "x=1", "--view", "blocks", "--observed", "q"], "no Value"),
        (["graph", "x*2", "--at", "x=1", "--observed", "x"], "--observed applies to --view blocks"),
        (["graph", "x*2", "--at", "x=1", "--cost"], "--cost applies to --view blocks"),
        (["graph", "x*2", "--at", "x=1", "--no-cost"], "--no-cost applies to --view blocks"),
        (["graph", "x*2", "--at", "x=1", "--scale", "100", "-o", "g.png"], "lower dpi"),
        (["graph", "x*2", "--at", "x=1", "--scale", "100", "--steps", "g.gif"], "pixels, more"),
        (["tape", "x*y", "--at", "x=1"], "unknown name 'y'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"tapegrad {argv[0]}: error: ")
    assert re.search(message, err)


@pytest.mark.parametrize(
    "formula, message",
    [
        (
            "-" * 100_000 + "x",
            "more than --max-nodes 2,000 nodes \\(the formula has 100,000 ops\\)",
        ),
        ("**".join(["x"] * 5000), "the formula has 4,999 ops"),
        ("(" * 100_000 + "x" + ")" * 99_999, "syntax error at column 1: '\\(' was never closed"),
        ("1" * 100_000 + " * x", "the number at column 1 is too large for a float"),
        ("not " * 100_000 + "x", "the operator not at column 1 is not allowed"),
    ],
    ids=["100k unary minus", "5000 ** chain", "unclosed parentheses", "huge literal", "not"],
)
def test_any_formula_is_a_drawing_or_one_line_and_exit_code_2(formula, message, capsys):
    """Issue 18 item 4: the parser never crashes, however deep the formula."""
    code, out, err = run(["graph", "--at", "x=1", "--", formula], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("tapegrad graph: error: ")
    assert re.search(message, err)


def test_graph_reports_an_unwritable_output(tmp_path, capsys):
    code, _, err = run(
        ["graph", "x*2", "--at", "x=1", "-o", str(tmp_path / "no/dir/g.dot")], capsys
    )
    assert code == 2 and "cannot write" in err


def balanced_sum(n: int) -> str:
    """A formula of n products summed as a balanced tree (not too deep to parse)."""
    if n == 1:
        return "x*x"
    return f"({balanced_sum(n // 2)})+({balanced_sum(n - n // 2)})"


def test_graph_refuses_a_huge_formula_in_the_command_s_own_terms(capsys):
    code, out, err = run(["graph", balanced_sum(1100), "--at", "x=1"], capsys)
    assert code == 2 and out == ""
    assert "more than --max-nodes 2,000 nodes (the formula has 2,199 ops)" in err
    assert "collapse=" not in err  # a Python argument the command does not have
    assert len(err.strip().splitlines()) == 1


def test_graph_max_nodes_raises_the_limit(capsys):
    code, out, _ = run(["graph", balanced_sum(1100), "--at", "x=1", "--max-nodes", "5000"], capsys)
    assert code == 0 and out.startswith("digraph")
    with pytest.raises(SystemExit) as exit_info:  # argparse's own usage error
        main(["graph", "x*x", "--at", "x=1", "--max-nodes", "0"])
    assert exit_info.value.code == 2
    assert "--max-nodes: must be at least 1, got 0" in capsys.readouterr().err


def test_tape_prints_the_tape_the_steps_and_the_gradients(capsys):
    code, out, err = run(["tape", *NEURON], capsys)
    assert code == 0 and err == ""
    tape_part, steps_part = out.split("backward, one edge at a time:")
    assert "tanh" in tape_part and "x1, w1" in tape_part
    steps = [line for line in steps_part.splitlines() if "+=" in line]
    assert len(steps) == 9
    assert steps[0].split()[:2] == ["0", "dout/dv8"]
    gradients = dict(re.findall(r"dout/d(\w+)\s*= ([-+][\d.e-]+)", out))
    assert float(gradients["w1"]) == pytest.approx(2 * (1 - 0.7071**2), abs=1e-3)
    assert float(gradients["x1"]) == pytest.approx(-3 * (1 - 0.7071**2), abs=1e-3)


# -- drawing nn models --------------------------------------------------------------


def _mlp_loss():
    model = MLP(2, [4, 4, 1], rng=random.Random(0))
    x = [engine.Value(0.5, label="x0"), engine.Value(-1.0, label="x1")]
    y = model(x)
    loss = (y - 1.0) ** 2
    loss.label = "C"
    return model, x, loss


def test_an_mlp_collapses_to_one_block_per_layer():
    model, _, loss = _mlp_loss()
    g = engine.draw(loss, view="blocks", params=model, collapse="layers")
    blocks = re.findall(r'^\t+m\d+ \[label="([^"]*)"', g.source, re.M)
    assert blocks == [
        "layers.0\\n12 parameters",
        "layers.1\\n20 parameters",
        "layers.2\\n5 parameters",
    ]
    # 2 inputs, the 4 + 4 hidden values as two vectors z1, z2 (one circle each, their
    # size under their name), the output, y - 1 and C as circles; nothing of the
    # neurons inside (a formula's ** 2 is a function, not a cost, unless marked)
    assert len(re.findall(r"shape=circle", g.source)) == 2 + 1 + 1 + 1 + 1 + 1
    assert 'label="z1\\n4"' in g.source and 'label="z2\\n4"' in g.source
    laid_out = _render.layout(g.source)
    texts = {op["text"] for o in laid_out["objects"] for op in o.get("_ldraw_", []) if "text" in op}
    assert {"layers.1", "MLP"} <= texts


def test_an_mlp_uncollapsed_shows_module_clusters():
    model, _, loss = _mlp_loss()
    g = engine.draw(loss, view="blocks", params=model)
    clusters = re.findall(
        r'subgraph cluster_\d+ \{\n\t+\w+="[^"]*" \w+="[^"]*" label="?([\w.]+)', g.source
    )
    assert clusters[:3] == ["MLP", "layers.0", "neurons.0"] or clusters[0] == "MLP"
    assert clusters.count("neurons.0") == 3 and clusters.count("layers.2") == 1


def test_an_mlp_collapsed_by_neuron_in_values_view():
    model, _, loss = _mlp_loss()
    g = engine.draw(loss, params=model, collapse="neurons", show_params=False)
    assert len(re.findall(r"^\t+m\d+ \[", g.source, re.M)) == 4 + 4 + 1


# -- slide-ready output ----------------------------------------------------------------


def test_graph_steps_exports_one_html_page(tmp_path, capsys):
    page = tmp_path / "steps.html"
    code, out, err = run(["graph", *NEURON, "--steps", str(page)], capsys)
    assert code == 0 and err == "" and out.strip() == f"wrote 1 file: {page}"
    text = page.read_text(encoding="utf-8")
    assert text.count('<section class="step') == 9 and text.count("<svg") == 9
    assert 'type="range"' in text and "dout/dv8 +=" in text
    assert "<title>Backprop step by step: tanh(x1*w1 + x2*w2 + b)</title>" in text


def test_graph_steps_exports_a_pdf_a_gif_and_numbered_files(tmp_path, capsys):
    formula = ["(y - ybar)**2", "--at", "y=1", "ybar=0.2", "--view", "blocks"]
    pdf = tmp_path / "steps.pdf"
    code, out, _ = run(["graph", *formula, "--cost", "--steps", str(pdf)], capsys)
    assert code == 0 and out.strip() == f"wrote 1 file: {pdf}"
    assert len(re.findall(rb"/Type /Page\b", pdf.read_bytes())) == 3
    code, out, _ = run(
        ["graph", *formula, "--steps", str(tmp_path / "s.png"), "--dpi", "60"], capsys
    )
    assert code == 0 and out.startswith("wrote 3 files:")
    assert sorted(p.name for p in tmp_path.glob("s_*.png")) == ["s_00.png", "s_01.png", "s_02.png"]
    code, _, err = run(["graph", *formula, "--steps", str(pdf), "--step", "1"], capsys)
    assert code == 2 and "drop --step" in err


def test_graph_dpi_scale_and_cost_options(tmp_path, capsys):
    from PIL import Image

    small, large = tmp_path / "a.png", tmp_path / "b.png"
    assert run(["graph", *NEURON, "-o", str(small), "--dpi", "50"], capsys)[0] == 0
    assert run(["graph", *NEURON, "-o", str(large), "--dpi", "100", "--scale", "2"], capsys)[0] == 0
    with Image.open(small) as a, Image.open(large) as b:
        assert abs(b.size[0] - 4 * a.size[0]) <= 4
    code, out, _ = run(["graph", "(y - 2)**2", "--at", "y=1", "--view", "blocks", "--cost"], capsys)
    assert code == 0 and 'color="#ff3333"' in out
    code, out, _ = run(["graph", "(y - 2)**2", "--at", "y=1", "--view", "blocks"], capsys)
    assert code == 0 and 'color="#ff3333"' not in out
    for bad in ("0", "-2", "x"):
        with pytest.raises(SystemExit) as stop:
            main(["graph", *NEURON, "--dpi", bad])
        assert stop.value.code == 2 and "argument --dpi" in capsys.readouterr().err
