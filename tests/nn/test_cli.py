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
