"""Export to PyTorch: a scalar model, lifted into vector blocks, run as a ``torch.nn.Module``.

A model that outgrows a scalar engine needs no rewrite: :func:`to_torch` records the
function for one sample (as :func:`tapegrad.engine.vmap` does, refusing a tape that
changes with the data), lifts the tape into the lecture's blocks
(:func:`tapegrad.engine.lift`: a layer's weighted sums one matrix-vector product, its
activations one elementwise operation), and writes that program as the ``forward`` of a
``torch.nn.Module`` over float64 tensors::

    module = engine.to_torch(lambda x, y: losses.hinge(model(x), y), model.parameters(), X, y)
    print(module.source)                    # the PyTorch code of the scalar model
    opt = torch.optim.Adam(module.parameters(), lr=0.03)
    for epoch in range(30):
        opt.zero_grad()
        loss = module(X, y).mean()          # one loss per sample -> their mean
        loss.backward()
        opt.step()
    module.copy_to_values()                 # the trained numbers back into model's Values

**Parameters.** Each parameter vector or matrix of the program is one
``torch.nn.Parameter`` named as the program names it (``w0`` a layer's ``(m, n)``
weight matrix, ``b0`` its bias), initialised from the Values' ``.data``. A Value used in
two places (shared weights) must stay one number: the program's variables holding such
Values are then gathered, at every forward, from one flat Parameter ``tied`` (and its
gradient is the sum over the places, as ``backward()`` gives). Shared leaves that are not
in ``params`` (a Value the function closes over but does not train) are buffers
(``fixed``, or a buffer named after their variable): read, moved with ``.to(device)``,
never trained. Leaves of ``params`` the function does not reach are not in the module.

**Copying back.** :meth:`LiftedModule.copy_to_values` writes the parameters' numbers into
the Values' ``.data`` (PyTorch's ``copy_`` from the module to the Values);
:meth:`LiftedModule.copy_from_values` reads them again (after training in tapegrad).

**Exactness.** Elementwise instructions are PyTorch's operations of the same name,
whose float64 results and derivatives are those of the op rows
(:mod:`tapegrad.engine.ops` quotes PyTorch's ``derivatives.yaml`` for each); a
``linear`` instruction is ``F.linear`` (its sums in the matrix product's order) and
PyTorch's autograd sums a gradient's contributions in its own order: the module's
gradients equal ``backward()``'s within rounding (tested within ``1e-12`` relative on
random models). ``pow`` with a number exponent is computed as ``torch.pow`` of two
tensors, as the op row does (PyTorch computes ``tensor ** 0.5`` as ``sqrt``, which
differs at ``-0.0``).

**Every op row exports.** The built-in rows are PyTorch's own operations
(:data:`TORCH_FORMS`). A row added with ``register_op`` has no PyTorch operation of its
own: it runs through :class:`~tapegrad.engine.torch_module.RowFunction`, a
``torch.autograd.Function`` whose forward and backward are the row's numpy form
(``row.array_fn``: its result and local derivatives, masked edges included), so its
numbers are the row's -- on the CPU; on another device each such instruction copies its
operands to the host and back (correct, slower).

**Refused, never wrong.** A tape that changes with the data raises
:class:`~tapegrad.engine.GraphChangedError`; a node made by user code
(``Value(data, children, op)``) raises :class:`~tapegrad.engine.BatchingError`, as
``vmap`` does. Entries that do not group stay per entry: instructions of one element,
run in PyTorch as well.

torch is optional: importing :mod:`tapegrad.engine` never imports it; :func:`to_torch`
does, and raises ``ModuleNotFoundError`` saying how to install it when it is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from .lift import Instruction, column_names, lift_columns, recording_columns, usable_name
from .value import Value
from .vmap import vmap

__all__ = ["to_torch", "TORCH_FORMS"]

#: Each built-in op row's PyTorch operation: a source template over its operands'
#: source (``{0}``, ``{1}``). Other rows run as ``RowFunction.apply(OPS[name], ...)``.
TORCH_FORMS: dict[str, str] = {
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "div": "{0} / {1}",
    "pow": "torch.pow({0}, {1})",
    "neg": "-{0}",
    "exp": "torch.exp({0})",
    "log": "torch.log({0})",
    "tanh": "torch.tanh({0})",
    "sigmoid": "torch.sigmoid({0})",
    "relu": "torch.relu({0})",
    "sign": "torch.sign({0})",
    "abs": "torch.abs({0})",
    "sqrt": "torch.sqrt({0})",
    "sin": "torch.sin({0})",
    "cos": "torch.cos({0})",
}

#: Names the generated ``forward`` uses for itself; an input never takes them.
_RESERVED = frozenset({"self", "torch", "F", "B", "flat", "tied", "fixed"})


def _torch():
    try:
        import torch
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "engine.to_torch needs PyTorch, an optional dependency of tapegrad: "
            "pip install torch (tapegrad is tested with torch==2.13.0)"
        ) from None
    return torch


def to_torch(fn: Callable[..., Any], params: Iterable[Value], *columns: Any):
    """A ``torch.nn.Module`` running ``fn`` -- written for one sample -- over a batch.

    ``fn`` and ``params`` are as for :func:`tapegrad.engine.vmap`; ``columns`` are example
    columns (one per argument of ``fn``, one entry per sample: the training data will
    do), used to record the tape and to check that it does not change with the data.
    The module's ``forward(*columns)`` takes columns of the same per-sample shapes (torch
    tensors, numpy arrays or lists; converted to float64 on the parameters' device) and
    returns a float64 tensor of ``B`` per-sample outputs (``(outputs, *watched)`` if
    ``fn`` returns ``(loss, *watched)``; a watched list is a ``(B, n)`` tensor). See the
    module docstring for parameters, copying back, exactness and what is refused.

    Raises ``ModuleNotFoundError`` without torch, and what ``vmap`` raises for bad
    arguments or columns and for a tape that cannot be batched.
    """
    _torch()  # before any work: a clear error without torch
    step = vmap(fn, params)
    step.record(*columns)
    program, shape = _lifted(step, fn, columns)
    from .torch_module import LiftedModule

    return LiftedModule(program, step.params, shape)


def _lifted(step, fn, example: tuple):
    """The lifted program of a recorded step (its :attr:`~BatchedStep.recording`), its
    inputs named after ``fn``'s arguments, and the nesting of the watched outputs
    (None: fn returns a Value)."""
    recording = step.recording
    names = column_names(fn, len(example), usable=_usable_name)
    values = recording.walk.values()
    watched = [values[p] for p in recording.watch]
    program = lift_columns(recording.root, recording_columns(recording, names), watched)
    return program, recording.nesting  # the nesting fn returned its watched outputs in


def _usable_name(name: str) -> bool:
    """Whether an argument's name can name an input of the generated ``forward``: a
    name the lifted program takes (:func:`~tapegrad.engine.lift.usable_name`) that the
    module does not use for itself (:data:`_RESERVED`)."""
    return usable_name(name) and name not in _RESERVED


def _literal(c: float) -> str | None:
    """A float's Python literal, or None for inf and nan (they live in buffers)."""
    return repr(float(c)) if math.isfinite(c) else None


def instruction_source(instruction: Instruction, operands: list[str]) -> str:
    """The PyTorch expression of one instruction, given its operands' source text
    (a gather is written by the module, which knows its index)."""
    if instruction.op == "linear":
        w, z, *rest = operands
        bias = dict(zip(instruction.bias, rest))
        text = f"F.linear({z}, {w}, {bias['b']})" if "b" in bias else f"F.linear({z}, {w})"
        return f"{text} + {bias['c']}" if "c" in bias else text
    form = TORCH_FORMS.get(instruction.op)
    if form is None:  # a row added with register_op: its own numpy form, in autograd
        return f"RowFunction.apply(OPS[{instruction.op!r}], {', '.join(operands)})"
    return form.format(*operands)
