"""The ``tapegrad`` entry point itself: subcommands and behaviour in a pipeline."""

import subprocess
import sys

import pytest

from tapegrad.nn.cli import COMMANDS, build_parser, main


def test_every_subcommand_has_help():
    parser = build_parser()
    for name in COMMANDS:
        help_text = parser._subparsers._group_actions[0].choices[name].format_help()
        assert help_text.startswith(f"usage: tapegrad {name}")


def test_a_closed_pipe_ends_quietly():
    # `tapegrad tape ... | head -1`: far more output than a pipe buffer holds
    formula = "*".join(["x"] * 400)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapegrad.nn", "tape", formula, "--at", "x=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.parametrize("formula", ["-x*w", "-2*x*w", "-log(x)*w"])
def test_a_formula_may_start_with_a_minus(capsys, formula):
    # argparse takes a leading '-' for an option and then reports the formula missing.
    code = main(["tape", formula, "--at", "x=1", "w=3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "dout/dw = " in out


def test_an_options_negative_value_is_still_its_value(capsys):
    code = main(["graph", "-x*x", "--at", "x=3", "--step", "-1"])
    assert code == 2
    assert capsys.readouterr().err.endswith("got -1\n")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--bogus"], "tapegrad train: error: unrecognized arguments: --bogus"),
        (["train", "--model", "foo"], "tapegrad train: error: argument --model: invalid choice"),
        (["train", "--epochs", "x"], "tapegrad train: error: argument --epochs: invalid int"),
        ([], "tapegrad: error: the following arguments are required: COMMAND"),
        (["bogus"], "tapegrad: error: argument COMMAND: invalid choice: 'bogus'"),
        (["graph"], "tapegrad graph: error: the following arguments are required: expression"),
        (["graph", "x", "--at", "x=1", "--max-nodes", "0"], "tapegrad graph: error: argument"),
        (["demo", "extra"], "tapegrad demo: error: unrecognized arguments: extra"),
        (["tape", "x", "--at", "x=1", "--zzz"], "tapegrad tape: error: unrecognized arguments"),
    ],
)
def test_a_bad_option_is_one_line_naming_the_subcommand(capsys, argv, expected):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    captured = capsys.readouterr()
    assert stop.value.code == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith(expected), captured.err
    assert "usage:" not in captured.err


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith("usage: tapegrad train")


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("x*", "syntax error at column 3: the formula ends too early"),
        ("x**", "syntax error at column 4: the formula ends too early"),
        ("x y", "syntax error at column 3: an operator is missing between 'x' and 'y'"),
        ("(x", "syntax error at column 1: '(' was never closed"),
        ("tanh(x", "syntax error at column 5: '(' was never closed"),
        ("x+)", "syntax error at column 3: unmatched ')'"),
        ("x = 1", "an assignment at column 3 is not allowed"),
    ],
)
@pytest.mark.parametrize("command", ["graph", "tape"])
def test_a_syntax_error_names_its_column_in_one_line(capsys, command, formula, message):
    code = main([command, formula, "--at", "x=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"tapegrad {command}: error: {message}"), err
    assert err.count("\n") == 1
