"""The ``tapegrad`` entry point itself: subcommands and behaviour in a pipeline."""

import subprocess
import sys

from nn.cli import COMMANDS, build_parser


def test_every_subcommand_has_help():
    parser = build_parser()
    for name in COMMANDS:
        help_text = parser._subparsers._group_actions[0].choices[name].format_help()
        assert help_text.startswith(f"usage: tapegrad {name}")


def test_a_closed_pipe_ends_quietly():
    # `tapegrad tape ... | head -1`: far more output than a pipe buffer holds
    formula = "*".join(["x"] * 400)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nn", "tape", formula, "--at", "x=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err
