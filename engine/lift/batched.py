"""Running a lifted program over a batch with numpy, forward and backward.

One array per variable, one row per element and one column per sample, so a layer
is one matrix product for the whole batch.
"""

from __future__ import annotations

import ast
import copy
import math
import re
from collections.abc import Sequence
from typing import Any

from ..formulas import INPUT_NAMES as _INPUT_NAMES
from ..formulas import ArrayMasked, _array_namespace, _array_source
from ..ops import OPS
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


#: Below this many elements numpy's ``where`` is faster than :func:`_where`'s bit blend
#: (one call instead of four). Measured on a (16, B) ReLU mask of random signs,
#: medians of 3,000: 2.0 against 2.6 us at 1,600 elements, 4.0 against 4.6 at 4,800,
#: 7.1 against 6.8 at 8,000, 60 against 15 at 16,000.
_BLEND_FROM = 6144


def _is_positive_zero(a) -> bool:
    return type(a) is float and a == 0.0 and math.copysign(1.0, a) > 0.0


def _where(keep, a, b):
    """``np.where(keep, a, b)``, bit for bit, for float64 operands.

    numpy's ``where`` branches per element, which costs several times a
    multiplication when ``keep`` follows the data (a ReLU's mask: measured 30-80 us
    for 16,000 elements, a multiplication 5 us). When one side is the number
    ``+0.0`` (all bits zero) and the other an array of ``keep``'s shape, the
    selection is a bitwise ``and`` of the array's bits with a mask made from
    ``keep`` (all ones where the array is selected, zero elsewhere): the same bits
    ``where`` copies, nan, inf and -0.0 included, without branches. The mask is
    ``keep`` as 0/1 integers (``astype``: measured 2-3 times faster than a ufunc
    casting on the fly) turned into 0/all ones in place. Any other case is
    ``np.where`` itself."""
    np = _numpy()
    if type(keep) is np.ndarray and keep.dtype == bool and keep.size >= _BLEND_FROM:
        if _is_positive_zero(a) and type(b) is np.ndarray and b.shape == keep.shape:
            mask = keep.astype(np.int64)
            mask -= 1  # keep: 0, else: all ones
            chosen = b
        elif _is_positive_zero(b) and type(a) is np.ndarray and a.shape == keep.shape:
            mask = keep.astype(np.int64)
            np.negative(mask, out=mask)  # keep: all ones, else: 0
            chosen = a
        else:
            return np.where(keep, a, b)
        if chosen.dtype == np.float64:
            return np.bitwise_and(chosen.view(np.int64), mask, out=mask).view(np.float64)
    return np.where(keep, a, b)


def _masked_unless(masked, g):
    """``g`` where ``masked`` is false, exactly ``+0.0`` where it is true (an inf or
    nan ``g`` included): what ``_product(ArrayMasked(np.logical_not(masked), 1.0), g)``
    gives, bit for bit, without computing the ``logical_not`` (a ReLU's backward:
    ``masked`` is the comparison ``x <= 0``)."""
    np = _numpy()
    if type(masked) is not np.ndarray:
        masked = np.asarray(masked)
    if type(g) is not np.ndarray or masked.shape != g.shape:
        masked, g = np.broadcast_arrays(masked, g)
        masked, g = np.ascontiguousarray(masked), np.ascontiguousarray(g)
    return _where(masked, 0.0, g)


