"""Running a lifted program over a batch with numpy, forward and backward.

One array per variable, one row per element and one column per sample, so a layer
is one matrix product for the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..ops import OPS, ArrayMasked
from ..value import Value
from .program import Instruction, Program


def _numpy():
    import numpy as np  # loaded on first use, as the rows' array forms are

    return np


def _scatter(g, index, contribution, rows: int, shared: bool):
    """``g`` plus ``contribution``'s rows added at ``index`` (repeats add up): the
    backward of a gather. ``shared``: the source is the same for every sample, so the
    batch's contributions are summed first. Never writes into ``g``."""
    np = _numpy()
    if shared:
        contribution = contribution.sum(axis=1, keepdims=True)
    out = np.zeros((rows, contribution.shape[1])) if g is None else np.array(g, dtype=np.float64)
    if out.shape[1] != contribution.shape[1]:
        out = np.broadcast_to(out, (rows, contribution.shape[1])).copy()
    np.add.at(out, index, contribution)
    return out


def _product(local, g):
    """``local * g`` for a local derivative of a row's ``array_fn``: an array, a
    number, or an :class:`~tapegrad.engine.ops.ArrayMasked` selection.

    A selection's product is ``where(keep, local * g, 0)``; numpy's ``where`` costs
    several times a multiplication, so it is computed as ``(local * g) * keep``
    (``keep`` a boolean array: ``x * True`` is ``x``, ``x * False`` a zero), which
    differs only where ``local * g`` is inf or nan on a masked element (there it
    gives nan where the selection gives 0): such a product is recomputed by the
    selection itself. (The zero may be -0.0 where the selection gives 0.0: the same
    number in every sum.)"""
    if type(local) is not ArrayMasked:
        return local * g
    np = _numpy()
    product = g if type(local.local) is float and local.local == 1.0 else local.local * g
    result = np.multiply(product, local.keep)
    if math.isnan(float(np.add.reduce(result, axis=None))):
        return local * g  # an inf or nan: the selection decides
    return result


class BatchedProgram:
    """A :class:`Program` compiled to numpy code that runs it over a batch, forward
    and backward (the code is in :attr:`source`).

    Every variable is an array with one row per element and one column per sample
    (one column for a variable that is the same for every sample), so a ``linear``
    instruction is one matrix product ``W @ z`` over the whole batch. Backward is the
    chain rule on those blocks: a ``linear`` instruction's is two products,
    ``dW = g zᵀ`` (summed over the batch by the product) and ``dz = Wᵀ g``, and its
    bias's the batch sum of ``g``; an elementwise instruction's is its op row's local
    derivatives -- the row's ``array_fn``, or its inline templates for plain
    arithmetic, the same forms the per-entry replay runs -- times ``g``
    (``parent.grad += local * node.grad``), summed over an operand's broadcast axes; a
    gather's adds its rows back where they came from.

    **Equal within rounding.** Elementwise instructions compute the same IEEE
    operations as the per-entry path. A ``linear`` instruction adds a weighted sum's
    terms in the matrix product's order, and the batch's gradients are summed by
    products and ``sum`` instead of sample after sample: the same numbers added in
    another order. Results equal the per-entry path (and ``backward()``) within
    ``1e-12`` relative, or ``1e-12`` absolute for numbers near zero, where a sum that
    cancels has no relative precision to keep (tested with hypothesis on random MLPs
    of mixed activations and losses, and through ``engine.vmap`` on random expression
    trees of every op, there within ``1e-9`` as for the per-entry path's libm).

    ``wrt`` are the shared leaves whose gradients :meth:`run` returns.
    """

    def __init__(self, program: Program, wrt: Sequence[Value]) -> None:
        np = _numpy()
        self.program = program
        self.wrt = tuple(wrt)
        shared_index = {id(v): k for k, v in enumerate(program.shared)}
        self._wrt_index = np.array([shared_index.get(id(v), -1) for v in self.wrt], dtype=np.intp)
        self.reached = [k >= 0 for k in self._wrt_index.tolist()]
        self.source, namespace = _Generator(program, {id(v) for v in self.wrt}).source()
        exec(compile(self.source, "<engine.lift>", "exec"), namespace)
        self._function = namespace["run"]

    def read_parameters(self):
        """The shared leaves' current ``.data``, as one array (the order of
        :attr:`Program.shared`)."""
        np = _numpy()
        return np.array([v.data for v in self.program.shared], dtype=np.float64)

    def run(self, inputs: Sequence[Any], seed: float = 1.0):
        """Run the batch: ``inputs`` holds one array per input variable, of shape
        ``(n, B)`` (element by sample). Returns ``(outputs, grads, watched)``: the
        root's number per sample (``B`` numbers), the gradient of the sum over the
        batch of ``seed`` times the root with respect to each ``wrt`` leaf (0.0 where
        the root does not depend on it), and each watched node's numbers per sample."""
        np = _numpy()
        # contiguous rows: numpy multiplies a transposed view several times slower
        arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in inputs]
        if len(arrays) != len(self.program.inputs):
            raise ValueError(f"expected {len(self.program.inputs)} input arrays, got {len(arrays)}")
        batch = arrays[0].shape[1] if arrays else 1
        for name, a in zip(self.program.inputs, arrays):
            rows = self.program.variables[name].size
            if a.shape != (rows, batch):
                raise ValueError(f"input {name!r} must have shape {(rows, batch)}, got {a.shape}")
        with np.errstate(all="ignore"):
            out, shared_grads, watched = self._function(arrays, self.read_parameters(), batch, seed)
        # a wrt leaf the root does not read has index -1: the 0.0 appended last
        grads = np.append(shared_grads, 0.0)[self._wrt_index]
        out = np.broadcast_to(out, (batch,))
        return out, grads, [np.broadcast_to(w, (batch,)) for w in watched]


