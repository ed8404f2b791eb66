"""``tapegrad demo``: build a neuron, backprop through it, print the tape and gradients."""

from __future__ import annotations

from tapegrad import engine


def register(sub) -> None:
    p = sub.add_parser("demo", help="build one neuron, run backward, print its tape and gradients")
    p.set_defaults(run=run)


def run(args) -> int:
    x1, x2 = engine.Value(2.0, label="x1"), engine.Value(0.0, label="x2")
    w1, w2 = engine.Value(-3.0, label="w1"), engine.Value(1.0, label="w2")
    b = engine.Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "s"
    out = n.tanh()
    out.label = "z"
    out.backward()
    print("z = tanh(x1*w1 + x2*w2 + b)\n")
    print(engine.tape(out))
    print("\nbackward, one perturbation at a time:")
    for leaf in (x1, x2, w1, w2, b):
        leaf.grad = 0.0
    for step in out.backward_steps():
        print(" ", step.explanation)
    print("\ngradients:")
    for v in (x1, x2, w1, w2, b):
        print(f"  dz/d{v.label} = {v.grad:+.6f}")
    return 0