def _product(local, g):
    """``local * g`` for a local derivative of a row's array forms: an array, a
    number, or an :class:`~tapegrad.engine.formulas.ArrayMasked` selection, whose product
    is ``where(keep, local * g, 0)`` (exactly 0 where masked, even for an inf or nan
    ``g``), computed by :func:`_where`."""
    if type(local) is not ArrayMasked:
        return local * g
    np = _numpy()
    keep: Any = local.keep  # an array or a bool, for numpy (untyped here: loaded lazily)
    if type(local.local) is float and local.local == 1.0:
        product = g  # 1.0 * g is g, bit for bit
    else:
        product = np.multiply(local.local, g)
    if type(keep) is not np.ndarray:
        keep = np.asarray(keep)
    if keep.shape != np.shape(product):
        keep, product = np.broadcast_arrays(keep, product)
        keep, product = np.ascontiguousarray(keep), np.ascontiguousarray(product)
    return _where(keep, product, 0.0)


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

    ``per_sample=True`` compiles per-sample gradients instead (``torch.func``'s
    ``vmap(grad(f))``): nothing is summed over the batch, every gradient keeps one
    column per sample, seeded with ``seed`` at each sample's output, and a ``linear``
    instruction's weight gradient is each sample's outer product ``g zᵀ`` (a
    ``(rows·cols, B)`` array) instead of their sum.
    """

    def __init__(self, program: Program, wrt: Sequence[Value], *, per_sample: bool = False) -> None:
        np = _numpy()
        if not isinstance(per_sample, bool):
            raise TypeError(
                f"per_sample must be True or False, got {type(per_sample).__name__}: {per_sample!r}"
            )
        self.program = program
        self.wrt = tuple(wrt)
        self.per_sample = per_sample
        self._shared = list(program.shared)
        # The generated code reads the shared leaves' numbers, and returns their
        # gradients, in its own order: the reached wrt leaves first, in wrt's order, so
        # that its gradients are added into .grad without a reordering (measured: 3 us
        # of 337 leaves' 20 us), then the shared leaves outside wrt.
        shared_ids = {id(v) for v in self._shared}
        order = list({id(v): v for v in self.wrt if id(v) in shared_ids}.values())
        if per_sample:
            # per sample, the gradients are rows of a (leaves, B) array: in the order
            # of the program's parameter variables, each variable's rows are one slice
            walk_items = program.walk.items
            laid_out = [
                walk_items[p]
                for v in program.variables.values()
                if v.kind == "parameter"
                for p in v.entries
            ]
            order = list({id(v): v for v in laid_out if id(v) in shared_ids}.values())
        ordered = {id(v) for v in order}
        self._order = order + [v for v in self._shared if id(v) not in ordered]
        code_index = {id(v): k for k, v in enumerate(self._order)}
        self._wrt_index = np.array([code_index.get(id(v), -1) for v in self.wrt], dtype=np.intp)
        self.reached = [k >= 0 for k in self._wrt_index.tolist()]
        positions = [k for k, reached in enumerate(self.reached) if reached]
        self._reached_values = [self.wrt[k] for k in positions]
        self._reached_positions = np.array(positions, dtype=np.intp)
        reached_code = self._wrt_index[self._reached_positions]
        # None: the code's first gradients are the reached leaves' (no wrt leaf twice)
        self._reached_code = (
            None if reached_code.tolist() == list(range(len(positions))) else reached_code
        )
        generator = _Generator(program, {id(v) for v in self.wrt}, self._order, per_sample)
        self.source, namespace = generator.source()
        exec(compile(self.source, "<engine.lift>", "exec"), namespace)
        self._function = namespace["run"]

    def read_parameters(self):
        """The shared leaves' current ``.data``, as one array (the order of
        :attr:`Program.shared`)."""
        return _numpy().array([p._data for p in self._shared], dtype=float)

    def _theta(self):
        """The shared leaves' current ``.data`` in the generated code's order. Read at
        every run, so a number changed between runs (``p.data = ...``, an optimizer's
        step) is always the one used. (Measured for 337 leaves: the slots read into a
        list, then one array, 8 us; through ``.data`` and ``np.fromiter``, 23 us.)"""
        return _numpy().array([p._data for p in self._order], dtype=float)

    def add_to_grads(self, grads) -> None:
        """Add ``grads`` (one number per ``wrt`` leaf, as :meth:`run` returns them)
        into the ``.grad`` of each leaf the root reaches: ``p.grad + g``, or ``g``
        where ``p`` has no gradient yet (``-0.0 + g`` is ``g``), one leaf after
        another (a leaf listed twice adds twice). (Measured: reading 337 gradients
        into one array and adding there costs more than this loop.)"""
        self._add(grads[self._reached_positions].tolist())

    def _add(self, grads: list) -> None:
        """Add ``grads`` (one float per reached ``wrt`` leaf, in order) into ``.grad``."""
        # The slot _g, not .grad: .grad reads "no gradient yet" (NO_GRAD, -0.0) as 0.0,
        # which would start the sum at +0.0 instead of the first contribution as
        # backward() does, and costs a property call per leaf. Value has no public
        # "add to the gradient" (micrograd's p.grad += g is the read and the write);
        # engine code reads the slot, as replay and backward do.
        for p, g in zip(self._reached_values, grads):
            p._g = p._g + g

    def _arrays(self, inputs: Sequence[Any]) -> list:
        """``inputs`` checked, as contiguous float64 arrays of shape ``(n, B)``."""
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
        return arrays

    def _run(self, arrays: list, batch: int, seed: float):
        """The generated code on checked arrays: ``(outputs, grads, watched)`` with
        ``grads`` one float per reached ``wrt`` leaf (what :meth:`_add` adds)."""
        np = _numpy()
        with np.errstate(all="ignore"):
            out, code_grads, watched = self._function(arrays, self._theta(), batch, seed)
        if self._reached_code is not None:
            code_grads = code_grads[self._reached_code]
        return (
            _per_sample(out, batch),
            code_grads.tolist(),  # (past the reached leaves': shared leaves outside wrt)
            [_per_sample(w, batch) for w in watched],
        )

    def _rows(self, arrays: list, batch: int, seed: float):
        """Per sample, on checked arrays: ``(outputs, grads, watched)`` with ``grads``
        one array of ``B`` numbers per ``wrt`` leaf: rows of the code's gradient array
        (views, no copy: measured 5 ms of 28 at B = 10,000 for copying them), zeros for
        a leaf the root does not reach."""
        np = _numpy()
        with np.errstate(all="ignore"):
            out, code_grads, watched = self._function(arrays, self._theta(), batch, seed)
        rows = [code_grads[k] if k >= 0 else np.zeros(batch) for k in self._wrt_index.tolist()]
        return _per_sample(out, batch), rows, [_per_sample(w, batch) for w in watched]

    def run(self, inputs: Sequence[Any], seed: float = 1.0):
        """Run the batch: ``inputs`` holds one array per input variable, of shape
        ``(n, B)`` (element by sample). Returns ``(outputs, grads, watched)``: the
        root's number per sample (``B`` numbers), the gradient of the sum over the
        batch of ``seed`` times the root with respect to each ``wrt`` leaf (0.0 where
        the root does not depend on it), and each watched node's numbers per sample.
        With ``per_sample``, ``grads`` has one row per ``wrt`` leaf and one column per
        sample: the gradient of ``seed`` times that sample's root alone."""
        np = _numpy()
        arrays = self._arrays(inputs)
        batch = arrays[0].shape[1] if arrays else 1
        with np.errstate(all="ignore"):
            out, code_grads, watched = self._function(arrays, self._theta(), batch, seed)
        # a wrt leaf the root does not read has index -1: the zeros appended last
        if self.per_sample:
            if not all(self.reached):
                code_grads = np.concatenate((code_grads, np.zeros((1, batch))))
            grads = code_grads[self._wrt_index]
        else:
            grads = np.append(code_grads, 0.0)[self._wrt_index]
        return _per_sample(out, batch), grads, [_per_sample(w, batch) for w in watched]


