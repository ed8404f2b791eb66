"""The ``torch.nn.Module`` that :func:`tapegrad.engine.to_torch` returns (imports torch).

Only :func:`tapegrad.engine.export.to_torch` imports this module, so importing
:mod:`tapegrad.engine` never imports torch. See :mod:`tapegrad.engine.export`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .export import _literal, instruction_source
from .lift import Instruction, Program, Variable
from .ops import OPS, Op
from .value import Value

__all__ = ["LiftedModule", "RowFunction"]

#: Floating dtypes (torch's and numpy's names) a column is refused in: converting them
#: to float64 is exact, but their numbers already lost tapegrad's precision.
_LOW_PRECISION = frozenset({"float32", "float16", "bfloat16"})


class LiftedModule(torch.nn.Module):
    """A lifted :class:`~tapegrad.engine.lift.Program` as a PyTorch module (see
    :mod:`tapegrad.engine.export`).

    * ``forward(*columns)`` -- one column per input of the program, ``B`` entries each
      (a tensor, an array or a list; converted to float64 on the module's device);
      returns the ``B`` per-sample outputs (and the watched outputs, if any).
    * :attr:`program` -- the lifted program; :attr:`source` -- the generated
      ``forward`` code; :attr:`values` -- per parameter or buffer name, the Values
      behind its elements (row-major).
    * :meth:`copy_to_values` / :meth:`copy_from_values` -- trained numbers into the
      Values' ``.data``, and back.
    """

    def __init__(self, program: Program, params: Sequence[Value], shape: Any = None) -> None:
        super().__init__()
        self.program = program
        self._shape = shape
        walk = program.walk
        trainable = {id(p) for p in params}
        variables = [v for v in program.variables.values() if v.kind == "parameter"]
        uses = Counter(p for v in variables for p in v.entries)
        leaf = walk.items

        def trained(p: int) -> bool:
            return id(leaf[p]) in trainable

        tied: list[int] = []  # positions gathered from the flat parameter / buffer
        fixed: list[int] = []
        self._gathered: dict[str, Variable] = {}
        #: Per parameter or buffer name: the Values behind its elements, row-major.
        self.values: dict[str, tuple[Value, ...]] = {}
        for v in variables:
            kinds = {trained(p) for p in v.entries}
            if len(kinds) == 1 and all(uses[p] == 1 for p in v.entries):
                data = self._tensor([leaf[p].data for p in v.entries]).reshape(v.shape)
                if kinds == {True}:
                    self.register_parameter(v.name, torch.nn.Parameter(data))
                else:
                    self.register_buffer(v.name, data)
                self.values[v.name] = tuple(leaf[p] for p in v.entries)
            else:
                self._gathered[v.name] = v
                for p in v.entries:
                    target = tied if trained(p) else fixed
                    if p not in target:
                        target.append(p)
        flat = tied + fixed
        if tied:
            self.tied = torch.nn.Parameter(self._tensor([leaf[p].data for p in tied]))
            self.values["tied"] = tuple(leaf[p] for p in tied)
        if fixed:
            self.register_buffer("fixed", self._tensor([leaf[p].data for p in fixed]))
            self.values["fixed"] = tuple(leaf[p] for p in fixed)
        for name, v in self._gathered.items():
            index = torch.tensor([flat.index(p) for p in v.entries]).reshape(v.shape)
            self.register_buffer(f"_i_{name}", index, persistent=False)
        self.source = _Writer(self, program, bool(tied), bool(fixed)).source()
        namespace: dict[str, Any] = {"torch": torch, "F": F, "OPS": OPS, "RowFunction": RowFunction}
        exec(compile(self.source, "<engine.to_torch>", "exec"), namespace)
        self._run = namespace["run"]

    @staticmethod
    def _tensor(numbers: Sequence[float]) -> torch.Tensor:
        return torch.tensor(list(numbers), dtype=torch.float64)

    def _device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def forward(self, *columns: Any):
        program = self.program
        if len(columns) != len(program.inputs):
            raise TypeError(
                f"the module takes {len(program.inputs)} column(s) "
                f"({', '.join(program.inputs)}), got {len(columns)}"
            )
        device = self._device()
        tensors = [
            self._column(name, column, device) for name, column in zip(program.inputs, columns)
        ]
        batches = {t.shape[0] for t in tensors}
        if len(batches) != 1:
            raise ValueError(f"every column needs one entry per sample, got sizes {batches}")
        if self._shape is None:
            return self._run(self, *tensors)
        out, *watched = self._run(self, *tensors)
        return (out, *_fill(self._shape, iter(watched)))

    def _column(self, name: str, column: Any, device: torch.device) -> torch.Tensor:
        """One column as a float64 ``(B, size)`` tensor on ``device`` (no copy when it
        already is one); TypeError/ValueError naming the column otherwise."""
        size = self.program.variables[name].size
        if not (
            isinstance(column, torch.Tensor)
            and column.dtype == torch.float64
            and column.device == device
        ):
            dtype = getattr(column, "dtype", None)
            if dtype is not None and str(dtype).split(".")[-1] in _LOW_PRECISION:
                raise TypeError(
                    f"column {name!r} holds {dtype} numbers, but the module computes in float64 "
                    "(tapegrad's precision): pass float64 data, e.g. "
                    "torch.tensor(X, dtype=torch.float64)"
                )
            try:
                column = torch.as_tensor(column, dtype=torch.float64, device=device)
            except (TypeError, ValueError, RuntimeError) as e:
                raise TypeError(f"column {name!r} must hold real numbers: {e}") from None
        shape = column.shape
        if not shape or math.prod(shape[1:]) != size:
            raise ValueError(
                f"column {name!r} must have one row of {size} number(s) per sample, "
                f"got a tensor of shape {tuple(shape)}"
            )
        return column if len(shape) == 2 else column.reshape(shape[0], size)

    def _pairs(self):
        """(tensor, Values) for every parameter and buffer holding Values."""
        for name, values in self.values.items():
            yield getattr(self, name), values

    @torch.no_grad()
    def copy_to_values(self) -> None:
        """Write every parameter's numbers into its Values' ``.data`` (after training
        in PyTorch: the scalar model then holds the trained weights). Buffers (Values
        not trained) are left alone."""
        for tensor, values in self._pairs():
            if isinstance(tensor, torch.nn.Parameter):
                for v, number in zip(values, tensor.detach().cpu().reshape(-1).tolist()):
                    v.data = number

    @torch.no_grad()
    def copy_from_values(self) -> None:
        """Read every parameter's and buffer's numbers again from its Values' ``.data``
        (after the scalar model changed: trained in tapegrad, or loaded)."""
        for tensor, values in self._pairs():
            data = torch.tensor([v.data for v in values], dtype=torch.float64)
            tensor.copy_(data.reshape(tensor.shape))

    def extra_repr(self) -> str:
        p = self.program
        return (
            f"{len(p.instructions)} instructions for {p.entry_count} tape entries "
            f"({p.lifted_fraction:.1%} lifted)"
        )


class RowFunction(torch.autograd.Function):
    """An op row with no PyTorch operation of its own (added with ``register_op``), in
    PyTorch's autograd: ``RowFunction.apply(row, *operands)``.

    Forward runs the row's numpy form ``row.array_fn`` (its result and its local
    derivatives, computed together as the scalar engine does) on the operands' numbers;
    backward multiplies each local derivative by the incoming gradient (a masked one
    gives exactly 0, as in the scalar engine) and sums it over the axes the operand was
    broadcast along. Operands may be tensors or numbers (no gradient). Runs on the host:
    tensors on another device are copied there and the results back.
    """

    @staticmethod
    def forward(ctx, row: Op, *operands):
        arrays = [x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x for x in operands]
        out, *local = row.array_fn(*arrays)
        device = next(x.device for x in operands if isinstance(x, torch.Tensor))
        ctx.local = local
        ctx.shapes = [x.shape if isinstance(x, torch.Tensor) else None for x in operands]
        ctx.device = device
        return torch.as_tensor(out, dtype=torch.float64, device=device)

    @staticmethod
    def backward(ctx, g):
        upstream = g.detach().cpu().numpy()
        grads: list = [None]  # the row
        for k, (local, shape) in enumerate(zip(ctx.local, ctx.shapes)):
            if shape is None or not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            with_local = torch.as_tensor(local * upstream, dtype=torch.float64, device=ctx.device)
            grads.append(with_local.expand(g.shape).sum_to_size(shape))
        return tuple(grads)


def _fill(shape, values):
    """Watched outputs in ``fn``'s nesting: a Value's is ``B`` numbers, a list's a
    ``(B, n)`` tensor (nested lists: more axes)."""
    out = []
    for item in shape:
        if item is None:
            out.append(next(values))
        else:
            out.append(torch.stack(_fill(item[1], values), dim=-1))
    return out


class _Writer:
    """Writes the module's ``run(self, *inputs)``: the program's instructions in
    order, one PyTorch expression each."""

    def __init__(self, module: LiftedModule, program: Program, tied: bool, fixed: bool) -> None:
        self.module = module
        self.program = program
        self.variables = program.variables
        self.lines = [f"def run(self, {', '.join(program.inputs)}):"]
        if module._gathered:
            parts = [name for name, used in (("self.tied", tied), ("self.fixed", fixed)) if used]
            flat = parts[0] if len(parts) == 1 else f"torch.cat(({', '.join(parts)}))"
            self.add(f"flat = {flat}")

    def add(self, line: str) -> None:
        self.lines.append(f"    {line}")

    def source(self) -> str:
        module = self.module
        for v in self.variables.values():
            if v.kind == "parameter":
                if v.name in module._gathered:
                    self.add(f"{v.name} = flat[self._i_{v.name}]")
                else:
                    self.add(f"{v.name} = self.{v.name}")
        for ins in self.program.instructions:
            self.add(f"{ins.output} = {self.expression(ins)}")
        results = [self.element(*self.program.output)]
        results += [self.element(name, k) for name, k in self.program.watched]
        self.add(f"return {results[0]}" if len(results) == 1 else f"return {', '.join(results)}")
        if any(re.search(r"\bB\b", line) for line in self.lines[1:]):  # the batch size
            first = self.program.inputs[0] if self.program.inputs else None
            self.lines.insert(1, f"    B = {first}.shape[0]" if first else "    B = 1")
        return "\n".join(self.lines) + "\n"

    def per_sample(self, name: str) -> bool:
        return self.variables[name].per_sample

    def element(self, name: str, k: int) -> str:
        if self.per_sample(name):
            return f"{name}[:, {k}]"
        return f"{name}[{k}].expand(B)"

    def operand(self, name: str, tensor: bool) -> str:
        """An operand's source: a uniform finite constant's literal (unless ``tensor``),
        else its name (a non-uniform constant becomes a buffer)."""
        v = self.variables[name]
        if v.kind != "constant":
            return name
        uniform = len(set(v.values)) == 1
        literal = _literal(v.values[0]) if uniform else None
        if literal is not None and not tensor:
            return literal
        buffer = f"_{name}"
        if not hasattr(self.module, buffer):
            values = v.values[:1] if uniform else v.values
            self.module.register_buffer(buffer, LiftedModule._tensor(values), persistent=False)
        return f"self.{buffer}"

    def expression(self, ins: Instruction) -> str:
        if ins.op == "gather":
            return self.gather(ins)
        # pow with a number exponent: two tensors, as the row (tensor ** 0.5 is sqrt)
        operands = [self.operand(n, ins.op == "pow") for n in ins.inputs]
        text = instruction_source(ins, operands)
        size = self.variables[ins.output].size
        if ins.op != "linear" and size > 1:
            if all(self.variables[n].size == 1 for n in ins.inputs):  # all broadcast
                shape = f"B, {size}" if self.per_sample(ins.output) else f"{size}"
                text = f"({text}).expand({shape})"
        return text

    def gather(self, ins: Instruction) -> str:
        sources = list(ins.inputs)
        offsets, start = [], 0
        for name in sources:
            offsets.append(start)
            start += self.variables[name].size
        index = torch.tensor([offsets[i] + j for i, j in ins.index])
        buffer = f"_i_{ins.output}"
        self.module.register_buffer(buffer, index, persistent=False)
        if self.per_sample(ins.output):
            parts = [
                n if self.per_sample(n) else f"{n}.expand(B, {self.variables[n].size})"
                for n in sources
            ]
            whole = parts[0] if len(parts) == 1 else f"torch.cat(({', '.join(parts)}), dim=1)"
            return f"{whole}[:, self.{buffer}]"
        whole = sources[0] if len(sources) == 1 else f"torch.cat(({', '.join(sources)}))"
        return f"{whole}[self.{buffer}]"