class _Generator:
    """Writes :class:`BatchedProgram`'s source: forward in instruction order, then
    backward in reverse, one accumulation per edge of the block graph."""

    def __init__(self, program: Program, wrt: set[int]) -> None:
        self.program = program
        self.variables = program.variables
        self.lines = ["def run(inputs, theta, B, seed):"]
        self.namespace: dict[str, Any] = {
            "np": _numpy(),
            "_scatter": _scatter,
            "_product": _product,
        }
        shared_of = {id(v): k for k, v in enumerate(program.shared)}
        self.theta_index = {
            p: shared_of[id(program.walk.items[p])]
            for p in range(len(program.walk.items))
            if id(program.walk.items[p]) in shared_of and type(program.walk.items[p]) is not tuple
        }
        # which variables carry a gradient: those that lead to a wrt leaf
        needs: dict[str, bool] = {}
        for v in self.variables.values():
            needs[v.name] = v.kind == "parameter" and any(
                id(program.walk.items[p]) in wrt for p in v.entries
            )
        for instruction in program.instructions:
            needs[instruction.output] = any(needs[n] for n in instruction.inputs)
        self.needs = needs
        self.assigned: set[str] = set()
        self.locals: dict[str, list[str]] = {}  # per elementwise output: its locals' source

    def cols(self, name: str) -> str:
        return "B" if self.variables[name].per_sample else "1"

    def text(self, name: str) -> str:
        """An operand's source: a constant's literal when uniform, else its name."""
        v = self.variables[name]
        if v.kind == "constant" and len(set(v.values)) == 1:
            c = v.values[0]
            if math.isfinite(c):
                return repr(float(c))
        return name

    def add(self, line: str) -> None:
        self.lines.append(f"    {line}")

    def source(self) -> tuple[str, dict[str, Any]]:
        np = _numpy()
        program = self.program
        transposed = {
            i.inputs[0]
            for i in program.instructions
            if i.op == "linear" and self.needs[i.inputs[1]]
        }
        for k, name in enumerate(program.inputs):
            self.add(f"{name} = inputs[{k}]")
        for v in self.variables.values():
            if v.kind == "parameter":
                index = np.array([self.theta_index[p] for p in v.entries], dtype=np.intp)
                self.namespace[f"_i_{v.name}"] = index.reshape(v.shape)
                tail = "" if len(v.shape) == 2 else "[:, None]"
                self.add(f"{v.name} = theta[_i_{v.name}]{tail}")
                if v.name in transposed:  # Wᵀ for dz = Wᵀ g, read contiguous
                    self.namespace[f"_i_T_{v.name}"] = index.reshape(v.shape).T.copy()
                    self.add(f"_T_{v.name} = theta[_i_T_{v.name}]")
            elif v.kind == "constant" and self.text(v.name) == v.name:
                self.namespace[v.name] = np.array(v.values, dtype=np.float64)[:, None]
        for instruction in program.instructions:
            self.forward(instruction)
        self.backward()
        source = "\n".join(self.lines) + "\n"
        return source, self.namespace

    # -- forward
    def forward(self, ins: Instruction) -> None:
        out = ins.output
        names = [self.text(n) for n in ins.inputs]
        if ins.op == "linear":
            # one input: each element a single product, w z broadcast (what @ gives)
            times = "*" if self.variables[ins.inputs[0]].shape[1] == 1 else "@"
            self.add(f"{out} = {' + '.join([f'{names[0]} {times} {names[1]}', *names[2:]])}")
        elif ins.op == "gather":
            self.gather(ins)
        else:
            row = OPS[ins.op]
            if row.inline is not None:
                expression, local_templates = row.inline
                self.add(f"{out} = {expression.format(*names)}")
                self.locals[out] = [t.format(*names) for t in local_templates]
            else:
                fn = f"_{row.name}"
                self.namespace[fn] = row.array_fn
                targets = [f"d_{out}_{k}" for k in range(row.arity)]
                self.add(f"{out}, {', '.join(targets)} = {fn}({', '.join(names)})")
                self.locals[out] = [f"_product({t}, {{g}})" for t in targets]

    def gather(self, ins: Instruction) -> None:
        np = _numpy()
        out = ins.output
        cols = self.cols(out)
        if len(ins.inputs) == 1:
            self.namespace[f"_i_{out}"] = np.array([j for _, j in ins.index], dtype=np.intp)
            source = ins.inputs[0]
            if self.variables[source].per_sample or cols == "1":
                self.add(f"{out} = {source}[_i_{out}]")
            else:
                self.add(f"{out} = np.broadcast_to({source}[_i_{out}], ({len(ins.index)}, B))")
            return
        offsets, parts, start = [], [], 0
        for name in ins.inputs:
            offsets.append(start)
            rows = self.variables[name].size
            parts.append(f"np.broadcast_to({name}, ({rows}, {cols}))")
            start += rows
        flat = [offsets[i] + j for i, j in ins.index]
        self.namespace[f"_i_{out}"] = np.array(flat, dtype=np.intp)
        self.add(f"{out} = np.concatenate(({', '.join(parts)},))[_i_{out}]")

    # -- backward
    def accumulate(self, name: str, contribution: str, rows_from: int, cols_from: str) -> None:
        """``g_name += contribution``, summed over the axes ``name`` broadcast along."""
        if not self.needs[name]:
            return
        v = self.variables[name]
        axes = []
        if v.size == 1 and rows_from > 1:
            axes.append("0")
        if not v.per_sample and cols_from == "B":
            axes.append("1")
        if axes:
            axis = axes[0] if len(axes) == 1 else "(0, 1)"
            contribution = f"({contribution}).sum(axis={axis}, keepdims=True)"
        if name in self.assigned:
            self.add(f"g_{name} = g_{name} + {contribution}")
        else:
            self.add(f"g_{name} = {contribution}")
            self.assigned.add(name)

    def backward(self) -> None:
        np = _numpy()
        program = self.program
        root, k = program.output
        if self.needs.get(root):
            v = self.variables[root]
            cols = self.cols(root)
            scale = "seed" if cols == "B" else "seed * B"
            if v.size == 1:
                self.add(f"g_{root} = np.full((1, {cols}), {scale})")
            else:
                self.add(f"g_{root} = np.zeros(({v.size}, {cols}))")
                self.add(f"g_{root}[{k}] = {scale}")
            self.assigned.add(root)
        for ins in reversed(program.instructions):
            out = ins.output
            if not self.needs[out] or out not in self.assigned:
                continue
            g = f"g_{out}"
            rows, cols = self.variables[out].size, self.cols(out)
            if ins.op == "linear":
                W, z = ins.inputs[0], ins.inputs[1]
                self.accumulate(W, f"{g} @ {z}.T", 1, "1")
                times = "*" if self.variables[W].shape[0] == 1 else "@"
                self.accumulate(z, f"_T_{W} {times} {g}", self.variables[z].size, cols)
                for name, kind in zip(ins.inputs[2:], ins.bias):
                    if kind == "b":
                        self.accumulate(name, g, rows, cols)
            elif ins.op == "gather":
                self.scatter(ins, g)
            else:
                names = ins.inputs
                locals_ = self.locals[out]
                position = 0
                for name in names:
                    local = locals_[position] if position < len(locals_) else None
                    position += 1
                    if self.variables[name].kind == "constant" or local is None:
                        continue
                    if local == "1.0":
                        term = g
                    elif local == "-1.0":
                        term = f"-{g}"
                    elif local.startswith("_product("):
                        term = local.format(g=g)
                    else:
                        term = f"{local} * {g}"
                    self.accumulate(name, term, rows, cols)
        parts, index = [], []
        for v in self.variables.values():
            if v.kind == "parameter" and self.needs[v.name] and v.name in self.assigned:
                parts.append(f"g_{v.name}.ravel()")
                index += [self.theta_index[p] for p in v.entries]
        self.namespace["_i_grads"] = np.array(index, dtype=np.intp)
        self.namespace["_P"] = len(program.shared)
        if parts:
            self.add(
                f"grads = np.bincount(_i_grads, weights=np.concatenate(({', '.join(parts)},)), "
                "minlength=_P)"
            )
        else:
            self.add("grads = np.zeros(_P)")
        watched = ", ".join(f"{n}[{j}]" for n, j in program.watched)
        self.add(f"return {root}[{k}], grads, [{watched}]")

    def scatter(self, ins: Instruction, g: str) -> None:
        np = _numpy()
        for i, name in enumerate(ins.inputs):
            if not self.needs[name]:
                continue
            rows_out = [k for k, (s, _) in enumerate(ins.index) if s == i]
            rows_in = [ins.index[k][1] for k in rows_out]
            key = f"_s_{ins.output}_{i}"
            self.namespace[key + "_out"] = np.array(rows_out, dtype=np.intp)
            self.namespace[key + "_in"] = np.array(rows_in, dtype=np.intp)
            v = self.variables[name]
            old = f"g_{name}" if name in self.assigned else "None"
            shared = not v.per_sample and self.cols(ins.output) == "B"
            self.add(f"g_{name} = _scatter({old}, {key}_in, {g}[{key}_out], {v.size}, {shared})")
            self.assigned.add(name)