def _per_sample(numbers, batch: int):
    """``numbers`` (one per sample, or one for all) as ``B`` numbers (read-only when
    broadcast)."""
    if getattr(numbers, "shape", None) == (batch,):
        return numbers
    return _numpy().broadcast_to(numbers, (batch,))


#: A mask that keeps where a comparison (named, or of a name and a number) is false,
#: with derivative 1 (a ReLU's).
_NOT_MASKED_ONE = re.compile(
    r"ArrayMasked\(np\.logical_not\(([A-Za-z_]\w*|\([A-Za-z_]\w* [<>]=? [-\w.]+\))\), 1\.0\)"
)

#: ``(x <= c) and (x < c)`` is ``(x < c)`` (and ``>=``/``>`` alike), nan included: the
#: strict comparison implies the other. A ReLU's forward ``where(x <= 0, where(x < 0,
#: 0, x), x)`` selects so (one comparison and one ``logical_and`` fewer per ReLU).
_implied = re.compile(r"np\.logical_and\(\(([A-Za-z_]\w*) ([<>])= ([-\w.]+)\), \(\1 (\2) \3\)\)")


def _local_times_g(local: str) -> str:
    """The source of ``local * g`` (``{g}`` left to fill) for a local derivative's
    array source: ``g`` for ``1.0``, :func:`_masked_unless` for a unit derivative
    masked by a named comparison (a ReLU's: no ``logical_not``, no
    :class:`~tapegrad.engine.formulas.ArrayMasked`, the same bits), else
    :func:`_product`."""
    if local == "1.0":
        return "{g}"
    unit = _NOT_MASKED_ONE.fullmatch(local)
    if unit is not None:
        return f"_masked_unless({unit.group(1)}, {{g}})"
    return f"_product({local}, {{g}})"


