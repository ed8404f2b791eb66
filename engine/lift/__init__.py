"""Lifting: one sample's scalar tape, regrouped into the lecture's vector blocks.

A student writes a network neuron by neuron, in scalars, and the tape records it so:
an ``MLP(2, [16, 16, 1])`` with the hinge loss is 644 scalar entries per sample.
Lecture 1 draws the same network as a few *stacked linear and non-linear blocks*,
``s[k+1] = w[k] z[k]`` and ``z[k] = h(s[k])``. :func:`lift` recovers those blocks
from the tape alone -- not from ``nn``'s classes, so a student's own
``Neuron``/``Layer``/``MLP`` classes lift the same way::

    program = engine.lift(loss, inputs={"x": x, "y": [y]})
    print(program)

    # 644 tape entries -> 9 instructions, 99.4% of the entries lifted
    s1 = w0 x + b0   # 16 values,  64 tape entries
    z1 = relu(s1)    # 16 values,  16 tape entries
    s2 = w1 z1 + b1  # 16 values, 512 tape entries
    z2 = relu(s2)    # 16 values,  16 tape entries
    s3 = w2 z2 + b2  #  1 value,   32 tape entries
    v0 = -y          #  1 value,    1 tape entry
    v1 = v0 * s3     #  1 value,    1 tape entry
    v2 = 1 + v1      #  1 value,    1 tape entry
    v3 = relu(v2)    #  1 value,    1 tape entry

(``x`` the sample's two inputs, ``y`` its label, ``loss = losses.hinge(model(x), y)``:
the loss's four entries are one sample's scalars and stay per entry.)

**How entries are grouped** (the superword-level parallelism of vectorizing
compilers, on a tape that is already a symbolic trace):

1. *Weighted sums.* A tree of ``add`` entries whose terms are products
   ``w * z`` with ``w`` a shared leaf (a parameter), plus at most one shared-leaf
   bias and any number of constant biases, is one weighted sum
   ``s = Σ_j w[j] z[j] + b`` (each partial sum and product read only by the sum).
   Weighted sums over the same inputs ``z`` (the same entries, in the same order
   once sorted by position) are one matrix-vector product ``s = W z + b``: the
   ``linear`` instruction (PyTorch's ``F.linear``).
2. *Isomorphic entries.* Every other entry is grouped with the entries of the same
   op row, the same constant position, and inputs from the same groups (leaves:
   the per-sample inputs of one column are a group, the shared leaves another) --
   a layer's activations, the products of a loss. A group is one elementwise
   instruction over a vector. An entry's group always comes after its inputs'
   groups, so no group depends on itself.
3. *Vectors.* An instruction's operand is an existing variable when its entries
   are exactly that variable's, one element broadcast when every element is the
   same entry, a parameter vector when all are shared leaves, and otherwise a
   ``gather`` instruction that picks the elements from where they live.

Whatever does not group stays per entry: an instruction of one element. Nothing
is guessed: every instruction names the tape entries it stands for
(:attr:`Instruction.entries`), every op entry of the tape is in exactly one
instruction, and each computes exactly the entries' arithmetic, re-associated only
inside a weighted sum. :attr:`Program.lifted_fraction` is the share of entries that
stand in an instruction of more than one entry.

**The representation** (public, documented, for the runners, the PyTorch export
and the drawings): a :class:`Program` holds :class:`Variable` objects (inputs,
parameters, constants, results; each with its per-sample shape and the tape
positions of its elements) and :class:`Instruction` objects in an order in which
they can run. Tape positions are positions in :func:`tapegrad.engine.graph.walk`
of the root (the order :func:`~tapegrad.engine.topological_order` lists).

:func:`lift` lifts one tape; it does not know whether the tape is the same for
every sample. :func:`tapegrad.engine.vmap` re-traces the function on other samples
before it trusts a recording, and refuses tapes that change with the data; run
lifted programs through it (:class:`BatchedProgram` is its numpy runner).
"""

from .batched import BatchedProgram
from .grouping import (
    RESERVED,
    column_names,
    lift,
    lift_columns,
    lift_recording,
    recording_columns,
    usable_name,
)
from .program import KINDS, Instruction, LiftError, Program, Variable

__all__ = [
    "lift",
    "lift_columns",
    "lift_recording",
    "Program",
    "Variable",
    "Instruction",
    "LiftError",
    "BatchedProgram",
    "KINDS",
    "RESERVED",
    "column_names",
    "recording_columns",
    "usable_name",
]
