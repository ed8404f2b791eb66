"""``tapegrad tape``: print the tape of a formula and its backward pass, step by step.

    tapegrad tape "tanh(x1*w1 + x2*w2 + b)" --at x1=2 x2=0 w1=-3 w2=1 b=6.8814

Prints the Wengert list (each op with its inputs, value and local derivatives), then
every chain-rule step ``dc/ds += dc/dz · dz/ds`` in the order backprop applies them,
then the gradient of the result with respect to each variable.
"""

from __future__ import annotations

from tapegrad import engine

from .graph import add_expression_arguments, build


def register(sub) -> None:
    p = sub.add_parser(
        "tape",
        help="print the tape and the backward steps of a formula",
        description="print the tape of a formula, each chain-rule step of backprop, the gradients",
    )
    add_expression_arguments(p)
    p.set_defaults(run=run)


def run(args) -> int:
    root, leaves = build(args)
    tape = engine.tape(root)
    root_name = tape.entries[-1].name
    print(tape)
    print("\nbackward, one edge at a time:")
    for step in root.backward_steps():
        print(f"  {step.index:>3}  {step.explanation}")
    print("\ngradients:")
    width = max(len(name) for name in leaves)
    for name, leaf in leaves.items():
        print(f"  d{root_name}/d{name.ljust(width)} = {leaf.grad:+.6g}")
    return 0