class _Renamer(ast.NodeTransformer):
    """Renames a row's input names (and ``out``) to the program's variables."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), node.ctx), node)


class _Generator:
    """Writes :class:`BatchedProgram`'s source: forward in instruction order, then
    backward in reverse, one accumulation per edge of the block graph."""

    def __init__(
        self, program: Program, wrt: set[int], order: Sequence[Value], per_sample: bool = False
    ) -> None:
        self.program = program
        self.order = order  # the shared leaves, in the order theta and grads hold them
        # per_sample: every gradient keeps the batch axis (one column per sample, the
        # gradient of that sample's output alone), nothing is summed over the batch
        self.per_sample = per_sample
        self.variables = program.variables
        self.lines = ["def run(inputs, theta, B, seed):"]
        self.namespace: dict[str, Any] = {
            **_array_namespace(),  # what the rows' array forms name
            "np": _numpy(),
            "_scatter": _scatter,
            "_product": _product,
            "_where": _where,
            "_masked_unless": _masked_unless,
        }
        shared_of = {id(v): k for k, v in enumerate(order)}
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

    def gradient_cols(self, name: str) -> str:
        """The columns of a variable's gradient: its own, or ``B`` per sample."""
        return "B" if self.per_sample else self.cols(name)

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
            self.add(f"{out} = {names[0]} {times} {names[1]}")
            # the product is a new array of the result's shape unless a bias has more
            # columns: then ``+`` makes the result, else ``+=`` adds in place (the same
            # additions in the same order, without a new array per term)
            widens = self.cols(ins.inputs[1]) == "1" and any(
                self.cols(n) == "B" for n in ins.inputs[2:]
            )
            for name in names[2:]:
                self.add(f"{out} = {out} + {name}" if widens else f"{out} += {name}")
        elif ins.op == "gather":
            self.gather(ins)
        else:
            row = OPS[ins.op]
            if row.inline is not None:
                expression, local_templates = row.inline
                self.add(f"{out} = {expression.format(*names)}")
                self.locals[out] = [t.format(*names) for t in local_templates]
            elif names == list(ins.inputs):
                self.inline_array_forms(row, out, names)
            else:  # a literal operand: the row's function makes it an array
                fn = f"_{row.name}"
                self.namespace[fn] = row.array_fn
                targets = [f"d_{out}_{k}" for k in range(row.arity)]
                self.add(f"{out}, {', '.join(targets)} = {fn}({', '.join(names)})")
                self.locals[out] = [f"_product({t}, {{g}})" for t in targets]

    def inline_array_forms(self, row, out: str, names: list[str]) -> None:
        """The row's array forms (what its ``array_fn`` runs) written into the code:
        the forward as ``out = ...``, each local derivative where the backward uses
        it; a comparison both use is computed once (``_c_out_k``), and ``np.where``
        is :func:`_where` (the same bits). Saves the call, its ``asarray`` and
        ``errstate`` (``run`` holds one for the whole program)."""
        forward, derivatives = row.parsed
        rename = dict(zip(_INPUT_NAMES[row.arity], names))
        rename["out"] = out
        trees = [_Renamer(rename).visit(copy.deepcopy(t)) for t in (forward, *derivatives)]
        texts = [_implied.sub(r"(\1 \4 \3)", _array_source(t)) for t in trees]
        shared = sorted(
            {_array_source(n) for t in trees for n in ast.walk(t) if isinstance(n, ast.Compare)},
            key=len,
            reverse=True,
        )
        for k, common in enumerate(shared):
            if sum(text.count(common) for text in texts) > 1:
                name = f"_c_{out}_{k}"
                self.add(f"{name} = {common}")
                texts = [text.replace(common, name) for text in texts]
        texts = [text.replace("np.where(", "_where(") for text in texts]
        self.add(f"{out} = {texts[0]}")
        self.locals[out] = [_local_times_g(t) for t in texts[1:]]

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
        if not v.per_sample and cols_from == "B" and not self.per_sample:
            axes.append("1")
        if axes:
            axis = axes[0] if len(axes) == 1 else "(0, 1)"
            contribution = f"({contribution}).sum(axis={axis}, keepdims=True)"
        if name in self.assigned:
            self.add(f"g_{name} = g_{name} + {contribution}")
            if self.per_sample:
                self.in_place.discard(name)  # a new array: copied into its rows at the end
        else:
            self.add(f"g_{name} = {contribution}")
            self.assigned.add(name)

    def gradient_parts(self) -> list[tuple[str, list[int]]]:
        """The parameter variables whose gradients the code returns, each with the
        rows (code order) its elements' gradients go to."""
        return [
            (v.name, [self.theta_index[p] for p in v.entries])
            for v in self.variables.values()
            if v.kind == "parameter" and self.needs[v.name]
        ]

    def per_sample_slices(self) -> None:
        """Per sample: ``grads``, one row per shared leaf and one column per sample,
        made before the backward pass, so that a weight matrix's per-sample outer
        products are written straight into its rows (``self.slices``: the variables
        whose rows are one slice). Needs each leaf in one place; a leaf in several
        (shared weights) gets its rows added at the end instead."""
        np = _numpy()
        parts = self.gradient_parts()
        index = [r for _, rows in parts for r in rows]
        self.slices: dict[str, tuple[int, int]] = {}
        self.in_place: set[str] = set()
        self.allocated = len(set(index)) == len(index)
        if not self.allocated:
            return
        # (a new (leaves, B) array is filled only where no row is written: measured
        # 4 ms of 28 at B = 10,000 for filling it all)
        self.add("grads = np.empty((_P, B))")
        unwritten = sorted(set(range(len(self.order))) - set(index))
        if unwritten:
            self.namespace["_i_unwritten"] = np.array(unwritten, dtype=np.intp)
            # -0.0, as a leaf's gradient starts (NO_GRAD): -0.0 + c is c, bit for bit
            self.add("grads[_i_unwritten] = -0.0")
        for name, rows in parts:
            if rows and rows == list(range(rows[0], rows[0] + len(rows))):
                self.slices[name] = (rows[0], rows[0] + len(rows))

    def backward(self) -> None:
        np = _numpy()
        program = self.program
        root, k = program.output
        if self.per_sample:
            self.per_sample_slices()
        if self.needs.get(root):
            v = self.variables[root]
            cols = self.gradient_cols(root)
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
            rows, cols = self.variables[out].size, self.gradient_cols(out)
            if ins.op == "linear":
                W, z = ins.inputs[0], ins.inputs[1]
                shape = self.variables[W].shape
                if self.per_sample and W in self.slices and W not in self.assigned:
                    # dW per sample, each column's outer product g zᵀ, written in its rows
                    start, stop = self.slices[W]
                    self.add(f"g_{W} = grads[{start}:{stop}]")
                    self.add(
                        f"np.multiply({g}[:, None, :], {z}[None, :, :], "
                        f"out=g_{W}.reshape({shape[0]}, {shape[1]}, B))"
                    )
                    self.assigned.add(W)
                    self.in_place.add(W)
                elif self.per_sample:  # dW per sample: the outer product g zᵀ of each column
                    outer = f"({g}[:, None, :] * {z}[None, :, :]).reshape(-1, B)"
                    self.accumulate(W, outer, 1, "B")
                else:
                    self.accumulate(W, f"{g} @ {z}.T", 1, "1")
                times = "*" if self.variables[W].shape[0] == 1 else "@"
                self.accumulate(z, f"_T_{W} {times} {g}", self.variables[z].size, cols)
                for name, kind in zip(ins.inputs[2:], ins.bias):
                    if kind == "b":
                        self.accumulate(name, g, rows, cols)
            elif ins.op == "gather":
                self.scatter(ins, g)
            else:
                locals_ = self.locals[out]
                position = 0
                for name in ins.inputs:
                    local = locals_[position] if position < len(locals_) else None
                    position += 1
                    if self.variables[name].kind == "constant" or local is None:
                        continue
                    if local in ("1.0", "{g}"):
                        term = g
                    elif local == "-1.0":
                        term = f"-{g}"
                    elif local.startswith(("_product(", "_masked_unless(")):
                        term = local.format(g=g)
                    else:
                        term = f"{local} * {g}"
                    self.accumulate(name, term, rows, cols)
        parts: list[str] = []
        index: list[int] = []
        names: list[str] = []
        for name, entry_rows in self.gradient_parts():
            if name in self.assigned:
                v = self.variables[name]
                parts.append(
                    f"g_{name}.reshape({v.size}, -1)" if self.per_sample else f"g_{name}.ravel()"
                )
                index += entry_rows
                names.append(name)
        self.namespace["_i_grads"] = np.array(index, dtype=np.intp)
        self.namespace["_P"] = len(self.order)
        if parts and self.per_sample:  # one row per shared leaf, one column per sample
            if self.allocated:  # made before the backward pass: rows written
                for name, part in zip(names, parts):
                    if name in self.in_place:
                        continue
                    if name in self.slices:
                        start, stop = self.slices[name]
                        self.add(f"grads[{start}:{stop}] = {part}")
                    else:
                        leaf_rows = [self.theta_index[p] for p in self.variables[name].entries]
                        self.namespace[f"_i_grads_{name}"] = np.array(leaf_rows, dtype=np.intp)
                        self.add(f"grads[_i_grads_{name}] = {part}")
            else:  # a leaf in several places (shared weights): their rows add up
                self.add("grads = np.full((_P, B), -0.0)")
                self.add(f"np.add.at(grads, _i_grads, np.concatenate(({', '.join(parts)},)))")
        elif parts:
            self.add(
                f"grads = np.bincount(_i_grads, weights=np.concatenate(({', '.join(parts)},)), "
                "minlength=_P)"
            )
        else:
            self.add("grads = np.zeros((_P, B))" if self.per_sample else "grads = np.zeros(_P)")
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
            shared = not v.per_sample and self.gradient_cols(ins.output) == "B"
            shared = shared and not self.per_sample
            self.add(f"g_{name} = _scatter({old}, {key}_in, {g}[{key}_out], {v.size}, {shared})")
            self.assigned.add(name)
